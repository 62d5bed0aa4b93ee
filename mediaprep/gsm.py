"""Counting text the way an SMS/MMS gateway does: GSM 03.38 units or Unicode.

GSM 03.38's basic set costs one unit a character, its extension table (reached
by an escape) two. One character outside both makes the whole text Unicode,
where limits are lower and each UTF-16 code unit counts (an emoji is two).
"""

from __future__ import annotations

from dataclasses import dataclass

# The 128 characters of the GSM 03.38 default alphabet (3GPP TS 23.038, 6.2.1).
BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
) - {"\x1b"}
# The extension table: each costs the escape plus itself.
EXTENSION = frozenset("\f^{}\\[~]|€")


@dataclass(frozen=True)
class TextCount:
    encoding: str  # "gsm" or "unicode"
    units: int  # GSM 03.38 units, or UTF-16 code units once the text is Unicode
    characters: int
    non_gsm: str  # the distinct characters that forced Unicode, in order of first use


def count(text: str) -> TextCount:
    units = 0
    outside: dict[str, None] = {}
    for ch in text:
        if ch in BASIC:
            units += 1
        elif ch in EXTENSION:
            units += 2
        else:
            outside.setdefault(ch, None)
    if outside:
        utf16 = len(text.encode("utf-16-le")) // 2
        return TextCount("unicode", utf16, len(text), "".join(outside))
    return TextCount("gsm", units, len(text), "")


def is_gsm(text: str) -> bool:
    return all(ch in BASIC or ch in EXTENSION for ch in text)
