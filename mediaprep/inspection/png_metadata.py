"""A PNG's metadata: what Pillow refuses to read (text chunks and the ICC profile), and what a
picture sent as it is leaves out.

Pillow refuses a whole PNG whose compressed text (zTXt, iTXt) or ICC profile (iCCP) inflates past
1 MB a chunk, or whose text comes to 64 MB in all: a few kB can inflate to gigabytes. Real files
get there too: a designer's XMP with years of Photoshop's document history, carried over by
ImageMagick as "Raw profile type xmp". It is metadata, which mediaprep strips anyway, so such
chunks are dropped unread and the pixels decoded (without the profile, the colours are taken as
sRGB). What is within the limits is left in place: text can hold the picture's orientation.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from PIL.PngImagePlugin import MAX_TEXT_CHUNK, MAX_TEXT_MEMORY

from .spans import without_spans

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT = frozenset({b"tEXt", b"zTXt", b"iTXt"})
ICC = frozenset({b"iCCP"})
# What a still PNG sent as it is keeps: the picture, its transparency and how its colours are meant
# (gamma, primaries, sRGB intent, ICC profile, significant bits, HDR colour and light levels).
# Everything else is metadata: text (authors, software, XMP), eXIf (GPS), tIME, pHYs, and so on.
_KEPT = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT",
                   b"cICP", b"mDCV", b"cLLI"})


def past_limits(data: bytes) -> frozenset[bytes]:
    """The chunk types Pillow would refuse the file for (TEXT, ICC, both, or none). Inflating stops
    at the limit, so a bomb costs 1 MB."""
    refused: set[bytes] = set()
    text = 0
    for _, _, kind, body in _chunks(data):
        if kind in TEXT:
            size = _text_size(kind, body)
            text += size
            if size > MAX_TEXT_CHUNK or text > MAX_TEXT_MEMORY:
                refused |= TEXT
        elif kind in ICC and _inflated(_after_name(body)[1:]) > MAX_TEXT_CHUNK:
            refused |= ICC
    return frozenset(refused)


def wrong_checksums(data: bytes) -> frozenset[bytes]:
    """The types of ancillary chunks (a lower-case first letter: text, gamma, transparency...) whose
    CRC is wrong. libpng drops such a chunk with a warning and shows the picture (ImageMagick
    converts exiv2's issue_828_poc.png so); Pillow refuses the whole file when the chunk comes before
    the pixels. A critical chunk's wrong CRC is an error to both."""
    return frozenset(kind for begin, end, kind, _ in _chunks(data)
                     if kind[:1].islower() and not _checksum_right(data, begin, end))


def without(data: bytes, kinds: frozenset[bytes], *, wrong_checksums: frozenset[bytes] = frozenset()) -> bytes:
    """``data`` without the chunks of these types, and without those of ``wrong_checksums``' types
    whose CRC is wrong; every other chunk byte for byte."""
    return without_spans(data, [(begin, end) for begin, end, kind, _ in _chunks(data)
                                if kind in kinds or (kind in wrong_checksums and not _checksum_right(data, begin, end))])


def _checksum_right(data: bytes, begin: int, end: int) -> bool:
    return zlib.crc32(data[begin + 4 : end - 4]) == int.from_bytes(data[end - 4 : end], "big")


def cicp(data: bytes) -> tuple[int, int, int, int] | None:
    """The cICP chunk's H.273 codes (primaries, transfer, matrix, full range) where it stands before
    the pixels, as the standard places it, and is whole; else None."""
    for begin, end, kind, body in _chunks(data):
        if kind == b"IDAT":
            return None
        if kind == b"cICP" and len(body) == 4 and _checksum_right(data, begin, end):
            return body[0], body[1], body[2], body[3]
    return None


def without_metadata(data: bytes) -> bytes | None:
    """``data`` with only the chunks a still picture needs (_KEPT), each byte for byte.

    None when the file is for the full decode path to judge: not whole from its signature to IEND
    at the very end (bytes after it make a polyglot), a chunk whose CRC is wrong (a phone's decoder
    refuses the picture), an animation (APNG), or a critical chunk mediaprep does not know (Apple's
    CgBI, which only Apple's decoder reads).
    """
    chunks = list(_chunks(data))
    if not chunks or chunks[-1][2] != b"IEND" or chunks[-1][1] != len(data):
        return None
    for begin, end, kind, _ in chunks:
        if kind not in _KEPT and (kind == b"acTL" or kind[:1].isupper()):
            return None
        if kind in _KEPT and not _checksum_right(data, begin, end):
            return None
    return without_spans(data, [(begin, end) for begin, end, kind, _ in chunks if kind not in _KEPT])


def _chunks(data: bytes) -> Iterator[tuple[int, int, bytes, memoryview]]:
    """(start, end, type, body) of each whole chunk after the signature, as far as the file is
    well-formed."""
    if not data.startswith(_SIGNATURE):
        return
    view = memoryview(data)
    i = len(_SIGNATURE)
    while i + 8 <= len(data):
        length = int.from_bytes(data[i : i + 4], "big")
        end = i + 12 + length
        if end > len(data):
            return
        kind = data[i + 4 : i + 8]
        yield i, end, kind, view[i + 8 : end - 4]
        if kind == b"IEND":
            return
        i = end


def _after_name(body: memoryview) -> memoryview:
    """What follows the chunk's keyword (or profile name) and its 0 byte."""
    end = bytes(body[:80]).find(b"\0")  # keywords are 1-79 bytes
    return body[end + 1 :] if end >= 0 else body[len(body) :]


def _text_size(kind: bytes, body: memoryview) -> int:
    """The chunk's text once inflated, counted up to just past MAX_TEXT_CHUNK."""
    rest = _after_name(body)
    if kind == b"zTXt":
        return _inflated(rest[1:])
    if kind == b"iTXt" and bytes(rest[:1]) == b"\1":
        # Compression flag, method, then a language tag and a translated keyword, each ending in 0.
        parts = bytes(rest[2:]).split(b"\0", 2)
        return _inflated(parts[2]) if len(parts) == 3 else len(rest)
    return len(rest)


def _inflated(compressed: bytes | memoryview) -> int:
    try:
        return len(zlib.decompressobj().decompress(compressed, MAX_TEXT_CHUNK + 1))
    except zlib.error:
        return 0  # Pillow skips what it cannot inflate
