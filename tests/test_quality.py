import io

import numpy as np
from PIL import Image

from mediaprep.quality import BlockSSIM, display_size, luma, ssim

from .conftest import MEDIA


def jpeg_at(im: Image.Image, quality: int, size: tuple[int, int] | None = None) -> Image.Image:
    buf = io.BytesIO()
    (im.resize(size, Image.Resampling.LANCZOS) if size else im).save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


def test_the_block_metric_ranks_encodes_as_full_ssim_does():
    source = Image.open(MEDIA / "photo.jpg").convert("RGB")
    ref_size = display_size(source.size)
    reference = luma(source, ref_size)
    half = (source.width // 2, source.height // 2)
    candidates = [jpeg_at(source, 90), jpeg_at(source, 40), jpeg_at(source, 10), jpeg_at(source, 60, half)]
    metric = BlockSSIM(reference)
    block = [metric.score(luma(c, ref_size)) for c in candidates]
    full = [ssim(reference, luma(c, ref_size)) for c in candidates]
    assert metric.score(reference) == 1.0
    assert np.argsort(block).tolist() == np.argsort(full).tolist()


def test_the_block_metric_is_exact_in_float32():
    # The converter scores in float32 to save copies; whole-valued luma keeps every sum exact.
    source = Image.open(MEDIA / "photo.jpg").convert("RGB")
    ref_size = display_size(source.size)
    candidate = jpeg_at(source, 30)
    wide = BlockSSIM(luma(source, ref_size)).score(luma(candidate, ref_size))
    narrow = BlockSSIM(luma(source, ref_size, dtype=np.float32)).score(luma(candidate, ref_size, dtype=np.float32))
    assert wide == narrow


def test_a_banner_thinner_than_a_block_still_gets_a_score():
    # 9 x 7000 px shown 1080 px long is 1 px wide: the metric must still rank, not return NaN.
    rng = np.random.default_rng(1)
    reference = rng.integers(0, 256, (1080, 1)).astype(np.float32)
    close = np.clip(reference + rng.normal(0, 4, reference.shape), 0, 255).round().astype(np.float32)
    far = np.clip(reference + rng.normal(0, 40, reference.shape), 0, 255).round().astype(np.float32)
    metric = BlockSSIM(reference)
    assert metric.score(reference) == 1.0
    assert 0 < metric.score(far) < metric.score(close) < 1
