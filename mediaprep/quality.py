"""How close a picture is to its source, as a phone would show it: SSIM on luma.

SSIM (Wang et al. 2004) over 7x7 windows, computed on the luma of both images
scaled to the same display size. The converter uses it to choose between
candidate (size, quality) pairs; the benchmark uses the same function.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

DISPLAY_LONG_SIDE = 1080
# A picture more elongated than a phone's screen (a long screenshot, a panorama, a banner) is read
# zoomed to its short side and scrolled, not fitted whole by its long side.
SCREEN_ASPECT = 2.0
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
_WIN = 7


def luma(
    im: Image.Image, size: tuple[int, int], resample: Image.Resampling = Image.Resampling.BICUBIC,
    dtype: type = np.float64,
) -> np.ndarray:
    """Luma (BT.601, as JPEG stores it) at ``size``, as float64 (or ``dtype``)."""
    if im.mode != "L":
        # A JPEG can hand over its Y channel without colour conversion.
        if im.format == "JPEG":
            im.draft("L", im.size)  # a no-op once the pixels are loaded
        im = im.convert("L") if im.mode in ("L", "RGB") else im.convert("RGB").convert("L")
    if im.size != size:
        im = im.resize(size, resample)
    return np.asarray(im, dtype=dtype)


def stretched(long_side: int, size: tuple[int, int]) -> int:
    """``long_side`` for a picture of this shape: beyond 2:1 it grows so that the picture keeps the
    area a 2:1 one has, and its short side stops shrinking with its length. A 1170x12000 chat
    screenshot capped at 1600 px came out 156 px wide, its text 4 px high."""
    aspect = max(size) / max(1, min(size))
    return round(long_side * math.sqrt(max(1.0, aspect / SCREEN_ASPECT)))


def display_size(size: tuple[int, int], long_side: int = DISPLAY_LONG_SIDE) -> tuple[int, int]:
    w, h = size
    scale = long_side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _box(a: np.ndarray) -> np.ndarray:
    # Mean over every 7x7 window ("valid" positions only), from an integral image.
    s = np.pad(a, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    n = _WIN
    return (s[n:, n:] - s[:-n, n:] - s[n:, :-n] + s[:-n, :-n]) / (n * n)


def ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Mean SSIM of two same-shaped luma arrays (0..255)."""
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {y.shape}")
    if min(x.shape) < _WIN:
        return 1.0 if np.array_equal(x, y) else 0.0
    mx, my = _box(x), _box(y)
    # Sample (co)variances, as the reference implementation and scikit-image use.
    k = _WIN * _WIN / (_WIN * _WIN - 1)
    vx = (_box(x * x) - mx * mx) * k
    vy = (_box(y * y) - my * my) * k
    cxy = (_box(x * y) - mx * my) * k
    num = (2 * mx * my + _C1) * (2 * cxy + _C2)
    den = (mx * mx + my * my + _C1) * (vx + vy + _C2)
    return float(np.mean(num / den))


def ssim_images(reference: Image.Image, candidate: Image.Image, long_side: int = DISPLAY_LONG_SIDE) -> float:
    """SSIM of two pictures of the same scene, both shown at ``long_side`` pixels."""
    size = display_size(reference.size, long_side)
    return ssim(luma(reference, size), luma(candidate, size))


class BlockSSIM:
    """A fast SSIM for ranking candidates against one reference: statistics over 8x8 blocks.

    Five block means instead of sliding windows make it ~15x cheaper than :func:`ssim`; the
    ranking of candidates agrees with it closely. The reference's statistics are kept.

    Luma arrays (whole values 0..255) are best passed as float32: every product and block sum
    then stays below 2**24, so float32 holds them exactly and no float64 copy is needed.
    """

    OFFSETS = (0,)

    def __init__(self, reference: np.ndarray, block: int = 8) -> None:
        # A banner thinner than a block at display size (over 135:1) gets blocks as thin as itself.
        self.block = max(1, min(block, *reference.shape))
        self.grids = [self._grid(reference, off) for off in self.OFFSETS]
        self.ref_stats = [(self._means(g), self._means(g * g)) for g in self.grids]

    def _grid(self, a: np.ndarray, offset: int) -> np.ndarray:
        b = self.block
        h = (a.shape[0] - offset) // b * b
        w = (a.shape[1] - offset) // b * b
        return a[offset : offset + h, offset : offset + w]

    def _means(self, a: np.ndarray) -> np.ndarray:
        b = self.block
        a = a.astype(np.float32, copy=False)
        h, w = a.shape
        # Summed along the rows first, then down the columns: cheaper than one mean over two
        # strided axes, and exact (see the class's docstring).
        rows = a.reshape(h, w // b, b).sum(axis=2)
        return rows.reshape(h // b, b, w // b).sum(axis=1) / (b * b)

    def score(self, candidate: np.ndarray) -> float:
        total = 0.0
        for (offset, ref), (mx, mxx) in zip(zip(self.OFFSETS, self.grids), self.ref_stats):
            y = self._grid(candidate, offset)
            my = self._means(y)
            vx = mxx - mx * mx
            vy = self._means(y * y) - my * my
            cxy = self._means(ref * y) - mx * my
            num = (2 * mx * my + _C1) * (2 * cxy + _C2)
            den = (mx * mx + my * my + _C1) * (vx + vy + _C2)
            total += float(np.mean(num / den))
        return total / len(self.OFFSETS)


class Likeness:
    """How close pictures are to one source as a phone shows it: BlockSSIM on luma at display size
    (an elongated picture at its stretched size). The one yardstick for every candidate of a
    source, whatever its size or format."""

    def __init__(self, source: Image.Image) -> None:
        self.size = display_size(source.size, stretched(DISPLAY_LONG_SIDE, source.size))
        self._metric = BlockSSIM(luma(source, self.size, dtype=np.float32))

    def score(self, candidate: Image.Image) -> float:
        return self._metric.score(luma(candidate, self.size, dtype=np.float32))
