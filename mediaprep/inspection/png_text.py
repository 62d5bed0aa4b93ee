"""A PNG's text chunks (tEXt, zTXt, iTXt): comments, XMP, and ImageMagick's raw EXIF or XMP profiles.

Pillow refuses a whole PNG whose compressed text inflates past 1 MB a chunk (or 64 MB in all): a
few kB of zTXt can inflate to gigabytes. Real files get there too: a designer's XMP with years of
Photoshop's document history, carried over by ImageMagick as "Raw profile type xmp". Text is
metadata, which mediaprep strips anyway, so such chunks are dropped unread and the pixels decoded.
Text within the limits is left in place: it can hold the picture's orientation.
"""

from __future__ import annotations

import zlib

from PIL.PngImagePlugin import MAX_TEXT_CHUNK, MAX_TEXT_MEMORY

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT = frozenset({b"tEXt", b"zTXt", b"iTXt"})


def text_past_limits(data: bytes) -> bool:
    """True when Pillow would refuse the file for its text: a chunk inflating past MAX_TEXT_CHUNK,
    or all of them past MAX_TEXT_MEMORY. Inflating stops at the limit, so a bomb costs 1 MB."""
    total = 0
    for kind, body in _text_chunks(data):
        size = _text_size(kind, body)
        total += size
        if size > MAX_TEXT_CHUNK or total > MAX_TEXT_MEMORY:
            return True
    return False


def without_text(data: bytes) -> bytes:
    """``data`` without its text chunks; every other chunk byte for byte."""
    pieces, start = [], 0
    for begin, end, kind in _chunks(data):
        if kind in _TEXT:
            pieces.append(data[start:begin])
            start = end
    pieces.append(data[start:])
    return b"".join(pieces)


def _chunks(data: bytes):
    """(start, end, type) of each whole chunk after the signature, as far as the file is well-formed."""
    if not data.startswith(_SIGNATURE):
        return
    i = len(_SIGNATURE)
    while i + 8 <= len(data):
        length = int.from_bytes(data[i : i + 4], "big")
        end = i + 12 + length
        if end > len(data):
            return
        kind = data[i + 4 : i + 8]
        yield i, end, kind
        if kind == b"IEND":
            return
        i = end


def _text_chunks(data: bytes):
    for begin, end, kind in _chunks(data):
        if kind in _TEXT:
            yield kind, data[begin + 8 : end - 4]


def _text_size(kind: bytes, body: bytes) -> int:
    """The chunk's text once inflated, counted up to just past MAX_TEXT_CHUNK."""
    keyword_end = body.find(b"\0")
    if keyword_end < 0:
        return len(body)
    rest = body[keyword_end + 1 :]
    if kind == b"zTXt":
        return _inflated(rest[1:])
    if kind == b"iTXt" and rest[:1] == b"\1":
        # Compression flag, method, then a language tag and a translated keyword, each ending in 0.
        parts = rest[2:].split(b"\0", 2)
        return _inflated(parts[2]) if len(parts) == 3 else len(rest)
    return len(rest)


def _inflated(compressed: bytes) -> int:
    try:
        return len(zlib.decompressobj().decompress(compressed, MAX_TEXT_CHUNK + 1))
    except zlib.error:
        return 0  # Pillow skips text it cannot inflate
