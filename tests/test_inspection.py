import io
import re
import shutil
import struct
import subprocess
import sys
import zlib

import pytest
from PIL import Image

from mediaprep import Settings, convert, inspect
from mediaprep.errors import EmptyInput, MediaprepError, NotAFile, SourceNotFound, UnreadableInput, UsageError
from mediaprep.tools import find_ffprobe

from .conftest import BROKEN, MEDIA, make


@pytest.mark.parametrize(
    "name, mime, kind",
    [
        ("photo.jpg", "image/jpeg", "image"),
        ("phone-rotated.jpg", "image/jpeg", "image"),
        ("alpha.png", "image/png", "image"),
        ("scan.bmp", "image/bmp", "image"),
        ("still.gif", "image/gif", "image"),
        ("animated.gif", "image/gif", "image"),
        ("photo.webp", "image/webp", "image"),
        ("photo.tiff", "image/tiff", "image"),
        ("speech.mp3", "audio/mpeg", "audio"),
        ("speech.wav", "audio/wav", "audio"),
        ("clip.mp4", "video/mp4", "video"),
        ("portrait.mov", "video/quicktime", "video"),
        ("clip.3gp", "video/3gpp", "video"),
        ("contact.vcf", "text/vcard", "contact"),
        ("event.ics", "text/calendar", "calendar"),
        ("flyer.pdf", "application/pdf", "pdf"),
    ],
)
def test_every_fixture_kind_is_recognised_from_its_content(name, mime, kind):
    info = inspect(MEDIA / name)
    assert (info.mime, info.kind) == (mime, kind)
    assert info.error is None, info.error
    assert info.bytes == (MEDIA / name).stat().st_size
    assert not info.extension_mismatch


def test_type_comes_from_content_not_from_the_name(tmp_path):
    renamed = tmp_path / "holiday.mp3"
    shutil.copy(MEDIA / "photo.jpg", renamed)
    info = inspect(renamed)
    assert info.mime == "image/jpeg" and info.kind == "image"
    assert info.extension_mismatch


def test_png_named_jpg_is_flagged():
    info = inspect(BROKEN / "png-named.jpg")
    assert info.mime == "image/png"
    assert info.extension == "jpg" and info.extension_mismatch


def test_bytes_are_inspected_like_files():
    data = (MEDIA / "clip.mp4").read_bytes()
    info = inspect(data)
    assert info.path is None and info.kind == "video" and info.media.duration == pytest.approx(2.0, abs=0.1)
    assert inspect(data, name="clip.gif").extension_mismatch


def test_an_open_binary_file_is_read_as_its_bytes(tmp_path):
    # Upload handlers hold a file object (a spooled temporary file, an upload's stream), not a path:
    # it was usage.invalid ("a source is a path or bytes, not BytesIO").
    data = (MEDIA / "photo.jpg").read_bytes()
    assert convert(io.BytesIO(data), budget=20000).data == convert(data, budget=20000).data
    with (MEDIA / "clip.mp4").open("rb") as stream:
        info = inspect(stream)
    assert info.path is None and info.kind == "video" and info.bytes == (MEDIA / "clip.mp4").stat().st_size
    with (MEDIA / "event.ics").open() as text, pytest.raises(UsageError, match="binary"):
        inspect(text)
    # A picture opened without "rb" fails to decode as text: that was a UnicodeDecodeError.
    with (MEDIA / "photo.jpg").open() as text, pytest.raises(UsageError, match="binary"):
        convert(text, budget=20000)


def test_a_file_object_left_at_its_end_says_to_rewind_it():
    # A temporary file written and passed on without seek(0) was "input: is empty (0 bytes)".
    import tempfile

    with tempfile.SpooledTemporaryFile() as upload:
        upload.write((MEDIA / "photo.jpg").read_bytes())
        with pytest.raises(EmptyInput, match="at byte 56155, its end.*seek\\(0\\)"):
            convert(upload, budget=20000)
        upload.seek(0)
        assert convert(upload, budget=20000).data == convert(MEDIA / "photo.jpg", budget=20000).data
    with pytest.raises(EmptyInput, match="is empty"):
        inspect(io.BytesIO(b""))


def test_a_stream_over_the_size_cap_is_refused_without_reading_it_all():
    from mediaprep.errors import InputTooLarge

    class Endless(io.RawIOBase):
        """A stream that never ends, as a client that keeps sending would be; short reads, as sockets give."""

        given = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            n = min(len(buffer), 4096)
            buffer[:n] = b"\xff" * n
            self.given += n
            return n

    stream = Endless()
    with pytest.raises(InputTooLarge):
        inspect(stream, settings=Settings(max_input_bytes=100_000))
    assert stream.given <= 100_000 + 4096


def test_a_stream_that_fails_midway_is_an_unreadable_input_not_a_traceback():
    # An upload whose client drops the connection: the read raises ConnectionResetError, which left
    # the error tree.
    class Dropped(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            raise ConnectionResetError(104, "Connection reset by peer")

    with pytest.raises(UnreadableInput, match="Connection reset"):
        inspect(Dropped())


def test_image_facts():
    photo = inspect(MEDIA / "photo.jpg").image
    assert (photo.width, photo.height, photo.frames, photo.orientation) == (600, 400, 1, 1)
    assert inspect(MEDIA / "phone-rotated.jpg").image.orientation == 6
    assert inspect(MEDIA / "animated.gif").image.frames == 8
    assert inspect(MEDIA / "alpha.png").image.has_alpha
    assert not inspect(MEDIA / "scan.bmp").image.has_alpha


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG", "AVIF"])  # APNG, AVIF sequence
def test_an_animation_s_length_is_reported_as_browsers_play_it(fmt, cli, tmp_path):
    # What max_duration trims, and what a handset plays: it was not said at all. A frame of 10 ms
    # or less is shown for 100 ms, as browsers show it.
    from PIL import Image

    frames = [Image.new("RGB", (64, 48), (30 * i, 80, 160)) for i in range(5)]
    path = tmp_path / f"loop.{fmt.lower()}"
    frames[0].save(path, fmt, save_all=True, append_images=frames[1:], duration=[500, 250, 250, 10, 990],
                   loop=0)
    assert inspect(path).image.duration == pytest.approx(2.09)
    assert inspect(MEDIA / "photo.jpg").image.duration is None
    assert "5 frames, 2.09 s" in cli("inspect", str(path)).stdout


def test_a_tiff_turned_by_its_orientation_tag_is_reported_upright_once():
    # Pillow turns a TIFF by its Orientation tag as it opens it (size) and loads it (pixels): the
    # facts said 100x300 *and* orientation 6, which reads as a 300x100 picture to be turned.
    import io

    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.new("RGB", (300, 100), "red").save(buf, "TIFF", exif=exif.tobytes())
    facts = inspect(buf.getvalue()).image
    assert (facts.width, facts.height, facts.orientation) == (100, 300, 1)


def test_sha256_identifies_content():
    a = inspect(MEDIA / "photo.jpg")
    b = inspect(BROKEN / "-rf.jpg")  # the same bytes under a hostile name
    assert a.sha256 == b.sha256 and len(a.sha256) == 64


def probe_backends():
    backends = ["ffmpeg"]
    if find_ffprobe(Settings()):
        backends.append("ffprobe")
    return backends


@pytest.fixture(params=probe_backends())
def probe_settings(request):
    return Settings(probe=request.param)


def test_video_facts(probe_settings):
    m = inspect(MEDIA / "clip.mp4", settings=probe_settings).media
    assert m.has_video and m.has_audio
    assert (m.video_codec, m.audio_codec, m.width, m.height) == ("h264", "aac", 320, 240)
    assert m.duration == pytest.approx(2.0, abs=0.1)
    assert m.fps == pytest.approx(25, abs=0.5)
    assert m.rotation == 0
    assert m.probed_with == probe_settings.probe


def test_rotation_metadata_is_reported(probe_settings):
    m = inspect(MEDIA / "portrait.mov", settings=probe_settings).media
    assert m.rotation == 90
    assert (m.width, m.height) == (320, 240)  # stored pixels; the flag says how to show them


def test_stretched_pixels_are_reported(probe_settings, tmp_path):
    clip = make(tmp_path, "hdv.mp4", "-f", "lavfi", "-i", "testsrc2=s=480x270:d=1", "-vf", "setsar=4/3")
    m = inspect(clip, settings=probe_settings).media
    assert (m.width, m.height, m.pixel_aspect) == (480, 270, pytest.approx(4 / 3))
    assert inspect(MEDIA / "clip.mp4", settings=probe_settings).media.pixel_aspect == 1
    # No real pixel is ten times as wide as tall: such a flag is ignored, not made a 4800x270 frame.
    bogus = make(tmp_path, "bogus.mp4", "-f", "lavfi", "-i", "testsrc2=s=480x270:d=1", "-vf", "setsar=10")
    assert inspect(bogus, settings=probe_settings).media.pixel_aspect == 1


def test_a_container_that_states_its_own_pixel_shape_is_believed(probe_settings, tmp_path):
    # DV is coded in 16:15 pixels; this AVI says 1:1, and ffmpeg's own filters draw it so. ffmpeg
    # alone (a plain pip install) was read as 768x576 and sent stretched.
    tape = make(tmp_path, "tape.avi", "-f", "lavfi", "-i", "testsrc2=s=720x576:r=25:d=1", "-c:v", "dvvideo",
                "-pix_fmt", "yuv420p")
    assert inspect(tape, settings=probe_settings).media.pixel_aspect == 1


def test_what_decides_whether_a_clip_may_be_copied_is_read_by_either_probe(probe_settings, tmp_path):
    # Without the profiles and the pixel format, a plain pip install's ffmpeg re-encoded every clip
    # that already fitted and played everywhere. A decoder's name in brackets is not a profile.
    m = inspect(MEDIA / "clip.mp4", settings=probe_settings).media
    assert (m.video_profile, m.pix_fmt, m.audio_profile) == ("Main", "yuv420p", "LC")
    high = make(tmp_path, "high.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:d=1", "-c:v", "libx264", "-profile:v",
                "high422", "-pix_fmt", "yuv422p")
    m = inspect(high, settings=probe_settings).media
    assert (m.video_profile, m.pix_fmt) == ("High 4:2:2", "yuv422p")
    assert inspect(MEDIA / "speech.mp3", settings=probe_settings).media.audio_profile is None


def test_a_picture_a_few_pixels_across_has_its_size_read(probe_settings, tmp_path):
    strip = make(tmp_path, "strip.mp4", "-f", "lavfi", "-i", "testsrc2=s=4x2000:d=1", "-c:v", "libx264")
    m = inspect(strip, settings=probe_settings).media
    assert (m.width, m.height) == (4, 2000)


def test_interlaced_fields_are_reported(probe_settings, tmp_path):
    clip = make(tmp_path, "fields.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=50:d=1", "-vf",
                "tinterlace=mode=interleave_top,setfield=tff", "-c:v", "libx264", "-flags", "+ildct+ilme")
    assert inspect(clip, settings=probe_settings).media.interlaced
    assert not inspect(MEDIA / "clip.mp4", settings=probe_settings).media.interlaced


def test_3gp_codecs(probe_settings):
    m = inspect(MEDIA / "clip.3gp", settings=probe_settings).media
    assert (m.video_codec, m.audio_codec) == ("h263", "amr_nb")
    assert (m.width, m.height) == (176, 144)
    assert m.sample_rate == 8000 and m.channels == 1


def test_mp4_with_only_sound_is_audio(probe_settings):
    # libmagic reads the container (video/mp4); the probe finds only sound in it: audio/mp4, the
    # type a provider fetching it must be told. It was reported, and served, as video/mp4.
    info = inspect(MEDIA / "audio-only.mp4", settings=probe_settings)
    assert info.mime == "audio/mp4" and info.kind == "audio" and not info.extension_mismatch
    assert not info.media.has_video and info.media.audio_codec == "aac"


@pytest.mark.parametrize("name, brand", [("sony.mp4", "MSNV"), ("clip.m4a", "M4A ")])
def test_an_mp4_libmagic_calls_sound_is_video_when_it_holds_a_picture(tmp_path, probe_settings, name, brand):
    # libmagic names some brands audio/mp4 (Sony's MSNV, iTunes' M4A) from the brand alone; a clip
    # of them was reported, checked and served as audio/mp4, a picture in a sound's slot.
    clip = make(tmp_path, name, "-f", "lavfi", "-i", "testsrc2=s=320x240:d=1", "-c:v", "libx264", "-preset",
                "ultrafast", "-brand", brand, "-f", "mp4")
    info = inspect(clip, settings=probe_settings)
    assert (info.mime, info.kind) == ("video/mp4", "video") and not info.extension_mismatch


@pytest.mark.parametrize("name, args, mime", [
    ("voice.3gp", ["-ar", "8000", "-c:a", "libopencore_amrnb", "-b:a", "12.2k", "-f", "3gp"], "audio/3gpp"),
    ("browser.webm", ["-c:a", "libopus", "-f", "webm"], "audio/webm"),
    ("song.mkv", ["-c:a", "libvorbis", "-f", "matroska"], "audio/x-matroska"),
    ("song.mka", ["-c:a", "libvorbis", "-f", "matroska"], "audio/x-matroska"),
    ("windows.wma", ["-c:a", "wmav2", "-f", "asf"], "audio/x-ms-wma"),
])
def test_a_video_container_holding_only_sound_is_named_as_audio(tmp_path, name, args, mime):
    import imageio_ffmpeg

    # An Android voice recorder's 3gp (AMR), a browser's recording, music in Matroska, Windows' wma.
    sound = make(tmp_path, name, "-f", "lavfi", "-i", "sine=d=2", "-ac", "1", *args,
                 ffmpeg=imageio_ffmpeg.get_ffmpeg_exe())
    info = inspect(sound)
    assert (info.mime, info.kind, info.extension_mismatch) == (mime, "audio", False)


def test_audio_facts(probe_settings):
    m = inspect(MEDIA / "speech.mp3", settings=probe_settings).media
    assert m.audio_codec == "mp3" and not m.has_video and m.duration > 1


def test_object_facts():
    assert inspect(MEDIA / "contact.vcf").object.version == "3.0"
    assert inspect(MEDIA / "event.ics").object.items == 1
    pdf = inspect(MEDIA / "flyer.pdf").object
    assert pdf.items == 1 and not pdf.encrypted


# ---------------------------------------------------------------- bad input


def test_missing_path_directory_and_empty_file_raise_coded_errors(tmp_path):
    with pytest.raises(SourceNotFound) as e:
        inspect(tmp_path / "nope.jpg")
    assert e.value.code == "input.not_found"
    with pytest.raises(NotAFile):
        inspect(tmp_path)
    with pytest.raises(EmptyInput):
        inspect(BROKEN / "empty.jpg")
    with pytest.raises(EmptyInput):
        inspect(b"")


def test_a_path_the_system_cannot_even_look_at_is_unreadable_input(tmp_path):
    # A message can name any path: one too long for the file system must not escape as an OSError.
    with pytest.raises(UnreadableInput) as e:
        inspect(tmp_path / ("x" * 5000 + ".jpg"))
    assert e.value.code == "input.unreadable"


def test_links_that_lead_nowhere_say_so(tmp_path):
    # Both were "no such file", of a name that ls shows: a link to a file since moved, and two
    # links that point at each other.
    (tmp_path / "moved.jpg").symlink_to(tmp_path / "gone" / "photo.jpg")
    with pytest.raises(SourceNotFound, match=re.escape(f"a symbolic link to {tmp_path}/gone/photo.jpg, which does not")):
        convert(tmp_path / "moved.jpg", budget=30000)
    (tmp_path / "a.jpg").symlink_to("b.jpg")
    (tmp_path / "b.jpg").symlink_to("a.jpg")
    with pytest.raises(UnreadableInput, match="Too many levels of symbolic links"):
        inspect(tmp_path / "a.jpg")
    with pytest.raises(SourceNotFound, match="no such file"):
        inspect(MEDIA / "photo.jpg" / "inside.jpg")  # under a file, not a folder


@pytest.mark.parametrize(
    "name, code, provider_code",
    [
        ("random.bin", "input.unsupported", "E629"),
        ("garbage.ics", "input.unsupported", "E629"),
        ("not-a-card.vcf", "input.unsupported", "E629"),
        ("truncated.jpg", "input.corrupt", "E341"),
        ("truncated.png", "input.corrupt", "E341"),
        ("truncated.mp4", "input.corrupt", None),
    ],
)
def test_damaged_or_unknown_content_comes_back_with_a_coded_error(name, code, provider_code):
    info = inspect(BROKEN / name)
    assert not info.ok
    assert info.error.code == code
    assert info.error.provider_code == provider_code
    assert name in info.error.message


def test_playlist_dressed_as_mp4_is_never_handed_to_ffmpeg():
    info = inspect(BROKEN / "playlist.mp4")
    assert info.mime == "text/plain" and info.kind == "text"
    assert info.media is None and info.extension_mismatch


def test_name_starting_with_dash_is_just_a_name(tmp_path, probe_settings):
    clip = tmp_path / "-i.mp4"
    shutil.copy(MEDIA / "clip.mp4", clip)
    info = inspect(clip, settings=probe_settings)
    assert info.ok and info.media.width == 320
    assert inspect(BROKEN / "-rf.jpg").image.width == 600


def png_header_only(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_huge_claimed_dimensions_are_refused_before_decoding():
    info = inspect(png_header_only(100_000, 100_000))
    assert info.error.code == "input.bomb"


def test_a_picture_its_decoder_refuses_says_the_decoders_reason():
    # A Windows clipboard bitmap (a BMP without its 14-byte file header): libmagic calls it a BMP,
    # Pillow's BMP decoder does not take it, and says why.
    buf = io.BytesIO()
    Image.new("RGB", (32, 16), "red").save(buf, "BMP")
    error = inspect(buf.getvalue()[14:]).error
    assert error.code == "input.corrupt" and "Not a BMP file" in error.message


@pytest.mark.parametrize("compression, bits, code", [
    (6, 32, "input.unsupported"),  # alpha bit fields (Windows CE)
    (4, 24, "input.unsupported"),  # a JPEG inside, as printer drivers write
    (0, 64, "input.unsupported"),
    (99, 32, "input.corrupt"),  # no such compression: a damaged header
    (0, 7, "input.corrupt"),
])
def test_a_bmp_layout_pillow_cannot_decode_is_unsupported_not_damaged(compression, bits, code):
    # Called damaged (E341), a whole file of a layout the format has sent its sender looking for
    # damage; the layouts the format has are input.unsupported, as for a JPEG of one.
    pixels = bytes(4 * 2 * 4)
    header = struct.pack("<IiiHHIIiiII", 40, 4, 2, 1, bits, compression, len(pixels), 2835, 2835, 0, 0)
    masks = struct.pack("<IIII", 0xFF0000, 0xFF00, 0xFF, 0xFF000000)
    offset = 14 + len(header) + len(masks)
    data = b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + header + masks + pixels
    info = inspect(data)
    assert info.mime == "image/bmp" and info.error.code == code, info.error
    with pytest.raises(MediaprepError) as raised:
        convert(data, profile="clicksend")
    assert raised.value.code == code

def _tiff_of_compression(scheme: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (16, 16), 128).save(buf, "TIFF")
    tag = (259).to_bytes(2, "little") + (3).to_bytes(2, "little") + (1).to_bytes(4, "little")
    return buf.getvalue().replace(tag + b"\x01\x00", tag + scheme.to_bytes(2, "little"))


def _png_ending_after_its_header() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (16, 16), 128).save(buf, "PNG")
    return buf.getvalue()[: 8 + 25]  # the signature and IHDR, then nothing


@pytest.mark.parametrize("data", [_tiff_of_compression(0), _png_ending_after_its_header()], ids=["tiff", "png"])
def test_a_picture_whose_headers_fail_the_decoder_says_so_in_words(data):
    # A TIFF naming a compression no one knows made Pillow's lookup fail, and the message was
    # "cannot read image/tiff image: 0"; a PNG ending after its header gave struct's words alone.
    error = inspect(data).error
    assert error.code == "input.corrupt" and error.provider_code == "E341"
    assert "headers are damaged or cut short" in error.message, error.message


def test_pixel_ceiling_is_a_setting():
    data = png_header_only(4000, 3000)
    assert inspect(data, settings=Settings(max_image_pixels=10_000_000)).error.code == "input.bomb"
    assert inspect(data, settings=Settings(max_image_pixels=20_000_000)).error.code == "input.corrupt"


@pytest.mark.parametrize("side", [10_000, 14_000])
def test_a_ceiling_raised_past_pillows_own_limits_is_the_one_that_counts(side):
    # Pillow warns at 89.5 MP and refuses at 179 MP whatever it is told; a setting raised for a
    # phone's 108 or 200 MP HEIC was overruled by it (input.bomb, in Pillow's words). Here the
    # header passes the ceiling and what is wrong is the missing picture data.
    data = png_header_only(side, side)
    assert inspect(data, settings=Settings(max_image_pixels=250_000_000)).error.code == "input.corrupt"
    error = inspect(data).error
    assert error.code == "input.bomb" and "max_image_pixels" in error.message


def test_input_size_cap_is_checked_before_reading(tmp_path):
    from mediaprep.errors import InputTooLarge

    with pytest.raises(InputTooLarge):
        inspect(MEDIA / "photo.jpg", settings=Settings(max_input_bytes=1000))


def test_only_the_readers_of_the_formats_taken_are_ever_loaded(tmp_path):
    # Pillow reads some 50 formats, EPS through Ghostscript; mediaprep takes nine. Run in a fresh
    # process, since this one has loaded Pillow's readers for its own tests.
    for fmt in ("WEBP", "TIFF", "AVIF"):
        Image.new("RGB", (64, 48), "teal").save(tmp_path / f"p.{fmt.lower()}", fmt)
    script = (
        "import sys; from mediaprep import convert, inspect\n"
        "for name in ('p.webp', 'p.tiff', 'p.avif'):\n"
        f"    assert inspect({str(tmp_path)!r} + '/' + name).error is None\n"
        f"    convert({str(tmp_path)!r} + '/' + name, profile='clicksend')\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('PIL.') and m.endswith('ImagePlugin'))))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert {"PIL.WebPImagePlugin", "PIL.TiffImagePlugin", "PIL.AvifImagePlugin"} <= loaded
    assert "PIL.EpsImagePlugin" not in loaded
    assert loaded <= {f"PIL.{name}ImagePlugin" for name in
                      ("Bmp", "Gif", "Jpeg", "Ppm", "Png", "WebP", "Tiff", "Avif", "Mpo")}
