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
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from ..inspection.image import damaged, orientation
from .gif import add_clear_entry, clear_pixels
from .jpeg import ladder
from .picture import FLATTENED, in_srgb_tones, keeps_colours, packed_rgb, resize_long_side

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
# Levels (per channel) within which a shade scaling made on a flat area is that area's colour.
NEAR = 8
# Sizes a scaled GIF may try; each next one is aimed at the budget from the bytes of the last.
MAX_SCALED_SIZES = 5


def _may_be_few_colours(im: Image.Image) -> bool:
    """1-bit, a palette, or full colour small enough to count (a JPEG never: it has thousands)."""
    full_colour = im.mode in ("RGB", "RGBA", "L", "LA")
    return im.mode in ("1", "P") or (
        full_colour and im.format not in JPEG_FORMATS and im.width * im.height <= EXACT_PIXELS
    )


def drawn_colours(im: Image.Image) -> list[tuple[int, Any]] | None:
    """The colours the picture is drawn with, commonest first, as getcolors gives them (count, colour
    in the picture's mode), where there are at most 256; None otherwise."""
    if not _may_be_few_colours(im):
        return None
    try:
        found = im.getcolors(256)
    except Exception as exc:
        raise damaged(exc) from None
    return sorted(found, key=lambda c: -c[0]) if found is not None else None


class ScaledGif(NamedTuple):
    picture: Image.Image
    data: bytes
    # The GIF as it is judged against a JPEG: its clear pixels (if any) show the source flattened on
    # white. A JPEG cannot keep a clear ground at all; the hard edge a GIF gives it is the price of
    # any transparency in a GIF (an animation kept as a GIF pays it too), not a fault of its drawing.
    as_judged: Image.Image


def scaled_gif(
    pixels: Image.Image, budget: int, longest: int, floor: int, own: list[int], alpha: Image.Image | None = None
) -> tuple[ScaledGif | None, int]:
    """The largest GIF of a few-colour picture's upright pixels (flattened, sRGB) scaled to at most
    ``longest`` px that fits, with the most palette entries that do, or None when no size down to
    ``floor`` fits with its ``own`` colours (0xRRGGBB, commonest first, as picture.colours_as_sent
    gives them) or more; and the encodes made.
    ``alpha`` (the pixels' own, see picture.upright_alpha): a pixel less than half covered is clear,
    as in an animation kept as a GIF; the rest stay drawn on white."""
    sizes = ladder(min(longest, max(pixels.size)), min(floor, longest))
    tried = [n for n in SCALED_COLOURS if n >= len(own)] or [SCALED_COLOURS[0]]
    rgb = pixels.convert("RGB") if pixels.mode != "RGB" else pixels
    i, encodes = 0, 0
    for _ in range(MAX_SCALED_SIZES):
        im = rgb if sizes[i] >= max(rgb.size) else resize_long_side(rgb, sizes[i])
        clear = None if alpha is None else clear_pixels(alpha.resize(im.size, Image.Resampling.LANCZOS))
        shades = _shades(im, np.array(own, dtype=np.uint32))
        for colours in tried:
            paletted = _with_own_colours(im, own, shades, colours - (clear is not None))
            if clear is not None:
                used = (paletted.getpalette("RGB") or [])[: 3 * _entries_used(paletted)]
                paletted.info["transparency"] = add_clear_entry(paletted, used, clear)
            buf = io.BytesIO()
            paletted.save(buf, "GIF", optimize=True)
            encodes += 1
            if buf.tell() <= budget:
                judged = paletted if clear is None else Image.composite(im, paletted.convert("RGB"), clear)
                return ScaledGif(paletted, buf.getvalue(), judged), encodes
        if i + 1 >= len(sizes):
            return None, encodes
        # Bytes taken to follow pixels: the next size is aimed a little inside the budget.
        aimed = sizes[i] * math.sqrt(budget / buf.tell()) * 0.97
        i = next((j for j in range(i + 1, len(sizes)) if sizes[j] <= aimed), len(sizes) - 1)
    return None, encodes


def _shades(im: Image.Image, own: np.ndarray) -> Image.Image | None:
    """The pixels of ``im`` that are none of the drawing's own colours (the shades scaling made along
    its edges), as one row, or None when there are none."""
    packed = packed_rgb(np.asarray(im)).ravel()
    others = packed[~np.isin(packed, own)]
    if not len(others):
        return None
    row = np.stack([others >> 16, (others >> 8) & 255, others & 255], axis=1).astype(np.uint8)
    return Image.fromarray(row.reshape(1, -1, 3), "RGB")


def _with_own_colours(im: Image.Image, own: list[int], shades: Image.Image | None, entries: int) -> Image.Image:
    """``im`` mapped, undithered, to a palette of the drawing's own colours, exactly, and as many of
    its edges' shades as ``entries`` leaves room for (the octree picks them). The octree over the
    whole picture lumped a diagram's light boxes (lavender, cream, mint) into one grey-white at 16
    entries, and made a white ground 254: luma cannot see the first, and a flat colour is a brand's
    or a chart's. Dither is noise on a drawing."""
    palette = [c for colour in own[:entries] for c in (colour >> 16, (colour >> 8) & 255, colour & 255)]
    room = entries - len(palette) // 3
    if room > 0 and shades is not None:
        # Grey goes through the octree too: it keeps at most 16 levels of grey, which scored as 256
        # did at a third to a half of the bytes.
        picked = shades.quantize(room, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
        found = np.array(picked.getpalette("RGB") or [], dtype=np.int32)[: 3 * _entries_used(picked)]
        found, mine = found.reshape(-1, 3), np.array(palette, dtype=np.int32).reshape(-1, 1, 3)
        # A shade within a few levels of one of the drawing's colours is the resize's ringing on a flat
        # area: without it those pixels take that colour, exactly (a white ground came out 251).
        far = np.abs(found[None, :, :] - mine).max(axis=2).min(axis=0) > NEAR
        palette += found[far].ravel().tolist()
    target = Image.new("P", (1, 1))
    target.putpalette(palette, "RGB")
    mapped = im.quantize(palette=target, dither=Image.Dither.NONE)
    out = mapped.copy()  # only the entries used: past 512x512 Pillow writes all it is given
    out.putpalette((mapped.getpalette("RGB") or [])[: 3 * _entries_used(mapped)], "RGB")
    return out


def _entries_used(paletted: Image.Image) -> int:
    """How many palette entries, from the first, reach the last one a pixel uses."""
    return max(i for i, n in enumerate(paletted.histogram()) if n) + 1


def lossless_gif(im: Image.Image, budget: int, max_long_side: int, codes: tuple[int, int] | None = None,
                 ) -> tuple[bytes, list[str]] | None:
    """The picture's own pixels as a GIF with nothing else in it, and notes; None when that is not
    the way (not a picture of at most 256 colours, too large for the profile, to be turned or
    colour managed) or it does not fit."""
    if not _may_be_few_colours(im):
        return None
    if max(im.size) > max_long_side or orientation(im) != 1 or not keeps_colours(im, codes):
        return None  # resizing, turning the pixels or converting their colour is the JPEG path's work
    try:
        im.load()
    except Exception as exc:
        raise damaged(exc) from None
    toned = in_srgb_tones(im)
    tones_note = [] if toned is im else ["grey tones converted to sRGB from the embedded ICC profile"]
    im = toned
    if im.mode != "P":
        # 1-bit too: GIF keeps a clear entry only in a palette, and its own conversion gives 256 greys.
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
    kept = "as it was" if not tones_note else "as its profile shows it"
    return data, [f"{colours} colour{'s' * (colours != 1)}: sent as a GIF, every pixel {kept}"] + tones_note + notes


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
    keys = packed_rgb(np.array(opaque, dtype=np.uint8).reshape(-1, 3))  # sorted, as opaque is
    pixels = np.asarray(rgba)
    index = np.searchsorted(keys, packed_rgb(pixels)).astype(np.uint8)
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
