"""An embedded ICC profile's tag table, read before littlecms parses the profile.

ICC v4's floating-point tags (DToB0-3 and BToD0-3, of multiProcessElementType) hold a pipeline of
any number of stages, each curve in it of any number of segments, and littlecms prefers them to a
profile's AToB tags and its matrix and curves. The pipeline is run at every point of the grid a
transform is precomputed on, so the time grows with the stages, not with the picture: a 64x64 JPEG
whose 1.1 MB profile held 10000 small stages took 46 s to convert, in-process, where no timeout
reaches, and a 28 kB PNG (its iCCP compressed) with 8000 stages took 75 s.
The tags are left out of the profile littlecms is given, so the colours come from the rest of it
(a profile with nothing else is unreadable, and its colours are taken as sRGB).
"""

from __future__ import annotations

FLOAT_TAGS = frozenset({b"D2B0", b"D2B1", b"D2B2", b"D2B3", b"B2D0", b"B2D1", b"B2D2", b"B2D3"})
_HEADER = 128
_ENTRY = 12


def without_float_tags(icc: bytes) -> bytes:
    """``icc`` with no floating-point tag in its table; as it is when it has none, or when its
    table runs past its end (littlecms refuses such a profile anyway)."""
    if len(icc) < _HEADER + 4:
        return icc
    count = int.from_bytes(icc[_HEADER : _HEADER + 4], "big")
    end = _HEADER + 4 + _ENTRY * count
    if end > len(icc):
        return icc
    entries = [icc[i : i + _ENTRY] for i in range(_HEADER + 4, end, _ENTRY)]
    kept = [entry for entry in entries if entry[:4] not in FLOAT_TAGS]
    if len(kept) == count:
        return icc
    # Tags are found by offsets from the profile's start, so the table shrinks where it is and the
    # room it leaves is zeros: every tag's data stays where its offset says.
    table = len(kept).to_bytes(4, "big") + b"".join(kept)
    return icc[:_HEADER] + table + bytes(end - _HEADER - len(table)) + icc[end:]
