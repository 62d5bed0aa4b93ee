"""Cutting spans of bytes out of a file: the metadata segments and chunks mediaprep drops unread."""

from __future__ import annotations


def without_spans(data: bytes, spans: list[tuple[int, int]]) -> bytes:
    """``data`` without the (start, end) spans, in order, copied once (and not at all when none)."""
    if not spans:
        return data
    view, pieces, start = memoryview(data), [], 0
    for begin, end in spans:
        pieces.append(view[start:begin])
        start = end
    pieces.append(view[start:])
    return b"".join(pieces)
