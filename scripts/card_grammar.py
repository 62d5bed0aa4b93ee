"""Random vCards and calendars written the ways real and careless writers write them, for fuzz.py.

Mutated bytes rarely reach past the parsers; these do: versions 2.1 to 4.0, bare and quoted
parameters, quoted-printable with soft breaks, base64 and data: pictures, cards inside cards, bare
commas and backslashes, several calendars in a file, made-up and Windows time zones, UTF-16.
"""

from __future__ import annotations

import base64
import random

_PICTURE = base64.b64encode(bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f"
    "141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0000b080001000101011100"
    "ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b5100002010303020403050504040000"
    "017d01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a"
    "3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a92939495"
    "969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9ea"
    "f1f2f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9"
)).decode()
_CARD_NAMES = ["FN", "N", "TEL", "EMAIL", "ADR", "ORG", "TITLE", "NOTE", "NICKNAME", "CATEGORIES", "URL", "BDAY",
               "GEO", "LABEL", "X-FOO", "item1.X-ABLabel", "item2.TEL", "PHOTO", "LOGO", "SOUND", "KEY", "UID"]
_CARD_PARAMS = ["TYPE=cell", 'TYPE="cell,voice"', "CELL", "PREF", "HOME", "CHARSET=UTF-8", "CHARSET=Windows-1252",
                "ENCODING=QUOTED-PRINTABLE", "ENCODING=b", "ENCODING=BASE64", "BASE64", "VALUE=uri", "LANGUAGE=de"]
_PIECES = ["Smith", ", ", ",", "\\,", ";", "\\;", "\\\\", "\\n", "=", "=0D=0A", "=C3=BC", "Ü", "€", "\U0001f600",
           " ", '"', ":", "tel:+1-555", f"data:image/jpeg;base64,{_PICTURE}", _PICTURE, "http://169.254.169.254/x"]
_STANDARD_TIME = "BEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD"
_ZONES = ["Europe/Berlin", "W. Europe Standard Time", "Mars/Olympus", '"(UTC+01:00) Amsterdam, Berlin"', "A,B", "UTC"]
_EVENT_LINES = ["SUMMARY:{v}", "DESCRIPTION:{v}", "LOCATION:{v}", "UID:{v}", "DTSTAMP:20261120T000000Z",
                "DTEND;TZID={tz}:20261203T110000", "DURATION:PT1H", "RRULE:FREQ=DAILY;COUNT={n}",
                "EXDATE;TZID={tz}:20261210T100000", "RDATE:20261205T100000Z,20261206T100000Z",
                "ATTACH:http://169.254.169.254/x", 'ORGANIZER;CN="{v}":mailto:a@b', "CATEGORIES:{v}", "GEO:1.0;2.0"]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 6)))


def _card_line(rng: random.Random) -> str:
    params = "".join(";" + rng.choice(_CARD_PARAMS) for _ in range(rng.randint(0, 3)))
    line = f"{rng.choice(_CARD_NAMES)}{params}:{_text(rng)}"
    odd = rng.random()
    if odd < 0.15 and len(line) > 20:
        line = "\r\n ".join(line[i : i + 20] for i in range(0, len(line), 20))  # folded
    elif odd < 0.25 and len(line) > 20:
        line = line[:15] + "=\r\n" + line[15:]  # a quoted-printable soft break
    elif odd < 0.3:
        line += f"\r\n{_PICTURE[:60]}\r\n"  # 2.1's base64 going on unindented, then a blank line
    return line


def _card(rng: random.Random, inner: bool = False) -> str:
    lines = ["BEGIN:VCARD", f"VERSION:{rng.choice(['2.1', '3.0', '4.0'])}",
             f"FN:{_text(rng)}" if rng.random() < 0.7 else "N:A;B"]
    lines += [_card_line(rng) for _ in range(rng.randint(0, 8))]
    if not inner and rng.random() < 0.1:
        lines += ["AGENT:", _card(rng, inner=True)]  # a card inside the card
    return "\r\n".join(lines + ["END:VCARD"])


def _calendar(rng: random.Random) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:x"][: rng.choice([1, 2, 3])]
    for _ in range(rng.randint(0, 2)):
        lines += [f"BEGIN:VTIMEZONE\r\nTZID:{rng.choice(_ZONES)}", _STANDARD_TIME, "END:VTIMEZONE"]
    for _ in range(rng.randint(1, 3)):
        lines += ["BEGIN:VEVENT", rng.choice(["DTSTART:20261203T100000Z", f"DTSTART;TZID={rng.choice(_ZONES)}:20261203T100000"])]
        lines += [rng.choice(_EVENT_LINES).format(v=_text(rng), tz=rng.choice(_ZONES), n=rng.choice([1, 10**9]))
                  for _ in range(rng.randint(0, 8))]
        lines += ["END:VEVENT"]
    return "\r\n".join(lines + ["END:VCALENDAR"])


def generated(rng: random.Random) -> tuple[str, bytes]:
    """(what it is, its bytes): one to three cards, or one to three calendars, in some encoding."""
    kind = rng.choice(["vcf", "ics"])
    make = _card if kind == "vcf" else _calendar
    text = "".join(make(rng) + "\r\n" for _ in range(rng.randint(1, 3)))
    encoding = rng.choice(["utf-8", "utf-8", "utf-8", "utf-16", "cp1252"])
    try:
        return kind, text.encode(encoding)
    except UnicodeEncodeError:  # an emoji has no Windows-1252 byte
        return kind, text.encode("utf-8")
