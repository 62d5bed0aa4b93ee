"""Removing a JPEG's metadata without touching its pixels: drop the segments, keep the scans.

EXIF (camera, GPS), XMP, IPTC and comments live in segments of their own. Cutting them out leaves
the compressed picture exactly as it was: no generation loss, and a smaller file, where a
re-encode would only spend bytes to say the same thing. The whole file is walked, not only the
headers before the first scan: a progressive JPEG has segments between its scans too, and a
comment or an APP1 hidden there is still in the file a phone receives.
"""

from __future__ import annotations

import re

from .spans import without_spans

# What says how to draw the pixels, by marker and the name its segment starts with: APP0's JFIF
# header, APP2's ICC profile (in as many segments as it takes), APP14's Adobe colour transform.
# The same markers carry other things: a JFXX thumbnail (of the picture before it was cropped),
# FlashPix extensions (a voice note, a screen-nail picture), an MPF index, a thermal camera's readings.
KEPT_APP_SEGMENTS = {0xE0: b"JFIF\0", 0xE2: b"ICC_PROFILE\0", 0xEE: b"Adobe"}
_SOS, _EOI, _COM = 0xDA, 0xD9, 0xFE


def without_metadata(data: bytes) -> bytes | None:
    """``data`` without its APPn (but those that draw the picture) and COM segments.

    None when the file is not a well-formed JPEG from SOI to EOI, or has bytes after its EOI
    (beyond zero padding): such a file is for the full decode path to judge, not to be trimmed.
    """
    segments, whole = _segments(data)
    if not whole:
        return None
    return without_spans(data, [(start, end) for marker, start, end in segments
                                if marker == _COM or (0xE0 <= marker <= 0xEF and not _draws(data, marker, start))])


def _draws(data: bytes, marker: int, start: int) -> bool:
    name = KEPT_APP_SEGMENTS.get(marker)
    return name is not None and data.startswith(name, start + 4)


def scan_count(data: bytes) -> int:
    """How many scans (SOS segments) the JPEG has, counted as far as it is well-formed: a hostile
    file without its end marker counts too."""
    return sum(marker == _SOS for marker, _, _ in _segments(data)[0])


def unreadable_coding(data: bytes) -> str | None:
    """"lossless", "arithmetic-coded" or "12-bit" (say) when the frame header asks for a coding
    that Pillow's decoder cannot read; None for the usual 8-bit Huffman-coded lossy JPEG, or no
    frame header."""
    for marker, start, end in _segments(data, headers_only=True)[0]:
        if marker in _FRAMES and end > start + 4:
            if marker in _LOSSLESS:
                return "lossless"
            if marker >= 0xC9:
                return "arithmetic-coded"
            return None if data[start + 4] == 8 else f"{data[start + 4]}-bit"
    return None


def trailing_video_bytes(data: bytes) -> int:
    """How many bytes of an MP4 follow the picture's end marker: a motion photo's clip (Google's and
    Samsung's put it there, perhaps after a second MPF picture); 0 when there is none."""
    if data.rstrip(b"\0").endswith(b"\xff\xd9"):
        return 0  # ends as a JPEG (or an MPF's last picture) does, without walking a large file
    segments, _ = _segments(data)
    end = segments[-1][2] if segments else 0
    while data[end : end + 1] == b"\xff" and data[end + 1 : end + 2] == b"\xff":
        end += 1  # fill bytes before the end marker
    if not segments or data[end : end + 2] != b"\xff\xd9":
        return 0
    box = _MP4_START.search(data, end + 2)
    return len(data) - box.start() if box else 0


# An MP4's first box: a 32-bit size (8 bytes to 1 kB) and "ftyp".
_MP4_START = re.compile(rb"\x00\x00(?:\x00[\x08-\xff]|[\x01-\x03][\x00-\xff])ftyp")

_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOFn; DHT, JPG and DAC are not frames
_LOSSLESS = frozenset({0xC3, 0xC7, 0xCB, 0xCF})  # SOF9 and up (but these) are arithmetic-coded


def _segments(data: bytes, *, headers_only: bool = False) -> tuple[list[tuple[int, int, int]], bool]:
    """(marker, start, end) of the segments from SOI on, a scan with its entropy-coded data, and
    whether they make one whole JPEG: up to EOI, nothing after it but zero padding. With
    ``headers_only``, the segments before the first scan."""
    segments: list[tuple[int, int, int]] = []
    if data[:2] != b"\xff\xd8":
        return segments, False
    i = 2
    while True:
        if i + 2 > len(data) or data[i] != 0xFF:
            return segments, False
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == _EOI:
            return segments, not data[i + 2 :].strip(b"\0")
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:
            return segments, False  # markers without a length belong inside scans (RSTn) or at the start
        if i + 4 > len(data):
            return segments, False
        end = i + 2 + int.from_bytes(data[i + 2 : i + 4], "big")
        if end < i + 4 or end > len(data):
            return segments, False
        if marker == _SOS and headers_only:
            return segments, False
        if marker == _SOS:
            scan_end = _scan_end(data, end)
            if scan_end is None:
                segments.append((marker, i, len(data)))  # cut short inside its last scan
                return segments, False
            end = scan_end
        segments.append((marker, i, end))
        i = end


def _scan_end(data: bytes, i: int) -> int | None:
    """Where the entropy-coded data that starts at ``i`` ends: at the next marker that is not RSTn."""
    # Inside a scan 0xFF is followed by 0x00 (a stuffed byte), a restart marker, or another 0xFF
    # (fill before a marker); anything else is the next marker.
    found = _NEXT_MARKER.search(data, i)
    return found.start() if found else None


_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
