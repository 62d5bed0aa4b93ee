import base64
import io
import time
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from mediaprep import check, convert, inspect
from mediaprep.errors import CannotFit, CorruptInput, EncryptedInput, InputTooLarge, NotAllowed, UnsupportedType

from .conftest import BROKEN, MEDIA


def lines_of(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    return data.split(b"\r\n")[:-1]


# ---------------------------------------------------------------- vCard


def test_vcard_21_without_fn_gets_one_and_comes_out_as_utf8_30():
    card = (
        "BEGIN:VCARD\nVERSION:2.1\nN:Müller;Jürgen;;Dr.;\nTEL;CELL:+49301234567\n"
        "NOTE:" + "A long note that goes on " * 8 + "\nEND:VCARD\n"
    ).encode()
    result = convert(card)
    assert result.mime == "text/vcard" and not result.passed_through
    lines = lines_of(result.data)
    assert b"VERSION:3.0" in lines
    assert "FN:Dr. Jürgen Müller".encode() in lines
    assert all(len(line) <= 75 for line in lines)  # folded
    assert any("FN built" in n for n in result.notes)
    assert inspect(result.data).ok


def test_vcard_40_is_read():
    card = b"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ada Okafor\r\nTEL;VALUE=uri;TYPE=cell:tel:+15550100\r\nEND:VCARD\r\n"
    assert inspect(card).object.version == "4.0"
    assert b"FN:Ada Okafor" in convert(card).data


def test_commas_in_a_name_title_or_note_are_kept_whole():
    # vCard 3.0 wants text commas escaped; many exporters write them bare, and vobject kept only
    # the text before the first one ("FN:Smith, John, PhD" went out as "FN:Smith").
    card = (
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Smith, John, PhD\r\nN:Smith;John;;;PhD\r\n"
        b"TITLE:Head, Sales\r\nNOTE:Already\\, escaped, and not\r\nNICKNAME:Jo,Johnny\r\n"
        b"CATEGORIES:clients,golf\r\nEND:VCARD\r\n"
    )
    lines = lines_of(convert(card).data)
    assert b"FN:Smith\\, John\\, PhD" in lines
    assert b"TITLE:Head\\, Sales" in lines
    assert b"NOTE:Already\\, escaped\\, and not" in lines
    assert b"NICKNAME:Jo\\,Johnny" in lines  # the second nickname was dropped too
    assert b"CATEGORIES:clients,golf" in lines  # a real list stays one
    assert b"N:Smith;John;;;PhD" in lines


def test_an_android_21_card_with_quoted_printable_lines_is_decoded():
    # Android writes non-ASCII text quoted-printable and breaks long values with "=" at the end of
    # a line; the next line goes on at its first column. That was input.corrupt.
    card = (
        b"BEGIN:VCARD\r\nVERSION:2.1\r\n"
        b"N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=C3=96zt=C3=BCrk;Ay=C5=9Fe;;;\r\n"
        b"TEL;CELL;PREF:+905551234567\r\n"
        b"ADR;HOME;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:;;Atat=C3=BCrk Cad. 12, Kad=C4=B1k=C3=B6y =\r\n"
        b"=C4=B0stanbul;;;;\r\n"
        b"NOTE;ENCODING=QUOTED-PRINTABLE:line one=0D=0Aline two, three\r\n"
        b"END:VCARD\r\n"
    )
    result = convert(card)
    lines = lines_of(result.data)
    text = result.data.decode()
    assert "FN:Ayşe Öztürk" in text and "N:Öztürk;Ayşe;;;" in text
    # In an address a comma separates a part's values (RFC 2426): it stays as it came.
    assert "ADR;TYPE=HOME:;;Atatürk Cad. 12, Kadıköy İstanbul;;;;" in text.replace("\r\n ", "")
    assert b"NOTE:line one\\nline two\\, three" in lines
    assert b"TEL;TYPE=CELL,PREF:+905551234567" in lines
    # The text is UTF-8 now: a CHARSET or an encoding left on a line would tell the phone otherwise.
    assert b"CHARSET" not in result.data and b"QUOTED-PRINTABLE" not in result.data
    assert inspect(result.data).ok


def test_a_card_with_an_agent_card_inside_it_is_normalised():
    # vCard 2.1's AGENT holds a whole card (an assistant's); the parameter pass took the inner card
    # for a property and raised AttributeError, a traceback from the library and the CLI.
    card = (b"BEGIN:VCARD\r\nVERSION:2.1\r\nN:Boss;Big\r\nAGENT:\r\nBEGIN:VCARD\r\nVERSION:2.1\r\n"
            b"N:Assistant;Amy\r\nTEL;CELL:+1555\r\nEND:VCARD\r\nTEL;WORK:+1666\r\nEND:VCARD\r\n")
    result = convert(card)
    assert b"FN:Big Boss" in result.data and b"TEL;TYPE=WORK:+1666" in result.data
    assert b"Assistant" in result.data and inspect(result.data).ok


@pytest.mark.parametrize("lines", [
    b"ORG:, ;\r\n",  # no FN or N, and an organisation of empty lists within lists: a TypeError
    b"N:A;B\r\nGEO;ENCODING=QUOTED-PRINTABLE:1.0=0A;2.0\r\n",  # a newline vobject writes bare
])
def test_what_a_generated_card_says_is_always_a_card_that_parses(lines):
    # Found by generating cards: one ended in a traceback, the other in output that no parser reads.
    card = b"BEGIN:VCARD\r\nVERSION:2.1\r\n" + lines + b"END:VCARD\r\n"
    try:
        result = convert(card)
    except CorruptInput:
        return  # refused with a code is an answer too
    assert inspect(result.data).ok


def test_a_vcard_40_photo_in_a_data_uri_is_kept_and_its_phone_number_is_plain():
    # Thunderbird and Nextcloud write 4.0 cards: the photo as a data: URI, the number as a tel: URI.
    photo = noisy_jpeg(96, 96, 80)
    card = (
        "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Cara Diaz\r\n"
        'TEL;VALUE=uri;TYPE="cell,voice":tel:+1-555-0102\r\n'
        f"PHOTO:data:image/jpeg;base64,{base64.b64encode(photo).decode()}\r\nEND:VCARD\r\n"
    ).encode()
    assert inspect(card).object.photo_bytes == len(photo)
    result = convert(card)
    lines = lines_of(result.data.replace(b"\r\n ", b""))
    assert not any("link" in n for n in result.notes)
    photo_line = next(line for line in lines if line.startswith(b"PHOTO;"))
    assert photo_line.startswith(b"PHOTO;ENCODING=b;TYPE=JPEG:")
    assert base64.b64decode(photo_line.split(b":", 1)[1]) == photo  # fits as it is: byte for byte
    assert b"TEL;TYPE=cell,voice:+1-555-0102" in lines


def test_photos_written_the_other_ways_real_cards_write_them_are_read():
    photo = noisy_jpeg(64, 48, 80)
    b64 = base64.b64encode(photo).decode()
    # vCard 2.1 as its text describes it: the base64 lines unindented, ended by a blank line.
    unindented = "\r\n".join(b64[i : i + 76] for i in range(0, len(b64), 76))
    v21 = f"BEGIN:VCARD\r\nVERSION:2.1\r\nN:Okafor;Ada\r\nPHOTO;ENCODING=BASE64;TYPE=JPEG:{unindented}\r\n\r\n"
    v21 += "TEL;CELL:+15550100\r\nEND:VCARD\r\n"
    v21_next_line = v21.replace("TYPE=JPEG:", "TYPE=JPEG:\r\n")  # the data starting on a line of its own
    # A data: URI inside a base64-encoded value, as some CardDAV clients write it (khard#266).
    both = f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Kh Ard\r\nPHOTO;ENCODING=b;TYPE=JPEG:data:image/jpeg;base64,{b64}\r\n"
    both += "END:VCARD\r\n"
    for card in (v21, v21_next_line, both):
        data = card.encode()
        assert inspect(data).object.photo_bytes == len(photo)
        lines = lines_of(convert(data).data.replace(b"\r\n ", b""))
        assert f"PHOTO;ENCODING=b;TYPE=JPEG:{b64}".encode() in lines
    assert b"TEL;TYPE=CELL:+15550100" in lines_of(convert(v21.encode()).data)


def utf16(text: str) -> bytes:
    return "\ufeff".encode("utf-16-le") + text.encode("utf-16-le")


def test_contacts_and_calendars_in_utf16_are_read():
    # Windows tools (PowerShell's Out-File, some exports) write UTF-16 with a byte order mark:
    # libmagic calls that text/plain, and a .vcf or .ics was refused as "named .vcf but is text/plain".
    card = utf16("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jürgen Müller\r\nEND:VCARD\r\n")
    calendar = utf16(EVENT.format(extra="UID:1@x\r\n"))
    for data, kind, says in ((card, "contact", "FN:Jürgen Müller"), (calendar, "calendar", "SUMMARY:Opening")):
        info = inspect(data)
        assert info.kind == kind and info.ok
        result = convert(data)
        assert says.encode() in result.data  # UTF-8 out
        assert any("UTF-16" in n for n in result.notes)
    # An iCalendar is UTF-8 (RFC 5545): other bytes became U+FFFD in the output without a word.
    latin = EVENT.format(extra="UID:1@x\r\n").replace("Opening", "Eröffnung").encode("latin-1")
    assert "not UTF-8" in inspect(latin).error.message


def test_a_vcard_21_in_the_charset_its_lines_declare_is_read():
    # Outlook's vCard 2.1 writes Windows-1252 bytes and says so on each line that has them.
    card = b"BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=Windows-1252:M\xfcller;J\xfcrgen\r\nFN;CHARSET=Windows-1252:J\xfcrgen M\xfcller \x80\r\nEND:VCARD\r\n"
    result = convert(card)
    assert "FN:Jürgen Müller €".encode() in lines_of(result.data) and b"CHARSET" not in result.data
    # Bytes in no declared charset are still not guessed at.
    undeclared = card.replace(b";CHARSET=Windows-1252", b"")
    assert "not UTF-8" in inspect(undeclared).error.message


def test_a_card_that_does_not_parse_names_the_line_of_the_file():
    card = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nNOTE:long\r\n  folded\r\nTEL:1\r\nthis is bad\r\nEND:VCARD\r\n"
    assert "At line 7: Failed to parse line: this is bad" in inspect(card).error.message


def noisy_jpeg(width: int, height: int, quality: int) -> bytes:
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def card_with(name: str, picture: bytes, kind: str) -> bytes:
    b64 = base64.b64encode(picture).decode()
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Acme Sales\r\nORG:Acme\r\n{name};ENCODING=b;TYPE={kind}:{b64}\r\n"
            "END:VCARD\r\n").encode()


def test_a_5_mb_photo_is_shrunk_to_fit_the_profile():
    photo = noisy_jpeg(2100, 1700, 97)
    assert len(photo) > 5_000_000
    start = time.monotonic()
    result = convert(card_with("PHOTO", photo, "JPEG"), budget=200_000)
    assert time.monotonic() - start < 30
    assert result.bytes <= 200_000
    assert b"PHOTO;ENCODING=b;TYPE=JPEG:" in result.data.replace(b"\r\n ", b"")
    assert any("photo was re-encoded" in n for n in result.notes)


def test_a_business_card_logo_is_shrunk_like_a_photo():
    # A company's card carries its LOGO the way a person's carries a PHOTO; a big logo made the card
    # "too big without its photo" (it had none) instead of being shrunk.
    result = convert(card_with("LOGO", noisy_jpeg(800, 600, 90), "JPEG"), budget=100_000)
    assert result.bytes <= 100_000
    unfolded = result.data.replace(b"\r\n ", b"")
    line = next(x for x in unfolded.split(b"\r\n") if x.startswith(b"LOGO;"))
    assert line.startswith(b"LOGO;ENCODING=b;TYPE=JPEG:")
    assert Image.open(io.BytesIO(base64.b64decode(line.split(b":", 1)[1]))).format == "JPEG"
    assert any("the logo was re-encoded" in n for n in result.notes)


def card_picture(result, name: bytes = b"PHOTO") -> tuple[bytes, bytes]:
    """The TYPE and the decoded bytes of a normalised card's picture."""
    line = next(x for x in lines_of(result.data.replace(b"\r\n ", b"")) if x.startswith(name + b";"))
    params, value = line.split(b":", 1)
    return params.split(b"TYPE=")[1], base64.b64decode(value)


def test_a_flat_colour_logo_stays_on_the_card_as_a_gif():
    # A company's logo is a few flat colours: the picture converter sends that best as a GIF, and
    # the card dropped the GIF while its note said the logo had been re-encoded.
    logo = Image.new("RGB", (300, 200), (10, 90, 200))
    logo.paste((255, 255, 255), (50, 50, 250, 150))
    buf = io.BytesIO()
    logo.save(buf, "PNG")
    result = convert(card_with("LOGO", buf.getvalue(), "PNG"), budget=100_000)
    kind, data = card_picture(result, b"LOGO")
    assert kind == b"GIF"
    sent = Image.open(io.BytesIO(data))
    assert sent.format == "GIF" and sent.size == (300, 200)
    assert sent.convert("RGB").getpixel((10, 10)) == (10, 90, 200)
    assert sent.convert("RGB").getpixel((150, 100)) == (255, 255, 255)
    assert any("the logo was re-encoded" in n and "GIF" in n for n in result.notes)


def test_a_gif_photo_that_fits_goes_on_the_card_as_it_is():
    gif = (MEDIA / "still.gif").read_bytes()
    result = convert(card_with("PHOTO", gif, "GIF"), budget=100_000)
    assert card_picture(result) == (b"GIF", gif)
    assert not any("photo" in n for n in result.notes)


def test_an_animated_photo_goes_on_the_card_as_one_still_frame():
    result = convert(card_with("PHOTO", (MEDIA / "animated.gif").read_bytes(), "GIF"), budget=100_000)
    kind, data = card_picture(result)
    sent = Image.open(io.BytesIO(data))
    assert sent.format == kind.decode() and getattr(sent, "n_frames", 1) == 1


def test_a_card_photo_is_no_larger_than_a_phone_keeps_it():
    # Android's contacts keep a photo at most 720 px on its long side (ContactsProvider's
    # PhotoProcessor); more pixels only take room from the rest of the message.
    with Image.open(MEDIA / "photo.jpg") as im:
        big = im.resize((1800, 1200), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=95)
    result = convert(card_with("PHOTO", buf.getvalue(), "JPEG"), budget=1_000_000)
    kind, data = card_picture(result)
    assert kind == b"JPEG"
    assert Image.open(io.BytesIO(data)).size == (720, 480)
    assert any("the photo was re-encoded" in n and "720x480" in n for n in result.notes)


def test_a_photo_in_a_tight_card_shrinks_towards_a_thumbnail_before_it_is_dropped():
    # The 1963 bytes this budget leaves the photo hold no 320 px one; Android lists contacts with a
    # 96 px thumbnail.
    photo = (MEDIA / "photo.jpg").read_bytes()
    result = convert(card_with("PHOTO", photo, "JPEG"), budget=2800)
    assert result.bytes <= 2800
    kind, data = card_picture(result)
    assert kind == b"JPEG" and 96 <= max(Image.open(io.BytesIO(data)).size) < 320


def test_a_photo_after_a_photo_link_is_kept():
    # vCard 3.0 allows several PHOTO lines: here a link first, the picture after it. Only the first
    # PHOTO was read, so the picture was lost with the link.
    photo = (MEDIA / "photo.jpg").read_bytes()
    b64 = base64.b64encode(photo).decode()
    card = (f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Two Photos\r\nPHOTO;VALUE=uri:https://example.com/a.jpg\r\n"
            f"PHOTO;ENCODING=b;TYPE=JPEG:{b64}\r\nPHOTO;ENCODING=b;TYPE=GIF:"
            f"{base64.b64encode((MEDIA / 'still.gif').read_bytes()).decode()}\r\nEND:VCARD\r\n").encode()
    assert inspect(card).object.photo_bytes == len(photo)
    result = convert(card, budget=200_000)
    assert card_picture(result) == (b"JPEG", photo)  # fits as it is: byte for byte
    assert sum(line.startswith(b"PHOTO") for line in lines_of(result.data.replace(b"\r\n ", b""))) == 1
    assert any("link was dropped" in n for n in result.notes)
    assert "the card embeds 2 photos; the first is kept, as a phone shows one" in result.notes


def test_a_photo_that_cannot_fit_is_dropped_not_sent_oversized():
    result = convert(card_with("PHOTO", noisy_jpeg(400, 300, 90), "JPEG"), budget=1200)
    assert result.bytes <= 1200 and b"PHOTO" not in result.data
    assert any("dropped" in n for n in result.notes)


def test_cli_normalises_a_card_into_a_vcf(cli, tmp_path):
    src = tmp_path / "card.txt"
    src.write_bytes(b"BEGIN:VCARD\nVERSION:2.1\nN:Okafor;Ada\nEND:VCARD\n")
    r = cli("convert", str(src), "-o", f"{tmp_path}/out/", "--profile", "sinch")
    assert r.code == 0 and "normalised" in r.stdout
    # named after its content, keeping where it came from
    assert (tmp_path / "out" / "card-txt.vcf").read_bytes().startswith(b"BEGIN:VCARD\r\nVERSION:3.0\r\n")


def test_a_photo_link_is_dropped():
    card = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:X\r\nPHOTO;VALUE=uri:http://169.254.169.254/latest\r\nEND:VCARD\r\n"
    result = convert(card)
    assert b"169.254" not in result.data and any("link" in n for n in result.notes)


def test_a_card_that_repeats_its_name_keeps_the_first_once():
    # vCard 3.0 allows one N; vobject refuses to write a card with two.
    card = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada Okafor\r\nN:Okafor;Ada;;;\r\nN:Other;Name;;;\r\nEND:VCARD\r\n"
    result = convert(card * 3)
    lines = lines_of(result.data)
    assert lines.count(b"N:Okafor;Ada;;;") == 3 and b"N:Other;Name;;;" not in lines
    assert [n for n in result.notes if "N appeared 2 times" in n] == ["N appeared 2 times; the first is kept"]
    assert inspect(result.data).ok


def test_a_card_with_a_hundred_thousand_lines_is_refused_fast():
    card = ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\n" + "TEL:+15550100\r\n" * 100_000 + "END:VCARD\r\n").encode()
    start = time.monotonic()
    with pytest.raises(InputTooLarge):
        convert(card)
    assert inspect(card).error.code == "input.too_large"
    assert time.monotonic() - start < 2  # parsing it took ~6 s each time


def test_a_card_with_a_book_for_a_note_is_refused_fast():
    # vobject reads a text value a character at a time: 16 MB of commas in a name took 36 s.
    for name in (b"NOTE", b"ADR"):  # a text, and a structured value read the same way
        card = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\n" + name + b":" + b"a, " * 1_000_000 + b"\r\nEND:VCARD\r\n"
        start = time.monotonic()
        with pytest.raises(InputTooLarge, match=name.decode()):
            convert(card)
        assert time.monotonic() - start < 2


def test_html_named_vcf_is_refused():
    assert inspect(BROKEN / "not-a-card.vcf").error.code == "input.unsupported"
    with pytest.raises(UnsupportedType):
        convert(BROKEN / "not-a-card.vcf")


def test_a_card_with_no_name_at_all_is_corrupt():
    info = inspect(b"BEGIN:VCARD\r\nVERSION:3.0\r\nTEL:+1555\r\nEND:VCARD\r\n")
    assert info.error.code == "input.corrupt" and "FN" in info.error.message


# ---------------------------------------------------------------- iCalendar

EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n"
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Amsterdam\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
    "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
    "BEGIN:VEVENT\r\nDTSTART;TZID=Europe/Amsterdam:20261212T190000\r\nSUMMARY:Opening\r\n{extra}END:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


def test_calendar_gets_a_stable_uid_and_keeps_its_time_zone():
    data = EVENT.format(extra="").encode()
    first, second = convert(data), convert(data)
    assert first.data == second.data  # the added UID is derived, not random
    assert b"UID:" in first.data and b"@mediaprep" in first.data
    assert b"BEGIN:VTIMEZONE" in first.data and b"TZID=Europe/Amsterdam" in first.data
    assert inspect(first.data).object.missing_uid == 0 and inspect(data).object.missing_uid == 1


def _call_in_zone(tzid: str, zones: str = "") -> bytes:
    """A calendar of one call at 10:00 in ``tzid``, after ``zones`` (VTIMEZONE text)."""
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n{zones}BEGIN:VEVENT\r\nUID:1@x\r\n"
            f"DTSTART;TZID={tzid}:20261203T100000\r\nSUMMARY:Call\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode()


@pytest.mark.parametrize(
    "tzid, warned",
    [
        ("Mars/Olympus", True),  # neither in the file nor a zone anyone knows
        ("Europe/Berlin", False),  # not in the file, but every phone knows it
        ("W. Europe Standard Time", False),  # Outlook's Windows name for it
    ],
)
def test_a_time_zone_no_phone_can_know_is_named_in_a_note(tzid, warned):
    data = _call_in_zone(tzid)
    result = convert(data)
    assert f"DTSTART;TZID={tzid}:20261203T100000".encode() in result.data  # kept as it came
    notes = [n for n in result.notes if tzid in n]
    assert bool(notes) == warned
    assert not convert(EVENT.format(extra="").encode()).notes[1:]  # a defined zone: only the UID note


def test_a_zone_another_calendar_defined_is_still_unknown_to_one_that_does_not():
    # icalendar keeps the zones calendars define, and answered the look-up with them: once a calendar
    # defining "Office Time" had been read, one using it undefined went out without the note.
    defines = EVENT.format(extra="").replace("Europe/Amsterdam", "Office Time").encode()
    uses = _call_in_zone("Office Time")
    assert b"TZID:Office Time" in defines
    assert not any("Office Time" in n for n in convert(defines).notes)
    assert any("'Office Time' is not defined in the calendar" in n for n in convert(uses).notes)


def test_a_vendor_prefixed_time_zone_is_a_note_not_a_line_on_stderr(cli, tmp_path):
    # Evolution writes the zone with its vendor's prefix; icalendar guesses the zone and warned on
    # stderr, in the CLI and in a server's log, where nobody asked.
    import warnings

    tzid = "/freeassociation.sourceforge.net/Tzfile/Europe/Berlin"
    data = _call_in_zone(tzid)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        result = convert(data)
        inspect(data)
    assert not said
    assert f"read without a vendor's prefix, as icalendar guesses: '{tzid}' as 'Europe/Berlin'; the file keeps " \
           "the names as they were, which a phone may not know" in result.notes
    source = tmp_path / "evolution.ics"
    source.write_bytes(data)
    r = cli("convert", str(source), "-o", str(tmp_path / "out.ics"))
    assert r.code == 0 and "vendor's prefix" in r.stdout and r.stderr == ""


def test_every_calendar_with_a_vendor_prefixed_zone_gets_the_note_not_only_the_first():
    # icalendar warns of its guess only the first time a process reads that TZID (it keeps the zone):
    # a batch, or a server, gave the note to the first calendar only.
    tzid = "/mozilla.org/20070129_1/Asia/Tokyo"
    data = _call_in_zone(tzid)
    note = f"read without a vendor's prefix, as icalendar guesses: '{tzid}' as 'Asia/Tokyo'"
    for _ in range(2):
        assert any(n.startswith(note) for n in convert(data).notes)
    defined = data.replace(b"BEGIN:VEVENT", (
        f"BEGIN:VTIMEZONE\r\nTZID:{tzid}\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
        "TZOFFSETFROM:+0900\r\nTZOFFSETTO:+0900\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT").encode())
    assert not any("vendor's prefix" in n for n in convert(defined).notes)  # the file says what it means


def test_a_calendar_of_many_made_up_zones_gets_one_note():
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:{i}@x\r\nDTSTART;TZID=Mars/Crater{i}:20261203T100000\r\nEND:VEVENT\r\n"
        for i in range(60)
    )
    data = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n{events}END:VCALENDAR\r\n".encode()
    notes = [n for n in convert(data).notes if "Mars/" in n]
    assert len(notes) == 1 and "and others" in notes[0]


@pytest.mark.parametrize(
    "zone",
    [
        (
            "BEGIN:VTIMEZONE\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\n"
            "TZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
        ),  # a zone without its TZID
        "",  # and below, a TZID with a bare comma (icalendar reads it as a list)
    ],
)
def test_hostile_time_zones_do_not_stop_the_calendar(zone):
    data = _call_in_zone("Mars/Oly,mpus", zones=zone)
    assert b"SUMMARY:Call" in convert(data).data


@pytest.mark.parametrize("depth, begin", [(500, "BEGIN:X-G"), (5000, "BEGIN:X-G"), (1000, "BEGIN;X=1:X-G"),
                                          (1000, "g.BEGIN:X-G")])
def test_a_vcard_nested_deep_is_refused_in_words_a_user_can_act_on(depth, begin):
    # vobject reads and writes components recursively: 500 deep ran the stack out as the card was
    # written, 1000 as it was read, and the error said only "maximum recursion depth exceeded".
    # vobject takes a BEGIN with parameters or a group for one too.
    data = ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nN:A;;;;\r\n" + f"{begin}\r\n" * depth + "END:X-G\r\n" * depth
            + "END:VCARD\r\n").encode()
    said = inspect(data).error
    assert isinstance(said, CorruptInput) and f"nests components {depth + 1} deep" in str(said)
    with pytest.raises(CorruptInput, match=f"nests components {depth + 1} deep"):
        convert(data)


def test_a_time_zone_name_of_hundreds_of_parts_is_refused_in_words_a_user_can_act_on():
    # zoneinfo looks a TZID up through Python's import system, a package per part: 400 parts ran
    # the stack out, and the error said only "maximum recursion depth exceeded".
    tzid = "/".join(["a"] * 400)
    data = _call_in_zone(tzid)
    with pytest.raises(CorruptInput, match="time zone name of hundreds of parts") as refused:
        convert(data)
    assert refused.value.code == "input.corrupt"
    assert "recursion" not in str(refused.value)


def test_several_calendars_in_one_file_become_one():
    # RFC 5545 lets a file hold several iCalendar objects (some apps export each event as one);
    # that was input.corrupt ("Found multiple components where only one is allowed").
    one = EVENT.format(extra="UID:1@x\r\n")
    two = EVENT.format(extra="UID:2@x\r\n").replace("Opening", "Closing")
    data = (one + two).encode()
    assert inspect(data).object.items == 2
    result = convert(data)
    assert result.data.count(b"BEGIN:VCALENDAR") == 1 and result.data.count(b"BEGIN:VTIMEZONE") == 1
    assert b"SUMMARY:Opening" in result.data and b"SUMMARY:Closing" in result.data
    assert any("2 calendars" in n for n in result.notes)


def test_a_billion_repeats_are_never_expanded():
    data = EVENT.format(extra="UID:x@y\r\nRRULE:FREQ=SECONDLY;COUNT=1000000000\r\n").encode()
    start = time.monotonic()
    info = inspect(data)
    result = convert(data)
    assert time.monotonic() - start < 1
    assert info.object.recurring and b"COUNT=1000000000" in result.data


@pytest.mark.parametrize(
    "data, says",
    [
        (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "no VEVENT"),
        (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "no DTSTART"),
    ],
)
def test_calendars_that_a_phone_cannot_use_are_corrupt(data, says):
    info = inspect(data)
    assert info.error.code == "input.corrupt" and says in info.error.message
    with pytest.raises(CorruptInput):
        convert(data)


def test_garbage_named_ics_and_a_10_mb_calendar_are_refused_fast():
    assert inspect(BROKEN / "garbage.ics").error.code == "input.unsupported"
    huge = EVENT.format(extra="DESCRIPTION:" + "x" * 70 + "\r\n").encode()
    body = huge.replace(b"END:VCALENDAR", b"".join([b"BEGIN:VEVENT\r\nDTSTART:20260101T000000Z\r\nEND:VEVENT\r\n"] * 200_000) + b"END:VCALENDAR")
    assert len(body) > 10_000_000
    start = time.monotonic()
    assert inspect(body).error.code == "input.too_large"
    with pytest.raises(InputTooLarge):
        convert(body)
    assert time.monotonic() - start < 2


# ---------------------------------------------------------------- PDF


def pdf_with(
    js: bool = False, encrypt: bool = False, extra: dict | None = None, open_action: dict | None = None
) -> bytes:
    from pypdf import PdfWriter
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    if open_action is not None:
        action = {NameObject(k): NameObject(v) if v.startswith("/") else TextStringObject(v)
                  for k, v in open_action.items() if k != "/Next"}
        if open_action.get("/S") == "/GoTo":
            action[NameObject("/D")] = ArrayObject([page.indirect_reference, NameObject("/Fit")])
        if "/Next" in open_action:
            action[NameObject("/Next")] = DictionaryObject(
                {NameObject("/S"): NameObject("/URI"), NameObject("/URI"): TextStringObject(open_action["/Next"])}
            )
        writer._root_object[NameObject("/OpenAction")] = DictionaryObject(action)
    if js:
        action = DictionaryObject(
            {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert(1);")}
        )
        writer._root_object[NameObject("/OpenAction")] = writer._add_object(action)
    if extra:
        writer._add_object(DictionaryObject({NameObject(k): v for k, v in extra.items()}))
    if encrypt:
        writer.encrypt("secret")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def test_plain_pdf_passes_unchanged():
    data = (MEDIA / "flyer.pdf").read_bytes()
    result = convert(data, profile="sinch")
    assert result.passed_through and result.data == data and result.mime == "application/pdf"


def test_javascript_is_reported_and_refused_by_profile():
    data = pdf_with(js=True)
    assert "javascript" in inspect(data).object.features
    assert convert(data).passed_through  # no profile: reported, not refused
    with pytest.raises(NotAllowed) as e:
        convert(data, profile="sinch")
    assert e.value.provider_code == "E229"


@pytest.mark.parametrize(
    "action, active",
    [
        # LaTeX's hyperref writes this into every PDF it makes: open at page 1, fitted.
        ({"/S": "/GoTo"}, False),
        ({"/S": "/URI", "/URI": "http://169.254.169.254/"}, True),  # opens a web address
        ({"/S": "/Named", "/N": "/Print"}, True),  # prints on opening
        ({"/S": "/GoTo", "/Next": "http://169.254.169.254/"}, True),  # a page, then more
    ],
)
def test_only_an_open_action_that_does_more_than_show_a_page_is_active_content(action, active):
    data = pdf_with(open_action=action)
    assert ("openaction" in inspect(data).object.features) == active
    if active:
        with pytest.raises(NotAllowed):
            convert(data, profile="sinch")
    else:
        assert convert(data, profile="sinch").data == data


def test_hex_escaped_names_are_still_found():
    from pypdf.generic import NameObject, TextStringObject

    plain = pdf_with(extra={"/S": NameObject("/JavaScriptAB"), "/JSAB": TextStringObject("app.alert(1)")})
    # Same length, so the cross-reference offsets stay right: /J#61vaScript is /JavaScript.
    sneaky = plain.replace(b"/JavaScriptAB", b"/J#61vaScript").replace(b"/JSAB", b"/J#53")
    assert "javascript" not in inspect(plain).object.features
    assert "javascript" in inspect(sneaky).object.features


def test_names_that_image_data_happens_to_hold_are_not_active_content():
    # A photo's compressed bytes hold "/JS" or "/AA" followed by a non-letter by chance: in 7.5 %
    # of 1 MB random streams. Every such PDF was refused as holding JavaScript.
    from pypdf import PdfWriter
    from pypdf.generic import NameObject, StreamObject

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    image = StreamObject()
    image[NameObject("/Filter")] = NameObject("/DCTDecode")
    image.set_data(b"\xff\xd8\x13/JS\x00\x9a/AA\x07/Launch\x01\xff\xd9")
    writer._add_object(image)
    buf = io.BytesIO()
    writer.write(buf)
    data = buf.getvalue()
    assert b"/JS\x00" in data
    assert inspect(data).object.features == ()
    assert convert(data, profile="sinch").data == data


def test_stream_openings_that_never_close_are_searched_in_linear_time():
    # Stream data is left out of the raw search; each opening with no "endstream" after it made
    # that search read to the end again: 90 kB of them took 6.6 s, and a few hundred kB, minutes.
    plain = pdf_with()
    at = plain.rindex(b"startxref")
    data = plain[:at] + b"% >>stream\n" * 60_000 + plain[at:]
    start = time.monotonic()
    assert inspect(data).object.features == ()
    assert time.monotonic() - start < 3


def test_encrypted_pdf_is_refused():
    data = pdf_with(encrypt=True)
    assert inspect(data).object.encrypted
    with pytest.raises(EncryptedInput):
        convert(data)


def test_pdf_zip_polyglot_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("payload.html", "<script>alert(1)</script>")
    polyglot = (MEDIA / "flyer.pdf").read_bytes() + buf.getvalue()
    info = inspect(polyglot)
    assert info.error.code == "input.corrupt" and "polyglot" in info.error.message


def test_nested_flate_bomb_is_never_inflated():
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, NameObject, StreamObject

    inner = zlib.compress(b"\0" * 200_000_000, 9)
    bomb = StreamObject()
    bomb._data = zlib.compress(inner, 9)
    bomb[NameObject("/Filter")] = ArrayObject([NameObject("/FlateDecode"), NameObject("/FlateDecode")])
    writer = PdfWriter()
    page = writer.add_blank_page(10, 10)
    page[NameObject("/Contents")] = writer._add_object(bomb)
    buf = io.BytesIO()
    writer.write(buf)
    body = buf.getvalue()
    assert len(body) < 10_000
    # What would happen if the contents were decoded: pypdf's own cap stops it.
    with pytest.raises(Exception):
        PdfReader(io.BytesIO(body)).pages[0].get_contents().get_data()
    start = time.monotonic()
    info = inspect(body)
    assert time.monotonic() - start < 3
    assert info.ok and info.object.items == 1


def test_truncated_pdf_is_corrupt():
    data = (MEDIA / "flyer.pdf").read_bytes()
    assert inspect(data[: len(data) // 2]).error.code == "input.corrupt"


def test_too_big_objects_get_the_sinch_codes(write_message, tmp_path):
    path = write_message({"recipients": ["+1"], "fallback_sms_text": "f", "slides": [{"pdf": "media/flyer.pdf"}]})
    from dataclasses import replace

    from mediaprep.profiles import load_profile

    sinch = load_profile("sinch")
    tight = replace(sinch, media={**sinch.media, "pdf": replace(sinch.media["pdf"], max_bytes=1000)})
    assert [(p.code, p.provider_code) for p in check(path, tight).errors] == [("pdf.too_big", "E337")]
    with pytest.raises(CannotFit) as e:
        convert(MEDIA / "flyer.pdf", budget=1000)
    assert e.value.provider_code == "E337"


def test_pdf_with_javascript_in_a_message_is_e229(write_message, tmp_path):
    (tmp_path / "js.pdf").write_bytes(pdf_with(js=True))
    path = write_message({"recipients": ["+1"], "fallback_sms_text": "f", "slides": [{"pdf": "js.pdf"}]})
    got = [(p.code, p.provider_code, p.severity) for p in check(path, "sinch").problems]
    assert got == [("pdf.active_content", "E229", "error")]


def test_first_page_thumbnail():
    import shutil

    from mediaprep.converters.objects import pdf_thumbnail
    from mediaprep.settings import Settings

    if not shutil.which("pdftoppm"):
        pytest.skip("poppler-utils (pdftoppm) is not installed here; .ci/run installs it")
    png = pdf_thumbnail((MEDIA / "flyer.pdf").read_bytes(), Settings(), long_side=200)
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and max(im.size) == 200


def test_a_first_page_thumbnail_without_room_in_the_temporary_folder_is_output_unwritable(monkeypatch, small_disk):
    # The PDF fits there and its 480 px page (227 kB) does not: pdftoppm failed and this was
    # input.corrupt ("the first page cannot be drawn") for a good PDF. With no room for the PDF
    # itself it was an OSError traceback.
    import shutil
    import tempfile

    from mediaprep.converters.objects import pdf_thumbnail
    from mediaprep.errors import OutputUnwritable
    from mediaprep.settings import Settings

    if not shutil.which("pdftoppm"):
        pytest.skip("poppler-utils (pdftoppm) is not installed here; .ci/run installs it")
    data = (MEDIA / "flyer.pdf").read_bytes()
    temp = small_disk(len(data))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    with pytest.raises(OutputUnwritable, match="no room left in .* for pdftoppm's work"):
        pdf_thumbnail(data, Settings())
    assert list(temp.iterdir()) == []
    filler = temp / "filler"
    filler.write_bytes(b"\0" * (shutil.disk_usage(temp).free - len(data) // 2))
    with pytest.raises(OutputUnwritable, match="the PDF cannot be copied"):
        pdf_thumbnail(data, Settings())
    assert list(temp.iterdir()) == [filler]
