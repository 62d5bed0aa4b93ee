"""Whether a contact card, calendar or PDF parses, and the facts that decide how it travels."""

from __future__ import annotations

import io
from dataclasses import dataclass

from ..errors import CorruptInput, InputTooLarge
from ..settings import Settings


@dataclass(frozen=True)
class ObjectFacts:
    version: str | None = None
    items: int = 0  # cards in a vCard file, events in a calendar, pages in a PDF
    encrypted: bool = False


def object_facts(data: bytes, kind: str, settings: Settings) -> ObjectFacts:
    if len(data) > settings.max_object_bytes:
        raise InputTooLarge(
            f"{kind} object is {len(data)} bytes, over the {settings.max_object_bytes} byte limit for objects"
        )
    if kind == "contact":
        return _vcard(data)
    if kind == "calendar":
        return _ical(data)
    return _pdf(data)


def _text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CorruptInput(f"{what} is not UTF-8 text") from None


def _vcard(data: bytes) -> ObjectFacts:
    import vobject

    text = _text(data, "vCard")
    try:
        cards = list(vobject.readComponents(text, validate=False))
    except Exception as exc:  # vobject raises a wide variety of parse errors
        raise CorruptInput(f"vCard does not parse: {exc}") from None
    cards = [c for c in cards if c.name.upper() == "VCARD"]
    if not cards:
        raise CorruptInput("no BEGIN:VCARD ... END:VCARD block found")
    first = cards[0]
    if not (hasattr(first, "fn") or hasattr(first, "n")):
        raise CorruptInput("vCard has neither FN nor N: the phone would show a blank contact")
    version = first.version.value if hasattr(first, "version") else None
    return ObjectFacts(version=version, items=len(cards))


def _ical(data: bytes) -> ObjectFacts:
    import icalendar

    try:
        cal = icalendar.Calendar.from_ical(data)
    except Exception as exc:  # icalendar raises ValueError and friends
        raise CorruptInput(f"iCalendar does not parse: {exc}") from None
    # Walk the component tree only: recurrences are never expanded here.
    events = [c for c in cal.walk("VEVENT")]
    version = str(cal.get("VERSION")) if cal.get("VERSION") else None
    return ObjectFacts(version=version, items=len(events))


def _pdf(data: bytes) -> ObjectFacts:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
        pages = 0 if encrypted else len(reader.pages)
        version = reader.pdf_header.removeprefix("%PDF-") if reader.pdf_header else None
    except (PyPdfError, ValueError, KeyError, TypeError, RecursionError, OSError) as exc:
        raise CorruptInput(f"PDF does not parse: {exc}") from None
    return ObjectFacts(version=version, items=pages, encrypted=encrypted)
