"""How big a message is on the wire, from the bytes it carries (seed 001's estimate)."""

from __future__ import annotations

import math

from .errors import UsageError

# Seed 001: "multiply the message size of the original data (including file
# attachments) by 1.37 + 814 bytes (for headers)".
BASE64_FACTOR = 1.37
HEADER_BYTES = 814


def estimate_bytes(payload_bytes: int) -> int:
    if isinstance(payload_bytes, bool) or not isinstance(payload_bytes, int) or payload_bytes < 0:
        raise UsageError(f"payload_bytes must be a whole number of bytes, 0 or more, not {payload_bytes!r}")
    return math.ceil(payload_bytes * BASE64_FACTOR + HEADER_BYTES) if payload_bytes else 0


def largest_payload(wire_limit: int) -> int:
    """The most bytes of content whose estimate stays within ``wire_limit`` (0 if none can)."""
    n = max(0, math.floor((wire_limit - HEADER_BYTES) / BASE64_FACTOR))
    # The float division can land one byte either side of the exact answer.
    while n > 0 and estimate_bytes(n) > wire_limit:
        n -= 1
    while estimate_bytes(n + 1) <= wire_limit:
        n += 1
    return n
