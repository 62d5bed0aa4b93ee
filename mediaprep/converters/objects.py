"""Contact cards, calendars and PDFs: validated, normalised, and made to fit.

- vCard: every card gets an FN (built from N, else ORG); output is vCard 3.0, UTF-8, CRLF, folded
  at 75 octets; an embedded photo is fitted with the image converter (to what a phone keeps of it),
  or dropped, to meet the budget; a photo given as a URL is dropped (the phone would fetch it from
  wherever it points).
- iCalendar: at least one VEVENT with DTSTART; a missing UID is added (derived from the event, so
  the same input always gets the same UID); VERSION and PRODID are added when missing; time zones
  are kept; recurrences are never expanded.
- PDF: never rewritten; refused when encrypted, damaged, carrying data after its end, or holding
  active content the profile forbids; the rest is reported.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..errors import CannotFit, CorruptInput, EncryptedInput, MediaprepError, NotAllowed
from ..inspection.objects import (
    ZONES_JUDGED,
    ZONES_NAMED,
    embedded_pictures,
    known_zone,
    missing_zones,
    parse_calendar,
    parse_vcards,
    pdf_facts,
)
from ..inspection.sniff import KIND_BY_MIME
from ..profiles import ImageTarget, MediaRule, Profile, Targets
from ..settings import Settings
from ..tools import run
from . import Converted

VCARD_OUTPUT_VERSION = "3.0"
# The pictures a card may embed: a person's photo, a company's logo.
PICTURES = ("photo", "logo")
# Below this a contact photo is a smudge; drop it instead.
MIN_PHOTO_BYTES = 1500
# What a phone keeps of a card's picture: Android's contacts store it at most 720 px on its long side
# (480 on phones under 640 MiB) and list it as a 96 px thumbnail (ContactsProvider's PhotoProcessor);
# pixels beyond that only take room from the rest of the message. A contact's picture does not move:
# an animation goes as one still.
CARD_PICTURE = Profile(
    name="vcard-picture", title="A picture inside a vCard", kind="provider", source="Android ContactsProvider",
    media={"image": MediaRule(
        accept=("image/jpeg", "image/gif"),
        convert=tuple(m for m, k in KIND_BY_MIME.items() if k == "image" and m not in ("image/jpeg", "image/gif")),
    )},
    targets=Targets(image=ImageTarget(max_long_side=720, min_long_side=96, keep_gif=False, stretch_elongated=False)),
)
CARD_PICTURE_TYPES = {"image/jpeg": "JPEG", "image/gif": "GIF"}


def normalise_vcard(data: bytes, budget: int, settings: Settings) -> tuple[bytes, list[str]]:
    notes: list[str] = []
    cards = parse_vcards(data, notes)
    pictures: list[tuple[Any, str, bytes]] = []
    for card in cards:
        _ensure_fn(card, notes)
        _set_version(card)
        _params_as_30(card)
        _drop_repeats(card, notes)
        for name in PICTURES:
            picture = _take_picture(card, name, notes)
            if picture is not None:
                pictures.append((card, name, picture))
    text = _serialise(cards)
    if pictures:
        # What the pictures may use: the budget less the card text, in base64 (4 bytes per 3).
        room = (budget - len(text) - 120 * len(pictures)) * 3 // 4 // len(pictures)
        for card, name, picture in pictures:
            # vobject folds every line but PHOTO's (Apple's Address Book wants that one whole): a
            # folded line spends 3 of its 75 octets on the fold.
            share = room if name == "photo" else room * 72 // 75
            fitted = _fit_picture(picture, name, share, settings, notes)
            if fitted is not None:
                line = card.add(name)
                line.value = fitted.data
                line.encoding_param = "b"
                line.type_param = CARD_PICTURE_TYPES[fitted.mime]
        text = _serialise(cards)
    _reads_back(text)
    if len(text) > budget:
        raise CannotFit(
            f"the vCard is {len(text)} bytes without its pictures, over the {budget} byte budget",
            provider_code="E335",
        )
    return text, list(dict.fromkeys(notes))  # many like cards: each note once


def _ensure_fn(card: Any, notes: list[str]) -> None:
    if card.contents.get("fn") and str(card.fn.value).strip():
        return
    name = card.contents.get("n")
    full = ""
    if name:
        n = name[0].value
        full = _words([getattr(n, a, "") for a in ("prefix", "given", "additional", "family", "suffix")])
    if not full and card.contents.get("org"):
        full = _words(card.org.value)
    card.contents.pop("fn", None)
    card.add("fn").value = full or "Contact"
    notes.append(f"FN built from {'N' if name else 'ORG'}: {full!r}")


def _words(value: Any) -> str:
    # A structured value's parts are text or lists of text, nested as deep as the card made them.
    if isinstance(value, list):
        return " ".join(w for w in (_words(v) for v in value) if w)
    return str(value).strip()


def _params_as_30(card: Any) -> None:
    """Parameters as vCard 3.0 writes them, where 2.1 and 4.0 write them otherwise."""
    for lines in card.contents.values():
        for line in lines:
            if not hasattr(line, "params"):
                _params_as_30(line)  # a card inside the card (2.1's AGENT)
                continue
            # The text is decoded and goes out as UTF-8, whatever charset it came in.
            line.params.pop("CHARSET", None)
            # 2.1's bare types (TEL;CELL;PREF) and 4.0's quoted lists (TYPE="cell,voice").
            types = [t for value in line.params.get("TYPE", []) for t in value.split(",") if t]
            types += [t for t in line.singletonparams if t.upper() != "BASE64"]
            line.singletonparams = [t for t in line.singletonparams if t.upper() == "BASE64"]
            if types:
                line.params["TYPE"] = types
            # 4.0's TEL;VALUE=uri:tel:+1-555-0102 is a plain number in 3.0.
            value_type = [v.lower() for v in line.params.get("VALUE", [])]
            if line.name == "TEL" and value_type == ["uri"] and str(line.value).lower().startswith("tel:"):
                line.value = str(line.value)[4:]
                del line.params["VALUE"]


def _drop_repeats(card: Any, notes: list[str]) -> None:
    # vCard 3.0 allows one N and one PRODID: a card that repeats one keeps the first (phones do too).
    from vobject.vcard import VCard3_0

    for name, (_, most, _) in VCard3_0.knownChildren.items():
        lines = card.contents.get(name.lower(), [])
        if most == 1 and len(lines) > 1:
            notes.append(f"{name} appeared {len(lines)} times; the first is kept")
            del lines[1:]


def _set_version(card: Any) -> None:
    card.contents.pop("version", None)
    card.add("version").value = VCARD_OUTPUT_VERSION


def _take_picture(card: Any, name: str, notes: list[str]) -> bytes | None:
    """The first picture the card embeds under ``name``; every line of it leaves the card."""
    pictures = embedded_pictures(card.contents.pop(name, []), name, notes)
    if len(pictures) > 1:
        notes.append(f"the card embeds {len(pictures)} {name}s; the first is kept, as a phone shows one")
    return pictures[0] if pictures else None


def _fit_picture(picture: bytes, name: str, room: int, settings: Settings, notes: list[str]) -> Converted | None:
    """The picture as a JPEG or GIF of at most ``room`` bytes, or None (dropped, and noted)."""
    from . import convert

    if room < MIN_PHOTO_BYTES:
        notes.append(f"the {name} was dropped: only {max(room, 0)} bytes were left for it")
        return None
    try:
        fitted = convert(picture, profile=CARD_PICTURE, budget=room, settings=settings)
    except MediaprepError as exc:
        notes.append(f"the {name} was dropped: {exc.message}")
        return None
    if not fitted.passed_through:
        notes.append(f"the {name} was re-encoded to {fitted.bytes} bytes ({fitted.width}x{fitted.height}, "
                     f"{CARD_PICTURE_TYPES[fitted.mime]})")
    return fitted


def _serialise(cards: list[Any]) -> bytes:
    # vobject writes CRLF line ends and folds long lines at 75 octets.
    try:
        return "".join(card.serialize() for card in cards).encode("utf-8")
    except Exception as exc:  # vobject checks the card again as it writes; its errors vary
        raise CorruptInput(f"the vCard breaks the vCard 3.0 rules: {exc}") from None


def _reads_back(text: bytes) -> None:
    # vobject writes some decoded values as they are (a newline in a quoted-printable GEO went out
    # bare, and the card no longer parsed): what goes out must read back. Checked once, on the text
    # that goes out (a card with pictures is written twice: first to measure the room they have).
    try:
        parse_vcards(text)
    except MediaprepError as exc:
        raise CorruptInput(f"the vCard cannot be written as vCard 3.0 that reads back: {exc.message}") from None


def normalise_calendar(data: bytes, budget: int) -> tuple[bytes, list[str]]:
    notes: list[str] = []
    cal = parse_calendar(data, notes)
    if not cal.get("VERSION"):
        cal.add("VERSION", "2.0")
    if not cal.get("PRODID"):
        cal.add("PRODID", "-//mediaprep//EN")
    for event in cal.walk("VEVENT"):
        if not event.get("UID"):
            digest = hashlib.sha256(event.to_ical()).hexdigest()[:32]
            event.add("UID", f"{digest}@mediaprep")
            notes.append("a UID was added to an event that had none")
    notes += _unknown_zones(cal)
    out = cal.to_ical()
    if len(out) > budget:
        dropped = 0
        for component in cal.walk():
            while component.get("ATTACH") is not None:
                component.pop("ATTACH")
                dropped += 1
        if dropped:
            notes.append(f"{dropped} attachment(s) dropped to fit")
            out = cal.to_ical()
    if len(out) > budget:
        raise CannotFit(f"the calendar is {len(out)} bytes, over the {budget} byte budget", provider_code="E336")
    return out, notes


def _unknown_zones(cal: Any) -> list[str]:
    """A note naming the time zones the file does not define and no phone can know (RFC 5545 wants
    each TZID defined; phones also know the IANA and Windows names, so only the rest are named)."""
    missing = missing_zones(cal)
    unknown = [tzid for tzid in missing[:ZONES_JUDGED] if not known_zone(tzid)]
    if not unknown:
        return []
    named = ", ".join(repr(t) for t in unknown[:ZONES_NAMED])
    if len(unknown) > ZONES_NAMED or len(missing) > ZONES_JUDGED:
        named += " and others"
    if len(unknown) == 1 and len(missing) <= ZONES_JUDGED:
        said = f"the time zone {named} is not defined in the calendar and is not a known zone name"
    else:
        said = f"the time zones {named} are not defined in the calendar and are not known zone names"
    return [f"{said}; a phone may show their events in its own time zone"]


def check_pdf(data: bytes, budget: int, forbid: tuple[str, ...]) -> list[str]:
    facts = pdf_facts(data)
    if facts.encrypted:
        raise EncryptedInput("the PDF is encrypted: a phone cannot open it without the password")
    refused = sorted(set(facts.features) & set(forbid))
    if refused:
        raise NotAllowed(f"the PDF holds {', '.join(refused)}, which the profile does not allow")
    if len(data) > budget:
        raise CannotFit(
            f"the PDF is {len(data)} bytes, over the {budget} byte budget; mediaprep does not shrink PDFs",
            provider_code="E337",
        )
    notes = [f"{facts.items} page" if facts.items == 1 else f"{facts.items} pages"]
    if facts.features:
        notes.append(f"active content found: {', '.join(facts.features)}")
    return notes


def pdf_thumbnail(data: bytes, settings: Settings, long_side: int = 480) -> bytes:
    """The first page as a PNG, rendered by poppler's pdftoppm in its own process (with a timeout)."""
    import shutil
    import tempfile
    from pathlib import Path

    from ..errors import OutputUnwritable, ToolMissing
    from ..tools import check_room

    facts = pdf_facts(data)
    if facts.encrypted:
        raise EncryptedInput("the PDF is encrypted")
    tool = shutil.which("pdftoppm")
    if tool is None:
        raise ToolMissing("pdftoppm is not installed (Debian: apt-get install poppler-utils)")
    with tempfile.TemporaryDirectory(prefix="mediaprep-") as tmp:
        src = Path(tmp) / "in.pdf"
        try:
            src.write_bytes(data)
        except OSError as exc:
            raise OutputUnwritable(f"the PDF cannot be copied to {tmp} for pdftoppm ({exc.strerror}); "
                                   "TMPDIR says where it goes") from None
        out = Path(tmp) / "page"
        done = run([tool, "-png", "-f", "1", "-l", "1", "-singlefile", "-scale-to", str(long_side),
                    str(src), str(out)], timeout=settings.tool_timeout)
        png = Path(tmp) / "page.png"
        if done.returncode != 0 or not png.exists():
            check_room("pdftoppm", done.stderr.decode("utf-8", "replace"), [tmp])
            raise CorruptInput(f"the first page cannot be drawn: {done.stderr_tail(2)}")
        return png.read_bytes()
