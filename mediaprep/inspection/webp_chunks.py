"""A still WebP's metadata (EXIF, XMP and unknown chunks), cut out without touching the picture.

A WebP is a RIFF file: "RIFF", the size of what follows, "WEBP", then chunks (a four-letter type,
a little-endian size, the payload padded to an even length). A simple file holds one VP8 (lossy)
or VP8L (lossless) chunk; an extended one starts with VP8X, whose flags say what else is there
(ICC profile, alpha, EXIF, XMP, animation).
"""

from __future__ import annotations

from .spans import without_spans

# The picture, its transparency and its colour profile.
_KEPT = frozenset({b"VP8X", b"ICCP", b"ALPH", b"VP8 ", b"VP8L"})
_EXIF_FLAG, _XMP_FLAG = 0x08, 0x04


def without_metadata(data: bytes) -> bytes | None:
    """``data`` with only the chunks a still picture needs, the VP8X flags and the RIFF size made to
    match; None when the file is for the full decode path to judge: not one whole RIFF WebP whose
    stated size is the file's, or an animation."""
    if len(data) < 20 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    if int.from_bytes(data[4:8], "little") + 8 != len(data):
        return None  # cut short, or bytes after the picture (a polyglot)
    chunks: list[tuple[int, int, bytes]] = []
    i = 12
    while i < len(data):
        if i + 8 > len(data):
            return None
        kind, size = data[i : i + 4], int.from_bytes(data[i + 4 : i + 8], "little")
        end = i + 8 + size + (size & 1)
        if end > len(data):
            return None
        chunks.append((i, end, kind))
        i = end
    kinds = [kind for _, _, kind in chunks]
    if b"VP8X" in kinds[1:]:
        return None  # VP8X comes first or not at all
    if b"ANIM" in kinds or b"ANMF" in kinds or (kinds[:1] == [b"VP8X"] and data[20] & 0x02):
        return None
    if sum(kind in (b"VP8 ", b"VP8L") for kind in kinds) != 1:
        return None
    out = bytearray(without_spans(data, [(begin, end) for begin, end, kind in chunks if kind not in _KEPT]))
    if out[12:16] == b"VP8X":
        out[20] &= ~(_EXIF_FLAG | _XMP_FLAG) & 0xFF
    out[4:8] = (len(out) - 8).to_bytes(4, "little")
    return bytes(out)
