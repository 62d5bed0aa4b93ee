"""Turning any still picture into clean upright sRGB pixels, decoded once at the size needed.

Orientation is applied to the pixels, colour is converted to sRGB from the
embedded ICC profile, alpha is flattened on white, and nothing of the source's
metadata survives (the pixels are all that is passed on).
"""

from __future__ import annotations

import functools
import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image, ImageCms

from ..errors import CorruptInput, DecompressionBomb
from ..inspection import icc_tags
from ..inspection.image import (
    MAX_PAGES_COUNTED,
    damaged,
    open_image,
    orientation,
    pillow_warnings,
)
from ..inspection.jpeg_segments import trailing_video_bytes
from ..settings import Settings
from . import colour_codes

_SRGB = ImageCms.createProfile("sRGB")
MIN_HALF_ROWS = 64  # below this a second thread costs more than it saves
FLATTENED = "transparency flattened on white"


def first_picture_notes(data: bytes, mime: str, pages: int) -> list[str]:
    """What a file of several pictures leaves out when one is sent: a TIFF's further pages, a
    HEIC burst, a JPEG's MPF pictures, a motion photo's video. ``pages``: the caller's frame_count."""
    notes: list[str] = []
    if pages > MAX_PAGES_COUNTED and mime == "image/tiff":
        notes.append(f"the TIFF has more than {MAX_PAGES_COUNTED} pages; the first is used")
    elif pages > 1 and mime == "image/tiff":
        notes.append(f"the TIFF has {pages} pages; the first is used")
    elif pages > 1 and mime in ("image/heic", "image/heif"):
        notes.append(f"the file holds {pages} pictures; the primary one is used")
    elif pages > 1 and mime == "image/jpeg":
        notes.append(f"the JPEG holds {pages} pictures (MPF: a gain map, a second view or a preview); the "
                     "first is used")
    if mime == "image/jpeg" and (video := trailing_video_bytes(data)):
        notes.append(f"the motion photo's video ({video} bytes after the picture) is left out; the still "
                     "is sent")
    return notes


def decode(data: bytes, mime: str, settings: Settings, max_long_side: int, picture: int,
           opened: Image.Image | None = None, codes: tuple[int, int] | None = None) -> tuple[Image.Image, list[str]]:
    """Upright RGB (or L) pixels of ``picture`` (the frame, page or picture sent), no larger than
    needed for ``max_long_side``; notes on what was done. ``opened``: the caller's open_image of
    ``data``, perhaps loaded already, used for anything but a JPEG (which is opened afresh, to be
    decoded at reduced size). ``codes``: colour_codes.coded_colours(data, mime)."""
    notes: list[str] = []
    im = opened if opened is not None and mime != "image/jpeg" else open_image(data, mime, settings)
    try:
        with pillow_warnings():
            im.seek(picture)
            if mime == "image/jpeg":
                # Decode at 1/2, 1/4 or 1/8 scale when that still covers the target size.
                im.draft(im.mode, _fit_box(im.size, max_long_side))
                _within_ceiling(im, settings)
            im.load()
            exif_orientation = orientation(im)
            im = _to_srgb(im, im.info.get("icc_profile"), notes, codes)
            im = _to_output_mode(im, notes)
            if exif_orientation in range(2, 9):
                im = _apply_orientation(im, exif_orientation)
                notes.append(f"EXIF orientation {exif_orientation} applied to the pixels")
    except Image.DecompressionBombWarning as exc:
        raise DecompressionBomb(f"image is too large to decode safely: {exc}") from None
    except (CorruptInput, DecompressionBomb):
        raise
    except Exception as exc:
        raise damaged(exc) from None
    # Shrink-on-load lands within a factor of two above the target; a picture that close is
    # kept as it is (the search resizes anyway), saving a full-size resample.
    if max(im.size) > max_long_side * 1.3:
        im = resize_long_side(im, max_long_side, halves=True)
    return im, notes


def upright_alpha(im: Image.Image, size: tuple[int, int]) -> Image.Image | None:
    """The loaded frame's alpha, turned as decode turns its pixels and scaled to ``size`` (theirs);
    None where every pixel is opaque. Only for pictures of at most 256 colours (no 16-bit grey)."""
    if im.mode not in ("RGBA", "LA", "PA") and "transparency" not in im.info:
        return None
    alpha = im.convert("RGBA").getchannel("A")
    if alpha.getextrema()[0] == 255:
        return None
    if (turn := orientation(im)) in range(2, 9):
        alpha = _apply_orientation(alpha, turn)
    return alpha if alpha.size == size else alpha.resize(size, Image.Resampling.LANCZOS)


def colours_as_sent(im: Image.Image, colours: list[tuple[int, object]], codes: tuple[int, int] | None = None,
                    ) -> list[int]:
    """A picture's own colours (getcolors' list, in its mode) as decode sends them: in sRGB, flattened
    on white; packed 0xRRGGBB, each once, in the order given. Taken from the source, not from the
    decoded pixels: scaled, a page of thin black text has more near-white ringing than black."""
    tiny = Image.new(im.mode, (len(colours), 1))
    tiny.putdata([colour for _, colour in colours])
    if im.mode in ("P", "PA") and im.palette is not None:
        rawmode = "RGBA" if im.palette.mode == "RGBA" else "RGB"
        tiny.putpalette(im.getpalette(rawmode) or [], rawmode)
    tiny.info = {key: im.info[key] for key in ("transparency", "icc_profile") if key in im.info}
    sent = _to_output_mode(_to_srgb(tiny, tiny.info.get("icc_profile"), [], codes), []).convert("RGB")
    return list(dict.fromkeys(packed_rgb(np.asarray(sent)).ravel().tolist()))


def packed_rgb(pixels: np.ndarray) -> np.ndarray:
    """RGB or RGBA pixels (channels last, any shape) as 0xRRGGBB."""
    return pixels[..., 0].astype(np.uint32) << 16 | pixels[..., 1].astype(np.uint32) << 8 | pixels[..., 2]


def _within_ceiling(im: Image.Image, settings: Settings) -> None:
    # open_image lets a JPEG of one scan declare more than the ceiling; what is decoded may not.
    if im.width * im.height > settings.max_image_pixels:
        raise DecompressionBomb(f"the JPEG would be decoded at {im.width}x{im.height} "
                                f"({im.width * im.height / 1e6:.1f} MP) for the size needed, over the "
                                f"{settings.max_image_pixels / 1e6:.1f} MP ceiling (max_image_pixels)")


def size_at_long_side(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """``size`` scaled to ``long_side`` on its long side, as resize_long_side makes it."""
    w, h = size
    scale = long_side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def resize_long_side(im: Image.Image, long_side: int, *, halves: bool = False) -> Image.Image:
    """Lanczos to ``long_side``; with ``halves``, the top and bottom half on two threads."""
    w, h = im.size
    size = size_at_long_side(im.size, long_side)
    if not halves or size[1] < 2 * MIN_HALF_ROWS:
        return _resampled(im, size)
    # Pillow releases the GIL while it resamples, so the halves take about half the time on two
    # cores. Each half reads the source rows its filter needs across the cut (a box in source
    # coordinates), so there is no seam; the pixels differ from one whole resize only by rounding
    # (a level or two, up to four where Pillow's integer reduce runs first).
    cut = size[1] // 2
    rows = h / size[1]
    with ThreadPoolExecutor(max_workers=1) as pool:
        bottom = pool.submit(_resampled, im, (size[0], size[1] - cut), (0, cut * rows, w, h))
        top = _resampled(im, (size[0], cut), (0, 0, w, cut * rows))
        out = Image.new(im.mode, size)
        out.paste(top, (0, 0))
        out.paste(bottom.result(), (0, cut))
    return out


def _resampled(
    im: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float] | None = None
) -> Image.Image:
    # reducing_gap: a fast integer reduce first, then Lanczos for the last factor under 2.
    return im.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=2.0)


def _fit_box(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    w, h = size
    scale = min(1.0, long_side / max(w, h))
    return max(1, int(w * scale)), max(1, int(h * scale))


def _to_srgb(im: Image.Image, icc: bytes | None, notes: list[str], codes: tuple[int, int] | None = None,
             ) -> Image.Image:
    if (icc or codes is not None) and im.mode in ("P", "PA"):
        # A palette's colours are in the profile's (or the codes') space like any others (an 8-bit
        # PNG saved with its profile): a Display P3 red went out as the duller sRGB one of the same numbers.
        im = im.convert("RGBA" if im.mode == "PA" or "transparency" in im.info else "RGB")
    if codes is not None and im.mode in ("RGB", "RGBA"):  # given, they come before the ICC profile
        return colour_codes.to_srgb(im, codes, notes)
    if icc and im.mode in ("L", "LA", "RGB", "RGBA") and (tones := _grey_tones(icc)) is not None:
        notes.append("grey tones converted to sRGB from the embedded ICC profile")
        return _with_tones(im, tones)
    # Other grey pixels are kept whatever their profile (a colour one on grey pixels is a mistake),
    # and littlecms turned grey-and-alpha ones to sRGB with every alpha 0 (white all over, flattened).
    if not icc or im.mode not in ("RGB", "RGBA", "CMYK"):
        if im.mode == "CMYK":
            notes.append("CMYK converted to RGB without a colour profile")
            return im.convert("RGB")
        return im
    try:
        source = _profile(icc)
        out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
        if im.mode != "CMYK" and _sent_as_they_are(source):
            return im
        converted = ImageCms.profileToProfile(im, source, _SRGB, outputMode=out_mode)
        notes.append("colour converted to sRGB from the embedded ICC profile")
        return converted if converted is not None else im
    except (ImageCms.PyCMSError, OSError, ValueError):
        notes.append("the embedded ICC profile is unreadable; colours taken as sRGB")
        return im.convert("RGB") if im.mode == "CMYK" else im


def keeps_colours(im: Image.Image, codes: tuple[int, int] | None = None) -> bool:
    """Whether decode sends each of this picture's colours as one colour of its own choosing: it has
    no ICC profile, an sRGB or a grey one (its tones mapped level by level: in_srgb_tones), or grey
    pixels, which _to_srgb keeps under a colour one. ``codes``: colour_codes.coded_colours' answer;
    colours it calls for converting are not kept."""
    if codes is not None:
        return False
    icc = im.info.get("icc_profile")
    if not icc or im.mode in ("1", "L", "LA"):
        return True
    try:
        return _sent_as_they_are(_profile(icc))
    except (ImageCms.PyCMSError, OSError, ValueError):
        return False


# Tones a grey profile shows within this many levels of sRGB's, on average, are sent as they are:
# Gray Gamma 2.2 (scanners', Photoshop's) is within 2; Gray Gamma 1.8 is 12 away, Dot Gain 20 %
# (Photoshop's default grey working space) 15, each lighter in the middle tones.
GREY_TONES_ALIKE = 3


@functools.lru_cache(maxsize=8)
def _grey_tones(icc: bytes) -> tuple[int, ...] | None:
    """A grey profile's 256 tones as sRGB shows them, where they differ from sRGB's own; None for
    any other profile (or one that cannot be read)."""
    if icc[16:20] != b"GRAY":  # the header's colour space: a colour profile is parsed by _to_srgb alone
        return None
    try:
        profile = _profile(icc)
        ramp = Image.frombytes("L", (256, 1), bytes(range(256)))
        shown = ImageCms.profileToProfile(ramp, profile, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None
    tones = tuple(shown.getchannel("G").tobytes()) if shown is not None else tuple(range(256))
    return tones if sum(abs(a - b) for a, b in enumerate(tones)) > GREY_TONES_ALIKE * 256 else None


def in_srgb_tones(im: Image.Image) -> Image.Image:
    """A loaded picture with its grey profile's tones as sRGB shows them, as decode sends them
    (a palette's entries mapped); the picture itself where its profile calls for nothing."""
    icc = im.info.get("icc_profile")
    tones = _grey_tones(icc) if icc and im.mode in ("L", "LA", "RGB", "RGBA", "P", "PA") else None
    if tones is None:
        return im
    if im.mode not in ("P", "PA"):
        return _with_tones(im, tones)
    toned = im.copy()
    rawmode = "RGBA" if im.palette is not None and im.palette.mode == "RGBA" else "RGB"
    palette = im.getpalette(rawmode) or []
    toned.putpalette([v if rawmode == "RGBA" and i % 4 == 3 else tones[v] for i, v in enumerate(palette)], rawmode)
    return toned


def _with_tones(im: Image.Image, tones: tuple[int, ...]) -> Image.Image:
    """``im`` with every grey (or colour) level mapped through ``tones``; its alpha as it was."""
    same = list(range(256))
    bands = len(im.getbands())
    table = list(tones) * (bands - 1) + (same if im.mode in ("LA", "RGBA") else list(tones))
    return im.point(table)


def _profile(icc: bytes) -> ImageCms.ImageCmsProfile:
    """The embedded profile as littlecms reads it, without its floating-point tags (icc_tags)."""
    return ImageCms.ImageCmsProfile(io.BytesIO(icc_tags.without_float_tags(icc)))


def _sent_as_they_are(profile: ImageCms.ImageCmsProfile) -> bool:
    """An sRGB profile: the transform would change nothing and costs ~25 ms per MP. A grey one (a
    palette of greys saved with one): littlecms cannot take colour pixels from it, and its tones,
    where sRGB shows them otherwise, are _grey_tones' work."""
    # Phones and editors name their sRGB profiles "sRGB IEC61966-2.1", "sRGB", "sRGB built-in".
    srgb = (ImageCms.getProfileDescription(profile) or "").strip().lower().startswith("srgb")
    return srgb or profile.profile.xcolor_space.strip() == "GRAY"


def _range_scale(im: Image.Image) -> float:
    """What takes grey of no fixed range (32-bit) to 8 bits: the range its highest value is in
    (0..1, 8 or 16 bits), else the highest value to white."""
    high = float(im.getextrema()[1] or 0)
    return 255.0 if high <= 1 else 1.0 if high <= 255 else 1 / 257 if high <= 65535 else 255 / high


def _to_output_mode(im: Image.Image, notes: list[str]) -> Image.Image:
    mode = im.mode
    if mode in ("RGB", "L") and "transparency" not in im.info:
        return im
    if mode in ("RGB", "L"):
        # A colour named clear (a PNG's tRNS): Pillow's RGBA makes it the alpha, flattened below.
        im = im.convert("RGBA")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit grey: scale to 8 bits (a plain convert would clip everything above 255 to white).
        # 32-bit grey (instruments, ImageJ) has no fixed range: its own says which scale it is in.
        scale = 1 / 257 if mode != "I" else _range_scale(im)
        notes.append(f"{16 if mode != 'I' else 32}-bit grey scaled to 8 bits")
        wide = im.convert("I")
        grey = wide.point(lambda v: v * scale).convert("L")
        key = im.info.get("transparency")
        if not isinstance(key, int):
            return grey
        # A grey level named clear (a 16-bit PNG's tRNS): those pixels are the white they are shown on.
        clear = np.asarray(wide) == key  # Pillow's point() on 32-bit pixels takes only v * a + b
        grey.paste(255, mask=Image.fromarray(clear))
        notes.append(FLATTENED)
        return grey
    if mode == "F":
        # Floating-point grey (32-bit exports from editors and instruments) is usually 0..1 and a
        # plain convert made it black.
        scale = _range_scale(im)
        notes.append("floating-point grey scaled to 8 bits")
        return im.point(lambda v: v * scale).convert("L")
    if mode == "1":
        return im.convert("L")
    if mode in ("P", "PA"):
        im = im.convert("RGBA" if "transparency" in im.info or mode == "PA" else "RGB")
        if im.mode == "RGB":
            return im
    if im.mode == "La":
        im = im.convert("LA")  # grey premultiplied by its alpha (a TIFF's): Pillow turns it into nothing else
    if im.mode in ("LA", "RGBa"):
        im = im.convert("RGBA")
    if im.mode == "RGBA":
        # One alpha plane, and no copy of an RGBA picture: at the 64 MP ceiling each RGBA or RGB
        # plane is 256 MB (Pillow keeps RGB in four bytes a pixel), and the peak was 936 MB.
        alpha = im.getchannel("A")
        lowest_alpha = alpha.getextrema()[0]
        if isinstance(lowest_alpha, (int, float)) and lowest_alpha < 255:
            notes.append(FLATTENED)
        white = Image.new("RGB", im.size, (255, 255, 255))
        white.paste(im, mask=alpha)
        return white
    return im.convert("RGB")


def _apply_orientation(im: Image.Image, orientation: int) -> Image.Image:
    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }[orientation]
    return im.transpose(method)

