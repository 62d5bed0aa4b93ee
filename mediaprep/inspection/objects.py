"""Contact cards, calendars and PDFs: whether they parse, and the facts that decide how they travel.

Nothing here expands a recurrence, follows a URL or renders a page. PDFs are
parsed by pypdf, whose filters stop at 75 MB of output per stream, and only the
object structure is read (no content stream is decoded).
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass
from typing import Any

from ..errors import CorruptInput, InputTooLarge
from ..settings import Settings
from ..warning_filters import Filter, held
from . import vcard_lines
from .sniff import UTF16_BOMS

MAX_PDF_OBJECTS = 200_000
# A contact message holds a card or a few; an address book export, hundreds of ~10 lines each.
# vobject spends ~60 us on each property (a line that is not a fold's continuation): past this
# many, a file is a dump or an attack and would hold a worker for minutes.
MAX_VCARD_PROPERTIES = 20_000
# Components within a contact: a card, an agent's card in it (vCard 2.1 and 3.0), and room to spare.
# vobject reads and writes them recursively: 500 deep ran Python's stack out.
MAX_VCARD_NESTING = 8


@dataclass(frozen=True)
class ObjectFacts:
    version: str | None = None
    items: int = 0  # cards in a vCard file, events in a calendar, pages in a PDF
    encrypted: bool = False
    # PDF active content found (javascript, openaction, aa, launch, embeddedfile, richmedia, xfa).
    features: tuple[str, ...] = ()
    photo_bytes: int = 0  # a vCard's embedded photo
    missing_uid: int = 0  # calendar events without a UID
    recurring: bool = False


def refuse_oversized(data: bytes, kind: str, settings: Settings) -> None:
    """Objects are parsed whole in memory: refuse the implausibly large before parsing."""
    limit = settings.max_calendar_bytes if kind == "calendar" else settings.max_object_bytes
    if len(data) > limit:
        raise InputTooLarge(f"{kind} object is {len(data)} bytes, over the {limit} byte limit for {kind} objects")


def object_facts(data: bytes, kind: str, settings: Settings) -> ObjectFacts:
    refuse_oversized(data, kind, settings)
    if kind == "contact":
        cards = parse_vcards(data)
        photo = sum(len(_photo_payload(c) or b"") for c in cards)
        version = cards[0].version.value if hasattr(cards[0], "version") else None
        return ObjectFacts(version=version, items=len(cards), photo_bytes=photo)
    if kind == "calendar":
        cal = parse_calendar(data)
        events = cal.walk("VEVENT")
        return ObjectFacts(
            version=str(cal.get("VERSION")) if cal.get("VERSION") else None,
            items=len(events),
            missing_uid=sum(1 for e in events if not e.get("UID")),
            recurring=any(e.get("RRULE") or e.get("RDATE") for e in events),
        )
    return pdf_facts(data)


# ---------------------------------------------------------------- text (vCard and iCalendar)


def decode_text(data: bytes, what: str, notes: list[str] | None = None, *, declared: bool = False) -> str:
    """UTF-8, or UTF-16 with its byte order mark (Windows tools write it); with ``declared``, a
    line in another charset that the line itself names (vCard 2.1's CHARSET). Nothing is guessed."""
    if data[:2] in UTF16_BOMS:
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise CorruptInput(f"{what} starts as UTF-16 text but is not") from None
        if notes is not None:
            notes.append("read as UTF-16 and written as UTF-8")
        return text.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = _in_declared_charsets(data) if declared else None
        if text is None:
            raise CorruptInput(f"{what} is not UTF-8 text, and no charset is declared for the lines "
                               "that are not") from None
        return text


_CHARSET = re.compile(rb"[^:]*;CHARSET=([A-Za-z0-9_.-]+)[;:]", re.IGNORECASE)


def _in_declared_charsets(data: bytes) -> str | None:
    lines = []
    for line in data.split(b"\n"):
        try:
            lines.append(line.decode("utf-8"))
            continue
        except UnicodeDecodeError:
            pass
        named = _CHARSET.match(line)
        if not named:
            return None
        try:
            lines.append(line.decode(named.group(1).decode()))
        except (LookupError, UnicodeDecodeError):  # an unknown charset, or bytes that are not in it
            return None
    return "\n".join(lines)


# ---------------------------------------------------------------- vCard


def _deepest_nesting(text: str) -> int:
    depth = deepest = 0
    for line in text.splitlines():
        # The name as vobject takes it: "g.BEGIN;X=1:X-G" begins a component too.
        name = line.split(":", 1)[0].split(";", 1)[0].rsplit(".", 1)[-1].strip().upper()
        if name == "BEGIN":
            depth += 1
            deepest = max(deepest, depth)
        elif name == "END":
            depth -= 1
    return deepest


def parse_vcards(data: bytes, notes: list[str] | None = None) -> list[Any]:
    import vobject

    text = decode_text(data, "vCard", notes, declared=True)
    properties = sum(1 for line in text.splitlines() if line and line[0] not in " \t")
    if properties > MAX_VCARD_PROPERTIES:
        raise InputTooLarge(f"the vCard has {properties} lines, over the {MAX_VCARD_PROPERTIES} a contact file may have")
    text = vcard_lines.mended(text)
    if (depth := _deepest_nesting(text)) > MAX_VCARD_NESTING:
        raise CorruptInput(f"the vCard nests components {depth} deep, past the {MAX_VCARD_NESTING} read here "
                           "(a contact holds at most a card within a card)")
    try:
        # allowQP: the soft breaks are joined already, but only this path counts lines as the file does.
        found = list(vobject.readComponents(text, validate=False, allowQP=True))
    except Exception as exc:  # vobject raises a wide variety of parse errors
        raise CorruptInput(f"vCard does not parse: {exc}") from None
    cards = [c for c in found if c.name.upper() == "VCARD"]
    if not cards:
        raise CorruptInput("no BEGIN:VCARD ... END:VCARD block found")
    for i, card in enumerate(cards, 1):
        if not (_value(card, "fn") or _value(card, "n") or _value(card, "org")):
            raise CorruptInput(f"vCard {i} has no FN, N or ORG: the phone would show a blank contact")
    return cards


def _value(card: Any, name: str) -> Any:
    line = card.contents.get(name)
    return line[0].value if line else None


def _photo_payload(card: Any) -> bytes | None:
    """The first photo the card embeds, as convert takes it."""
    return next(iter(embedded_pictures(card.contents.get("photo") or [], "photo", [])), None)


def embedded_pictures(lines: list[Any], name: str, notes: list[str]) -> list[bytes]:
    """The pictures a card's PHOTO or LOGO lines embed (base64, or a data: URI), in order; a link,
    or a data: URI that does not decode, is passed over with a note. Every line is read: a link
    may come before the picture."""
    pictures = []
    for line in lines:
        value = line.value
        try:
            picture = value if isinstance(value, bytes) else data_uri_bytes(str(value))
        except ValueError:
            notes.append(f"the {name}'s data URI does not decode; it was dropped")
            continue
        if picture is None:
            notes.append(f"a {name} given as a link was dropped (the phone would fetch it from anywhere)")
        else:
            pictures.append(picture)
    return pictures


def data_uri_bytes(text: str) -> bytes | None:
    """The bytes of a base64 ``data:`` URI (how vCard 4.0 embeds a photo); None for anything else.
    Raises ValueError (binascii.Error) when it is one but does not decode."""
    if not (text.startswith("data:") and ";base64," in text):
        return None
    return base64.b64decode(text.split(",", 1)[1], validate=False)


# ---------------------------------------------------------------- iCalendar


def parse_calendar(data: bytes, notes: list[str] | None = None) -> Any:
    """The calendar, several in one file merged into the first (``notes`` hears of it)."""
    import icalendar

    # RFC 5545 text is UTF-8; icalendar alone turned other bytes into U+FFFD without a word.
    text = decode_text(data, "iCalendar", notes)
    try:
        with held(without_zone_guesses()):
            found = icalendar.Calendar.from_ical(text, multiple=True)
    except RecursionError:
        # zoneinfo looks a TZID up through Python's import system, a package per part: 300 parts
        # ran the stack out ("maximum recursion depth exceeded" was all the error said).
        raise CorruptInput("iCalendar does not parse: reading it ran Python out of stack (a time zone name of "
                           "hundreds of parts does that)") from None
    except Exception as exc:  # icalendar raises ValueError, KeyError, IndexError ...
        raise CorruptInput(f"iCalendar does not parse: {exc}") from None
    if not found or any(getattr(c, "name", "").upper() != "VCALENDAR" for c in found):
        raise CorruptInput("the file is not a VCALENDAR")
    cal = found[0]
    if len(found) > 1:
        _merge(cal, found[1:])
        if notes is not None:
            notes.append(f"{len(found)} calendars in the file were merged into one")
    if notes is not None:
        notes.extend(_guessed_zones(cal))
    # Walk the component tree only: recurrences are never expanded here.
    events = cal.walk("VEVENT")
    if not events:
        raise CorruptInput("the calendar has no VEVENT: there is nothing for the phone to add")
    for i, event in enumerate(events, 1):
        if event.get("DTSTART") is None:
            raise CorruptInput(f"event {i} has no DTSTART: a phone cannot place it in a calendar")
    return cal


def without_zone_guesses() -> Filter:
    """The filter that keeps icalendar's guesses at time zones off stderr (they were lines there, in
    the CLI and in a server's log alike); _guessed_zones makes them notes."""
    from icalendar.error import GloballyUniqueTZIDGuessed

    return Filter("ignore", GloballyUniqueTZIDGuessed)


def _guessed_zones(cal: Any) -> list[str]:
    """A note naming the TZIDs read as the zone they end with: a vendor-prefixed TZID the file does
    not define, such as Evolution's "/freeassociation.sourceforge.net/Tzfile/Europe/Berlin", is read
    as Europe/Berlin. Worked out here, not taken from icalendar's warning, which comes only the first
    time a process reads that TZID (icalendar keeps the zone): the second calendar had no note."""
    guessed = {tzid: zone for tzid in missing_zones(cal)[:ZONES_JUDGED]
               if (zone := _zone_it_ends_with(tzid)) is not None}
    if not guessed:
        return []
    names = [f"{tzid!r} as {zone!r}" for tzid, zone in list(guessed.items())[:ZONES_NAMED]]
    more = " and others" if len(guessed) > ZONES_NAMED else ""
    return [(f"read without a vendor's prefix, as icalendar guesses: {', '.join(names)}{more}; the file keeps the "
             "names as they were, which a phone may not know")]


def missing_zones(cal: Any) -> list[str]:
    """The TZIDs the calendar uses and does not define, sorted; none where icalendar cannot say (a
    TZID written as a list, a VTIMEZONE without its TZID: hostile calendars fail in many ways, and
    the notes built on this are advice, never a refusal). The notes judge the first ZONES_JUDGED."""
    try:
        return sorted(cal.get_missing_tzids())
    except Exception:  # noqa: BLE001
        return []


def known_zone(tzid: str) -> bool:
    """Whether icalendar (and a phone) can tell which zone a TZID the file does not define is: an
    IANA or Windows name, or one with a vendor's prefix before such a name (_zone_it_ends_with).
    Asked here, not of icalendar, which also answers with zones other calendars in the same process
    defined: a zone of the file's own making lost its note once one had been read."""
    return _is_zone(tzid.strip("/")) or _zone_it_ends_with(tzid) is not None


def _zone_it_ends_with(tzid: str) -> str | None:
    """The zone icalendar takes a TZID for by dropping a vendor's prefix (RFC 5545 3.2.19: a
    globally unique TZID starts with "/"), longest ending first as icalendar tries them; None where
    it needs no guess (the name without its slashes is a zone) or finds none."""
    if not tzid.startswith("/"):
        return None
    cleaned = tzid.strip("/")
    if _is_zone(cleaned):
        return None
    parts = cleaned.split("/")
    return next((ending for start in range(1, len(parts)) if _is_zone(ending := "/".join(parts[start:]))), None)


def _is_zone(name: str) -> bool:
    """Whether icalendar finds this zone without a guess: an IANA name (from zoneinfo, as icalendar
    looks it up) or a Windows one. Asked here, not of icalendar, whose look-up answers from what
    it has kept, guesses included."""
    import zoneinfo

    from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

    if name in WINDOWS_TO_OLSON:
        return True
    # IANA names have at most three parts and 32 characters. zoneinfo walked a 400-part name
    # through Python's import system (its tzdata fallback) until the stack ran out.
    if name.count("/") > 2 or len(name) > 64:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


ZONES_NAMED = 5  # time zones a calendar's note names at most
# Time zones a calendar's notes look up: each look-up costs up to ~0.5 ms, and a calendar with
# thousands of made-up zones is judged by its first ones.
ZONES_JUDGED = 50


def _merge(cal: Any, others: list[Any]) -> None:
    # RFC 5545 lets a file hold several iCalendar objects (some apps export each event as one);
    # a phone takes one. A time zone they share is kept once.
    zones = {str(z.get("TZID")) for z in cal.walk("VTIMEZONE")}
    for other in others:
        for component in other.subcomponents:
            if component.name == "VTIMEZONE":
                if str(component.get("TZID")) in zones:
                    continue
                zones.add(str(component.get("TZID")))
            cal.add_component(component)


# ---------------------------------------------------------------- PDF

_RAW_FEATURES = {
    b"/JavaScript": "javascript",
    b"/JS": "javascript",
    b"/AA": "aa",
    b"/Launch": "launch",
    b"/EmbeddedFile": "embeddedfile",
    b"/RichMedia": "richmedia",
    b"/XFA": "xfa",
}
_RAW_PATTERN = re.compile(rb"/(?:JavaScript|JS|AA|Launch|EmbeddedFiles?|RichMedia|XFA)(?![A-Za-z0-9])")
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_STREAM_START = re.compile(rb">>\s*stream(?:\r\n|\n|\r)")
_KEY_FEATURES = {
    "/JavaScript": "javascript",
    "/JS": "javascript",
    "/AA": "aa",
    "/EmbeddedFile": "embeddedfile",
    "/EmbeddedFiles": "embeddedfile",
    "/RichMedia": "richmedia",
    "/XFA": "xfa",
}
_ACTION_FEATURES = {"/JavaScript": "javascript", "/Launch": "launch", "/RichMediaExecute": "richmedia"}


def pdf_facts(data: bytes) -> ObjectFacts:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    _refuse_trailing_data(data)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
        version = reader.pdf_header.removeprefix("%PDF-") if reader.pdf_header else None
        if encrypted:
            return ObjectFacts(version=version, encrypted=True, features=_raw_features(data))
        pages = len(reader.pages)
        features = _structural_features(reader) | set(_raw_features(data))
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError,
            OSError, MemoryError, AssertionError, UnicodeError, ZeroDivisionError) as exc:
        raise CorruptInput(f"PDF does not parse: {type(exc).__name__}: {exc}") from None
    if pages == 0:
        raise CorruptInput("the PDF has no pages")
    return ObjectFacts(version=version, items=pages, features=tuple(sorted(features)))


def _refuse_trailing_data(data: bytes) -> None:
    # A PDF ends at its last %%EOF; a ZIP (or anything) after it makes a polyglot that another
    # program would open as something else.
    end = data.rfind(b"%%EOF")
    if end < 0:
        raise CorruptInput("the PDF has no %%EOF marker: it is truncated or not a PDF")
    tail = data[end + 5 :]
    if tail.strip(b"\r\n\t \0"):
        raise CorruptInput(f"{len(tail)} bytes follow the end of the PDF (a PDF+ZIP polyglot?)")


def _raw_features(data: bytes) -> tuple[str, ...]:
    # A stream's bytes are data, not PDF syntax, and compressed or image data holds "/JS" or "/AA"
    # by chance (7.5 % of 1 MB random streams): they are left out. What a stream of objects holds
    # is found by the structural walk, which reads object streams.
    text = _without_stream_data(data)
    # Names may be written with #xx escapes (/J#61vaScript); undo them before looking.
    text = _NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), text)
    found = set()
    for m in _RAW_PATTERN.finditer(text):
        name = m.group(0)
        found.add(_RAW_FEATURES.get(name, "embeddedfile" if name.startswith(b"/EmbeddedFile") else ""))
    found.discard("")
    return tuple(sorted(found))


def _without_stream_data(data: bytes) -> bytes:
    # One pass: each search starts where the last stream ended, and an opening with no end after
    # it ends the cutting (a pattern that looked for both read to the end again from every such
    # opening: 90 kB of them took 6.6 s).
    kept, pos = [], 0
    while (opening := _STREAM_START.search(data, pos)) is not None:
        end = data.find(b"endstream", opening.end())
        if end < 0:
            break
        kept.append(data[pos : opening.end()])
        pos = end
    kept.append(data[pos:])
    return b"".join(kept)


def _structural_features(reader: Any) -> set[str]:
    from pypdf.generic import ArrayObject, DictionaryObject

    found: set[str] = set()
    numbers = {num for gen in reader.xref.values() for num in gen} | set(reader.xref_objStm)
    for num in sorted(numbers)[:MAX_PDF_OBJECTS]:
        try:
            obj = reader.get_object(num)
        except Exception:  # one unreadable object must not hide what the others say
            continue
        stack = [obj]
        while stack:
            node = stack.pop()
            if isinstance(node, DictionaryObject):
                for key, value in node.items():
                    if key in _KEY_FEATURES:
                        found.add(_KEY_FEATURES[key])
                    if key == "/OpenAction" and _acts(value.get_object()):
                        found.add("openaction")
                    if key == "/S" and value in _ACTION_FEATURES:
                        found.add(_ACTION_FEATURES[value])
                    if not hasattr(value, "idnum"):
                        stack.append(value)
            elif isinstance(node, ArrayObject):
                stack.extend(v for v in node if not hasattr(v, "idnum"))
    return found


def _acts(open_action: Any) -> bool:
    """Whether a document's OpenAction does more than show a page.

    A destination array, or a GoTo action to one (LaTeX's hyperref puts ``<< /S /GoTo /D [1 0 R
    /Fit] >>`` in every PDF it makes), only says where the reader opens. Anything else (a web
    address, printing, a form, another file, or a GoTo with more actions chained after it) acts.
    """
    from pypdf.generic import DictionaryObject

    if not isinstance(open_action, DictionaryObject):
        return False
    return open_action.get("/S") != "/GoTo" or "/Next" in open_action
