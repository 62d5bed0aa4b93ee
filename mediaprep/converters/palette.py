"""Pictures of few colours as a GIF: line art, QR codes, logos, diagrams, scans of text.

Such pictures come as 1-bit or palette images (PNG, BMP, TIFF, GIF). A JPEG rings around every hard
edge and, under a tight budget, blurs a QR code or small print; the same pixels as a GIF are exact,
and usually smaller. Where the profile takes GIF and the GIF fits at the picture's own size, it is
sent so (lossless_gif). Where the picture must be scaled (too large for the profile or the budget),
scaling makes shades along every edge: scaled_gif keeps the most of them a palette holds, and the
converter sends whichever of it and the best JPEG is closer to the source (quality.Likeness).
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from ..inspection.image import damaged
from .gif import HALF_COVERED
from .jpeg import ladder
from .picture import FLATTENED, is_srgb_icc, orientation, resize_long_side

# A JPEG has thousands of colours however few it was drawn with; an MPO is JPEGs (Pillow's name for
# a JPEG holding a second picture: a depth map, a gain map, a second view).
JPEG_FORMATS = frozenset({"JPEG", "MPO"})
# Full-colour pictures up to this many pixels are looked at for a palette (counting colours stops at
# once on a photograph; a flat 4 MP picture takes ~10 ms).
EXACT_PIXELS = 4_000_000


# Palette sizes tried at each size, most first, never fewer than the source's own colours. Shades
# along the edges beyond the first few gain little: on a diagram, a QR code and a page of text scaled
# for 30 kB, 16 or 8 entries scored within 0.001 of 256 at 60-80 % of its bytes, and a page of black
# text at 4 entries beat the best JPEG that fits by 0.07.
SCALED_COLOURS = (256, 16, 8, 4)
# Sizes a scaled GIF may try; each next one is aimed at the budget from the bytes of the last.
MAX_SCALED_SIZES = 5


def _may_be_few_colours(im: Image.Image) -> bool:
    """1-bit, a palette, or full colour small enough to count (a JPEG never: it has thousands)."""
    full_colour = im.mode in ("RGB", "RGBA", "L", "LA")
    return im.mode in ("1", "P") or (
        full_colour and im.format not in JPEG_FORMATS and im.width * im.height <= EXACT_PIXELS
    )


def colours_drawn_with(im: Image.Image) -> int | None:
    """How many colours the picture is drawn with, where that is at most 256; None otherwise."""
    if im.mode == "1":
        return 2
    if not _may_be_few_colours(im):
        return None
    try:
        found = im.getcolors(256)
    except Exception as exc:
        raise damaged(exc) from None
    return len(found) if found is not None else None


def scaled_gif(
    pixels: Image.Image, budget: int, longest: int, floor: int, drawn_with: int, alpha: Image.Image | None = None
) -> tuple[tuple[Image.Image, bytes] | None, int]:
    """The largest GIF of a few-colour picture's upright pixels (flattened, sRGB) scaled to at most
    ``longest`` px that fits, with the most palette entries that do, as (its picture, its bytes), or
    None when no size down to ``floor`` fits with ``drawn_with`` colours or more; and the encodes made.
    ``alpha`` (the pixels' own, see picture.upright_alpha): a pixel less than half covered is clear,
    as in an animation kept as a GIF; the rest stay drawn on white."""
    sizes = ladder(min(longest, max(pixels.size)), min(floor, longest))
    tried = [n for n in SCALED_COLOURS if n >= drawn_with] or [SCALED_COLOURS[0]]
    # Grey goes through the octree too: it keeps at most 16 levels of a grey picture, which scored
    # as 256 did at a third to a half of the bytes.
    rgb = pixels.convert("RGB") if pixels.mode != "RGB" else pixels
    i, encodes = 0, 0
    for _ in range(MAX_SCALED_SIZES):
        im = rgb if sizes[i] >= max(rgb.size) else resize_long_side(rgb, sizes[i])
        clear = None if alpha is None else alpha.resize(im.size, Image.Resampling.LANCZOS).point(
            lambda a: 255 if a < HALF_COVERED else 0)
        for colours in tried:
            # undithered: dither is noise on a drawing, and costs bytes
            paletted = im.quantize(colours - (clear is not None), method=Image.Quantize.FASTOCTREE,
                                   dither=Image.Dither.NONE)
            paletted = _used_entries(paletted, clear)
            buf = io.BytesIO()
            paletted.save(buf, "GIF", optimize=True)
            encodes += 1
            if buf.tell() <= budget:
                return _with_flat_colours_exact(paletted, im, buf.getvalue(), budget), encodes
        if i + 1 >= len(sizes):
            return None, encodes
        # Bytes taken to follow pixels: the next size is aimed a little inside the budget.
        aimed = sizes[i] * math.sqrt(budget / buf.tell()) * 0.97
        i = next((j for j in range(i + 1, len(sizes)) if sizes[j] <= aimed), len(sizes) - 1)
    return None, encodes


def _used_entries(paletted: Image.Image, clear: Image.Image | None) -> Image.Image:
    """``paletted`` with only the palette entries its pixels use, and after them, where ``clear``
    marks pixels, one more: white, named clear, on those pixels. The octree leaves 256 entries
    however few it used, and past 512x512 Pillow writes them all (720 bytes more for 16 colours)."""
    entries = paletted.getpalette("RGB") or []
    used = _entries_used(paletted)
    out = paletted.copy()
    out.putpalette(entries[: 3 * used] + ([255, 255, 255] if clear is not None else []), "RGB")
    if clear is not None:
        out.paste(used, mask=clear)
        out.info["transparency"] = used
    return out


def _entries_used(paletted: Image.Image) -> int:
    """How many palette entries, from the first, reach the last one a pixel uses."""
    return max(i for i, n in enumerate(paletted.histogram()) if n) + 1


def _with_flat_colours_exact(paletted: Image.Image, rgb: Image.Image, data: bytes, budget: int) -> tuple[Image.Image, bytes]:
    """``paletted`` with each palette entry made the colour most of its pixels have, where most have
    one, and its GIF (else ``data``, the GIF as it was). The octree gives an entry the mean of its
    pixels, edge shades and all: a white page came out 254, a logo's yellow a level off."""
    index = np.asarray(paletted).ravel().astype(np.uint32)
    px = np.asarray(rgb).reshape(-1, 3).astype(np.uint32)
    found, counts = np.unique(index << 24 | px[:, 0] << 16 | px[:, 1] << 8 | px[:, 2], return_counts=True)
    entries = found >> 24
    order = np.lexsort((counts, entries))  # by entry, then by count: each entry's commonest colour last
    commonest = order[np.r_[entries[order][1:] != entries[order][:-1], True]]
    palette = paletted.getpalette("RGB") or []
    per_entry = np.bincount(index, minlength=256)
    for key, count in zip(found[commonest].tolist(), counts[commonest].tolist()):
        entry, colour = key >> 24, key & 0xFFFFFF
        if 2 * count > per_entry[entry]:
            palette[3 * entry : 3 * entry + 3] = [colour >> 16, (colour >> 8) & 255, colour & 255]
    exact = paletted.copy()
    exact.putpalette(palette, "RGB")
    buf = io.BytesIO()
    exact.save(buf, "GIF", optimize=True)
    return (exact, buf.getvalue()) if buf.tell() <= budget else (paletted, data)


def lossless_gif(im: Image.Image, budget: int, max_long_side: int) -> tuple[bytes, list[str]] | None:
    """The picture's own pixels as a GIF with nothing else in it, and notes; None when that is not
    the way (not a picture of at most 256 colours, too large for the profile, to be turned or
    colour managed) or it does not fit."""
    if not _may_be_few_colours(im):
        return None
    icc = im.info.get("icc_profile")
    if max(im.size) > max_long_side or orientation(im) != 1 or (icc and not is_srgb_icc(icc)):
        return None  # resizing, turning the pixels or converting their colour is the JPEG path's work
    try:
        im.load()
    except Exception as exc:
        raise damaged(exc) from None
    if im.mode not in ("1", "P"):
        im = _exactly_paletted(im)
        if im is None:
            return None
    notes: list[str] = []
    clean = im.copy()
    clear = _one_clear_entry(im) if im.mode == "P" else None
    if im.mode == "P" and clear is None:
        flat = _on_white(im)
        if flat is not None:
            clean.putpalette(flat, "RGB")
            notes.append(FLATTENED)
    clean.info = {}  # no comment, no text chunks: the pixels alone, and their clear entry if any
    if clean.mode == "P":  # only the entries used (a saved palette is often 256 long: 756 bytes more)
        used = max(_entries_used(clean), clear + 1 if clear is not None else 0)
        clean.putpalette((clean.getpalette("RGB") or [])[: 3 * used], "RGB")
    buf = io.BytesIO()
    clean.save(buf, "GIF", optimize=True, **({"transparency": clear} if clear is not None else {}))
    data = buf.getvalue()
    if len(data) > budget:
        return None
    colours = len(clean.getcolors(256) or [])
    return data, [f"{colours} colour{'s' * (colours != 1)}: sent as a GIF, every pixel as it was"] + notes


def _exactly_paletted(im: Image.Image) -> Image.Image | None:
    """A full-colour picture of at most 256 colours (a clear one counted among them) as the same
    pixels in palette form; None with more colours, or partial transparency, which GIF cannot keep.
    Pillow's own conversion to a palette matches colours at 6 bits a channel, so it is done here."""
    if im.getcolors(1024) is None:
        return None  # a photograph: counting stops at once, before a copy of its pixels is made
    rgba = im.convert("RGBA")
    alpha = rgba.getchannel("A")
    counts = alpha.histogram()
    if any(counts[1:255]):
        return None
    clear = counts[0] > 0
    found = rgba.getcolors(1024)  # a clear pixel's colour varies, and does not count
    if found is None:
        return None
    opaque = sorted({c[:3] for _, c in found if c[3] == 255})
    if len(opaque) > 256 - clear:
        return None
    keys = np.array([(r << 16) | (g << 8) | b for r, g, b in opaque], dtype=np.uint32)
    pixels = np.asarray(rgba)
    packed = pixels[..., 0].astype(np.uint32) << 16 | pixels[..., 1].astype(np.uint32) << 8 | pixels[..., 2]
    index = np.searchsorted(keys, packed).astype(np.uint8)
    if clear:
        index[pixels[..., 3] == 0] = len(opaque)
    paletted = Image.fromarray(index, "P")
    paletted.putpalette([c for colour in opaque for c in colour] + ([255, 255, 255] if clear else []))
    if clear:
        paletted.info["transparency"] = len(opaque)
    return paletted


def _one_clear_entry(im: Image.Image) -> int | None:
    """The palette entry that is fully clear, when it is the only one not fully opaque: GIF keeps
    that exactly (a logo's clear background stays clear, not a white box on a dark chat)."""
    transparency = im.info.get("transparency")
    if isinstance(transparency, int):  # GIF, and PNG with one clear entry
        return transparency
    if isinstance(transparency, bytes):  # PNG's tRNS: an alpha for each entry
        clear = [i for i, a in enumerate(transparency) if a == 0]
        if len(clear) == 1 and all(a in (0, 255) for a in transparency):
            return clear[0]
    return None


def _on_white(im: Image.Image) -> list[int] | None:
    """The palette with each entry's transparency blended onto white, or None when it has none."""
    transparency = im.info.get("transparency")
    if transparency is None:
        return None
    palette = im.getpalette("RGB") or []
    alphas = [255] * (len(palette) // 3)
    if isinstance(transparency, bytes):  # PNG's tRNS (one clear entry alone is kept: _one_clear_entry)
        alphas[: len(transparency)] = transparency[: len(alphas)]
    return [round(c * a / 255 + 255 * (1 - a / 255)) for i, a in enumerate(alphas) for c in palette[3 * i : 3 * i + 3]]
