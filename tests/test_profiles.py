import itertools
import re

import pytest

from mediaprep import check, list_profiles, load_profile
from mediaprep.errors import InvalidProfile, UnknownProfile
from mediaprep.inspection.sniff import KIND_BY_MIME
from mediaprep.message import MediaRef, Message, Slide
from mediaprep.profiles import available, load_file
from mediaprep.settings import Settings

from .conftest import BROKEN, MEDIA, SOURCES


def normalise(text: str) -> str:
    return " ".join(text.split())


SOURCE_TEXT = {p.name: normalise(p.read_text(encoding="utf-8")) for p in SOURCES.iterdir()}
UNITS = {"kb": 1000, "mb": 1_000_000}


def numbers_in(quote: str) -> set[int]:
    found = {int(float(n) * UNITS.get((u or "").lower(), 1)) for n, u in re.findall(r"(\d+(?:\.\d+)?)\s*(kB|KB|MB)?", quote)}
    if re.search(r"\bsingle\b", quote):
        found.add(1)
    return found


def value_at(profile, dotted: str):
    node = profile.to_dict()
    for part in dotted.split("."):
        node = node[part]
    return node


def test_all_profiles_load_and_the_required_ones_exist():
    names = {p.name for p in list_profiles()}
    required = {"clicksend", "sinch", "sinch-xml", "infobip", "twilio", "legacy-30k"}
    for carrier in ("att", "tmobile", "verizon"):
        required |= {f"{carrier}-long-code", f"{carrier}-toll-free", f"{carrier}-short-code"}
    assert required <= names


@pytest.mark.parametrize("name", sorted(available()))
def test_a_profile_that_takes_a_kind_takes_every_file_of_it_that_mediaprep_reads(name):
    # A profile lists what it sends as it is and what it converts; a type left off both is refused
    # (convert.not_allowed) although mediaprep could make it sendable: legacy-30k refused 3g2 clips.
    profile = load_file(available()[name])
    for kind in ("image", "audio", "video"):
        if profile.rule_for(kind) is not None:
            refused = [mime for mime, of in KIND_BY_MIME.items() if of == kind and profile.verdict(kind, mime) == "reject"]
            assert not refused, (kind, refused)


@pytest.mark.parametrize("name", sorted(available()))
def test_every_quoted_rule_stands_in_its_source_with_the_same_number(name):
    profile = load_profile(name) if load_file(available()[name]).kind == "provider" else load_file(available()[name])
    assert profile.quotes, f"{name} says nothing of where its rules come from"
    for dotted, quote in profile.quotes.items():
        holders = [src for src, text in SOURCE_TEXT.items() if normalise(quote) in text]
        assert holders, f"{name}: quote for {dotted} is not in any source: {quote!r}"
        value = value_at(profile, dotted)
        if isinstance(value, int) and not isinstance(value, bool):
            assert value in numbers_in(quote), f"{name}: {dotted} = {value}, but the source says {quote!r}"


def test_slide_limits_follow_each_seed():
    assert load_profile("sinch").message.max_slides == 8  # seed 002, JSON API
    assert load_profile("sinch-xml").message.max_slides == 9  # seed 001, XML API
    assert load_profile("clicksend").text.subject == 20
    assert load_profile("sinch-xml").text.subject == 80


def test_clicksend_types_follow_its_upload_table():
    # seed 000: "jpg | No", "gif | No", "jpeg | Yes", "png | Yes", "bmp | Yes" (convert first?)
    table = dict(re.findall(r"(\w+) \| (Yes|No) \|", SOURCE_TEXT["000_9ee713b7c06de696.txt"]))
    mime = {"jpg": "image/jpeg", "gif": "image/gif", "png": "image/png", "bmp": "image/bmp"}
    image = load_profile("clicksend").rule_for("image")
    for ext, needs_convert in table.items():
        if ext == "jpeg":
            continue  # same content as jpg; mediaprep always names stored JPEGs .jpg
        assert (mime[ext] in image.convert) == (needs_convert == "Yes"), ext
        assert (mime[ext] in image.accept) == (needs_convert == "No"), ext
    assert image.max_bytes == 250_000
    assert load_profile("clicksend").rule_for("video") is None


KIND_FILES = {
    "image": "photo.jpg",
    "audio": "speech.mp3",
    "video": "clip.mp4",
    "contact": "contact.vcf",
    "calendar": "event.ics",
    "pdf": "flyer.pdf",
}


def forbidden_in_seed_002() -> set[frozenset]:
    # "image(cannot be used withvideo,contact,calendar, orpdf)audio(cannot be used with..."
    text = SOURCE_TEXT["002_773e63dd99c58d25.txt"]
    pairs = set()
    for kind, others in re.findall(r"(\w+)\(cannot be used with([^)]*)\)", text):
        for other in re.split(r",\s*(?:or)?|\s*or", others):
            other = other.strip()
            if other:
                pairs.add(frozenset((kind, other)))
    return pairs


def slide_problems(profile: str, kinds: tuple[str, ...]) -> set[str]:
    slide = Slide(media=tuple(MediaRef(k, path=MEDIA / KIND_FILES[k]) for k in kinds))
    report = check(Message(recipients=("+15550101",), fallback_sms_text="hi", slides=(slide,)), profile)
    return {p.provider_code for p in report.problems if p.slide == 1 and p.code.startswith("slide.")}


def test_sinch_json_slide_mixes_are_exactly_the_seeds():
    forbidden = forbidden_in_seed_002()
    assert len(forbidden) == 11  # 3 objects x 3 media, audio+video, image+video
    for a, b in itertools.combinations(KIND_FILES, 2):
        problems = slide_problems("sinch", (a, b))
        assert bool(problems) == (frozenset((a, b)) in forbidden), (a, b, problems)


@pytest.mark.parametrize(
    "kinds, code",
    [
        (("contact", "calendar"), "E223"),  # "More than one object is not allowed in the same slide."
        (("pdf", "image"), "E224"),  # "MMS audio/video/image are not allowed with object in the same slide."
        (("audio", "video"), "E226"),  # "Audio and Video not allowed in same slide."
        (("video", "image"), "E227"),  # "Video and Image not allowed in same slide."
        (("image", "audio"), None),  # "Slides with images SHALL NOT support video but SHALL support audio."
    ],
)
def test_sinch_xml_slide_mixes_carry_the_seed_codes(kinds, code):
    assert slide_problems("sinch-xml", kinds) == ({code} if code else set())


def test_combined_profile_takes_the_stricter_limit():
    p = load_profile("clicksend+att-toll-free")
    assert p.name == "clicksend+att-toll-free"
    assert p.message.max_bytes == 600_000
    assert p.rule_for("image").max_bytes == 250_000
    assert p.text.subject == 20
    legacy = load_profile("clicksend+legacy-30k")
    assert legacy.rule_for("image").max_bytes == 30_000
    assert legacy.targets.image.max_long_side == 640
    twilio = load_profile("twilio+att-long-code")  # the carrier table is Twilio's own
    assert (twilio.message.max_bytes, twilio.message.max_media) == (1_000_000, 10)
    tmobile = load_profile("sinch+tmobile-long-code")
    assert tmobile.message.max_bytes == 1_500_000
    assert tmobile.message.one_file_per_kind and not tmobile.message.require_media


def test_route_alone_and_unknown_names_are_coded_errors():
    with pytest.raises(UnknownProfile, match="combine it with a provider"):
        load_profile("att-toll-free")
    with pytest.raises(UnknownProfile, match="known profiles: .*clicksend"):
        load_profile("clicksand")
    with pytest.raises(UnknownProfile):
        load_profile("clicksend+")


def write_profile(tmp_path, body: str, name: str = "mine"):
    (tmp_path / f"{name}.toml").write_text(f'name = "{name}"\n' + body)
    return Settings(profiles_dir=tmp_path)


MINIMAL = 'title = "t"\nkind = "provider"\nsource = "s"\n[media.image]\naccept = ["image/jpeg"]\n[targets.image]\nformat = "jpeg"\n'


def test_a_users_own_profile_folder_is_used(tmp_path):
    settings = write_profile(tmp_path, MINIMAL)
    assert load_profile("mine", settings).rule_for("image").accept == ("image/jpeg",)


@pytest.mark.parametrize(
    "body, message",
    [
        (MINIMAL + "max_slidez = 9\n", "unknown key 'max_slidez'"),
        (MINIMAL + "[message]\nmax_slides = \"nine\"\n", "expected a whole number"),
        (MINIMAL + "[message]\nmax_slides = -1\n", "must be a positive number"),
        (MINIMAL + "[media.hologram]\naccept = []\n", "unknown kind"),
        (MINIMAL.replace('kind = "provider"', 'kind = "carrier pigeon"'), "kind must be"),
        (MINIMAL + "[text]\ncounting = \"bytes\"\n", "counting must be"),
        (MINIMAL + "min_quality = 101\n", "min_quality = 101 is over 100"),
        (MINIMAL + "[message\n", "cannot be read as TOML"),
        # A target mediaprep cannot make was a traceback at the first clip (KeyError: 'webm').
        (MINIMAL + "[targets.video]\nformat = \"webm\"\n", "targets.video.format must be mp4 or 3gp, not 'webm'"),
        (MINIMAL + "[targets.audio]\nformat = \"ogg\"\n", "targets.audio.format must be mp3 or amr, not 'ogg'"),
        (MINIMAL.replace('format = "jpeg"', 'format = "webp"'), "targets.image.format must be jpeg or gif, not 'webp'"),
        (MINIMAL + "[targets.video]\ncodec = \"h263\"\n", "codec = 'h263' is for 3gp"),
        (MINIMAL + "[targets.video]\ncodec = \"vp9\"\n", "targets.video.codec must be h264 or h263"),
        # Every file made would be refused by the provider the profile describes.
        (MINIMAL + "[media.audio]\naccept = [\"audio/amr\"]\n",
         "targets.audio.format = 'mp3' makes audio/mpeg, which media.audio does not accept"),
        ('title = "t"\n', "missing key"),
    ],
)
def test_bad_profiles_are_rejected_with_a_clear_message(tmp_path, body, message):
    settings = write_profile(tmp_path, body)
    with pytest.raises(InvalidProfile, match=re.escape(message)):
        load_profile("mine", settings)


def test_the_broken_fixture_profile_is_rejected(tmp_path):
    (tmp_path / "bad-profile.toml").write_bytes((BROKEN / "bad-profile.toml").read_bytes())
    with pytest.raises(InvalidProfile, match="max_slidez"):
        load_profile("bad-profile", Settings(profiles_dir=tmp_path))


@pytest.mark.parametrize("min_quality", [100, 95])
def test_a_profile_asking_for_the_highest_quality_gets_it_or_a_coded_refusal(tmp_path, min_quality):
    # Quality 100 has a quantiser scale of 0; the search works in its logarithm and crashed there.
    from mediaprep import convert
    from mediaprep.errors import CannotFit

    body = MINIMAL.replace('accept = ["image/jpeg"]', 'accept = ["image/jpeg"]\nconvert = ["image/png"]')
    settings = write_profile(tmp_path, body + f"min_quality = {min_quality}\n")
    result = convert(MEDIA / "alpha.png", profile="mine", budget=300000, settings=settings)
    assert result.quality >= min_quality and result.bytes <= 300000
    with pytest.raises(CannotFit):
        convert(MEDIA / "alpha.png", profile="mine", budget=15000, settings=settings)


def test_a_profiles_dir_that_is_not_a_folder_is_a_usage_error_not_passed_over(tmp_path):
    # A misspelt folder was passed over, and the shipped profile of the same name was used instead of
    # the user's own (their negotiated limits) without a word.
    from mediaprep.errors import UsageError

    for missing in (tmp_path / "profiels", tmp_path / "a-file.toml"):
        if missing.suffix:
            missing.write_text("")
        with pytest.raises(UsageError, match="is not a folder"):
            load_profile("clicksend", Settings(profiles_dir=missing))
