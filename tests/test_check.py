import json

import pytest

from mediaprep import check, estimate_bytes, load_message, parse_message
from mediaprep.errors import InvalidMessage

from .conftest import MEDIA, MESSAGES, make


def codes(report):
    return [(p.code, p.provider_code, p.slide) for p in report.problems if p.severity == "error"]


def test_a_message_that_breaks_five_rules_gets_all_five_with_sinch_codes():
    report = check(MESSAGES / "five-problems-sinch.json", "sinch-xml")
    assert not report.ok
    assert set(codes(report)) == {
        ("slide.video_with_image", "E227", 1),
        ("slide.audio_with_video", "E226", 2),
        ("slide.object_with_media", "E224", 3),
        ("slide.empty", "E313", 4),
        ("slide.text_too_long", "E334", 5),
    }
    # The JSON API takes one slide fewer and wants fallback text.
    json_api = {(c, pc) for c, pc, _ in codes(check(MESSAGES / "five-problems-sinch.json", "sinch"))}
    assert {("slides.too_many", "E225"), ("fallback.missing", "E622")} <= json_api


def test_a_damaged_image_is_e341(write_message):
    path = write_message({"recipients": ["+1"], "subject": "s", "slides": [{"image": "broken/truncated.jpg"}]})
    assert codes(check(path, "sinch-xml")) == [("image.corrupt", "E341", 1)]


def test_an_animation_with_a_damaged_later_frame_is_e341(write_message, tmp_path):
    from .test_convert_image import looping_gif

    damaged = bytearray(looping_gif())
    damaged[-1000:-990] = b"\xff" * 10  # the last frame's picture data; the first frame is whole
    (tmp_path / "party.gif").write_bytes(damaged)
    path = write_message({"recipients": ["+1"], "subject": "s", "slides": [{"image": "party.gif"}]})
    assert codes(check(path, "sinch-xml")) == [("image.corrupt", "E341", 1)]


def test_the_good_example_passes_both_sinch_apis():
    for profile in ("sinch", "sinch-xml"):
        report = check(MESSAGES / "ok-sinch.json", profile)
        assert report.ok and report.problems == (), report.problems


def test_estimate_is_bytes_times_1_37_plus_814():
    assert estimate_bytes(100_000) == 137_814
    report = check(MESSAGES / "ok-sinch.json", "sinch")
    media = sum((MEDIA / n).stat().st_size for n in ("photo.jpg", "speech.mp3", "event.ics", "contact.vcf"))
    message = load_message(MESSAGES / "ok-sinch.json")
    text = sum(len(t.encode()) for t in [message.subject, *(s.text for s in message.slides)] if t)
    assert report.payload_bytes == media + text
    assert report.estimated_bytes == estimate_bytes(media + text)


def test_estimate_is_checked_against_the_route_limit(write_message):
    body = {"recipients": ["+1"], "fallback_sms_text": "hi", "slides": [{"video": "media/clip.mp4"}]}
    path = write_message(body)
    assert check(path, "sinch+att-toll-free").ok
    # 73 kB of video is ~101 kB on the wire: over a (hypothetical) 100 kB route.
    from dataclasses import replace

    from mediaprep.profiles import MessageRules, load_profile

    tight = replace(load_profile("sinch"), message=MessageRules(max_bytes=100_000))
    report = check(path, tight)
    assert [p.code for p in report.errors] == ["message.too_big"]
    assert "100000" in report.errors[0].message


def clicksend_text(text, write_message, subject=None):
    body = {"recipients": ["+61437111222"], "text": text, "slides": [{"image": "media/photo.jpg"}]}
    if subject:
        body["subject"] = subject
    return check(write_message(body), "clicksend")


def test_gsm_text_gets_1500_units_and_unicode_500(write_message):
    assert clicksend_text("a" * 1500, write_message).ok
    assert not clicksend_text("a" * 1501, write_message).ok
    # 750 euro signs are 1500 GSM units; one more is over.
    assert clicksend_text("€" * 750, write_message).ok
    assert [p.code for p in clicksend_text("€" * 751, write_message).errors] == ["text.too_long"]
    assert clicksend_text("ü" * 500 + "ç", write_message).errors[0].code == "text.too_long"
    assert clicksend_text("ç" * 500, write_message).ok
    report = clicksend_text("a" * 499 + "😀", write_message)
    assert "Unicode" in report.errors[0].message


def test_subject_limits(write_message):
    assert clicksend_text("hi", write_message, subject="x" * 20).ok
    assert clicksend_text("hi", write_message, subject="x" * 21).errors[0].code == "subject.too_long"


def test_sinch_xml_subject_advice_is_a_warning(write_message):
    body = {"recipients": ["+1"], "subject": "Big news 🎉 " + "x" * 40, "slides": [{"message-text": "hi"}]}
    report = check(write_message(body), "sinch-xml")
    assert report.ok
    assert {p.code for p in report.problems} == {"subject.long", "subject.unicode"}
    assert all(p.severity == "warning" for p in report.problems)


def test_fallback_rules_differ_between_sinch_apis(write_message):
    no_subject = write_message({"recipients": ["+1"], "slides": [{"message-text": "hi"}]})
    assert [p.provider_code for p in check(no_subject, "sinch-xml").errors] == ["E622"]
    with_subject = write_message({"recipients": ["+1"], "subject": "s", "slides": [{"message-text": "hi"}]})
    assert check(with_subject, "sinch-xml").ok
    assert [p.provider_code for p in check(with_subject, "sinch").errors] == ["E622"]
    disabled = write_message(
        {"recipients": ["+1"], "disable_fallback_sms": True, "slides": [{"message-text": "hi"}]}
    )
    assert check(disabled, "sinch").ok
    long_fallback = write_message({"recipients": ["+1"], "fallback_sms_text": "x" * 111, "slides": [{"message-text": "hi"}]})
    assert [p.code for p in check(long_fallback, "sinch").problems] == ["fallback.long"]


def test_media_size_and_type_rules(write_message):
    legacy = write_message({"recipients": ["+1"], "slides": [{"image": "media/photo.jpg"}]})
    report = check(legacy, "legacy-30k")
    assert [p.code for p in report.errors] == ["image.too_big"]
    assert "--budget 30000" in report.errors[0].message
    png = write_message({"recipients": ["+1"], "slides": [{"image": "media/alpha.png"}]})
    report = check(png, "clicksend")
    assert report.ok and [p.code for p in report.problems] == ["media.needs_conversion"]
    pdf = write_message({"recipients": ["+1"], "slides": [{"pdf": "media/flyer.pdf"}]})
    assert [(p.code, p.slide) for p in check(pdf, "clicksend").errors] == [("media.not_allowed", 1)]


def test_sound_in_a_video_container_is_judged_as_the_audio_it_is(write_message):
    # A voice note saved as .mp4 holds only sound: Sinch takes it once converted, as any audio/mp4.
    # Judged by its container (video/mp4) in an audio slot it was E229, "sinch does not take video/mp4".
    path = write_message({"recipients": ["+1"], "fallback_sms_text": "f", "slides": [{"audio": "media/audio-only.mp4"}]})
    report = check(path, "sinch")
    assert report.ok, report.errors
    assert [(p.code, p.slide) for p in report.problems] == [("media.needs_conversion", 1)]
    assert report.attachments[0].mime == "audio/mp4"


@pytest.mark.parametrize("name, muxer", [("radio.ts", "mpegts"), ("voice.mov", "mov")])
def test_sound_in_a_container_with_no_sound_type_is_judged_as_convert_would_do(write_message, tmp_path, name, muxer):
    # MPEG-TS and QuickTime have no sound type of their own; such a file of sound alone was E229 in a
    # check ("sinch does not take video/mp2t") while convert made an mp3 of it for Sinch.
    make(tmp_path, name, "-f", "lavfi", "-i", "sine=d=2", "-c:a", "aac", "-f", muxer)
    path = write_message({"recipients": ["+1"], "fallback_sms_text": "f", "slides": [{"audio": name}]})
    report = check(path, "sinch")
    assert report.ok, report.errors
    assert [(p.code, p.slide) for p in report.problems] == [("media.needs_conversion", 1)]
    assert not check(path, "clicksend").ok  # ClickSend takes no sound at all


def test_content_is_judged_by_what_it_is_not_what_the_slide_calls_it(write_message):
    path = write_message({"recipients": ["+1"], "fallback_sms_text": "f", "slides": [
        {"video": "broken/playlist.mp4"},
        {"image": "broken/png-named.jpg"},
        {"audio": "media/nothing-here.mp3"},
    ]})
    report = check(path, "sinch")
    got = {(p.code, p.slide, p.severity) for p in report.problems}
    assert ("media.wrong_kind", 1, "error") in got
    assert not any(slide == 1 for code, slide, _ in got if code != "media.wrong_kind")
    assert ("media.extension_mismatch", 2, "warning") in got
    assert ("media.unreadable", 3, "error") in got


def test_remote_media_is_checked_from_what_is_declared(write_message):
    path = write_message({"recipients": ["+1"], "fallback_sms_text": "f", "slides": [
        {"image": {"url": "https://cdn.example/a.jpg", "bytes": 2_000_000, "mime": "image/jpeg"}},
        {"image": "https://cdn.example/b.jpg"},
    ]})
    got = {(p.code, p.provider_code, p.slide) for p in check(path, "sinch").problems}
    assert got == {("image.too_big", "E331", 1), ("media.unchecked", None, 2)}


def test_a_kind_twice_on_one_slide_is_reported():
    message = parse_message(
        '{"recipients": ["+1"], "fallback_sms_text": "f", "slides": [{"image": "a.jpg", "image": "b.jpg"}]}',
        base_dir=MEDIA,
    )
    assert "slide.kind_repeated" in {p.code for p in check(message, "sinch").problems}


def test_recipient_limits(write_message):
    many = write_message({"recipients": ["+1", "+2"], "fallback_sms_text": "f", "slides": [{"message-text": "x"}]})
    assert [p.code for p in check(many, "sinch").errors] == ["recipients.too_many"]
    none = write_message({"fallback_sms_text": "f", "slides": [{"message-text": "x"}]})
    assert [p.code for p in check(none, "sinch").errors] == ["recipients.none"]


@pytest.mark.parametrize(
    "raw, says",
    [
        ("{", "not valid JSON"),
        ("[]", "expected a JSON object"),
        ('{"recipients": ["+1"], "slidez": []}', "unknown key(s) slidez"),
        ('{"slides": [{"image": "a.jpg", "sticker": "b.png"}]}', "unknown key 'sticker'"),
        ('{"slides": [{"image": {"path": "a.jpg", "url": "https://x/a.jpg"}}]}', "exactly one of path or url"),
        ('{"slides": [{"video": {"url": "ftp://x/a.mp4"}}]}', "http:// or https://"),
        ('{"recipients": 5}', "recipients must be"),
        ('{"subject": 5}', "subject must be text"),
        ('{"subject": "a", "subject": "b"}', "appears twice"),
        ('{"slides": [{"image": "a\\u0000.jpg"}]}', "no NUL character"),
        ('{"recipients": ["+1"], "text": "a\\ud800"}', "half of a UTF-16 surrogate pair"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_malformed_messages_are_coded_errors(raw, says):
    with pytest.raises(InvalidMessage) as e:
        parse_message(raw)
    assert says in e.value.message and e.value.code == "message.invalid"


def test_message_dict_and_report_json_shape():
    report = check(json.loads((MESSAGES / "ok-sinch.json").read_text()) | {"slides": []}, "sinch")
    out = report.to_dict()
    assert {"ok", "estimated_bytes", "problems"} <= set(out)
    assert out["problems"][0].keys() >= {"code", "provider_code", "slide", "message"}


def test_a_path_that_loops_or_is_too_long_is_a_problem_in_the_report_not_a_crash(tmp_path):
    (tmp_path / "loop.jpg").symlink_to(tmp_path / "loop.jpg")
    message = {"recipients": ["+15550101"], "slides": [{"image": str(tmp_path / "loop.jpg")},
                                                       {"image": str(tmp_path / ("x" * 5000 + ".jpg"))}]}
    report = check(message, "sinch-xml")
    assert {(c, slide) for c, _, slide in codes(report)} >= {("media.unreadable", 1), ("media.unreadable", 2)}


def test_a_message_given_as_a_python_dict_is_checked_like_its_json():
    path = MESSAGES / "five-problems-sinch.json"
    message = json.loads(path.read_text().replace("../media/", f"{MEDIA}/"))
    message["slides"][0]["image"] = {"path": message["slides"][0]["image"]}  # the long form, too
    assert codes(check(message, "sinch-xml")) == codes(check(path, "sinch-xml"))


def test_a_message_file_name_too_long_for_the_file_system_is_unreadable_input(tmp_path):
    from mediaprep.errors import UnreadableInput

    with pytest.raises(UnreadableInput):
        check(tmp_path / ("m" * 300 + ".json"), "sinch")


def test_a_message_path_that_is_no_regular_file_or_too_big_is_refused_before_reading(tmp_path):
    # A device or a FIFO would never end (or never start); a huge file would be read whole.
    from mediaprep.errors import InputTooLarge, NotAFile
    from mediaprep.message import MAX_MESSAGE_JSON_BYTES

    for not_a_file in (tmp_path, "/dev/zero"):
        with pytest.raises(NotAFile):
            check(not_a_file, "sinch")
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_MESSAGE_JSON_BYTES + 1))
    with pytest.raises(InputTooLarge):
        check(big, "sinch")


def test_a_message_given_as_json_bytes_is_checked_like_its_file():
    # What an upload flow holds is the request body; a wrong type is a usage error, not a crash.
    from mediaprep.errors import UsageError

    path = MESSAGES / "five-problems-sinch.json"
    body = path.read_text().replace("../media/", f"{MEDIA}/").encode()
    assert codes(check(body, "sinch-xml")) == codes(check(path, "sinch-xml"))
    for wrong in (None, 5, ["slides"]):
        with pytest.raises(UsageError, match="a message is"):
            check(wrong, "sinch-xml")


def test_largest_payload_is_the_most_content_whose_estimate_fits():
    from mediaprep.wire import largest_payload

    for limit in (300_000, 600_000, 1_000_000, 817, 2_000):
        n = largest_payload(limit)
        assert estimate_bytes(n) <= limit < estimate_bytes(n + 1)
    assert largest_payload(814) == 0 and largest_payload(100) == 0


def test_a_converted_attachment_makes_a_message_that_fits_the_routes_cap(tmp_path):
    # sinch allows a 1 MB attachment, but AT&T toll-free takes 600 kB on the wire: the convert
    # must leave an attachment whose message check passes, not one that check then refuses.
    from mediaprep import convert
    from mediaprep.wire import largest_payload

    profile = "sinch+att-toll-free"
    result = convert(MEDIA / "portrait.mov", profile=profile)
    assert result.budget == largest_payload(600_000) and estimate_bytes(result.bytes) <= 600_000
    assert any("message limit" in note for note in result.notes)
    out = tmp_path / "clip.mp4"
    out.write_bytes(result.data)
    report = check({"recipients": ["+15550100"], "fallback_sms_text": "see the clip", "slides": [{"video": str(out)}]},
                   profile)
    assert "message.too_big" not in {p.code for p in report.problems}, report.problems


def test_twilio_takes_ten_media_in_a_message_however_the_slides_hold_them(write_message):
    # Twilio takes a list of up to ten MediaUrl, not slides: eleven files were not counted anywhere.
    nine = [{"image": "media/photo.jpg"}, *({"contact": "media/contact.vcf"} for _ in range(8))]
    ten = write_message({"recipients": ["+15005550006"], "text": "hi", "slides": [*nine, {"audio": "media/speech.mp3"}]})
    assert "media.too_many" not in [p.code for p in check(ten, "twilio+att-long-code").problems]
    last = {"audio": "media/speech.mp3", "calendar": "media/event.ics"}
    eleven = write_message({"recipients": ["+15005550006"], "text": "hi", "slides": [*nine, last]}, "eleven.json")
    too_many = [p for p in check(eleven, "twilio+att-long-code").problems if p.code == "media.too_many"]
    assert len(too_many) == 1 and too_many[0].severity == "error"
    assert "11 media files" in too_many[0].message and "at most 10" in too_many[0].message
    # Sinch counts slides, not files: the same eleven on ten slides break its slide limit, not this rule.
    sinch = [p.code for p in check(eleven, "sinch-xml").problems]
    assert "slides.too_many" in sinch and "media.too_many" not in sinch
