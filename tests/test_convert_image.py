import functools
import io
import math
import re
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from mediaprep import Settings, convert, inspect, load_profile
from mediaprep.errors import CannotFit, CorruptInput, DecompressionBomb, NotAllowed, UnsupportedType, UsageError

from .conftest import BROKEN, MEDIA
from .test_inspection import png_header_only

STILLS = ["photo.jpg", "phone-rotated.jpg", "alpha.png", "scan.bmp", "still.gif", "photo.webp", "photo.tiff", "photo.heic"]


def opened(result):
    return Image.open(io.BytesIO(result.data))


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).mean())


@pytest.mark.parametrize("name", STILLS + ["animated.gif"])
@pytest.mark.parametrize("budget", [30000, 12000])
def test_every_input_format_comes_out_within_the_budget_exactly(name, budget):
    result = convert(MEDIA / name, budget=budget)
    assert result.bytes <= budget
    assert result.bytes == len(result.data)
    info = inspect(result.data)
    assert info.ok and info.mime == result.mime and result.mime in ("image/jpeg", "image/gif")
    assert (info.image.width, info.image.height) == (result.width, result.height)


@pytest.mark.parametrize("profile", ["clicksend", "sinch", "legacy-30k"])
def test_an_avif_is_converted_for_every_provider(profile):
    # AVIF is what browsers save and newer phones share; no provider takes it, every one takes a JPEG.
    with Image.open(MEDIA / "photo.jpg") as im:
        buf = io.BytesIO()
        im.save(buf, "AVIF", quality=60)
    assert inspect(buf.getvalue()).mime == "image/avif"
    result = convert(buf.getvalue(), profile=profile)
    assert result.mime == "image/jpeg" and not result.passed_through
    assert result.bytes <= load_profile(profile).rule_for("image").max_bytes
    assert opened(result).size == (result.width, result.height) and abs(result.width / result.height - 1.5) < 0.01


def test_a_clean_jpg_that_fits_is_passed_through_byte_for_byte():
    source = (MEDIA / "photo.jpg").read_bytes()
    result = convert(source, profile="clicksend")
    assert result.passed_through and result.data == source and result.encodes == 0


def test_a_jpg_that_fits_but_is_longer_than_the_profile_s_side_says_why_it_was_re_encoded():
    # 1800x1200 in 150 kB fits ClickSend's 250 kB, yet came back re-encoded at 1600 px without a word.
    with Image.open(MEDIA / "photo.jpg") as im:
        buf = io.BytesIO()
        im.resize((1800, 1200), Image.Resampling.LANCZOS).save(buf, "JPEG", quality=60)
    result = convert(buf.getvalue(), profile="clicksend")
    assert len(buf.getvalue()) < result.budget and (result.width, result.height) == (1600, 1067)
    assert "re-encoded although the file fits: it is 1800 px on its long side, past the profile's 1600" in (
        result.notes)
    assert not any("although" in n for n in convert(buf.getvalue(), budget=100_000).notes)  # it does not fit


def test_a_gif_that_fits_is_passed_through():
    source = (MEDIA / "still.gif").read_bytes()
    result = convert(source, profile="clicksend")
    assert result.passed_through and result.data == source


def looping_gif(frames: int = 8, **save) -> bytes:
    pictures = [Image.effect_mandelbrot((160, 120), (-2 + i * 0.1, -1.2, 1, 1.2), 100).convert("P") for i in range(frames)]
    buf = io.BytesIO()
    pictures[0].save(buf, "GIF", save_all=True, append_images=pictures[1:], duration=100, loop=0, **save)
    return buf.getvalue()


def test_a_looping_animation_that_fits_is_passed_through_byte_for_byte():
    # Every looping GIF carries Netscape's application extension: it says how often to loop, nothing more.
    source = looping_gif()
    result = convert(source, profile="clicksend")
    assert result.passed_through and result.data == source and result.frames == 8


XMP = b"\x21\xff\x0bXMP DataXMP\x0eGPS 51.5N 0.1W\x00"


@pytest.mark.parametrize("source, cut", [
    (looping_gif(comment=b"GPS 51.5N 0.1W"), True),
    (looping_gif()[:-1] + XMP + b";", True),
    (looping_gif() + b"GPS 51.5N 0.1W;", False),  # bytes after the trailer (a polyglot hides here)
], ids=["comment", "xmp", "after-trailer"])
def test_a_gif_carrying_anything_besides_its_pictures_is_sent_without_it(source, cut):
    result = convert(source, profile="clicksend")
    assert not result.passed_through and result.mime == "image/gif" and result.frames == 8
    assert b"GPS" not in result.data
    if cut:
        # GIMP's comment, Photoshop's XMP: cut out, every picture kept byte for byte. Re-encoding
        # the animation to drop them changed its colours.
        assert result.encodes == 0 and result.data == looping_gif()
    else:
        assert result.encodes > 0


def test_a_jpeg_holding_a_second_picture_is_re_encoded_as_one():
    # MPO (3D cameras, phones' depth maps): the second picture hides after the first one's end.
    first = Image.effect_mandelbrot((320, 240), (-2, -1.2, 1, 1.2), 100).convert("RGB")
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[Image.new("RGB", (320, 240), "red")])
    result = convert(buf.getvalue(), profile="clicksend")
    assert not result.passed_through and result.frames == 1
    out = opened(result)
    assert out.format == "JPEG" and getattr(out, "n_frames", 1) == 1  # a grey picture: never a GIF
    assert "the JPEG holds 2 pictures (MPF: a gain map, a second view or a preview); the first is used" in result.notes


def test_a_motion_photo_is_sent_as_its_still_and_says_its_video_is_left_out():
    # Pixel and Galaxy phones append the clip after the JPEG's end: a user wondering why the photo
    # no longer moves is told. A photograph with no clip gets no such note.
    clip = (MEDIA / "clip.mp4").read_bytes()
    result = convert((MEDIA / "photo.jpg").read_bytes() + clip, profile="clicksend")
    assert result.mime == "image/jpeg" and b"ftyp" not in result.data
    assert f"the motion photo's video ({len(clip)} bytes after the picture) is left out; the still is sent" in result.notes
    assert not any("motion photo" in note for note in convert(MEDIA / "photo.jpg", budget=30000).notes)


def test_a_png_is_converted_for_clicksend_even_when_small():
    result = convert(MEDIA / "alpha.png", profile="clicksend")
    assert not result.passed_through and result.mime == "image/jpeg"
    # Transparent corners are flattened on white, not black.
    corner = opened(result).convert("RGB").getpixel((1, 1))
    assert min(corner) > 240


@pytest.mark.parametrize("mode", ["RGB", "L", "I;16"])
def test_a_png_made_transparent_by_a_colour_key_is_flattened_on_white_too(mode):
    # A PNG without alpha can name one colour as clear (tRNS): older tools' logos and cut-outs. Browsers
    # show the page through it; the JPEG showed the key colour, a black box around the picture.
    photo = Image.open(MEDIA / "photo.jpg").convert("RGB").resize((200, 150))
    canvas = Image.new("RGB", (400, 300), (0, 0, 0))
    canvas.paste(photo, (100, 75))
    buf = io.BytesIO()
    # 16-bit grey: scientific and medical exports, where the key is a 16-bit level.
    keyed = canvas.convert(mode) if mode != "I;16" else Image.fromarray(np.asarray(canvas.convert("L"), np.uint16) * 257)
    keyed.save(buf, "PNG", transparency=(0, 0, 0) if mode == "RGB" else 0)
    result = convert(buf.getvalue(), budget=20000, profile="clicksend")
    assert result.mime == "image/jpeg" and "transparency flattened on white" in result.notes
    assert min(opened(result).convert("RGB").getpixel((5, 5))) > 240

def _bmp32(pixels: Image.Image) -> bytes:
    """An uncompressed 32-bit BMP (BI_RGB) with ``pixels``' alpha in its fourth byte, as Pillow
    writes it."""
    buf = io.BytesIO()
    pixels.save(buf, "BMP")
    data = buf.getvalue()
    assert data[28:30] == (32).to_bytes(2, "little") and data[30:34] == bytes(4)  # 32 bits, BI_RGB
    return data


def test_a_32_bit_bmp_s_fourth_byte_is_read_as_alpha_where_it_holds_any():
    # Read as unused, as the format names it, the transparent margins of a cut-out came out in
    # the colour hidden under them (black here) instead of on white.
    photo = Image.open(MEDIA / "photo.jpg").convert("RGBA").resize((200, 150))
    canvas = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    canvas.paste(photo, (100, 75))
    data = _bmp32(canvas)
    assert inspect(data).image.has_alpha
    result = convert(data, budget=20000, profile="clicksend")
    assert result.mime == "image/jpeg" and "transparency flattened on white" in result.notes
    out = opened(result).convert("RGB")
    assert min(out.getpixel((5, 5))) > 240
    middle = out.getpixel((out.width // 2, out.height // 2))
    assert mean_abs_diff(Image.new("RGB", (1, 1), middle), photo.convert("RGB").crop((100, 75, 101, 76))) < 40

    # A writer that leaves the byte unused leaves it 0 in every pixel: those pictures are opaque.
    unused = canvas.copy()
    unused.putalpha(0)
    blank = _bmp32(unused)
    assert not inspect(blank).image.has_alpha
    result = convert(blank, budget=20000, profile="clicksend")
    assert not any("flattened" in n for n in result.notes)
    assert max(opened(result).convert("RGB").getpixel((5, 5))) < 15


def test_phone_photo_comes_out_upright_with_no_metadata():
    with Image.open(MEDIA / "phone-rotated.jpg") as source:
        assert source.getexif().get(0x0112) == 6 and source.getexif().get_ifd(0x8825)  # GPS present
    result = convert(MEDIA / "phone-rotated.jpg", profile="clicksend")
    assert not result.passed_through  # it fits, but it carries EXIF
    out = opened(result)
    assert out.size == (451, 300)  # stored 300 x 451, shown turned
    assert not out.getexif() and "exif" not in out.info and "xmp" not in out.info
    assert b"ExamplePhone" not in result.data and b"GPS" not in result.data
    assert any("orientation" in n for n in result.notes)


SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _upright_photo_with_metadata(orientation: int | None = None) -> bytes:
    with Image.open(MEDIA / "photo.jpg") as im:
        exif = Image.Exif()
        exif[0x010F] = "ExamplePhone"
        exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPS
        if orientation is not None:
            exif[0x0112] = orientation
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=80, exif=exif.tobytes(), comment=b"GPS 51.5N", icc_profile=SRGB_ICC)
    return buf.getvalue()


def test_an_upright_photo_that_fits_loses_its_metadata_but_not_a_pixel():
    # Re-encoding only to drop EXIF would cost quality and (at q95) bytes; cutting the segments costs neither.
    data = _upright_photo_with_metadata()
    result = convert(data, profile="clicksend")
    assert result.encodes == 0 and not result.passed_through and result.bytes < len(data)
    assert b"ExamplePhone" not in result.data and b"GPS" not in result.data
    out = opened(result)
    assert not out.getexif() and "comment" not in out.info and out.info.get("icc_profile") == SRGB_ICC
    with Image.open(io.BytesIO(data)) as source:
        assert np.array_equal(np.asarray(source), np.asarray(out))
    assert any("not re-encoded" in note for note in result.notes)


def test_metadata_is_not_cut_where_the_photo_must_be_turned_or_made_smaller():
    turned = convert(_upright_photo_with_metadata(orientation=6), profile="clicksend")
    assert turned.encodes > 0 and (turned.width, turned.height) == (400, 600)
    smaller = convert(_upright_photo_with_metadata(), budget=20000)
    assert smaller.encodes > 0 and smaller.bytes <= 20000 and b"GPS" not in smaller.data


def test_metadata_hidden_between_the_scans_of_a_progressive_jpeg_is_found_and_cut():
    # Pillow reads the headers before the first scan only; the bytes after it reach the phone all the same.
    with Image.open(MEDIA / "photo.jpg") as im:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=80, progressive=True)
    clean = buf.getvalue()
    second_scan = clean.index(b"\xff\xda", clean.index(b"\xff\xda") + 2)  # 0xFF is stuffed inside scans
    hidden = b"\xff\xe1" + (2 + 22).to_bytes(2, "big") + b"Exif\0\0GPS 51.5N 0.1W!!" + b"\xff\xfe\x00\x08secret"
    data = clean[:second_scan] + hidden + clean[second_scan:]
    with Image.open(io.BytesIO(data)) as looks_clean:
        assert not looks_clean.getexif() and "comment" not in looks_clean.info
    result = convert(data, profile="clicksend")
    assert not result.passed_through and result.data == clean and result.encodes == 0
    assert b"GPS" not in result.data and b"secret" not in result.data


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + (2 + len(body)).to_bytes(2, "big") + body


def test_only_the_segments_that_draw_the_picture_are_kept_under_the_markers_that_may_hold_them():
    # APP0, APP2 and APP14 hold the JFIF header, the ICC profile and Adobe's colour transform, and
    # were kept whole; under the same markers cameras write other things: a JFXX thumbnail (of the
    # picture before it was cropped), Kodak's FlashPix extensions (a voice note, a screen-nail
    # picture; ExifTool's Kodak.jpg) and a thermal camera's raw readings (its InfiRay.jpg).
    data = _upright_photo_with_metadata()
    after_soi = 2
    extras = (_segment(0xE0, b"JFXX\0\x10thumbnail before the crop")
              + _segment(0xE2, b"FPXR\0\x02voice note")
              + _segment(0xE2, b"IJPEG\0thermal readings")
              + _segment(0xEE, b"Photoshop notes"))
    dressed = data[:after_soi] + extras + data[after_soi:]
    result = convert(dressed, profile="clicksend")
    assert result.encodes == 0 and not result.passed_through
    for said in (b"before the crop", b"voice note", b"thermal", b"Photoshop notes", b"GPS"):
        assert said not in result.data
    out = opened(result)
    assert out.info.get("icc_profile") == SRGB_ICC and out.info.get("jfif_version")  # what draws the picture stays
    with Image.open(io.BytesIO(data)) as source:
        assert np.array_equal(np.asarray(source), np.asarray(out))


def test_cutting_metadata_refuses_what_is_not_one_well_formed_jpeg():
    from mediaprep.inspection.jpeg_segments import without_metadata

    data = _upright_photo_with_metadata()
    assert without_metadata(data[:40]) is None  # cut inside a segment
    assert without_metadata(data[:-2]) is None  # no end marker: truncated
    assert without_metadata(data + b"PK\x03\x04 a zip") is None  # a polyglot's tail
    assert without_metadata(b"\x89PNG\r\n\x1a\n" + data[8:]) is None
    assert without_metadata(data[:2] + b"\xff\xd8" + data[2:]) is None  # a second SOI before the scan
    assert without_metadata((MEDIA / "photo.jpg").read_bytes()) == (MEDIA / "photo.jpg").read_bytes()


def _png_with_metadata(orientation: int = 1) -> bytes:
    """A transparent RGBA PNG with an ICC profile, text, XMP, eXIf with GPS, a time and a resolution."""
    from PIL import PngImagePlugin

    with Image.open(MEDIA / "alpha.png") as im:
        info = PngImagePlugin.PngInfo()
        info.add_text("Author", "Jane Doe")
        info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>ExampleCreatorTool</x:xmpmeta>", zip=True)
        exif = Image.Exif()
        exif[0x0112] = orientation
        exif[0x010F] = "ExamplePhone"
        buf = io.BytesIO()
        im.save(buf, "PNG", pnginfo=info, exif=exif.tobytes(), icc_profile=SRGB_ICC, dpi=(144, 144))
    return buf.getvalue()


def test_a_png_the_profile_takes_that_fits_is_sent_as_it_is_not_made_a_jpeg():
    # Sinch and Infobip take PNG. A logo with transparency went out as a JPEG on white, and a
    # screenshot's text through JPEG's blur, though the provider takes the file as it was.
    for profile in ("sinch", "infobip"):
        result = convert(MEDIA / "alpha.png", profile=profile)
        assert result.passed_through and result.data == (MEDIA / "alpha.png").read_bytes(), profile
    # ClickSend takes no PNG: converted as before.
    assert convert(MEDIA / "alpha.png", profile="clicksend").mime == "image/jpeg"


def test_a_png_that_fits_loses_its_metadata_but_not_a_pixel_nor_its_colours():
    data = _png_with_metadata()
    result = convert(data, profile="sinch")
    assert result.mime == "image/png" and result.encodes == 0 and not result.passed_through
    assert result.bytes < len(data)
    for secret in (b"Jane Doe", b"ExamplePhone", b"ExampleCreatorTool", b"eXIf", b"pHYs"):
        assert secret not in result.data
    out = opened(result)
    assert out.info.get("icc_profile") == SRGB_ICC and out.mode == "RGBA"
    with Image.open(io.BytesIO(data)) as source:
        assert np.array_equal(np.asarray(source), np.asarray(out))
    assert any("not re-encoded" in note for note in result.notes)


def test_a_png_is_encoded_where_it_must_be_turned_or_is_not_one_whole_png():
    turned = convert(_png_with_metadata(orientation=6), profile="sinch")
    assert turned.encodes > 0 and turned.mime == "image/jpeg" and b"Jane Doe" not in turned.data
    clean = (MEDIA / "alpha.png").read_bytes()
    polyglot = convert(clean + b"PK\x03\x04 a zip", profile="sinch")
    assert polyglot.mime == "image/jpeg" and b"PK" not in polyglot.data
    from mediaprep.inspection.png_metadata import without_metadata

    assert without_metadata(clean[:-12]) is None  # no IEND: cut short
    idat = clean.index(b"IDAT")
    bad_crc = bytearray(clean)
    bad_crc[idat + 4] ^= 0xFF  # the first byte of the data: its CRC no longer matches
    assert without_metadata(bytes(bad_crc)) is None
    critical = clean[:33] + (0).to_bytes(4, "big") + b"CgBI" + (0x6BD5B33E).to_bytes(4, "big") + clean[33:]
    assert without_metadata(critical) is None  # Apple's CgBI: no other decoder reads it
    assert without_metadata(clean) == clean


def test_an_animated_png_is_not_passed_through_as_a_png(tmp_path):
    frames = [Image.new("RGB", (64, 64), c) for c in ("red", "green", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:], duration=200, loop=0)
    result = convert(buf.getvalue(), profile="sinch")
    assert result.mime == "image/gif" and result.frames == 3


def _webp_with_metadata(orientation: int = 1) -> bytes:
    with Image.open(MEDIA / "photo.webp") as im:
        exif = Image.Exif()
        exif[0x0112] = orientation
        exif[0x010F] = "ExamplePhone"
        buf = io.BytesIO()
        im.save(buf, "WEBP", exif=exif.tobytes(), xmp=b"<x:xmpmeta>ExampleCreatorTool</x:xmpmeta>",
                icc_profile=SRGB_ICC, quality=80)
    return buf.getvalue()


def test_a_webp_the_profile_takes_that_fits_is_sent_as_it_is_less_its_metadata():
    # Sinch's XML API takes WebP; it went out as a JPEG 2.5 times the bytes, a generation down.
    clean = (MEDIA / "photo.webp").read_bytes()
    plain = convert(clean, profile="sinch-xml")
    assert plain.passed_through and plain.data == clean
    data = _webp_with_metadata()
    result = convert(data, profile="sinch-xml")
    assert result.mime == "image/webp" and result.encodes == 0 and result.bytes < len(data)
    assert b"ExamplePhone" not in result.data and b"ExampleCreatorTool" not in result.data
    out = opened(result)
    assert not out.getexif() and out.info.get("icc_profile") == SRGB_ICC
    with Image.open(io.BytesIO(data)) as source:
        assert np.array_equal(np.asarray(source.convert("RGB")), np.asarray(out.convert("RGB")))
    assert convert(data, profile="sinch").mime == "image/jpeg"  # Sinch's JSON API takes no WebP
    turned = convert(_webp_with_metadata(orientation=6), profile="sinch-xml")
    assert turned.mime == "image/jpeg" and (turned.width, turned.height) == (300, 451)


def test_cutting_a_webp_s_metadata_refuses_what_is_not_one_whole_still_webp():
    from mediaprep.inspection.webp_chunks import without_metadata

    data = _webp_with_metadata()
    assert without_metadata(data[:-10]) is None  # cut short
    assert without_metadata(data + b"PK\x03\x04 a zip") is None  # a polyglot's tail
    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], duration=100)
    assert without_metadata(buf.getvalue()) is None  # an animation goes the GIF way
    clean = (MEDIA / "photo.webp").read_bytes()
    assert without_metadata(clean) == clean
    cut = without_metadata(data)
    assert cut is not None and int.from_bytes(cut[4:8], "little") + 8 == len(cut) and not cut[20] & 0x0C


def test_upright_pixels_match_what_a_viewer_shows():
    from PIL import ImageOps

    with Image.open(MEDIA / "phone-rotated.jpg") as source:
        shown = ImageOps.exif_transpose(source).convert("L").resize((45, 30))
    got = opened(convert(MEDIA / "phone-rotated.jpg", budget=100000)).convert("L").resize((45, 30))
    assert mean_abs_diff(shown, got) < 8
    # and the unturned stored pixels would be far off
    assert mean_abs_diff(shown, got.transpose(Image.Transpose.ROTATE_180)) > 15


def test_a_tight_budget_shrinks_the_picture_and_a_loose_one_keeps_it():
    small = convert(MEDIA / "photo.tiff", budget=6000)
    large = convert(MEDIA / "photo.tiff", budget=200000)
    assert small.bytes <= 6000 and large.bytes <= 200000
    assert (large.width, large.height) == (300, 200)
    assert large.quality >= small.quality or large.width > small.width


def test_budget_comes_from_the_profile_and_the_stricter_wins():
    result = convert(MEDIA / "photo.tiff", profile="clicksend+legacy-30k")
    assert result.budget == 30000 and result.bytes <= 30000
    assert convert(MEDIA / "photo.tiff", profile="clicksend", budget=9000).budget == 9000
    with pytest.raises(UsageError):
        convert(MEDIA / "photo.tiff")


@pytest.mark.parametrize("name", ["photo.tiff", "photo.jpg", "phone-rotated.jpg"])
def test_jpegs_are_progressive_except_for_profiles_that_want_baseline(name):
    # Progressive scans are smaller; the legacy profile's old handsets only show baseline.
    modern = convert(MEDIA / name, profile="clicksend", budget=12000)
    legacy = convert(MEDIA / name, profile="clicksend+legacy-30k", budget=12000)
    assert modern.bytes <= 12000 and legacy.bytes <= 12000
    assert opened(modern).info.get("progressive") and not opened(legacy).info.get("progressive")
    # The lossless scan optimisation frees bytes; they are spent on quality, not left unused.
    assert modern.quality >= legacy.quality


def tiled_photo(times: int) -> Image.Image:
    # A real photograph's detail at several megapixels without upscaling it: the fixture tiled.
    photo = Image.open(MEDIA / "photo.jpg").convert("RGB")
    tiled = Image.new("RGB", (photo.width * times, photo.height * times))
    for i in range(times * times):
        tiled.paste(photo, ((i % times) * photo.width, (i // times) * photo.height))
    return tiled


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("long_side", [1111, 333])  # 333: Pillow's integer reduce runs first
def test_a_resize_in_two_halves_matches_one_resize(mode, long_side):
    # The decode's big resize runs as two halves on two threads; the seam must not show.
    from mediaprep.converters.picture import resize_long_side

    source = tiled_photo(3).convert(mode)
    whole = resize_long_side(source, long_side)
    halves = resize_long_side(source, long_side, halves=True)
    assert halves.size == whole.size and halves.mode == mode
    diff = np.abs(np.asarray(halves, dtype=int) - np.asarray(whole, dtype=int))
    cut = whole.height // 2
    assert diff.max() <= 4 and diff.mean() < 0.05
    assert diff[cut - 2 : cut + 2].max() <= 1  # the rows either side of the cut


@pytest.mark.parametrize(("tiles", "budget"), [(1, 12000), (1, 30000), (3, 300000)])
def test_the_last_quality_step_is_filled_in_quarters(tiles, budget):
    # Whole quality steps leave up to ~3 % of a small budget unused; the fill takes quarter steps,
    # so a quarter step more than the result's quality would not fit.
    from mediaprep.converters.jpeg import fit_jpeg, qtables
    from mediaprep.converters.picture import resize_long_side
    from mediaprep.profiles import ImageTarget

    source = tiled_photo(tiles)
    fit = fit_jpeg(source, budget, ImageTarget(progressive=False))
    assert len(fit.data) <= budget and fit.quality < 95
    shown = resize_long_side(source, max(fit.width, fit.height))
    buf = io.BytesIO()
    shown.save(buf, "JPEG", qtables=qtables(fit.quality), subsampling=2, optimize=True)
    assert buf.getvalue() == fit.data  # the same encoder as the result's
    buf = io.BytesIO()
    shown.save(buf, "JPEG", qtables=qtables(fit.quality + 0.25), subsampling=2, optimize=True)
    assert len(buf.getvalue()) > budget


def test_encodes_where_no_in_memory_file_can_be_made_give_the_same_jpeg(monkeypatch):
    # Encodes go to an anonymous in-memory file (so that Pillow lets go of the GIL); where the call
    # is missing or a sandbox refuses it, they go to a Python buffer, with the same result.
    import os

    from mediaprep.converters import jpeg
    from mediaprep.profiles import ImageTarget

    source = tiled_photo(1)
    usual = jpeg.fit_jpeg(source, 30000, ImageTarget())

    def refused(*args):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "memfd_create", refused)
    assert jpeg._memory_file() is None
    assert jpeg.fit_jpeg(source, 30000, ImageTarget()).data == usual.data


@pytest.mark.parametrize("budget", [12000, 30000])  # a half step wins at 12000, not at 30000
@pytest.mark.parametrize("late", ["worker", "caller", "finish"])
def test_the_search_makes_the_same_jpeg_whichever_of_its_threads_ends_first(monkeypatch, late, budget):
    # The climb searches the next smaller size on a worker thread while it searches its start, and the
    # best so far is finished on the worker while the half steps are tried; what either thread finds
    # first must not steer the other (same bytes for the same input, same encodes).
    import threading

    from mediaprep.converters import jpeg
    from mediaprep.profiles import ImageTarget

    source = tiled_photo(1)
    alone = jpeg.fit_jpeg(source, budget, ImageTarget())
    evaluate, finished = jpeg._Search.evaluate, jpeg._finished
    on_worker = []

    def held_back(search, long_side, start=None):
        worker = threading.current_thread() is not threading.main_thread()
        if worker:
            on_worker.append("evaluate")
        if worker == (late == "worker") and late != "finish" and long_side not in search.results:
            time.sleep(0.3)
        return evaluate(search, long_side, start)

    def finished_late(search, best):
        if threading.current_thread() is not threading.main_thread():
            on_worker.append("finish")
            if late == "finish":
                time.sleep(0.3)
        return finished(search, best)

    monkeypatch.setattr(jpeg._Search, "evaluate", held_back)
    monkeypatch.setattr(jpeg, "_finished", finished_late)
    delayed = jpeg.fit_jpeg(source, budget, ImageTarget())
    assert set(on_worker) == {"evaluate", "finish"}  # the two threads did work at once
    assert (delayed.data, delayed.quality, delayed.encodes) == (alone.data, alone.quality, alone.encodes)


@pytest.mark.parametrize(
    ("tiles", "budget"),
    [
        (1, 30000),  # small: mozjpeg's scans
        (3, 450000),  # over a megapixel and dense: Pillow's standard progressive scans
        (3, 150000),  # over a megapixel at low quality, where Pillow's scans save too little: mozjpeg's
    ],
)
def test_progressive_scans_free_bytes_that_buy_quality(tiles, budget):
    from mediaprep.converters.jpeg import PROGRESSIVE_PIXELS, fit_jpeg
    from mediaprep.profiles import ImageTarget

    source = tiled_photo(tiles)
    modern = fit_jpeg(source, budget, ImageTarget(progressive=True))
    legacy = fit_jpeg(source, budget, ImageTarget(progressive=False))
    assert len(modern.data) <= budget and len(legacy.data) <= budget
    assert Image.open(io.BytesIO(modern.data)).info.get("progressive")
    assert not Image.open(io.BytesIO(legacy.data)).info.get("progressive")
    assert (modern.width, modern.height) == (legacy.width, legacy.height)
    assert modern.quality > legacy.quality
    if tiles > 1:
        assert modern.width * modern.height >= PROGRESSIVE_PIXELS


def test_full_resolution_colour_only_where_it_costs_no_quality():
    # 4:4:4 leaves luma as it is; it is worth its bytes only at the quality cap with room to spare,
    # and old handsets' profiles keep 4:2:0.
    from PIL import JpegImagePlugin

    roomy = convert(MEDIA / "scan.bmp", budget=200000)
    tight = convert(MEDIA / "photo.jpg", budget=12000)
    legacy = convert(MEDIA / "scan.bmp", profile="clicksend+legacy-30k")
    assert roomy.quality == 95 and roomy.subsampling == "4:4:4"
    assert JpegImagePlugin.get_sampling(opened(roomy)) == 0
    assert tight.quality < 95 and tight.subsampling == "4:2:0"
    assert JpegImagePlugin.get_sampling(opened(tight)) == 2
    assert legacy.subsampling == "4:2:0" and JpegImagePlugin.get_sampling(opened(legacy)) == 2


def test_a_grey_picture_reports_no_chroma_subsampling(cli, tmp_path):
    # A grey JPEG has one channel: there is no colour to subsample, so none is reported.
    grey = tmp_path / "scan.png"
    Image.open(MEDIA / "photo.jpg").convert("L").save(grey)
    result = convert(grey, budget=30000)
    assert opened(result).mode == "L" and result.subsampling is None
    out = cli("convert", str(grey), "-o", str(tmp_path / "out.jpg"), "--budget", "30000").stdout
    assert re.search(r"quality [0-9.]+(,|$)", out, re.MULTILINE) and "4:2:0" not in out


@pytest.mark.parametrize(("tiles", "budget"), [(1, 12000), (1, 30000), (3, 250000)])
def test_fast_effort_takes_the_predicted_size_with_fewer_encodes_and_still_fits(tiles, budget):
    from mediaprep.converters.jpeg import fit_jpeg
    from mediaprep.profiles import ImageTarget
    from mediaprep.quality import ssim_images

    source = tiled_photo(tiles)
    best = fit_jpeg(source, budget, ImageTarget(), "best")
    fast = fit_jpeg(source, budget, ImageTarget(), "fast")
    assert len(fast.data) <= budget and fast.sizes_tried == 1 and fast.encodes < best.encodes
    assert best.sizes_tried > 1
    seen = [ssim_images(source, Image.open(io.BytesIO(f.data))) for f in (best, fast)]
    assert seen[1] > seen[0] - 0.02  # a little less, never a different class of picture


@pytest.mark.parametrize("guess", [0.5, 1.0])
def test_a_wrong_guess_at_the_scan_optimisation_saving_still_fits(monkeypatch, guess):
    # The quality steps the progressive rewrite can buy are guessed before it runs: a guess far too
    # hopeful (0.5) or too timid (1.0) changes the quality, never the fit or the progressive scans.
    import mediaprep.converters.jpeg as jpeg

    monkeypatch.setattr(jpeg, "expected_saving", lambda bpp: guess)
    for budget in (12000, 30000):
        result = convert(MEDIA / "photo.jpg", profile="clicksend", budget=budget)
        assert result.bytes <= budget and opened(result).info.get("progressive")
    fit = jpeg.fit_jpeg(tiled_photo(3), 450000, jpeg.ImageTarget())
    assert len(fit.data) <= 450000 and Image.open(io.BytesIO(fit.data)).info.get("progressive")


@pytest.mark.parametrize("budget", [1.5, True, float("nan"), "30000", 0])
def test_a_budget_that_is_not_a_positive_whole_number_is_a_usage_error(budget):
    # NaN compared false with every size: the photo came back whole, over any real budget.
    with pytest.raises(UsageError):
        convert(MEDIA / "photo.jpg", budget=budget)


def test_a_sound_or_video_format_for_a_picture_is_a_usage_error():
    with pytest.raises(UsageError):
        convert(MEDIA / "photo.jpg", budget=30000, format="mp3")


def test_nothing_fits_gives_a_coded_error_never_an_oversized_file():
    with pytest.raises(CannotFit) as e:
        convert(MEDIA / "photo.jpg", budget=400)
    assert e.value.code == "convert.cannot_fit"


@pytest.mark.parametrize("effort", ["best", "fast"])
def test_a_picture_that_fits_only_at_the_floor_is_sent_at_the_floor(effort):
    # The sizes tried went down by steps of 0.84 and stopped at the last step above the floor, up to
    # 19 % above it: at 5000 bytes for Sinch (floor 320 px) the smallest tried was 362 px, over the
    # budget at the lowest quality, and the picture was refused though 320 px fits.
    fitted = convert(MEDIA / "photo.jpg", profile="sinch", budget=5000, settings=Settings(image_effort=effort))
    assert fitted.bytes <= 5000 and max(fitted.width, fitted.height) == 320


def test_a_refusal_for_a_picture_under_the_floor_names_the_size_it_tried():
    # A 200x150 picture is never scaled up to the 320 px floor, so it is tried at its own size;
    # the refusal said "no JPEG of at least 320 px ... at those floors (200x150, quality 25)".
    noise = Image.effect_noise((200, 150), 80).convert("RGB")
    buf = io.BytesIO()
    noise.save(buf, "PNG")
    with pytest.raises(CannotFit) as e:
        convert(buf.getvalue(), profile="sinch", budget=600)
    assert "at least 200 px" in e.value.message and "320 px" not in e.value.message


@pytest.mark.parametrize("effort", ["best", "fast"])
def test_a_refusal_says_what_the_floors_cost_and_a_little_over_that_fits(effort):
    # As a clip's refusal names the longest length that fits, a picture's names the bytes its floors
    # cost; it said only "raise the budget", leaving the caller to guess by how much.
    settings = Settings(image_effort=effort)
    with pytest.raises(CannotFit) as e:
        convert(MEDIA / "photo.jpg", profile="sinch", budget=2000, settings=settings)
    floor_bytes = e.value.details["floor_bytes"]
    assert floor_bytes > 2000 and f"it is {floor_bytes} bytes" in e.value.message and "320x" in e.value.message
    # The source is decoded for the budget, so the figure moves by a few bytes with it (0.4 % at most
    # over nine pictures and two profiles): a little over it fits, a little under it does not.
    fitted = convert(MEDIA / "photo.jpg", profile="sinch", budget=math.ceil(floor_bytes * 1.02), settings=settings)
    assert max(fitted.width, fitted.height) >= 320
    with pytest.raises(CannotFit):
        convert(MEDIA / "photo.jpg", profile="sinch", budget=int(floor_bytes * 0.98), settings=settings)


@pytest.mark.parametrize("budget", [60000, 1_000_000])
def test_cmyk_jpeg_comes_out_rgb_with_its_colours(budget):
    # Also one that fits as it is: print workflows save CMYK, which not every handset's decoder
    # takes; it was passed through byte for byte.
    with Image.open(MEDIA / "photo.jpg") as src:
        rgb = src.convert("RGB")
    buf = io.BytesIO()
    rgb.convert("CMYK").save(buf, "JPEG", quality=90)
    result = convert(buf.getvalue(), budget=budget)
    assert not result.passed_through and opened(result).mode == "RGB"
    assert mean_abs_diff(rgb.resize((60, 40)), opened(result).convert("RGB").resize((60, 40))) < 12
    assert any("CMYK" in note for note in result.notes)


def test_16_bit_png_is_scaled_not_clipped():
    gradient = Image.linear_gradient("L").resize((256, 64)).convert("I")
    wide = gradient.point(lambda v: v * 257)  # 0..65535
    buf = io.BytesIO()
    wide.convert("I;16").save(buf, "PNG")
    out = opened(convert(buf.getvalue(), budget=20000)).convert("L")
    assert 100 < out.getpixel((128, 32)) < 160  # mid-grey stays mid-grey


def test_floating_point_grey_is_scaled_not_made_black():
    # Editors' 32-bit and instruments' TIFFs hold grey as floats from 0 to 1; a plain convert gave
    # every pixel 0 or 1 of 255: a black picture.
    gradient = np.tile(np.linspace(0, 1, 256, dtype=np.float32), (64, 1))
    buf = io.BytesIO()
    Image.fromarray(gradient, "F").save(buf, "TIFF")
    result = convert(buf.getvalue(), budget=20000)
    out = np.asarray(opened(result).convert("L"), dtype=float)
    assert np.abs(out - gradient * 255).mean() < 3
    assert "floating-point grey scaled to 8 bits" in result.notes


@pytest.mark.parametrize("high", [255, 65535, 2**24])
def test_32_bit_integer_grey_is_scaled_by_its_range(high):
    # Instruments and ImageJ write grey as 32-bit integers in whatever range they measured: 8-bit
    # values in such a TIFF came out black, values past 16 bits white.
    gradient = np.tile(np.linspace(0, 1, 256), (64, 1))
    buf = io.BytesIO()
    Image.fromarray((gradient * high).round().astype(np.int32), "I").save(buf, "TIFF")
    result = convert(buf.getvalue(), budget=20000)
    out = np.asarray(opened(result).convert("L"), dtype=float)
    assert np.abs(out - gradient * 255).mean() < 3
    assert "32-bit grey scaled to 8 bits" in result.notes


def test_a_grey_tiff_with_premultiplied_alpha_is_drawn_on_white_not_called_damaged():
    # A TIFF may store its colour already multiplied by its alpha (ExtraSamples 1, "associated"),
    # as compositing software writes it. Grey stored so ("La" to Pillow) was called damaged: Pillow
    # turns La into nothing but LA. (Colour stored so Pillow reads as RGBA itself.)
    buf = io.BytesIO()
    Image.new("LA", (64, 64), (100, 128)).save(buf, "TIFF")
    extra_samples = (338).to_bytes(2, "little") + (3).to_bytes(2, "little") + (1).to_bytes(4, "little")
    data = buf.getvalue().replace(extra_samples + b"\x02\x00", extra_samples + b"\x01\x00")  # unassociated: associated
    assert Image.open(io.BytesIO(data)).mode == "La"
    result = convert(data, profile="sinch", budget=20000)
    # 100 premultiplied by half is 199 at full strength; half of it on white is 227.
    assert abs(opened(result).convert("L").getpixel((32, 32)) - 227) <= 3
    assert "transparency flattened on white" in result.notes


def float_rgb_tiff(width: int = 2, height: int = 2) -> bytes:
    """A baseline TIFF of 32-bit floating-point RGB, which Pillow cannot decode."""
    import struct

    values_at = 8 + 2 + 10 * 12 + 4  # after the header and the one directory of 10 entries
    pixels = bytes(width * height * 12)
    entries = [
        struct.pack("<HHIHH", 256, 3, 1, width, 0),
        struct.pack("<HHIHH", 257, 3, 1, height, 0),
        struct.pack("<HHII", 258, 3, 3, values_at),  # BitsPerSample: 32, 32, 32
        struct.pack("<HHIHH", 259, 3, 1, 1, 0),  # no compression
        struct.pack("<HHIHH", 262, 3, 1, 2, 0),  # RGB
        struct.pack("<HHII", 273, 4, 1, values_at + 12),  # where the pixels are
        struct.pack("<HHIHH", 277, 3, 1, 3, 0),
        struct.pack("<HHIHH", 278, 3, 1, height, 0),
        struct.pack("<HHII", 279, 4, 1, len(pixels)),
        struct.pack("<HHII", 339, 3, 3, values_at + 6),  # SampleFormat: 3, IEEE floating point
    ]
    directory = struct.pack("<H", len(entries)) + b"".join(entries) + bytes(4)
    return b"II*\0" + struct.pack("<I", 8) + directory + struct.pack("<6H", 32, 32, 32, 3, 3, 3) + pixels


def test_a_picture_layout_pillow_cannot_decode_is_unsupported_not_corrupt():
    data = float_rgb_tiff()
    assert inspect(data).mime == "image/tiff"
    with pytest.raises(UnsupportedType, match="floating-point"):
        convert(data, budget=20000)


def test_lossless_and_12_bit_jpegs_are_unsupported_not_corrupt(tmp_path):
    # Medical imaging, scanners and some cameras write JPEGs that Pillow's decoder cannot read:
    # lossless (SOF3), 12-bit and arithmetic-coded ones. They are not damaged; saying "corrupt" sent people looking
    # for a fault in a good file.
    from .conftest import make

    picture = tmp_path / "in.png"
    Image.new("RGB", (64, 48), "teal").save(picture)
    lossless = make(tmp_path, "lossless.jpg", "-i", str(picture), "-c:v", "ljpeg", "-pix_fmt", "yuvj420p",
                    "-strict", "-2").read_bytes()
    assert b"\xff\xc3" in lossless
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(buf, "JPEG")
    sof = buf.getvalue().index(b"\xff\xc0")
    twelve_bit = buf.getvalue()[: sof + 4] + b"\x0c" + buf.getvalue()[sof + 5 :]  # sample precision 12
    # SOF9: arithmetic coding (libjpeg-turbo's cjpeg -arithmetic), which Pillow's build cannot decode.
    arithmetic = buf.getvalue()[: sof + 1] + b"\xc9" + buf.getvalue()[sof + 2 :]
    for data, said in ((lossless, "is lossless"), (twelve_bit, "is 12-bit"), (arithmetic, "is arithmetic-coded")):
        assert inspect(data).error.code == "input.unsupported"
        with pytest.raises(UnsupportedType, match=said):
            convert(data, budget=20000)


@pytest.mark.parametrize("tag, value, said", [(50706, b"\x01\x04\0\0", "camera raw photo (DNG)"),  # DNGVersion
                                             (254, 1, "a 256x192 preview of another")])  # NewSubfileType: reduced
def test_a_camera_raw_is_refused_not_sent_as_its_thumbnail(tag, value, said):
    # A DNG (a phone's ProRAW, Adobe's converter) or a Nikon or Sony raw opens as a TIFF whose
    # first picture is a small preview: it went out as a 256x192 JPEG, without a word.
    from PIL import TiffImagePlugin

    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[tag] = value
    tags.tagtype[tag] = 1 if isinstance(value, bytes) else 4
    buf = io.BytesIO()
    Image.new("RGB", (256, 192), "red").save(buf, "TIFF", tiffinfo=tags)
    with pytest.raises(UnsupportedType, match=re.escape(said)):
        convert(buf.getvalue(), budget=250000)


def test_an_unreadable_picture_says_why_not_which_python_object_failed():
    # Pillow's "cannot identify image file <_io.BytesIO object at 0x7f...>" said nothing a person can use.
    data = bytearray(png_header_only(64, 64))
    data[29] ^= 0xFF  # the header chunk's checksum
    with pytest.raises(CorruptInput) as caught:
        convert(bytes(data), budget=20000)
    assert "object at" not in str(caught.value) and caught.value.provider_code == "E341"


@pytest.mark.parametrize("fmt, said", [("TIFF", "3 pages"), ("HEIF", "3 pictures")])  # pages; a HEIC burst
def test_a_file_of_several_pictures_uses_the_first_and_says_so(fmt, said):
    import pillow_heif

    pillow_heif.register_heif_opener()
    pictures = [Image.new("RGB", (120, 80), c) for c in ("red", "green", "blue")]
    buf = io.BytesIO()
    pictures[0].save(buf, fmt, save_all=True, append_images=pictures[1:])
    result = convert(buf.getvalue(), budget=20000)
    assert opened(result).convert("RGB").getpixel((60, 40))[0] > 200
    assert any(said in n for n in result.notes)


def test_a_heic_whose_primary_picture_is_not_its_first_sends_the_primary():
    # A HEIF file names one picture primary, the one every viewer shows; it need not be stored
    # first (edited and multi-picture HEICs). The first stored was sent, at its own size.
    import pillow_heif

    pillow_heif.register_heif_opener()
    thumb, primary, other = (Image.new("RGB", size, c) for size, c in
                             (((160, 120), "red"), ((320, 200), "green"), ((160, 120), "blue")))
    buf = io.BytesIO()
    thumb.save(buf, "HEIF", save_all=True, append_images=[primary, other], primary_index=1)
    info = inspect(buf.getvalue()).image
    assert (info.width, info.height, info.frames) == (320, 200, 3)
    result = convert(buf.getvalue(), budget=20000)
    red, green, _ = opened(result).convert("RGB").getpixel((60, 40))
    assert green > 100 and red < 60 and (result.width, result.height) == (320, 200)
    assert "the file holds 3 pictures; the primary one is used" in result.notes


def test_animated_gif_stays_animated_under_the_budget_with_its_timing():
    with Image.open(MEDIA / "animated.gif") as source:
        total = sum(source.seek(i) or source.info["duration"] for i in range(source.n_frames))
    result = convert(MEDIA / "animated.gif", budget=20000)
    assert result.mime == "image/gif" and result.bytes <= 20000
    out = opened(result)
    assert out.n_frames == result.frames > 1
    assert sum(out.seek(i) or out.info["duration"] for i in range(out.n_frames)) == total


def test_an_animation_over_a_still_ground_is_written_as_what_changes_and_keeps_every_frame():
    # Most animated GIFs people send are a still ground with something moving (a reaction clip, a
    # product demo). Written whole, every frame carried the ground again: at 80 kB this one could not
    # stay animated at all and went as its first frame. Pixels unchanged from the frame before are
    # now written clear (Pillow's optimize), and the whole animation fits.
    from PIL import ImageDraw

    ground = Image.open(MEDIA / "photo.jpg").convert("RGB").resize((300, 200))
    subject = ground.crop((0, 0, 80, 60)).rotate(90)
    frames = []
    for i in range(16):
        frame = ground.copy()
        frame.paste(subject.rotate(i * 11), (10 + i * 12, 110 + int(12 * math.sin(i / 2))))
        ImageDraw.Draw(frame).ellipse((270, 8 + (i % 4) * 4, 286, 24 + (i % 4) * 4), fill=(255, 220, 0))
        frames.append(frame)
    palette = frames[0].quantize(256, method=Image.Quantize.MEDIANCUT)
    indexed = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    buf = io.BytesIO()
    indexed[0].save(buf, "GIF", save_all=True, append_images=indexed[1:], duration=90, loop=0)
    assert len(buf.getvalue()) > 100_000
    result = convert(buf.getvalue(), profile="clicksend", budget=80000)
    assert result.mime == "image/gif" and result.bytes <= 80000 and result.frames == 16
    out = opened(result)
    for i in (0, 7, 15):  # each frame shown as it was drawn, within its fewer colours
        out.seek(i)
        shown = np.asarray(out.convert("RGB"), dtype=float)
        assert np.abs(shown - np.asarray(indexed[i].convert("RGB"), dtype=float)).mean() < 8


@pytest.mark.parametrize("loop", [None, 0, 3])
def test_an_animation_shrunk_to_fit_plays_as_often_as_it_did(loop):
    # A GIF with no Netscape extension plays once (browsers, phones); re-encoded, it looped for ever.
    pictures = [Image.effect_noise((320, 240), 60 + i * 5).convert("P") for i in range(10)]
    buf = io.BytesIO()
    pictures[0].save(buf, "GIF", save_all=True, append_images=pictures[1:], duration=100,
                     **({} if loop is None else {"loop": loop}))
    result = convert(buf.getvalue(), budget=len(buf.getvalue()) // 2, profile="clicksend")
    assert result.mime == "image/gif" and result.frames > 1 and not result.passed_through
    assert opened(result).info.get("loop") == loop


@pytest.mark.parametrize("held", [None, 320 * 240 * 3])  # and frames dropped as they are read, to bound memory
def test_an_apng_s_still_for_other_viewers_is_not_a_frame_of_its_animation(monkeypatch, held):
    # An APNG may carry a picture for viewers without APNG that is no frame of the animation (its
    # default image); it flashed red at the start of every loop of the GIF.
    if held:
        monkeypatch.setattr("mediaprep.converters.gif.MAX_HELD_PIXELS", held)
    fallback = Image.new("RGB", (320, 240), (255, 0, 0))
    frames = [Image.effect_noise((320, 240), 40 + i * 10).convert("RGB") for i in range(6)]
    buf = io.BytesIO()
    fallback.save(buf, "PNG", save_all=True, append_images=frames, duration=100, loop=0, default_image=True)
    result = convert(buf.getvalue(), budget=len(buf.getvalue()) // 2, profile="clicksend")
    out = opened(result)
    assert result.mime == "image/gif" and out.n_frames == result.frames > 1
    shown = 0
    for i in range(out.n_frames):
        out.seek(i)
        red, green, _ = out.convert("RGB").getpixel((5, 5))
        assert not (red > 200 and green < 50)
        shown += out.info["duration"]
    assert shown == 6 * 100  # the six frames' time, none of it the still's


def test_an_avif_animation_shrunk_to_fit_keeps_looping():
    # Pillow reads no loop count from AVIF, whose sequences browsers loop for ever; only a GIF without
    # Netscape's extension is known to play once.
    pictures = [Image.effect_noise((320, 240), 60 + i * 5).convert("RGB") for i in range(8)]
    buf = io.BytesIO()
    pictures[0].save(buf, "AVIF", save_all=True, append_images=pictures[1:], duration=100, quality=90)
    result = convert(buf.getvalue(), budget=len(buf.getvalue()) // 2, profile="clicksend")
    assert result.mime == "image/gif" and result.frames > 1
    assert opened(result).info.get("loop") == 0


def test_frames_a_phone_shows_longer_than_written_keep_their_shown_time_when_frames_are_dropped():
    # Browsers show a frame of 10 ms or less for 100 ms. Three such frames merged into one of 30 ms,
    # shown as written, ran the animation over three times as fast as before.
    pictures = [Image.effect_noise((320, 240), 60 + i * 5).convert("P") for i in range(12)]
    buf = io.BytesIO()
    pictures[0].save(buf, "GIF", save_all=True, append_images=pictures[1:], duration=10, loop=0)
    result = convert(buf.getvalue(), budget=len(buf.getvalue()) // 4, profile="clicksend")
    assert result.mime == "image/gif" and 1 < result.frames < 12
    out = opened(result)
    shown = []
    for i in range(out.n_frames):
        out.seek(i)
        shown.append(out.info["duration"])
    assert sum(shown) == 12 * 100 and min(shown) > 10


def _sticker(fmt: str) -> bytes:
    """Twelve frames of a textured ball crossing a transparent canvas, as a messaging sticker."""
    rng = np.random.default_rng(3)
    frames = []
    for i in range(12):
        pixels = np.zeros((240, 320, 4), np.uint8)
        yy, xx = np.mgrid[0:240, 0:320]
        ball = (xx - (40 + i * 20)) ** 2 + (yy - 120) ** 2 < 30**2
        pixels[ball, 0] = 200 + rng.integers(0, 55, ball.sum())
        pixels[ball, 1] = rng.integers(0, 90, ball.sum())
        pixels[ball, 3] = 255
        frames.append(Image.fromarray(pixels, "RGBA"))
    buf = io.BytesIO()
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=80, loop=0, disposal=2)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_a_transparent_sticker_stays_transparent_when_shrunk_to_fit(fmt):
    # Re-encoding flattened every frame on white: on a dark chat a sticker became a white box, and
    # only because it needed shrinking (one that fitted went through with its transparency).
    data = _sticker(fmt)
    result = convert(data, budget=len(data) // 2 if fmt == "GIF" else 40000, profile="clicksend")
    assert result.mime == "image/gif" and result.frames > 1 and result.bytes <= max(len(data) // 2, 40000)
    out = opened(result)
    for i in range(out.n_frames):
        out.seek(i)
        frame = np.asarray(out.convert("RGBA"))
        alpha = frame[..., 3]
        assert alpha[:10, :10].max() == 0 and alpha[-10:, -10:].max() == 0  # the canvas shows through
        opaque = alpha > 0
        # One ball, where this frame has it: nothing left behind by the frames before.
        columns = np.flatnonzero(opaque.any(axis=0))
        assert 0 < columns.max() - columns.min() <= 62 * out.width / 320
        assert frame[opaque, 0].mean() > 150  # red, not white


def test_a_sticker_whose_outline_stays_put_is_written_as_what_changes_and_keeps_every_frame():
    # An emoji-like sticker: a face whose eyes blink and move inside an outline that never changes.
    # Every frame was drawn whole on a cleared canvas; at 100 kB it went as one still, flattened on
    # white. Where no drawn pixel turns clear, each frame is drawn over the one before and only what
    # changes is written.
    from PIL import ImageDraw

    ground = Image.open(MEDIA / "photo.jpg").convert("RGB").resize((240, 240))
    outline = Image.new("L", (240, 240), 0)
    ImageDraw.Draw(outline).ellipse((10, 10, 230, 230), fill=255)
    frames = []
    for i in range(20):
        face = ground.copy()
        h, dx = (4 if i % 5 == 0 else 24), (i % 7) * 3
        for x in (70, 140):
            ImageDraw.Draw(face).ellipse((x + dx, 90 - h // 2, x + 30 + dx, 90 + h // 2), fill=(0, 0, 0))
        sticker = face.convert("RGBA")
        sticker.putalpha(outline)
        frames.append(sticker)
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0, lossless=True)
    result = convert(buf.getvalue(), budget=100000, profile="clicksend")
    assert result.mime == "image/gif" and result.bytes <= 100000 and result.frames == 20
    out = opened(result)
    for i in range(20):
        out.seek(i)
        shown = np.asarray(out.convert("RGBA"))
        assert shown[:8, :8, 3].max() == 0 and shown[-8:, -8:, 3].max() == 0  # the canvas shows through
        dx = (i % 7) * 3
        assert shown[90, 85 + dx, :3].max() < 60 and shown[90, 155 + dx, 3] == 255  # this frame's eyes
        face = np.asarray(frames[i].convert("RGB"), dtype=float)[150:200, 60:180]
        assert np.abs(shown[150:200, 60:180, :3] - face).mean() < 12  # the face, in its fewer colours


def test_a_few_colour_transparent_animation_keeps_its_clear_entry_inside_its_colour_table():
    # With fewer colours than the level's count, the clear entry lay past the table's end: Pillow
    # read it, but what a phone's decoder does with an index its table lacks is its own affair.
    frames = []
    for i in range(12):
        frame = Image.new("RGBA", (320, 240), (0, 0, 0, 0))
        frame.paste((255, 0, 0, 255), (20 + i * 20, 90, 80 + i * 20, 150))
        frames.append(frame)
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], duration=80, loop=0, lossless=True)
    result = convert(buf.getvalue(), budget=6000, profile="clicksend")
    out = opened(result)
    assert result.mime == "image/gif" and out.info["transparency"] < len(out.getpalette()) // 3


def test_an_animation_keeps_every_colour_that_fits_at_the_size_and_frames_it_settles_on():
    # Halving the frames fits this sticker with all 256 colours (12.5 kB in 14.1 kB), but the size
    # model, corrected by colour levels that saved nothing on it, skipped that level: it went out
    # with 32 colours.
    data = _sticker("GIF")
    result = convert(data, budget=len(data) // 2, profile="clicksend")
    assert result.frames == 6 and result.bytes <= len(data) // 2
    assert not any("colours reduced" in n for n in result.notes)


def _animation(fmt: str) -> bytes:
    """Six frames, red rising 0 to 250, shown 90 to 140 ms each."""
    frames = [Image.new("RGB", (160, 120), (i * 50, 40, 200)) for i in range(6)]
    buf = io.BytesIO()
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=[90, 100, 110, 120, 130, 140], loop=0)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "AVIF"])  # APNG, animated WebP, AVIF sequence
def test_other_animations_become_an_animated_gif_with_every_frame_and_its_timing(fmt):
    result = convert(_animation(fmt), profile="clicksend")
    assert result.mime == "image/gif" and result.frames == 6
    out = opened(result)
    assert out.n_frames == 6
    assert [out.seek(i) or out.info["duration"] for i in range(6)] == [90, 100, 110, 120, 130, 140]
    out.seek(5)
    assert abs(out.convert("RGB").getpixel((80, 60))[0] - 250) < 12


@pytest.fixture
def jpeg_only(tmp_path):
    """A provider that takes JPEG and no GIF (every bundled profile takes both)."""
    from mediaprep.profiles import load_file

    (tmp_path / "jpeg-only.toml").write_text(
        'name = "jpeg-only"\ntitle = "t"\nkind = "provider"\nsource = "s"\n'
        '[media.image]\naccept = ["image/jpeg"]\nconvert = ["image/png"]\nmax_bytes = 100000\n'
        '[targets.image]\nformat = "jpeg"\n'
    )
    return load_file(tmp_path / "jpeg-only.toml")


def test_an_animation_for_a_profile_without_gif_is_its_first_frame_and_says_so(jpeg_only):
    result = convert(_animation("PNG"), profile=jpeg_only)
    assert result.mime == "image/jpeg" and result.frames == 1
    assert opened(result).convert("RGB").getpixel((80, 60))[0] < 12
    assert any("first frame" in n for n in result.notes)


def test_animation_that_cannot_fit_becomes_its_first_frame_and_says_so():
    result = convert(MEDIA / "animated.gif", budget=3000)
    assert result.mime == "image/jpeg" and result.frames == 1 and result.bytes <= 3000
    assert any("first frame" in n for n in result.notes)


def _counting_animation(frames: int, ms: int) -> bytes:
    """``frames`` frames of ``ms`` each, frame i's grey level 8 * i."""
    pictures = [Image.new("L", (120, 90), 8 * i) for i in range(frames)]
    buf = io.BytesIO()
    pictures[0].save(buf, "GIF", save_all=True, append_images=pictures[1:], duration=ms, loop=0)
    return buf.getvalue()


def test_max_duration_trims_an_animation_and_says_so():
    # It was ignored for pictures: a 3 s animation asked for at most 1 s came back whole (passed
    # through, as it fitted), with nothing said.
    source = _counting_animation(30, 100)
    result = convert(source, profile="clicksend", max_duration=0.8)
    out = opened(result)
    assert result.mime == "image/gif" and not result.passed_through and result.frames == out.n_frames == 8
    shown = [out.seek(i) or out.info["duration"] for i in range(out.n_frames)]
    assert sum(shown) == 800
    out.seek(7)
    assert abs(out.convert("L").getpixel((60, 45)) - 56) <= 4  # the 8th frame is the last kept
    assert any("trimmed to 0.8 s as asked: 8 of 30 frames" in n for n in result.notes)
    # A frame running past the limit is cut short at it; an animation within it is left alone.
    long_last = opened(convert(_counting_animation(3, 700), profile="clicksend", max_duration=1))
    assert long_last.n_frames == 2
    assert [long_last.seek(i) or long_last.info["duration"] for i in range(2)] == [700, 300]
    assert convert(source, profile="clicksend", max_duration=5).passed_through


def test_a_colour_that_comes_in_at_the_end_of_an_animation_keeps_its_colour():
    # The shared palette was made from the first eight frames only (of ten: every frame up to the
    # 8th), so a red heart drawn in the last two was not in it and came out the ground's grey: gone.
    from PIL import ImageDraw

    frames = [Image.new("RGB", (160, 120), (90, 90, 90)) for _ in range(10)]
    for i, frame in enumerate(frames):
        ImageDraw.Draw(frame).rectangle((10 * i, 5, 10 * i + 20, 25), fill=(250, 250, 250))  # a spark moving
    for frame in frames[8:]:
        ImageDraw.Draw(frame).ellipse((50, 30, 110, 90), fill=(220, 20, 60))
    buf = io.BytesIO()
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:], duration=100, loop=0)  # an APNG
    result = convert(buf.getvalue(), profile="clicksend")
    out = opened(result)
    assert result.mime == "image/gif" and out.n_frames == 10
    out.seek(9)
    red = out.convert("RGB").getpixel((80, 60))
    assert max(abs(a - b) for a, b in zip(red, (220, 20, 60))) <= 12, red


def _fade_in_from_black(fmt: str) -> bytes:
    """The fixture photo panned across, fading in from an all-black first frame."""
    with Image.open(MEDIA / "photo.jpg") as im:
        photo = im.convert("RGB").resize((640, 480))
    black = Image.new("RGB", (320, 240))
    frames = [black] + [Image.blend(black, photo.crop((16 * k, 12 * k, 16 * k + 320, 12 * k + 240)),
                                    min(1, k / 6)) for k in range(1, 16)]
    buf = io.BytesIO()
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=80, loop=0)
    return buf.getvalue()


@pytest.mark.parametrize("profile, budget, fmt", [("jpeg_only", None, "PNG"), ("clicksend", 4000, "GIF")])
def test_an_animation_sent_as_a_still_is_not_its_blank_first_frame(request, profile, budget, fmt):
    # A fade in from black (or a greeting whose text is yet to be written) went out as one black
    # (or empty) frame: a 683-byte GIF of one colour, where the person was to see a picture.
    profile = request.getfixturevalue(profile) if profile == "jpeg_only" else profile
    result = convert(_fade_in_from_black(fmt), profile=profile, budget=budget)
    shown = np.asarray(opened(result).convert("L"), dtype=np.float64)
    assert result.frames == 1 and shown.mean() > 40 and shown.std() > 20, (shown.mean(), shown.std())
    assert any("the first is one colour" in n for n in result.notes), result.notes


def test_a_drawn_animation_that_cannot_stay_animated_sends_its_first_frame_as_a_still_gif():
    # A cartoon's first frame went through the JPEG search, which rang round every outline, and lost
    # its exact colours; a GIF of it, scaled where needed, is closer (and said so).
    from PIL import ImageDraw

    frames = []
    for i in range(40):
        frame = Image.new("P", (1000, 1000), 0)
        frame.putpalette([255, 255, 255, 0, 0, 0, 230, 40, 40, 40, 120, 230] + [0] * 756)
        draw = ImageDraw.Draw(frame)
        draw.ellipse((100 + 15 * i, 200, 500 + 15 * i, 600), fill=2, outline=1, width=12)
        draw.rectangle((80, 700 - 10 * i, 920, 800 - 10 * i), fill=3, outline=1, width=8)
        frames.append(frame)
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    result = convert(buf.getvalue(), profile="clicksend+legacy-30k", budget=8000)  # too few bytes to animate
    out = opened(result)
    assert result.mime == "image/gif" and result.frames == 1 and getattr(out, "n_frames", 1) == 1
    assert max(result.width, result.height) == 640 and result.bytes <= 8000
    assert any("first frame is sent alone" in n for n in result.notes)
    assert out.convert("RGB").getpixel((192, 256)) == (230, 40, 40)  # inside the first frame's circle


def _qr_like(size: int = 580) -> Image.Image:
    """Black and white modules, as a QR code or a diagram: hard edges a JPEG rings around."""
    rng = np.random.default_rng(5)
    modules = rng.integers(0, 2, (29, 29), dtype=np.uint8) * 255
    return Image.fromarray(modules).resize((size, size), Image.Resampling.NEAREST).convert("1")


def test_a_black_and_white_picture_is_sent_as_a_lossless_gif_with_nothing_else(tmp_path):
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "made at 51.5007,-0.1246")
    buf = io.BytesIO()
    _qr_like().save(buf, "PNG", pnginfo=text)
    for profile in ("clicksend", "clicksend+legacy-30k"):
        result = convert(buf.getvalue(), profile=profile)
        assert result.mime == "image/gif" and result.bytes <= result.budget and result.encodes == 1
        assert opened(result).convert("L").tobytes() == _qr_like().convert("L").tobytes()
        assert b"51.5007" not in result.data and any("every pixel as it was" in n for n in result.notes)


def _grey_gamma_icc(gamma: float = 2.2) -> bytes:
    """An ICC v2 grey display profile ("Gray Gamma 2.2", as Photoshop and scanners embed in
    greyscale pictures): a description, a white point and one tone curve."""
    import struct

    def tag(sig: bytes, body: bytes) -> tuple[bytes, bytes]:
        return sig, body + b"\0" * (-len(body) % 4)

    name = b"Gray Gamma 2.2\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(name)) + name + b"\0" * 8 + b"\0\0\0" + b"\0" * 67
    d50 = struct.pack(">3i", *(round(v * 65536) for v in (0.9642, 1.0, 0.8249)))
    tags = [tag(b"desc", desc), tag(b"wtpt", b"XYZ \0\0\0\0" + d50),
            tag(b"kTRC", b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)))]
    offset = 128 + 4 + 12 * len(tags)
    table, bodies = b"", b""
    for sig, body in tags:
        table += sig + struct.pack(">II", offset + len(bodies), len(body))
        bodies += body
    size = offset + len(bodies)
    header = (struct.pack(">I", size) + b"\0" * 4 + struct.pack(">I", 0x02100000) + b"mntrGRAYXYZ " + b"\0" * 12
              + b"acsp" + b"\0" * 24 + struct.pack(">I", 0) + d50 + b"\0" * 48)
    return header + struct.pack(">I", len(tags)) + table + bodies


@pytest.mark.parametrize("mode", ["L", "P"])
def test_a_grey_picture_with_a_grey_profile_is_still_sent_as_the_exact_gif_it_can_be(mode):
    # decode keeps grey pixels whatever their profile; the exact GIF refused any profile but sRGB,
    # so a grey scan of a form or a chart went out as a JPEG, blurred at quality 95, when it fitted as it was.
    # A palette of greys with a grey profile was called unreadable.
    from PIL import ImageCms

    icc = _grey_gamma_icc()
    assert ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip() == "Gray Gamma 2.2"
    grey = _qr_like().convert("L")
    buf = io.BytesIO()
    (grey.convert("P") if mode == "P" else grey).save(buf, "PNG", icc_profile=icc)
    result = convert(buf.getvalue(), profile="clicksend")
    assert result.mime == "image/gif" and any("every pixel as it was" in n for n in result.notes)
    assert not any("unreadable" in n for n in result.notes)
    assert opened(result).convert("L").tobytes() == grey.tobytes()


@pytest.mark.parametrize("gif", [True, False])
def test_a_grey_picture_with_transparency_and_a_grey_profile_keeps_its_tones(gif, jpeg_only):
    # littlecms turned grey-and-alpha pixels to sRGB with every alpha 0: flattened, a picture white all over.
    ramp = Image.fromarray(np.tile(np.linspace(0, 255, 200).astype(np.uint8), (100, 1)), "L")
    buf = io.BytesIO()
    ramp.convert("LA").save(buf, "PNG", icc_profile=_grey_gamma_icc())
    result = convert(buf.getvalue(), profile="clicksend" if gif else jpeg_only, budget=30000)
    assert result.mime == ("image/gif" if gif else "image/jpeg")
    sent = np.asarray(opened(result).convert("L").resize(ramp.size), dtype=float)
    assert np.abs(sent - np.asarray(ramp, dtype=float)).mean() < 3
    assert not any("sRGB" in note or "unreadable" in note for note in result.notes)


@pytest.mark.parametrize("mode", ["L", "LA", "P"])
@pytest.mark.parametrize("gif", [True, False])
def test_grey_whose_profile_shows_it_lighter_is_sent_as_a_colour_managed_viewer_shows_it(mode, gif, jpeg_only):
    # Photoshop's grey working space (Dot Gain 20 %) and Gray Gamma 1.8 show mid-grey 128 as about
    # 146-149 in sRGB; browsers and phones colour-manage it so. Grey pixels were sent as their
    # numbers, a fifth darker in the middle tones than the source looks.
    icc = _grey_gamma_icc(1.8)
    chart = Image.fromarray(np.repeat(np.array([[0, 64, 128, 192, 255]], dtype=np.uint8), 80, axis=1).repeat(100, axis=0), "L")
    shown = np.asarray(ImageCms.profileToProfile(chart, ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                                 ImageCms.createProfile("sRGB"), outputMode="RGB").convert("L"), dtype=float)
    assert shown[50, 200] - chart.getpixel((200, 50)) > 15  # the profile changes what is seen
    source = chart.convert("LA") if mode == "LA" else chart.convert("P") if mode == "P" else chart
    buf = io.BytesIO()
    source.save(buf, "PNG", icc_profile=icc)
    result = convert(buf.getvalue(), profile="clicksend" if gif else jpeg_only, budget=30000)
    assert result.mime == ("image/gif" if gif else "image/jpeg")  # five greys with hard edges: a GIF where it may
    sent = np.asarray(opened(result).convert("L"), dtype=float)
    assert sent.shape == shown.shape and np.abs(sent - shown).mean() < 2
    assert any("tones" in note and "ICC profile" in note for note in result.notes), result.notes


def test_an_exact_gif_carries_only_the_palette_entries_its_pixels_use():
    # Editors save a palette 256 entries long however few are used; past 512x512 Pillow writes them all.
    modules = np.random.default_rng(3).integers(0, 2, (40, 40), dtype=np.uint8)
    im = Image.fromarray(modules, "P").resize((1000, 1000), Image.Resampling.NEAREST)
    im.putpalette([0, 0, 0, 255, 255, 255] + [7] * 762)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    result = convert(buf.getvalue(), profile="clicksend")
    assert result.mime == "image/gif" and any("every pixel as it was" in n for n in result.notes)
    assert len(opened(result).palette.palette) <= 4 * 3  # GIF's smallest table Pillow writes: 4
    assert opened(result).convert("RGB").tobytes() == im.convert("RGB").tobytes()


def test_a_palette_picture_with_transparency_is_flattened_on_white_in_its_palette():
    im = Image.new("P", (60, 40), 0)
    im.putpalette([200, 0, 0, 0, 0, 200, 0, 150, 0] + [0] * 759)
    im.paste(1, (0, 0, 20, 40))  # blue: fully transparent
    im.paste(2, (20, 0, 40, 40))  # green: half transparent
    buf = io.BytesIO()
    im.save(buf, "PNG", transparency=bytes([255, 0, 128]))
    result = convert(buf.getvalue(), profile="clicksend")
    out = opened(result).convert("RGB")
    assert result.mime == "image/gif" and "transparency" not in opened(result).info
    assert out.getpixel((10, 20)) == (255, 255, 255)
    assert out.getpixel((30, 20)) == tuple(round(c * 128 / 255 + 255 * 127 / 255) for c in (0, 150, 0))
    assert out.getpixel((50, 20)) == (200, 0, 0)


@pytest.mark.parametrize("fmt, transparency", [("PNG", bytes([255, 0, 255])), ("PNG", 1), ("GIF", 1)])
def test_a_logo_with_on_or_off_transparency_keeps_it_exactly_as_a_gif(fmt, transparency):
    # A logo's clear background was painted white: on a dark chat, a white box around the logo.
    # GIF holds one clear palette entry, which is all such a picture uses.
    im = Image.new("P", (60, 40), 0)
    im.putpalette([200, 0, 0, 0, 0, 200, 0, 150, 0] + [0] * 759)
    im.paste(1, (0, 0, 20, 40))  # clear
    im.paste(2, (20, 0, 40, 40))
    buf = io.BytesIO()
    im.save(buf, fmt, transparency=transparency, **({"comment": b"made with a logo tool"} if fmt == "GIF" else {}))
    result = convert(buf.getvalue(), profile="clicksend")
    assert result.mime == "image/gif" and not result.passed_through
    out = opened(result).convert("RGBA")
    assert out.getpixel((10, 20))[3] == 0
    assert out.getpixel((30, 20)) == (0, 150, 0, 255) and out.getpixel((50, 20)) == (200, 0, 0, 255)
    assert not any("flattened" in n for n in result.notes) and b"logo tool" not in result.data


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
def test_a_few_colour_picture_saved_in_full_colour_is_an_exact_gif_too(mode):
    # QR generators and chart tools save flat pictures as RGB or RGBA PNGs: only 1-bit and palette
    # files were sent as exact GIFs, the rest went through the JPEG search (rings round every edge).
    qr = _qr_like().convert(mode)
    if mode == "RGBA":  # a clear margin, as a logo on a clear background
        qr.paste((0, 0, 0, 0), (0, 0, 580, 20))
    buf = io.BytesIO()
    qr.save(buf, "PNG")
    result = convert(buf.getvalue(), profile="clicksend")
    assert result.mime == "image/gif" and any("every pixel as it was" in n for n in result.notes)
    out = opened(result).convert("RGBA")
    assert out.getchannel("A").getextrema() == ((0, 255) if mode == "RGBA" else (255, 255))
    assert out.convert("L").crop((0, 20, 580, 580)).tobytes() == qr.convert("L").crop((0, 20, 580, 580)).tobytes()


def test_a_detailed_strip_a_few_pixels_wide_is_encoded_not_a_traceback(cli, tmp_path):
    # Pillow sizes the buffer an optimised JPEG must fit in whole from the pixel count; a strip 2 px
    # wide is coded in 16 px blocks, so its JPEG is larger than that: "broken data stream when
    # writing image file", a traceback from the library and the CLI. Then the retry with room left
    # libjpeg's "Suspension not allowed here" on stderr.
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (50000, 2, 3), dtype=np.uint8), "RGB").save(buf, "PNG")
    result = convert(buf.getvalue(), profile="clicksend")
    assert result.mime == "image/jpeg" and result.bytes <= result.budget
    (tmp_path / "strip.png").write_bytes(buf.getvalue())
    run = cli("convert", str(tmp_path / "strip.png"), "-o", str(tmp_path / "out.jpg"), "--profile", "clicksend")
    assert run.code == 0 and run.stderr == ""


@pytest.mark.parametrize("damage", ["long tag", "cut short"])
def test_a_photo_whose_exif_is_damaged_is_turned_and_converted_with_nothing_on_stderr(cli, tmp_path, damage):
    # Cameras and editors write broken EXIF blocks: Pillow warned of each one on stderr, twice, with
    # its own source paths ("UserWarning: Tag data larger than file"), in the CLI's output and the host's.
    photo = Image.open(MEDIA / "photo.jpg")
    exif = photo.getexif()
    exif[0x0112], exif[0x010F] = 6, "Camera maker"
    raw = bytearray(exif.tobytes())
    if damage == "long tag":
        raw[20:24] = b"\xff\xff\xff\x7f"  # the first entry's count: the maker's name claims 2 GB
    else:
        raw = raw[:30]
    src = tmp_path / "photo.jpg"
    photo.save(src, exif=bytes(raw), quality=90)
    run = cli("convert", str(src), "-o", str(tmp_path / "out.jpg"), "--profile", "clicksend", "--json")
    assert run.code == 0 and run.stderr == ""
    turned = damage == "long tag"
    assert (run.json()["width"], run.json()["height"]) == ((400, 600) if turned else (600, 400))
    assert cli("inspect", str(src)).stderr == ""


def test_a_jpeg_with_a_damaged_mpo_index_is_read_as_the_jpeg_it_is_with_nothing_on_stderr(cli, tmp_path):
    plain = (MEDIA / "photo.jpg").read_bytes()
    # An APP2 "MPF" segment whose one entry (the MP entry list) points nowhere.
    mpf = b"MPF\x00II*\x00\x08\x00\x00\x00\x01\x00\x01\xb0\x07\x00\x04\x00\x00\x000100\x00\x00\x00\x00"
    src = tmp_path / "photo.jpg"
    src.write_bytes(plain[:2] + b"\xff\xe2" + (len(mpf) + 2).to_bytes(2, "big") + mpf + plain[2:])
    run = cli("convert", str(src), "-o", str(tmp_path / "out.jpg"), "--profile", "clicksend", "--json")
    assert run.code == 0 and run.stderr == "" and run.json()["mime"] == "image/jpeg"
    assert cli("inspect", str(src)).stderr == ""


def test_a_full_colour_photo_saved_as_png_still_goes_to_the_jpeg_search():
    buf = io.BytesIO()
    tiled_photo(1).save(buf, "PNG")
    assert convert(buf.getvalue(), profile="clicksend").mime == "image/jpeg"


def test_a_few_colour_picture_goes_to_jpeg_where_the_profile_takes_no_gif_or_the_gif_does_not_fit(jpeg_only):
    buf = io.BytesIO()
    _qr_like().save(buf, "PNG")
    assert convert(buf.getvalue(), profile=jpeg_only).mime == "image/jpeg"
    big = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 2, (900, 900), dtype=np.uint8) * 255).convert("1").save(big, "PNG")
    result = convert(big.getvalue(), profile="clicksend+legacy-30k")  # noise: no GIF fits 30 kB
    assert result.mime == "image/jpeg" and result.bytes <= 30000


def _diagram() -> Image.Image:
    """A flow chart in five flat colours, as a chart tool saves it: 1400 x 900, twelve labelled boxes."""
    from PIL import ImageDraw, ImageFont

    im = Image.new("P", (1400, 900), 0)
    im.putpalette([255, 255, 255, 0, 0, 0, 255, 230, 0, 0, 90, 200, 200, 30, 30] + [0] * 753)
    draw, font = ImageDraw.Draw(im), ImageFont.load_default(size=22)
    draw.text((40, 30), "Orders: from the web shop to the courier, and back when a parcel is refused", fill=4, font=font)
    for i in range(12):
        x, y = 40 + (i % 4) * 340, 110 + (i // 4) * 260
        draw.rectangle((x, y, x + 280, y + 200), fill=2, outline=1, width=3)
        for line, text in enumerate((f"step {i + 1}", "check the stock", "print the label", "call the courier")):
            draw.text((x + 16, y + 16 + line * 44), text, fill=1, font=font)
        if i % 4 < 3:
            draw.line((x + 282, y + 100, x + 338, y + 100), fill=3, width=5)
    return im


def _page_of_text() -> Image.Image:
    """A letter scanned in black and white at 150 dpi (1240 x 1754), as office scanners save it."""
    from PIL import ImageDraw, ImageFont

    page = Image.new("1", (1240, 1754), 1)
    draw, font = ImageDraw.Draw(page), ImageFont.load_default(size=30)
    words = ["invoice", "payment", "due", "delivery", "order", "customer", "account", "balance", "total", "amount"]
    rng = np.random.default_rng(2)
    for row in range(40):
        draw.text((130, 150 + row * 38), " ".join(rng.choice(words, 8)), fill=0, font=font)
    return page


DRAWINGS = {"diagram": _diagram, "page": _page_of_text, "qr": lambda: _qr_like(1500)}


@pytest.mark.parametrize("effort", ["best", "fast"])
@pytest.mark.parametrize("drawing", sorted(DRAWINGS))
def test_a_few_colour_picture_too_large_for_the_profile_is_a_scaled_gif_closer_than_the_jpeg(drawing, effort):
    # A 30 kB handset takes 640 px: scaling makes shades along every edge, so the exact GIF was given
    # up and the JPEG search rang round every line and letter (a QR code came out at SSIM 0.83).
    from mediaprep.converters.jpeg import fit_jpeg
    from mediaprep.quality import Likeness

    source = DRAWINGS[drawing]()
    buf = io.BytesIO()
    source.save(buf, "PNG")
    profile = load_profile("clicksend+legacy-30k")
    result = convert(buf.getvalue(), profile=profile, settings=Settings(image_effort=effort))
    assert result.mime == "image/gif" and result.bytes <= 30000 and max(result.width, result.height) == 640
    assert any("sent as a GIF" in n for n in result.notes)
    # Flat colours are the source's exactly: the octree's palette entries are means, edge shades and all.
    scale = result.width / source.width
    for x, y in {"diagram": [(5, 5), (290, 295)], "page": [(5, 5)], "qr": [(5, 5)]}[drawing]:  # ground, a box
        assert opened(result).convert("RGB").getpixel((round(x * scale), round(y * scale))) == source.convert("RGB").getpixel((x, y))
    pixels = source.convert("RGB")
    jpeg = fit_jpeg(pixels, 30000, profile.targets.image, effort)
    likeness = Likeness(pixels)
    assert likeness.score(opened(result)) > likeness.score(Image.open(io.BytesIO(jpeg.data))) + 0.01
    assert result.encodes > 1  # the GIF's tries and the JPEG search's alike
    # Only the palette entries it uses (the octree leaves 256; 720 bytes more for 16 colours).
    assert len(opened(result).palette.palette) // 3 < 2 * len(opened(result).getcolors())


def test_a_scaled_gif_keeps_every_colour_the_drawing_has_even_light_tints_luma_cannot_tell_apart():
    # The octree over the whole picture lumped a chart's lavender, cream and mint boxes into one
    # grey-white at 16 entries; SSIM on luma could not see it. A drawing's own colours are its palette.
    from PIL import ImageDraw, ImageFont

    tints = [(238, 238, 255), (255, 250, 205), (230, 255, 230)]
    chart = Image.new("P", (1400, 900), 0)
    chart.putpalette([255, 255, 255, 0, 0, 0] + [c for tint in tints for c in tint] + [200, 30, 30] + [0] * 750)
    draw, font = ImageDraw.Draw(chart), ImageFont.load_default(size=22)
    for i in range(12):
        x, y = 40 + (i % 4) * 340, 110 + (i // 4) * 260
        draw.rectangle((x, y, x + 280, y + 200), fill=2 + i % 3, outline=1, width=3)
        for line, text in enumerate((f"step {i + 1}", "check the stock", "print the label", "call the courier")):
            draw.text((x + 16, y + 16 + line * 44), text, fill=1 if line else 5, font=font)
    buf = io.BytesIO()
    chart.save(buf, "PNG")
    result = convert(buf.getvalue(), profile="clicksend+legacy-30k")
    assert result.mime == "image/gif" and result.width == 640
    out, scale = opened(result).convert("RGB"), 640 / 1400
    for i, tint in enumerate(tints):
        assert out.getpixel((round((290 + i * 340) * scale), round(290 * scale))) == tint


def test_a_drawing_is_a_scaled_gif_where_no_jpeg_within_the_profile_s_floors_fits(tmp_path):
    from mediaprep.profiles import load_file

    (tmp_path / "strict.toml").write_text(
        'name = "strict"\ntitle = "t"\nkind = "provider"\nsource = "s"\n'
        '[media.image]\naccept = ["image/jpeg", "image/gif"]\nconvert = ["image/png"]\nmax_bytes = 30000\n'
        '[targets.image]\nformat = "jpeg"\nmax_long_side = 640\nmin_long_side = 600\nmin_quality = 90\n'
    )
    buf = io.BytesIO()
    _qr_like(1500).save(buf, "PNG")
    strict = load_file(tmp_path / "strict.toml")
    result = convert(buf.getvalue(), profile=strict)
    assert result.mime == "image/gif" and result.bytes <= 30000 and result.width >= 600
    assert any("no JPEG within the profile's floors fits" in n for n in result.notes)
    noise = io.BytesIO()  # no GIF fits either: the JPEG search's coded error, as before
    Image.fromarray(np.random.default_rng(1).integers(0, 2, (900, 900), dtype=np.uint8) * 255).convert("1").save(noise, "PNG")
    with pytest.raises(CannotFit):
        convert(noise.getvalue(), profile=strict)


def test_an_icon_with_soft_edges_is_a_gif_at_its_own_size_its_clear_ground_kept():
    # Anti-aliased edges are partly transparent, which a GIF cannot keep exactly, so the exact GIF was
    # given up and the JPEG search rang round the shape, on a white box. As an animation kept as a GIF
    # does, a pixel less than half covered is clear and the rest is drawn on white.
    from PIL import ImageDraw

    big = Image.new("RGBA", (384, 384), (0, 0, 0, 0))
    ImageDraw.Draw(big).ellipse((40, 40, 344, 344), outline=(0, 0, 0, 255), width=48)
    icon = big.resize((96, 96), Image.Resampling.LANCZOS)
    assert icon.getcolors(256) is not None and any(icon.getchannel("A").histogram()[1:255])  # soft, few colours
    buf = io.BytesIO()
    icon.save(buf, "PNG")
    result = convert(buf.getvalue(), profile="clicksend+legacy-30k")
    assert result.mime == "image/gif" and (result.width, result.height) == (96, 96)
    assert any("at its own size" in n for n in result.notes) and any("kept clear" in n for n in result.notes)
    assert not any("flattened" in n for n in result.notes)
    out = opened(result).convert("RGBA")
    assert out.getpixel((2, 2))[3] == 0 and out.getpixel((48, 48))[3] == 0  # outside and inside the ring
    assert out.getpixel((48, 12))[3] == 255 and max(out.getpixel((48, 12))[:3]) < 40  # the ring


@pytest.mark.parametrize("mode", ["1", "L", "RGB"])
@pytest.mark.parametrize("profile", ["clicksend", "legacy-30k"])  # jpg and gif; gif only
def test_a_two_colour_drawing_keeps_its_clear_ground_whatever_mode_it_is_saved_in(mode, profile):
    # PNG optimisers save white line art on a clear ground as 1-bit grey with black named clear
    # (PngSuite's ftbbn0g01). The clear entry was lost on the way to a GIF of a 1-bit picture: the
    # ground came out opaque black.
    from PIL import ImageDraw

    art = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(art).ellipse((8, 8, 56, 56), outline=255, width=6)
    art = art.convert(mode)
    buf = io.BytesIO()
    art.save(buf, "PNG", transparency=(0, 0, 0) if mode == "RGB" else 0)
    result = convert(buf.getvalue(), profile=profile, budget=30000)
    assert result.mime == "image/gif" and not result.passed_through
    out = opened(result).convert("RGBA")
    assert out.getpixel((32, 32))[3] == 0 and out.getpixel((1, 1))[3] == 0  # inside and outside the ring
    assert out.getpixel((32, 10)) == (255, 255, 255, 255)  # the ring


def test_a_see_through_logo_is_drawn_on_white_not_sent_all_clear():
    # A logo saved at 40 % opacity (a watermark) has no pixel half covered: as a GIF with the clear
    # rule, every pixel was clear and the phone showed nothing. On white it shows as on a white page.
    from PIL import ImageDraw

    mark = Image.new("RGBA", (200, 120), (0, 0, 0, 0))
    ImageDraw.Draw(mark).rectangle((20, 20, 180, 100), fill=(0, 0, 255, 100))
    buf = io.BytesIO()
    mark.save(buf, "PNG")
    result = convert(buf.getvalue(), profile="clicksend")
    out = opened(result).convert("RGBA")
    r, g, b, a = out.getpixel((100, 60))
    assert a == 255 and b > 240 and 130 < r < 180 and 130 < g < 180, (r, g, b, a)  # 40 % blue on white
    assert any("flattened on white" in n for n in result.notes)


def test_an_icon_turned_by_its_exif_is_turned_with_its_clear_ground_and_not_called_scaled():
    from PIL import ImageDraw

    big = Image.new("RGBA", (384, 256), (0, 0, 0, 0))
    ImageDraw.Draw(big).ellipse((40, 40, 200, 216), outline=(0, 0, 0, 255), width=40)  # a ring on the left
    icon = big.resize((96, 64), Image.Resampling.LANCZOS)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter clockwise
    buf = io.BytesIO()
    icon.save(buf, "PNG", exif=exif.tobytes())
    result = convert(buf.getvalue(), profile="clicksend+legacy-30k")
    out = opened(result).convert("RGBA")
    assert result.mime == "image/gif" and (result.width, result.height) == (64, 96)
    assert any("at its own size" in n for n in result.notes)
    assert out.getpixel((32, 13))[3] == 255 and out.getpixel((32, 80))[3] == 0  # the ring on top now


def test_a_logo_too_large_for_the_profile_is_scaled_with_its_clear_ground_kept():
    # The exact GIF keeps a logo's clear entry; scaled for a 640 px handset it was painted white (a
    # white box on a dark chat).
    from PIL import ImageDraw

    logo = Image.new("P", (1500, 1000), 0)
    logo.putpalette([0, 0, 0, 200, 30, 30, 20, 20, 20] + [0] * 759)
    draw = ImageDraw.Draw(logo)
    draw.ellipse((100, 100, 900, 900), fill=1, outline=2, width=20)
    draw.rectangle((1000, 300, 1400, 700), fill=2)
    buf = io.BytesIO()
    logo.save(buf, "PNG", transparency=0)
    result = convert(buf.getvalue(), profile="clicksend+legacy-30k")
    out = opened(result).convert("RGBA")
    assert result.mime == "image/gif" and max(result.width, result.height) == 640
    assert out.getpixel((5, 5))[3] == 0 and out.getpixel((320, 5))[3] == 0  # the ground, clear
    assert out.getpixel((213, 213)) == (200, 30, 30, 255) and out.getpixel((512, 213)) == (20, 20, 20, 255)


def test_a_photo_saved_as_a_256_colour_gif_is_still_a_jpeg_when_it_must_be_scaled():
    # A palette of 256 colours is a photograph dithered, not a drawing: scaled, the JPEG is closer.
    buf = io.BytesIO()
    tiled_photo(2).quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(buf, "GIF")
    result = convert(buf.getvalue(), profile="clicksend+legacy-30k")
    assert result.mime == "image/jpeg" and result.bytes <= 30000


def test_profile_without_jpeg_refuses_rather_than_sending_the_wrong_type(tmp_path):
    from mediaprep.profiles import load_file

    (tmp_path / "gif-only.toml").write_text(
        'name = "gif-only"\ntitle = "t"\nkind = "provider"\nsource = "s"\n'
        '[media.image]\naccept = ["image/gif"]\nconvert = ["image/png"]\nmax_bytes = 100000\n[targets.image]\nformat = "gif"\n'
    )
    with pytest.raises(NotAllowed) as e:
        convert(MEDIA / "alpha.png", profile=load_file(tmp_path / "gif-only.toml"))
    assert e.value.provider_code == "E229"


# ---------------------------------------------------------------- bad input


def test_huge_claimed_dimensions_are_refused_before_decoding():
    start = time.monotonic()
    with pytest.raises(DecompressionBomb):
        convert(png_header_only(100_000, 100_000), budget=30000)
    assert time.monotonic() - start < 2


def scan_bomb(repeats: int, size=(800, 600), end: bool = True) -> bytes:
    """A progressive JPEG whose last scan is repeated: libjpeg warns and decodes every copy, each a
    pass over the whole picture (3000 copies at 4000x3000, 150 kB, took 36 s in Pillow)."""
    buf = io.BytesIO()
    Image.new("RGB", size, (120, 130, 140)).save(buf, "JPEG", progressive=True)
    data = buf.getvalue()
    last = data[data.rindex(b"\xff\xda") : -2]
    return data[:-2] + last * repeats + (b"\xff\xd9" if end else b"")


@pytest.mark.parametrize("end", [True, False])  # without its end marker too
def test_a_jpeg_of_thousands_of_scans_is_refused_before_decoding(end):
    bomb = scan_bomb(3000, (4000, 3000), end)
    start = time.monotonic()
    with pytest.raises(DecompressionBomb, match="3010 scans"):
        convert(bomb, budget=30000)
    assert isinstance(inspect(bomb).error, DecompressionBomb)
    assert time.monotonic() - start < 5


def test_the_scan_limit_is_configurable_and_ordinary_progressive_jpegs_pass():
    assert convert(scan_bomb(0), budget=30000).bytes <= 30000  # 10 scans, as Pillow writes them
    assert convert(scan_bomb(50), budget=30000).bytes <= 30000
    with pytest.raises(DecompressionBomb):
        convert(scan_bomb(50), budget=30000, settings=Settings(max_jpeg_scans=20))


def dots_on_a_canvas(side: int, frames: int) -> bytes:
    """An animated GIF of one-pixel frames on a side x side canvas: a few bytes a frame, but each
    frame is drawn on the whole canvas when decoded."""
    import struct

    out = bytearray(b"GIF89a" + struct.pack("<HH", side, side) + b"\x80\0\0" + b"\0\0\0\xff\xff\xff")
    out += b"!\xff\x0bNETSCAPE2.0\x03\x01\0\0\0"
    for i in range(frames):
        out += b"!\xf9\x04\0\x02\0\0\0" + b"," + struct.pack("<HHHH", i % side, 0, 1, 1) + b"\0"
        out += b"\x02\x02\x44\x01\0"  # one pixel, LZW-coded
    return bytes(out + b";")


def test_an_animation_of_tiny_frames_on_a_huge_canvas_is_not_decoded_frame_by_frame():
    # 46 kB: 2000 frames on a 64 MP canvas. Checking and fitting every frame ran for minutes.
    bomb = dots_on_a_canvas(7999, 2000)
    start = time.monotonic()
    assert inspect(bomb).image.frames == 2000
    result = convert(bomb, profile="clicksend")
    assert result.frames == 1 and getattr(opened(result), "n_frames", 1) == 1  # the first frame, still
    assert any("over the 15 frame limit for that size" in n for n in result.notes)
    assert time.monotonic() - start < 30  # was minutes
    small = convert(dots_on_a_canvas(100, 50), profile="clicksend")  # the same on a small canvas animates
    assert small.mime == "image/gif" and small.frames > 1


def a_frame_past_the_screen(screen: int, reach: int, frames: int = 3) -> bytes:
    """An animated GIF on a screen x screen screen whose second frame, one pixel, is drawn at
    (reach - 1, reach - 1): Pillow grows the canvas to reach x reach when it seeks to that frame."""
    import struct

    data = bytearray(dots_on_a_canvas(screen, frames))
    at = data.index(b"," + struct.pack("<HHHH", 1 % screen, 0, 1, 1))
    data[at + 1 : at + 5] = struct.pack("<HH", reach - 1, reach - 1)
    return bytes(data)


def test_a_gif_frame_that_grows_the_canvas_past_the_ceiling_is_a_bomb():
    # 70 bytes: a 100x100 screen, then a frame at 8999,8999. Only the header was checked, and the
    # canvas (81 MP, over the 64 MP ceiling, under Pillow's own 89 MP) was decoded: a 60 kB GIF made
    # so was sent as it was to Sinch, after 5 s and 1 GB.
    bomb = a_frame_past_the_screen(100, 9000)
    with pytest.raises(DecompressionBomb, match="past its 100x100 screen, which makes it 9000x9000"):
        convert(bomb, profile="sinch")
    assert isinstance(inspect(bomb).error, DecompressionBomb)
    # Pillow passes over a stray byte between blocks and reads the frame after it; so does the check.
    stray = bomb.replace(b"!\xf9", b"\x00!\xf9")
    with pytest.raises(DecompressionBomb, match="makes it 9000x9000"):
        convert(stray, profile="sinch")
    # Under the ceiling it converts, never as it was: its screen is not the size it is drawn at.
    grown = a_frame_past_the_screen(100, 400)
    result = convert(grown, profile="sinch")
    assert not result.passed_through and result.mime == "image/gif"


def test_a_gif_frame_that_grows_the_canvas_counts_against_the_animation_s_pixels():
    # 60 frames on a 100x100 screen, one reaching 1000x1000: each frame after it is drawn on 1 MP.
    grows = a_frame_past_the_screen(100, 1000, frames=60)
    result = convert(grows, profile="clicksend", settings=Settings(max_animation_pixels=20_000_000))
    assert result.frames == 1
    assert any("over the 20 frame limit for that size" in n for n in result.notes)


def test_a_tiff_of_thousands_of_pages_is_not_counted_page_by_page(cli, tmp_path):
    # 20000 one-pixel pages in 2.5 MB: Pillow read every page's directory to count them (8 s in
    # inspect and again in convert; more pages, longer). Only the first page is used, so counting
    # stops past 100. (500 pages here: Pillow takes minutes to write 20000.)
    pages = [Image.new("L", (1, 1), 255) for _ in range(500)]
    buf = io.BytesIO()
    pages[0].save(buf, "TIFF", save_all=True, append_images=pages[1:])
    tiff = tmp_path / "pages.tif"
    tiff.write_bytes(buf.getvalue())
    result = convert(tiff, budget=20000)
    assert "the TIFF has more than 100 pages; the first is used" in result.notes
    assert "more than 100 pages" in cli("inspect", str(tiff)).stdout


def png_with_text(im: Image.Image, kind: bytes, body: bytes, *, after_pixels: bool = False) -> bytes:
    """``im`` as a PNG with one more chunk (text, or an ICC profile), before its pixels or after them."""
    import struct
    import zlib

    buf = io.BytesIO()
    im.save(buf, "PNG")
    data = buf.getvalue()
    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    at = data.rindex(b"IEND") - 4 if after_pixels else 33  # after IHDR (8-byte signature, 25-byte IHDR)
    return data[:at] + chunk + data[at:]


@pytest.mark.parametrize("mode, kind, after_pixels", [("RGB", b"zTXt", False), ("RGB", b"iTXt", True),
                                                        ("P", b"zTXt", False), ("RGB", b"iCCP", False)])
def test_a_png_whose_metadata_inflates_past_the_safe_limit_is_converted_without_it(mode, kind, after_pixels):
    # A few kB of compressed text or ICC profile inflating to 20 MB (a bomb, or years of Photoshop
    # history in a designer's XMP): Pillow refused the whole picture as damaged ("Decompressed data
    # too large for PngImagePlugin.MAX_TEXT_CHUNK"). It is metadata: it is dropped.
    import zlib

    inflated = zlib.compress(b"<x:xmpmeta/>" * 2_000_000, 9)
    body = {b"zTXt": b"Raw profile type xmp\0\0", b"iTXt": b"XML:com.adobe.xmp\0\1\0\0\0",
            b"iCCP": b"ICC Profile\0\0"}[kind] + inflated
    picture = Image.new("RGB", (200, 100), (200, 30, 30))
    png = png_with_text(picture if mode == "RGB" else picture.quantize(4), kind, body, after_pixels=after_pixels)
    assert len(png) < 100_000
    assert inspect(png).image.width == 200
    result = convert(png, profile="clicksend")
    said = "ICC profile" if kind == b"iCCP" else "text metadata"
    assert any(said in note and "dropped unread" in note for note in result.notes)
    pixel = Image.open(io.BytesIO(result.data)).convert("RGB").getpixel((100, 50))
    assert all(abs(a - b) <= 8 for a, b in zip(pixel, (200, 30, 30)))


def test_a_png_orientation_in_text_within_the_limits_is_still_applied():
    # ImageMagick carries a photo's EXIF into PNG as a "Raw profile type exif" text chunk; text that
    # is safe to read is left for Pillow, which reads the orientation from it.
    exif = Image.Exif()
    exif[0x0112] = 6  # turned: shown 90 degrees clockwise
    raw = exif.tobytes()
    hexed = raw.hex().encode()
    body = b"Raw profile type exif\0" + b"\nexif\n" + str(len(raw)).rjust(8).encode() + b"\n" + hexed + b"\n"
    png = png_with_text(Image.new("RGB", (200, 100), "white"), b"tEXt", body)
    result = convert(png, profile="clicksend")
    assert (result.width, result.height) == (100, 200)


def test_pixel_ceiling_is_configurable():
    with pytest.raises(DecompressionBomb):
        convert(MEDIA / "photo.jpg", budget=30000, settings=Settings(max_image_pixels=100_000))


def phone_high_resolution_jpeg(*, progressive: bool) -> bytes:
    # A phone's 200 MP mode (Samsung's is 16320x12240; 192 MP here). Grey keeps the encode near a second.
    buf = io.BytesIO()
    Image.linear_gradient("L").resize((16000, 12000)).save(buf, "JPEG", quality=80, progressive=progressive)
    return buf.getvalue()


PEAK_MEMORY = """
import sys
from pathlib import Path
from mediaprep import convert
result = convert(Path(sys.argv[1]), profile="clicksend")
status = Path("/proc/self/status").read_text()
print(result.bytes, result.width, result.height, next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
"""


def test_a_200_megapixel_phone_photo_is_decoded_small_not_refused(tmp_path):
    # Samsung's and Xiaomi's 108 and 200 MP modes and long panoramas write JPEGs of one scan, which
    # libjpeg decodes a band at a time at 1/8 scale. They were input.bomb (Pillow refuses past 179 MP).
    path = tmp_path / "phone.jpg"
    path.write_bytes(phone_high_resolution_jpeg(progressive=False))
    info = inspect(path)
    assert info.error is None and (info.image.width, info.image.height) == (16000, 12000)
    done = subprocess.run([sys.executable, "-c", PEAK_MEMORY, str(path)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    size, width, height, peak_kib = map(int, done.stdout.split())
    assert size <= 250000 and (width, height) == (1600, 1200)
    assert peak_kib < 150 * 1024  # decoded whole it is 192 MB of grey, never mind colour


def test_a_progressive_jpeg_past_the_ceiling_is_refused_before_decoding():
    # A JPEG of several scans holds every coefficient until the last one: a 200 MP one took 630 MB
    # even at 1/8 scale. The ceiling (64 MP) stands for it.
    data = phone_high_resolution_jpeg(progressive=True)
    with pytest.raises(DecompressionBomb, match="several scans"):
        convert(data, budget=100000)
    assert isinstance(inspect(data).error, DecompressionBomb)


def test_a_jpeg_of_one_scan_is_held_to_the_ceiling_at_the_size_it_is_decoded():
    # 1600x1200 (1.92 MP) is within four times a ceiling of 1 MP, so it opens; a budget that needs
    # no more than half its size decodes it at 800x600, under the ceiling, and one that needs it
    # whole does not.
    buf = io.BytesIO()
    Image.open(MEDIA / "photo.jpg").resize((1600, 1200)).save(buf, "JPEG", quality=90)
    settings = Settings(max_image_pixels=1_000_000)
    assert convert(buf.getvalue(), budget=10000, settings=settings).bytes <= 10000
    with pytest.raises(DecompressionBomb, match="decoded at 1600x1200"):
        convert(buf.getvalue(), budget=1000000, settings=settings)
    with pytest.raises(DecompressionBomb):
        convert(buf.getvalue(), budget=10000, settings=Settings(max_image_pixels=400_000))


def test_truncated_jpeg_is_a_coded_error_e341():
    with pytest.raises(CorruptInput) as e:
        convert(BROKEN / "truncated.jpg", budget=30000)
    assert e.value.provider_code == "E341"


@pytest.mark.parametrize("budget", [None, 10000])  # the profile's own (it would pass through), and a tight one
def test_an_animation_with_a_damaged_frame_is_a_coded_error_e341(budget):
    damaged = bytearray(looping_gif())
    damaged[-1000:-990] = b"\xff" * 10  # inside the last frame's picture data; the trailer is kept
    with pytest.raises(CorruptInput) as e:
        convert(bytes(damaged), profile="clicksend", budget=budget)
    assert e.value.provider_code == "E341"


def test_a_still_gif_with_damaged_picture_data_is_a_coded_error_e341():
    data = (MEDIA / "still.gif").read_bytes()
    at = len(data) - 648  # inside the last LZW data sub-blocks (found by scripts/fuzz.py)
    damaged = data[:at] + b"\x85\x12\x00J\xf0\xbf\xa3" + data[at + 2 :]
    with pytest.raises(CorruptInput) as e:
        convert(damaged, profile="clicksend")
    assert e.value.provider_code == "E341"


def _with_idat(png: bytes, idat: bytes) -> bytes:
    """The PNG with its one IDAT chunk's data replaced, the chunk's CRC made right again: only the
    compressed picture is wrong, as in a file damaged before it was saved."""
    at = png.index(b"IDAT") - 4
    end = at + 12 + int.from_bytes(png[at : at + 4], "big")
    chunk = b"IDAT" + idat
    return png[:at] + len(idat).to_bytes(4, "big") + chunk + zlib.crc32(chunk).to_bytes(4, "big") + png[end:]


def _damaged_pictures() -> dict[str, bytes]:
    buf = io.BytesIO()
    Image.new("RGB", (48, 48), (200, 30, 30)).save(buf, "PNG")
    png = buf.getvalue()
    at = png.index(b"IDAT") + 4
    idat = png[at : at + int.from_bytes(png[at - 8 : at - 4], "big")]
    return {
        # zlib's own checksum (Adler-32) of the pixels is wrong: every pixel inflates, then zlib says no
        "png-checksum": _with_idat(png, idat[:-4] + bytes(b ^ 0xFF for b in idat[-4:])),
        # not zlib data at all
        "png-stream": _with_idat(png, b"\x00" * len(idat)),
        # a 2x2 GIF whose picture's LZW codes are out of range (after gdk-pixbuf's invalid-code.gif)
        "gif-codes": b"GIF89a\x02\x00\x02\x00\xf0\x00\x00\x00\x00\x00\xff\xff\xff"
                     b",\x00\x00\x00\x00\x02\x00\x02\x00\x00\x02\x02\xff\xff\x00;",
    }


def _with_wrong_checksum(png: bytes, kind: bytes) -> bytes:
    """The PNG with the CRC of its first ``kind`` chunk wrong, as a metadata editor with a bug
    leaves it (exiv2's issue_828_poc.png: a tEXt chunk whose checksum no longer matches)."""
    at = png.index(kind) - 4
    crc_at = at + 8 + int.from_bytes(png[at : at + 4], "big")
    return png[:crc_at] + bytes(b ^ 0xFF for b in png[crc_at : crc_at + 4]) + png[crc_at + 4 :]


@pytest.mark.parametrize("profile", ["clicksend", "sinch"])
@pytest.mark.parametrize("after_pixels", [False, True])
def test_a_png_whose_text_chunk_has_a_wrong_checksum_is_sent_as_libpng_shows_it(profile, after_pixels):
    # libpng drops an ancillary chunk whose CRC is wrong, with a warning, and shows the picture
    # (ImageMagick converts exiv2's issue_828_poc.png so); Pillow refused the whole file as damaged
    # ("broken PNG file") when the chunk came before the pixels.
    picture = Image.new("RGB", (200, 100), (30, 90, 200))
    png = _with_wrong_checksum(png_with_text(picture, b"tEXt", b"Comment\0made by a buggy tool",
                                             after_pixels=after_pixels), b"tEXt")
    assert inspect(png).image.width == 200
    result = convert(png, profile=profile)
    if result.mime == "image/png":  # Sinch takes PNG: sent as it is, without its metadata chunks
        assert b"tEXt" not in result.data and any("metadata removed" in note for note in result.notes)
    else:
        assert any("tEXt" in note and "checksum" in note and "dropped" in note for note in result.notes)
    pixel = opened(result).convert("RGB").getpixel((100, 50))
    assert all(abs(a - b) <= 8 for a, b in zip(pixel, (30, 90, 200)))


def test_a_png_whose_header_chunk_has_a_wrong_checksum_is_still_e341():
    # Only ancillary chunks are dropped: a critical one with a wrong CRC is an error to libpng too.
    buf = io.BytesIO()
    Image.new("RGB", (48, 48), (200, 30, 30)).save(buf, "PNG")
    with pytest.raises(CorruptInput) as e:
        convert(_with_wrong_checksum(buf.getvalue(), b"IHDR"), profile="clicksend")
    assert e.value.provider_code == "E341"


@pytest.mark.parametrize("profile", ["clicksend", "sinch"])  # sent as GIF or JPEG; PNG taken as it is, or not
@pytest.mark.parametrize("name", sorted(_damaged_pictures()))
def test_a_picture_whose_pixels_cannot_be_decoded_is_e341_never_a_blank_picture(name, profile):
    # Pillow fails a decode once; asked again, it hands back the blank canvas without a word. A
    # first failure swallowed (reading a PNG's EXIF decodes it; so does the check that a file may
    # go as it is) sent a blank picture in place of the damaged one.
    data = _damaged_pictures()[name]
    with pytest.raises(CorruptInput) as e:
        convert(data, profile=profile)
    assert e.value.provider_code == "E341"
    assert inspect(data).error.code == "input.corrupt"


@pytest.mark.parametrize("body", [(MEDIA / "flyer.pdf").read_bytes(), b"<!doctype html><html><body>hi</body></html>"])
def test_a_pdf_or_html_page_named_jpg_is_refused(tmp_path, body):
    fake = tmp_path / "holiday.jpg"
    fake.write_bytes(body)
    with pytest.raises(UnsupportedType):
        convert(fake, budget=30000)


def test_gif_with_5000_frames_is_handled_within_seconds():
    frames = [Image.new("L", (16, 16), i % 256) for i in range(5000)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=40)
    start = time.monotonic()
    result = convert(buf.getvalue(), profile="clicksend", budget=20000)
    assert time.monotonic() - start < 20
    assert result.frames == 1 and getattr(opened(result), "n_frames", 1) == 1  # the first frame, still
    assert any("5000 frames" in n for n in result.notes)


def tagged_png(colour: tuple[int, int, int], icc: bytes | None, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    extra = {"icc_profile": icc} if icc else {}
    im = Image.new("RGB", (96, 64), colour)
    (im.quantize(4) if mode == "P" else im).save(buf, "PNG", **extra)
    return buf.getvalue()


def display_p3_profile() -> bytes:
    """A Display P3 profile: littlecms' sRGB profile with P3's primaries (D50-adapted, as Apple's)."""
    import struct

    from PIL import ImageCms

    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    primaries = {b"rXYZ": (0.51512, 0.24119, -0.00105), b"gXYZ": (0.29198, 0.69225, 0.04189),
                 b"bXYZ": (0.15710, 0.06657, 0.78407)}
    (count,) = struct.unpack(">I", data[128:132])
    for i in range(count):
        sig, offset, _ = struct.unpack(">4sII", data[132 + 12 * i : 144 + 12 * i])
        if sig in primaries:
            data[offset + 8 : offset + 20] = b"".join(struct.pack(">i", round(v * 65536)) for v in primaries[sig])
    name = "sRGB".encode("utf-16-be")
    data[data.index(name) : data.index(name) + len(name)] = "P3  ".encode("utf-16-be")
    data[84:100] = bytes(16)  # no profile ID: it would no longer match
    return bytes(data)


def with_float_stages(icc: bytes, stages: int) -> bytes:
    """``icc`` with a DToB0 tag (ICC v4's floating-point pipeline) of ``stages`` stages, curves and
    matrices by turns, each a little off the identity so that littlecms runs every one."""
    import struct

    def floats(*values: float) -> bytes:
        return struct.pack(f">{len(values)}f", *values)

    def positioned(head: bytes, parts: list[bytes]) -> bytes:
        # A head, then each part's offset and size (counted from the head's start), then the parts.
        table, at = b"", len(head) + 8 * len(parts)
        for part in parts:
            table += struct.pack(">II", at, len(part))
            at += len(part)
        return head + table + b"".join(parts)

    segment = b"parf" + bytes(4) + struct.pack(">HH", 0, 0) + floats(1.0001, 1.0, 0.0, 0.0)  # gamma 1.0001
    curve = b"curf" + bytes(4) + struct.pack(">HH", 1, 0) + segment
    curves = positioned(b"cvst" + bytes(4) + struct.pack(">HH", 3, 3), [curve] * 3)
    matrix = b"matf" + bytes(4) + struct.pack(">HH", 3, 3) + floats(1, 0.01, 0, 0, 1, 0.01, 0.01, 0, 1, 0, 0, 0)
    elements = [curves if i % 2 == 0 else matrix for i in range(stages)]
    tag = positioned(b"mpet" + bytes(4) + struct.pack(">HHI", 3, 3, stages), elements)
    # A new table entry moves every tag's data 12 bytes on; the new tag goes at the end.
    (count,) = struct.unpack(">I", icc[128:132])
    entries = [struct.unpack(">4sII", icc[132 + 12 * i : 144 + 12 * i]) for i in range(count)]
    entries = [(sig, offset + 12, size) for sig, offset, size in entries] + [(b"D2B0", len(icc) + 12, len(tag))]
    header = struct.pack(">I", len(icc) + 12 + len(tag)) + icc[4:84] + bytes(16) + icc[100:128]  # no profile ID
    table = struct.pack(">I", count + 1) + b"".join(struct.pack(">4sII", *entry) for entry in entries)
    return header + table + icc[132 + 12 * count :] + tag


def mean_colour(result) -> np.ndarray:
    return np.asarray(opened(result).convert("RGB"), dtype=float).reshape(-1, 3).mean(axis=0)


@pytest.mark.parametrize("mode", ["RGB", "P"])
def test_a_wide_gamut_picture_is_converted_to_srgb(mode):
    # Phones tag photos Display P3; the same numbers mean a more saturated colour than in sRGB, which
    # most MMS viewers assume. Converted, the red comes out redder in sRGB numbers, and the result says so.
    # A palette picture's colours are in its profile's space too (an 8-bit PNG saved with its profile):
    # they went out as they were.
    plain = convert(tagged_png((200, 60, 60), None, mode), profile="clicksend", budget=30000)
    wide = convert(tagged_png((200, 60, 60), display_p3_profile(), mode), profile="clicksend", budget=30000)
    r, g, b = mean_colour(wide)
    assert np.allclose(mean_colour(plain), (200, 60, 60), atol=3)
    assert r > 210 and g < 55 and b < 58
    assert any("sRGB" in note for note in wide.notes)
    assert opened(wide).info.get("icc_profile") is None


def test_a_profiles_floating_point_stages_are_never_run():
    # ICC v4's DToB tags hold any number of stages, and littlecms runs each at every point of the grid
    # it precomputes a transform on: 8000 of them in a 28 kB PNG took 75 s to convert, in-process.
    # They are left out of the profile; its matrix and curves give the colours, as without them.
    from mediaprep.inspection.icc_tags import without_float_tags

    p3 = display_p3_profile()
    staged = with_float_stages(p3, 300)
    as_p3 = ImageCms.profileToProfile(Image.new("RGB", (1, 1), (200, 60, 60)), ImageCms.ImageCmsProfile(io.BytesIO(p3)),
                                      ImageCms.createProfile("sRGB"))
    plain = convert(tagged_png((200, 60, 60), p3), profile="clicksend", budget=30000)
    result = convert(tagged_png((200, 60, 60), staged), profile="clicksend", budget=30000)
    assert np.allclose(mean_colour(result), mean_colour(plain), atol=1)
    assert np.allclose(mean_colour(result), as_p3.getpixel((0, 0)), atol=2)
    assert any("sRGB" in note for note in result.notes)
    # A profile without such tags, or whose table runs past its end, is given to littlecms as it is.
    assert without_float_tags(p3) == p3 and without_float_tags(staged[:200]) == staged[:200]


def test_a_picture_whose_profile_has_floating_point_stages_is_not_sent_as_it_is():
    # Sent as it is, the profile goes with it, for the handset's colour engine to run; re-encoded,
    # its colours are converted to sRGB without those stages and the profile is left behind.
    def tagged_jpeg(icc: bytes) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (96, 64), (200, 60, 60)).save(buf, "JPEG", quality=90, icc_profile=icc)
        return buf.getvalue()

    p3 = display_p3_profile()
    assert convert(tagged_jpeg(p3), profile="clicksend", budget=30000).passed_through  # the control
    result = convert(tagged_jpeg(with_float_stages(p3, 3)), profile="clicksend", budget=30000)
    assert not result.passed_through and opened(result).info.get("icc_profile") is None
    r, g, b = mean_colour(result)
    assert r > 210 and g < 55 and b < 58  # converted from P3, as the wide-gamut test's


def _srgb_to_linear(codes: np.ndarray) -> np.ndarray:
    v = codes / 255
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _coded(rgb: np.ndarray, fmt: str, primaries: int, transfer: int) -> bytes:
    """8-bit pixels saved as a HEIF or an AVIF whose nclx colour box gives these H.273 codes."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    if fmt == "HEIF":
        nclx = {"color_primaries": primaries, "transfer_characteristics": transfer, "matrix_coefficients": 6,
                "full_range_flag": 1}
        Image.fromarray(rgb).save(buf, "HEIF", quality=95, nclx_profile=nclx)
        return buf.getvalue()
    Image.fromarray(rgb).save(buf, "AVIF", quality=95)
    data = buf.getvalue()  # Pillow writes sRGB's codes; they describe the pixels, not how they decode
    at = data.index(b"nclx") + 4
    return data[:at] + primaries.to_bytes(2, "big") + transfer.to_bytes(2, "big") + data[at + 4 :]


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_a_heif_or_avif_whose_colour_box_says_display_p3_is_converted_to_srgb(fmt):
    # HEIF and AVIF can say what their numbers mean with H.273 codes (an nclx colour box) instead of
    # an ICC profile; a Display P3 (code 12) picture went out as if its numbers were sRGB, duller.
    flat = np.full((80, 120, 3), (200, 60, 60), np.uint8)
    plain = convert(_coded(flat, fmt, 1, 13), profile="clicksend")
    wide = convert(_coded(flat, fmt, 12, 13), profile="clicksend")
    assert np.allclose(mean_colour(plain), (200, 60, 60), atol=4)
    r, g, b = mean_colour(wide)
    assert r > 210 and g < 55 and b < 58
    assert "colour converted to sRGB from the picture's own colour description (Display P3)" in wide.notes
    assert not any("converted to sRGB" in note for note in plain.notes)


def _hdr_codes(light: np.ndarray, transfer: str) -> np.ndarray:
    """Linear BT.2020 light (1.0: BT.2408's reference white, 203 cd/m2) as PQ or HLG 8-bit codes."""
    if transfer == "PQ":  # SMPTE ST 2084, inverted
        y = (light * 203 / 10000) ** 0.1593017578125
        codes = ((0.8359375 + 18.8515625 * y) / (1 + 18.6875 * y)) ** 78.84375
    else:  # BT.2100 HLG: the reference OOTF (gamma 1.2 on luminance, 1000 cd/m2) undone, then the OETF
        shown = light * 203 / 1000
        scene = shown * np.maximum(shown @ np.array([0.2627, 0.6780, 0.0593]), 1e-9)[..., None] ** (-1 / 6)
        a, b, c = 0.17883277, 0.28466892, 0.55991073
        codes = np.where(scene <= 1 / 12, np.sqrt(3 * scene), a * np.log(np.maximum(12 * scene - b, 1e-9)) + c)
    return np.round(np.clip(codes, 0, 1) * 255).astype(np.uint8)


@pytest.mark.parametrize("fmt, transfer", [("HEIF", "PQ"), ("AVIF", "PQ"), ("HEIF", "HLG")])
def test_an_hdr_heif_or_avif_is_tone_mapped_to_look_as_its_sdr_original(fmt, transfer):
    # Canon's, Sony's and Nikon's cameras save HDR HEIF: BT.2020 colours, PQ or HLG light (PQ puts
    # paper white near code 58 %). Sent as its numbers, the picture was dark or grey. Here a
    # photograph is coded so, its white at BT.2408's 203 cd/m2, and must come back close to it.
    with Image.open(MEDIA / "photo.jpg") as im:
        photo = np.asarray(im.convert("RGB"))
    to_bt2020 = np.array([[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]])  # BT.2087
    codes = _hdr_codes(np.clip(_srgb_to_linear(photo) @ to_bt2020.T, 0, None), transfer)
    result = convert(_coded(codes, fmt, 9, 16 if transfer == "PQ" else 18), profile="clicksend")
    assert f"HDR ({transfer}, BT.2020) picture tone-mapped to SDR sRGB" in result.notes
    sent = np.asarray(opened(result).convert("RGB").resize(im.size), dtype=float)
    assert np.abs(sent - photo).mean() < 7
    assert np.abs(codes.astype(float) - photo).mean() > 15  # its numbers as they are


def _with_cicp(png: bytes, primaries: int, transfer: int) -> bytes:
    """``png`` with a cICP chunk (PNG's own H.273 codes: RGB, full range) right after its header."""
    import struct
    import zlib

    body = bytes([primaries, transfer, 0, 1])
    chunk = struct.pack(">I", 4) + b"cICP" + body + struct.pack(">I", zlib.crc32(b"cICP" + body))
    return png[:33] + chunk + png[33:]  # signature (8) and IHDR (25)


@pytest.mark.parametrize("mode", ["RGB", "P"])
def test_a_png_whose_cicp_says_display_p3_is_converted_to_srgb(mode):
    # A palette's numbers are in the coded space too.
    plain = convert(_with_cicp(tagged_png((200, 60, 60), None, mode), 1, 13), profile="clicksend", budget=30000)
    wide = convert(_with_cicp(tagged_png((200, 60, 60), None, mode), 12, 13), profile="clicksend", budget=30000)
    assert np.allclose(mean_colour(plain), (200, 60, 60), atol=3)
    r, g, b = mean_colour(wide)
    assert r > 210 and g < 55 and b < 58
    assert "colour converted to sRGB from the picture's own colour description (Display P3)" in wide.notes


@pytest.mark.parametrize("profile", ["clicksend", "sinch"])
def test_an_hdr_png_is_tone_mapped_and_never_sent_as_it_is(profile):
    # PNG says what its numbers mean with H.273 codes too (a cICP chunk, PNG's third edition): an
    # HDR PNG (BT.2020, PQ) went out as its numbers, dark and grey; Sinch, which takes PNG, got it as
    # it was, for phones that mostly ignore the chunk. The cICP comes before an ICC profile, as the
    # PNG standard says: here the profile is sRGB's, which would leave the numbers as they are.
    from PIL import ImageCms

    with Image.open(MEDIA / "photo.jpg") as im:
        photo = np.asarray(im.convert("RGB"))
    to_bt2020 = np.array([[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]])
    codes = _hdr_codes(np.clip(_srgb_to_linear(photo) @ to_bt2020.T, 0, None), "PQ")
    buf = io.BytesIO()
    Image.fromarray(codes).save(buf, "PNG", icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    result = convert(_with_cicp(buf.getvalue(), 9, 16), profile=profile)
    assert not result.passed_through and result.mime == "image/jpeg"
    assert "HDR (PQ, BT.2020) picture tone-mapped to SDR sRGB" in result.notes
    sent = np.asarray(opened(result).convert("RGB").resize(im.size), dtype=float)
    assert np.abs(sent - photo).mean() < 7
    # A cICP that says sRGB changes nothing: Sinch still takes the PNG as it is.
    srgb = io.BytesIO()
    Image.fromarray(photo).save(srgb, "PNG")
    plain = convert(_with_cicp(srgb.getvalue(), 1, 13), profile="sinch")
    assert plain.mime == "image/png" and not any("sRGB" in note for note in plain.notes)


@pytest.mark.parametrize("gif", [False, True])
def test_a_picture_already_in_srgb_keeps_its_pixels(gif, jpeg_only):
    # Through the JPEG search (a profile that takes no GIF), and as an exact GIF (one colour).
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    profile = "clicksend" if gif else jpeg_only
    plain = convert(tagged_png((200, 60, 60), None), profile=profile, budget=30000)
    tagged = convert(tagged_png((200, 60, 60), srgb), profile=profile, budget=30000)
    assert tagged.data == plain.data and tagged.mime == ("image/gif" if gif else "image/jpeg")
    assert not any("converted to sRGB" in note for note in tagged.notes)


def _chat_screenshot(width: int, height: int) -> bytes:
    from PIL import ImageDraw

    im = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(im)
    for i, y in enumerate(range(10, height - 80, 95)):
        left = 15 if i % 2 else width // 3
        draw.rectangle((left, y, left + width * 2 // 3 - 20, y + 75), fill=(230, 230, 235) if i % 2 else (0, 132, 255))
        draw.text((left + 10, y + 12), f"message {i}: see you at 7pm by the station?", fill="black", font_size=17)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("profile, least_width", [("clicksend", 2.0), ("legacy-30k", 1.0)])
def test_a_long_screenshot_keeps_a_readable_width_where_the_handsets_allow(profile, least_width):
    # A scrolling capture, 585x6000 (about 1:10): fitting its long side in 1600 px left it 156 px
    # wide. It keeps the area a 2:1 picture has, except where the profile's side limit is what its
    # handsets can decode (legacy-30k: 640x480).
    limits = load_profile(profile).targets.image
    result = convert(_chat_screenshot(585, 6000), profile=profile)
    shape_fit = limits.max_long_side * 585 / 6000
    assert result.width >= shape_fit * least_width - 1 and result.bytes <= load_profile(profile).media["image"].max_bytes
    if profile == "legacy-30k":
        assert max(result.width, result.height) <= limits.max_long_side


def test_a_photo_of_ordinary_shape_keeps_its_side_limit():
    # 2:1 and under (every photo, 16:9 video stills): the profile's max_long_side, as before.
    im = Image.new("RGB", (3000, 1500), "white")
    noise = Image.effect_noise((3000, 1500), 60).convert("RGB")
    buf = io.BytesIO()
    Image.blend(im, noise, 0.5).save(buf, "JPEG", quality=95)
    result = convert(buf.getvalue(), profile="sinch")
    assert max(result.width, result.height) <= load_profile("sinch").targets.image.max_long_side


@pytest.mark.parametrize("profile, size", [("legacy-30k", (800, 600)), ("clicksend", (2080, 1560)),
                                           ("sinch", (2080, 1560))])
def test_a_picture_a_little_over_the_profiles_side_limit_is_brought_within_it(profile, size):
    # Decoding keeps a picture up to 1.3x the size it needs; the search then started from it, and
    # legacy-30k (640x480, what its handsets decode) sent 733x550.
    buf = io.BytesIO()
    Image.effect_noise(size, 5).convert("RGB").save(buf, "PNG")
    result = convert(buf.getvalue(), profile=profile)
    assert max(result.width, result.height) <= load_profile(profile).targets.image.max_long_side


@pytest.mark.parametrize("size", [(3, 70000), (70000, 3)])
def test_a_picture_longer_than_a_jpeg_can_hold_is_brought_within_it(size, jpeg_only):
    # A line 70000 px long (a few kB of PNG): the stretch for elongated pictures let its long side
    # past libjpeg's 65500, and the encode failed with a traceback ("broken data stream"). Where GIF
    # is taken, the flat line is a GIF (as close, and smaller), held to the same length.
    buf = io.BytesIO()
    Image.new("RGB", size, "red").save(buf, "PNG")
    jpeg = convert(buf.getvalue(), profile=jpeg_only)
    assert jpeg.mime == "image/jpeg"
    for result in (jpeg, convert(buf.getvalue(), profile="clicksend"), convert(buf.getvalue(), budget=50000)):
        assert max(result.width, result.height) <= 65500
        assert opened(result).size == (result.width, result.height)


@functools.cache  # several seconds to build; three tests take the same one
def panned_animation(frames: int, size: tuple[int, int]) -> bytes:
    """A GIF as one is made from a phone's video: the camera panning over the fixture photo, with
    sensor noise, each frame with its own 256 colours."""
    photo = Image.open(MEDIA / "photo.jpg").convert("RGB")
    photo = photo.resize((size[0] * 2, round(photo.height * size[0] * 2 / photo.width)))
    rng = np.random.default_rng(7)
    pictures = []
    for i in range(frames):
        x = i * (photo.width - size[0]) // frames
        crop = np.asarray(photo.crop((x, 0, x + size[0], size[1])), dtype=np.int16)
        noisy = np.clip(crop + rng.normal(0, 6, crop.shape), 0, 255).astype(np.uint8)
        pictures.append(Image.fromarray(noisy).quantize(256))
    buf = io.BytesIO()
    pictures[0].save(buf, "GIF", save_all=True, append_images=pictures[1:], duration=83, loop=0)
    return buf.getvalue()


def test_an_animation_that_fits_only_at_the_floor_size_stays_an_animation():
    # The sizes tried stopped at the last step of 0.84 above Sinch's 320 px floor (339 px): at 280 kB
    # the pan went as its first frame alone, with a note saying nothing fits "down to 339 px".
    result = convert(panned_animation(36, (480, 270)), budget=280_000, profile="sinch")
    assert result.mime == "image/gif" and result.frames == 12 and max(result.width, result.height) == 320
    assert result.bytes <= 280_000


@pytest.mark.parametrize(("budget", "frames"), [(400_000, 12), (600_000, 18)])
def test_an_animation_loses_colours_before_frames(budget, frames):
    # 36 frames, 4.6 MB. A model of the bytes skipped levels it predicted to be over, and skipped
    # levels that fit: at 400 kB it sent the first frame alone, though one frame in three fits with
    # 32 colours; at 600 kB one frame in three with 128 colours, though one in two fits with 32.
    result = convert(panned_animation(36, (480, 270)), budget=budget, profile="sinch")
    assert result.mime == "image/gif" and result.frames == frames and result.bytes <= budget
    assert "colours reduced to 32" in result.notes


def test_a_long_animation_is_held_smaller_before_frames_are_dropped_to_bound_memory(monkeypatch):
    # Frames past MAX_HELD_PIXELS were dropped at once (a 783-frame screen recording lost every second
    # frame), though the levels shrink the picture before they drop frames, and it fitted so.
    monkeypatch.setattr("mediaprep.converters.gif.MAX_HELD_PIXELS", 24 * 320 * 180 // 2)
    result = convert(panned_animation(24, (320, 180)), budget=1_000_000, profile="sinch")
    assert result.mime == "image/gif" and result.frames == 24
    assert max(result.width, result.height) < 320
    assert "24 frames held at 226x127 to bound memory" in result.notes


def test_an_animation_of_an_odd_size_held_at_half_and_with_frames_dropped_still_fits(monkeypatch):
    # Held at half of 321 px, the frames went to 160, under half the size, and the search found no
    # size for keeping every frame or every 2nd: IndexError.
    monkeypatch.setattr("mediaprep.converters.gif.MAX_HELD_PIXELS", 80_000)  # 6 frames at 161x91 are 87906
    pictures = [Image.effect_noise((321, 181), 40 + i * 10).convert("P") for i in range(6)]
    buf = io.BytesIO()
    pictures[0].save(buf, "GIF", save_all=True, append_images=pictures[1:], duration=100, loop=0)
    result = convert(buf.getvalue(), budget=30_000, profile="sinch")
    assert result.mime == "image/gif" and result.frames > 1 and result.bytes <= 30_000
    assert "6 frames held at 161x91 to bound memory" in result.notes


def test_an_animation_s_search_stops_at_its_encode_limit_on_a_level_that_fits(monkeypatch):
    # Each encode of a long animation takes seconds; past the limit the search takes what it knows.
    monkeypatch.setattr("mediaprep.converters.gif.MAX_ENCODES", 3)
    result = convert(panned_animation(36, (480, 270)), budget=600_000, profile="sinch")
    assert result.mime == "image/gif" and result.encodes == 3 and result.bytes <= 600_000
    assert result.frames == 12  # the smallest level's, made second; one in two frames fits (above)
