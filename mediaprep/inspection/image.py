"""Image facts from Pillow, opened with the one decoder the content calls for."""

from __future__ import annotations

import contextlib
import importlib
import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace

from PIL import Image, JpegImagePlugin, UnidentifiedImageError

from ..errors import CorruptInput, DecompressionBomb, UnsupportedType
from ..settings import Settings
from ..warning_filters import Filter, held
from . import bmp_layouts, png_metadata
from .gif_frames import canvas_size
from .jpeg_segments import scan_count, unreadable_coding

PILLOW_FORMAT_BY_MIME = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/bmp": "BMP",
    "image/webp": "WEBP",
    "image/tiff": "TIFF",
    "image/heic": "HEIF",
    "image/heif": "HEIF",
    "image/avif": "AVIF",
}

# The readers of the formats above that Pillow does not load on its own (HEIF comes from
# pillow_heif). Image.init() would load all of Pillow's ~50 readers to find them, EPS's (which runs
# Ghostscript) among them, and took ~40 ms of a TIFF's or a WebP's first conversion in a process.
PILLOW_PLUGIN_BY_FORMAT = {"WEBP": "WebPImagePlugin", "TIFF": "TiffImagePlugin", "AVIF": "AvifImagePlugin"}

# Formats whose frames are an animation (a TIFF's or a HEIC's further pictures are pages or a burst).
ANIMATIONS = frozenset({"image/gif", "image/webp", "image/png", "image/avif"})

EXIF_ORIENTATION = 0x0112
# In a PNG's info: the chunk types dropped unread (png_metadata); converters/image.py says so in a note.
DROPPED = "mediaprep.dropped"
# The ancillary chunk types dropped for a wrong CRC (png_metadata.wrong_checksums), for the same note.
WRONG_CHECKSUMS = "mediaprep.wrong_checksums"
# im.info: the size a GIF's canvas grows to where a later frame reaches past its screen (gif_frames).
GROWN_CANVAS = "mediaprep.grown_canvas"

# Sinch names E341 for a corrupted image; the check reports it with that code.
CORRUPT_IMAGE_CODE = "E341"


@contextlib.contextmanager
def pillow_warnings() -> Iterator[None]:
    """Pillow's warnings as mediaprep takes them. A decompression bomb is an error. A damaged EXIF
    or TIFF tag, or a JPEG's damaged MPO index (cameras and editors write them), is not printed:
    Pillow skips it and reads the picture, and no metadata is ever sent; it was on stderr, twice,
    with Pillow's source paths."""
    with held(*_PILLOW_FILTERS):
        yield


_PILLOW_FILTERS = (
    Filter("error", Image.DecompressionBombWarning),
    Filter("ignore", UserWarning, module=r"PIL\.TiffImagePlugin"),
    Filter("ignore", UserWarning, message="Image appears to be a malformed MPO file"),
)


def orientation(im: Image.Image) -> int:
    """The EXIF orientation, 1 where there is none or it cannot be read."""
    if im.format == "PNG" and im.tile:
        # Pillow decodes a PNG to look for EXIF after its pixels. A failure there is the picture's,
        # not the EXIF's, and is not swallowed: asked again, Pillow hands back a blank picture.
        try:
            im.load()
        except Exception as exc:
            raise damaged(exc) from None
    try:
        with pillow_warnings():
            return int(im.getexif().get(EXIF_ORIENTATION, 1) or 1)
    except Exception:  # a broken EXIF block must not stop a readable picture
        return 1


def damaged(exc: BaseException) -> CorruptInput:
    """What any failure to decode a picture becomes: Pillow's decoders fail on hostile data with
    many exception types (struct.error, IndexError, ...), and every one means the same thing."""
    return CorruptInput(f"image data is damaged: {exc}", provider_code=CORRUPT_IMAGE_CODE)


@dataclass(frozen=True)
class ImageFacts:
    format: str
    width: int
    height: int
    frames: int
    orientation: int
    mode: str
    has_alpha: bool
    duration: float | None = None  # seconds an animation runs, its frames timed as browsers show them


def _register_heif() -> bool:
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def open_image(data: bytes, mime: str, settings: Settings) -> Image.Image:
    """Open (header only) with a format allowlist; the pixel ceiling is checked before any decode."""
    fmt = PILLOW_FORMAT_BY_MIME.get(mime)
    if fmt is None or (fmt == "HEIF" and not _register_heif()):
        raise UnsupportedType(f"no image decoder for {mime}")
    if fmt == "JPEG" and (coding := unreadable_coding(data)):
        raise UnsupportedType(f"this JPEG is {coding} (as medical imaging, scanners and some cameras write "
                              "them): mediaprep decodes the usual 8-bit, Huffman-coded lossy JPEG")
    dropped = png_metadata.past_limits(data) if fmt == "PNG" else frozenset()
    wrong = png_metadata.wrong_checksums(data) if fmt == "PNG" else frozenset()
    if dropped or wrong:
        data = png_metadata.without(data, dropped, wrong_checksums=wrong)
    try:
        with pillow_warnings():
            im = _opened(data, fmt)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecompressionBomb(f"image is too large to decode safely: {exc}") from None
    except UnidentifiedImageError as exc:
        reason = str(exc)
        if reason == "unknown pixel mode":
            raise UnsupportedType(f"this {mime} stores its pixels in a layout mediaprep cannot decode "
                                  "(for example floating-point colour)") from None
        raise CorruptInput(f"cannot read {mime} image: {reason}", provider_code=CORRUPT_IMAGE_CODE) from None
    except (OSError, SyntaxError, ValueError, IndexError, TypeError, EOFError, struct.error) as exc:
        reason = _reason(exc)
        if fmt == "BMP" and bmp_layouts.undecoded(reason):
            raise UnsupportedType(f"this BMP stores its pixels in a layout mediaprep cannot decode "
                                  f"({reason})") from None
        raise CorruptInput(f"cannot read {mime} image: {reason}", provider_code=CORRUPT_IMAGE_CODE) from None
    if dropped:
        im.info[DROPPED] = dropped
    if wrong:
        im.info[WRONG_CHECKSUMS] = wrong
    if fmt == "TIFF":
        _refuse_raw(im)
    if fmt == "BMP":
        bmp_layouts.read_fourth_byte_as_alpha(im, data)
    scans = scan_count(data) if fmt == "JPEG" else 0
    if scans > settings.max_jpeg_scans:
        raise DecompressionBomb(f"the JPEG has {scans} scans (at most {settings.max_jpeg_scans}): each is a pass "
                                "over the whole picture, a decode that would take minutes")
    if fmt == "GIF" and (canvas := canvas_size(data)) != im.size:
        if canvas[0] * canvas[1] > settings.max_image_pixels:
            raise DecompressionBomb(f"a frame of the GIF reaches past its {im.width}x{im.height} screen, which "
                                    f"makes it {canvas[0]}x{canvas[1]} ({canvas[0] * canvas[1] / 1e6:.1f} MP), over "
                                    f"the {settings.max_image_pixels / 1e6:.1f} MP ceiling (max_image_pixels)")
        im.info[GROWN_CANVAS] = canvas
    pixels = im.width * im.height
    # A JPEG of one scan is decoded a band at a time, at 1/2, 1/4 or 1/8 scale where that covers the
    # size needed, so its memory follows the size decoded (held to the ceiling by picture.decode): a
    # 200 MP one took 48 MB at 1/8. One of several scans holds every coefficient until the last
    # (that one took 630 MB), so the ceiling stands for it as for any other picture.
    ceiling = settings.max_image_pixels * (STREAMED_JPEG_ALLOWANCE if scans == 1 else 1)
    if pixels > ceiling:
        why = " (a JPEG of several scans, progressive, is held whole while it decodes)" if scans > 1 else ""
        raise DecompressionBomb(f"image is {im.width}x{im.height} ({pixels / 1e6:.1f} MP), over the "
                                f"{ceiling / 1e6:.1f} MP ceiling (max_image_pixels){why}")
    return im


# How far past the pixel ceiling a JPEG of one scan may declare itself: 4 x 64 MP takes in the 108
# and 200 MP modes of Samsung's and Xiaomi's phones and long panoramas.
STREAMED_JPEG_ALLOWANCE = 4


def _opened(data: bytes, fmt: str) -> Image.Image:
    # Image.open warns past Pillow's own limit (89.5 MP; an error here) and refuses past twice it,
    # whatever max_image_pixels allows: a ceiling raised for a phone's 108 or 200 MP HEIC did not
    # count. The format's own opener reads the same headers without that check, which open_image
    # makes against the setting. A JPEG's errors are its own (its factory raises them as they are).
    if fmt == "JPEG":
        return JpegImagePlugin.jpeg_factory(io.BytesIO(data))
    Image.preinit()  # BMP, GIF, JPEG, PNG (and PPM): Pillow's readers that load without a look-up
    if fmt not in Image.OPEN:
        importlib.import_module(f"PIL.{PILLOW_PLUGIN_BY_FORMAT[fmt]}")
    factory, accept = Image.OPEN[fmt]
    recognised = accept(data[:16]) if accept else True
    try:
        opened = factory(io.BytesIO(data), "")
    except (SyntaxError, IndexError, TypeError, struct.error) as exc:
        # What Image.open calls unidentified, its reason kept ("unknown pixel mode", "Not a BMP file").
        raise UnidentifiedImageError(_reason(exc)) from None
    if isinstance(recognised, str) or not recognised:  # a str: Pillow's warning that it is not this format
        # As Image.open would, though the decoder read the headers: its first bytes are not this format's.
        raise UnidentifiedImageError("the decoder does not recognise it")
    return opened


# What a reader's own code raises when a header points past the data or names a value it has no
# entry for: their words ("0", struct's buffer sizes) tell a user nothing.
_SLIPS = (KeyError, IndexError, TypeError, EOFError, struct.error)


def _reason(exc: BaseException) -> str:
    """Why a picture could not be opened, in the reader's words where it gave a reason."""
    # Pillow passes a slip on as SyntaxError(slip) from slip, in the slip's words; a reader's own
    # SyntaxError from one has words of its own ("unknown pixel mode"), which are kept.
    wrapped = isinstance(exc, SyntaxError) and exc.__cause__ is not None and str(exc) == str(exc.__cause__)
    slip = exc.__cause__ if wrapped else exc
    if isinstance(slip, _SLIPS):
        return f"its headers are damaged or cut short ({slip!r})"
    return str(exc) or type(exc).__name__


DNG_VERSION, NEW_SUBFILE_TYPE = 50706, 254
MAX_PAGES_COUNTED = 100  # a TIFF's (frame_count)


def _refuse_raw(im: Image.Image) -> None:
    """A camera raw (DNG, and the TIFF-based raws of Nikon, Sony and others) opens as a TIFF, but
    what Pillow sees is the small preview in front of the sensor data: a phone's ProRAW went out as
    its 256x192 thumbnail, without a word."""
    tags = getattr(im, "tag_v2", {})
    if DNG_VERSION in tags:
        raise UnsupportedType(f"a camera raw photo (DNG): mediaprep does not develop raw files, and all it can read "
                              f"of it is a {im.width}x{im.height} preview; send the JPEG or HEIC the camera makes")
    if int(tags.get(NEW_SUBFILE_TYPE, 0) or 0) & 1:
        raise UnsupportedType(f"the TIFF's first picture is a {im.width}x{im.height} preview of another it holds "
                              "(a camera raw?), which mediaprep cannot decode")


def image_facts(data: bytes, mime: str, settings: Settings) -> ImageFacts:
    im = open_image(data, mime, settings)
    with im:
        try:
            with pillow_warnings():
                return _facts(im, mime, frame_count(im), frame_limit(im, settings))
        except Image.DecompressionBombWarning as exc:
            raise DecompressionBomb(f"image is too large to decode safely: {exc}") from None
        except Exception as exc:
            raise damaged(exc) from None


def frame_count(im: Image.Image) -> int:
    """The frames or pages in the file. A TIFF's pages are counted up to MAX_PAGES_COUNTED + 1
    ("more than"): Pillow reads every page's directory to count them (20000 one-pixel pages in
    2.5 MB: 8 s), and only the first page is used."""
    if im.format == "TIFF":
        # Page by page: after a seek past the end Pillow's own count is wrong (3 pages said 101).
        try:
            for page in range(1, MAX_PAGES_COUNTED + 1):
                try:
                    im.seek(page)
                except EOFError:
                    return page
            return MAX_PAGES_COUNTED + 1
        finally:
            im.seek(0)
    return int(getattr(im, "n_frames", 1) or 1)


def shown_picture(im: Image.Image) -> int:
    """The picture of a file that viewers show: a HEIF's primary one, which need not be stored
    first (pillow-heif marks it in info["primary"]); any other file's first."""
    if im.format != "HEIF" or getattr(im, "n_frames", 1) <= 1:
        return 0
    for i in range(im.n_frames):
        im.seek(i)  # no decoding: pillow-heif reads a picture's pixels only on load
        if im.info.get("primary"):
            return i
    return 0


def frame_limit(im: Image.Image, settings: Settings) -> int:
    """How many frames of this animation may be decoded: max_frames, and fewer on a large canvas
    (each frame is drawn on all of it, as large as a GIF's frames make it), so that all of them stay
    within max_animation_pixels."""
    width, height = im.info.get(GROWN_CANVAS, im.size)
    return max(1, min(settings.max_frames, settings.max_animation_pixels // max(1, width * height)))


def _facts(im: Image.Image, mime: str, frames: int, max_frames: int) -> ImageFacts:
    im.seek(shown_picture(im))
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    size, mode = im.size, im.mode
    # Decode once to prove the data is whole; JPEG decodes at 1/8 scale, which is enough for that.
    if mime == "image/jpeg":
        im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
    im.load()
    # Read after loading: Pillow turns a TIFF by its Orientation tag itself (its size is upright
    # from the start) and drops the tag as it loads; other formats keep theirs for us to apply.
    facts = ImageFacts(im.format or "", *size, frames, orientation(im), mode, has_alpha)
    if mime in ANIMATIONS and 1 < frames <= max_frames:
        # An animation is shown whole: a damaged later frame is as broken as a damaged first one
        # (an APNG's seek decodes the frame before it). Past the frame limit the converter keeps
        # only the first frame, and the animation is not walked.
        ms = sum(frame_times(im, frames, load=mime != "image/png"))
        facts = replace(facts, duration=ms / 1000)
    return facts


def frame_times(im: Image.Image, n_frames: int, *, load: bool = False) -> Iterator[int]:
    """The first ``n_frames`` frames' times on screen (shown_ms), seeking to each in turn; ``load``
    decodes every frame. An AVIF frame is loaded anyway: only then does it report its duration."""
    for i in range(n_frames):
        im.seek(i)
        if load or im.format == "AVIF":
            im.load()
        yield shown_ms(im.info.get("duration"))


def shown_ms(duration: float | None) -> int:
    """A frame's time on screen. Browsers (Chrome, Firefox, Safari) show a frame of 10 ms or less,
    or of none, for 100 ms."""
    return 100 if not duration or duration <= 10 else int(duration)
