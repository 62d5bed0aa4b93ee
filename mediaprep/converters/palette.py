"""Pictures of few colours as a lossless GIF: line art, QR codes, logos, diagrams, scans of text.

Such pictures come as 1-bit or palette images (PNG, BMP, TIFF, GIF). A JPEG rings around every hard
edge and, under a tight budget, blurs a QR code or small print; the same pixels as a GIF are exact,
and usually smaller. Used where the profile takes GIF and the GIF fits at the picture's own size;
otherwise the JPEG search takes over.
"""

from __future__ import annotations

import io

from PIL import Image

from ..inspection.image import damaged
from .picture import orientation


def lossless_gif(im: Image.Image, budget: int, max_long_side: int) -> tuple[bytes, list[str]] | None:
    """The picture's own pixels as a GIF with nothing else in it, and notes; None when that is not
    the way (not a 1-bit or palette picture, too large for the profile, to be turned or colour
    managed) or it does not fit."""
    if im.mode not in ("1", "P") or max(im.size) > max_long_side:
        return None
    if orientation(im) != 1 or im.info.get("icc_profile"):
        return None  # turning the pixels or converting their colour is the JPEG path's work
    try:
        im.load()
    except Exception as exc:
        raise damaged(exc) from None
    notes: list[str] = []
    clean = im.copy()
    clear = _one_clear_entry(im) if im.mode == "P" else None
    if im.mode == "P" and clear is None:
        flat = _on_white(im)
        if flat is not None:
            clean.putpalette(flat, "RGB")
            notes.append("transparency flattened on white")
    clean.info = {}  # no comment, no text chunks: the pixels alone, and their clear entry if any
    buf = io.BytesIO()
    clean.save(buf, "GIF", optimize=True, **({"transparency": clear} if clear is not None else {}))
    data = buf.getvalue()
    if len(data) > budget:
        return None
    colours = len(clean.getcolors(256) or [])
    return data, [f"{colours} colours: sent as a GIF, every pixel as it was"] + notes


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
