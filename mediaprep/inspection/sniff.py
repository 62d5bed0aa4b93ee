"""What a file really is: MIME from its bytes (libmagic), never from its name."""

from __future__ import annotations

import threading

import magic

from ..reading import HEAD_BYTES

# libmagic's answers differ between versions; fold them onto one name each.
_ALIASES = {
    "image/x-ms-bmp": "image/bmp",
    "image/x-bmp": "image/bmp",
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/heif-sequence": "image/heif",
    "image/heic-sequence": "image/heic",
    "audio/x-wav": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/x-m4a": "audio/mp4",
    "audio/x-hx-aac-adts": "audio/aac",
    "audio/x-aac": "audio/aac",
    "audio/x-amr": "audio/amr",
    "audio/x-flac": "audio/flac",
    "audio/x-aiff": "audio/aiff",
    "audio/mp3": "audio/mpeg",
    "video/x-m4v": "video/mp4",
    "video/x-ms-wmv": "video/x-ms-asf",
    "audio/x-ms-wma": "video/x-ms-asf",
    "video/3gpp2": "video/3gpp2",
    "text/x-vcard": "text/vcard",
    "text/directory": "text/vcard",
    "application/x-pdf": "application/pdf",
}

KIND_BY_MIME = {
    "image/jpeg": "image",
    "image/png": "image",
    "image/gif": "image",
    "image/bmp": "image",
    "image/webp": "image",
    "image/tiff": "image",
    "image/heic": "image",
    "image/heif": "image",
    "image/avif": "image",
    "audio/mpeg": "audio",
    "audio/wav": "audio",
    "audio/mp4": "audio",
    "audio/aac": "audio",
    "audio/ogg": "audio",
    "audio/amr": "audio",
    "audio/flac": "audio",
    "audio/aiff": "audio",
    "audio/x-caf": "audio",
    "audio/basic": "audio",  # Sun/NeXT .au: telephony systems' and Java's sounds, mostly 8 kHz µ-law
    "audio/3gpp": "audio",
    "audio/3gpp2": "audio",
    "audio/webm": "audio",
    "audio/x-matroska": "audio",
    "audio/x-ms-wma": "audio",
    "audio/x-flv": "audio",
    "video/mp4": "video",
    "video/quicktime": "video",
    "video/3gpp": "video",
    "video/3gpp2": "video",
    "video/mpeg": "video",
    "video/webm": "video",
    "video/ogg": "video",
    "video/x-flv": "video",  # Flash Video: OBS's recordings before 2022, RTMP captures
    "video/x-dv": "video",  # raw DV: MiniDV camcorders' tapes, captured over FireWire (iMovie, Premiere)
    "video/x-matroska": "video",
    "video/x-msvideo": "video",
    "video/mp2t": "video",
    "video/x-ms-asf": "video",  # Windows Media, sound (.wma) or video (.wmv): the probe tells
    "text/vcard": "contact",
    "text/calendar": "calendar",
    "application/pdf": "pdf",
    "text/plain": "text",
}

KINDS = ("image", "audio", "video", "contact", "calendar", "pdf", "text", "unknown")

# What each common extension promises; used only to flag a lie, never to decide the type.
MIMES_BY_EXTENSION = {
    "jpg": {"image/jpeg"},
    "jpeg": {"image/jpeg"},
    "jpe": {"image/jpeg"},
    "png": {"image/png"},
    "gif": {"image/gif"},
    "bmp": {"image/bmp"},
    "webp": {"image/webp"},
    "tif": {"image/tiff"},
    "tiff": {"image/tiff"},
    "heic": {"image/heic", "image/heif"},
    "heif": {"image/heic", "image/heif"},
    "avif": {"image/avif"},
    "mp3": {"audio/mpeg"},
    "wav": {"audio/wav"},
    "m4a": {"audio/mp4", "video/mp4"},
    "aac": {"audio/aac"},
    "ogg": {"audio/ogg", "video/ogg"},  # .ogv is the name for video since RFC 5334; .ogg came first
    "ogv": {"video/ogg", "audio/ogg"},
    "oga": {"audio/ogg"},
    "amr": {"audio/amr"},
    "flac": {"audio/flac"},
    "aif": {"audio/aiff"},
    "aiff": {"audio/aiff"},
    "aifc": {"audio/aiff"},
    "caf": {"audio/x-caf"},
    "au": {"audio/basic"},
    "snd": {"audio/basic"},
    "mp4": {"video/mp4", "audio/mp4"},
    "m4v": {"video/mp4"},
    "f4v": {"video/mp4"},
    "mov": {"video/quicktime"},
    "qt": {"video/quicktime"},
    "3gp": {"video/3gpp", "audio/3gpp"},
    "3g2": {"video/3gpp2", "audio/3gpp2"},
    "mpg": {"video/mpeg"},
    "mpeg": {"video/mpeg"},
    "webm": {"video/webm", "audio/webm"},
    "weba": {"audio/webm"},
    "mkv": {"video/x-matroska", "audio/x-matroska"},
    "mka": {"audio/x-matroska"},
    "avi": {"video/x-msvideo"},
    "ts": {"video/mp2t"},
    "mts": {"video/mp2t"},
    "m2ts": {"video/mp2t"},
    "wmv": {"video/x-ms-asf"},
    "wma": {"audio/x-ms-wma"},
    "flv": {"video/x-flv", "audio/x-flv"},
    "dv": {"video/x-dv"},
    "asf": {"video/x-ms-asf", "audio/x-ms-wma"},
    "vcf": {"text/vcard"},
    "vcard": {"text/vcard"},
    "ics": {"text/calendar"},
    "ical": {"text/calendar"},
    "ifb": {"text/calendar"},
    "pdf": {"application/pdf"},
    "txt": {"text/plain"},
}

EXTENSION_BY_MIME = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/bmp": "bmp",
    "image/webp": "webp",
    "image/tiff": "tiff",
    "image/heic": "heic",
    "image/heif": "heif",
    "image/avif": "avif",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/mp4": "m4a",
    "audio/aac": "aac",
    "audio/ogg": "ogg",
    "audio/amr": "amr",
    "audio/flac": "flac",
    "audio/aiff": "aiff",
    "audio/x-caf": "caf",
    "audio/basic": "au",
    "audio/3gpp": "3gp",
    "audio/3gpp2": "3g2",
    "audio/webm": "webm",
    "audio/x-matroska": "mka",
    "audio/x-ms-wma": "wma",
    "audio/x-flv": "flv",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/3gpp": "3gp",
    "video/3gpp2": "3g2",
    "video/mpeg": "mpg",
    "video/webm": "webm",
    "video/ogg": "ogv",
    "video/x-matroska": "mkv",
    "video/x-msvideo": "avi",
    "video/mp2t": "ts",
    "video/x-ms-asf": "asf",
    "video/x-flv": "flv",
    "video/x-dv": "dv",
    "text/vcard": "vcf",
    "text/calendar": "ics",
    "application/pdf": "pdf",
    "text/plain": "txt",
}

# A video container holding only sound is audio to a phone and to a provider, and is served as
# such: libmagic reads only the container, the probe finds what is in it.
AUDIO_TWIN = {
    "video/mp4": "audio/mp4",
    "video/3gpp": "audio/3gpp",
    "video/3gpp2": "audio/3gpp2",
    "video/webm": "audio/webm",
    "video/ogg": "audio/ogg",
    "video/x-matroska": "audio/x-matroska",
    "video/x-ms-asf": "audio/x-ms-wma",
    "video/x-flv": "audio/x-flv",
}

VIDEO_TWIN = {sound: container for container, sound in AUDIO_TWIN.items()}


# The aliases that servers and callers give and that providers take as the same type (not all of
# libmagic's: image/pjpeg served for a JPEG is still a mismatch).
_SPELLINGS = {alias: _ALIASES[alias] for alias in ("image/jpg", "audio/mp3", "text/x-vcard", "audio/x-wav")}


def canonical_type(mime: str) -> str:
    """``mime`` as mediaprep names it: image/jpg is image/jpeg, audio/mp3 is audio/mpeg."""
    mime = mime.split(";")[0].strip().lower()
    return _SPELLINGS.get(mime, mime)


def same_type(said: str, found: str) -> bool:
    """Whether ``said`` (a server's or a caller's type) is a true name for content that sniff_mime
    calls ``found``. A video container's sound-only twin is: libmagic reads only the container."""
    said = canonical_type(said)
    return said == found or AUDIO_TWIN.get(found) == said or AUDIO_TWIN.get(said) == found


def as_held(mime: str, has_video: bool) -> tuple[str, str]:
    """The kind and type of a sound or video file by what the probe found in it, not by libmagic's
    name for its container: an mp4 of sound alone is audio/mp4, and an MP4 whose brand libmagic
    takes for sound (Sony's MSNV, iTunes' M4A) but which holds a picture is video/mp4."""
    return ("video", VIDEO_TWIN.get(mime, mime)) if has_video else ("audio", AUDIO_TWIN.get(mime, mime))

# Byte order marks of UTF-16 text, little- and big-endian: how Windows tools start their text files.
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

# One Magic object per thread: sharing one across threads can crash libmagic.
_local = threading.local()


def _magic() -> magic.Magic:
    m = getattr(_local, "magic", None)
    if m is None:
        m = _local.magic = magic.Magic(mime=True)
        # What libmagic reads of a buffer differs by version (1 MiB, then 7): held to the bytes a
        # source is sniffed from, the answer is the same for the head as for the whole file.
        m.setparam(magic.MAGIC_PARAM_BYTES_MAX, HEAD_BYTES)
    return m


def sniff_mime(data: bytes) -> str:
    """The MIME type libmagic finds in the content (aliases folded); its first HEAD_BYTES decide."""
    mime = _magic().from_buffer(data).split(";")[0].strip().lower()
    mime = _ALIASES.get(mime, mime)
    if mime == "text/plain":
        mime = _text_object(data) or mime
    elif mime == "application/octet-stream":
        mime = _unknown_to_libmagic(data) or mime
    return mime


def _unknown_to_libmagic(data: bytes) -> str | None:
    if data[:6] == b"caff\0\1":
        return "audio/x-caf"  # Apple's Core Audio Format: iMessage voice notes, iOS apps
    # MPEG transport streams (camcorders' AVCHD .mts, recorders, broadcast): packets of 188 bytes
    # that each start with 0x47, or of 192 with a 4-byte time code first (.m2ts). Five in a row.
    for size, start in ((188, 0), (192, 4)):
        if len(data) >= start + size * 5 and all(data[start + size * i] == 0x47 for i in range(5)):
            return "video/mp2t"
    return _iso_media(data)


# Compatible brands that make an ISO base media file an MP4 whatever its own brand.
_MP4_BRANDS = frozenset({b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1"})
_STILL_BRANDS = frozenset({b"crx "})  # Canon's CR3 raw photos, also ISO media and "isom"-compatible


def _iso_media(data: bytes) -> str | None:
    # An MP4 under a brand of its own that libmagic does not know (Sony's XAVC S cameras, Adobe's
    # F4V, KDDI's au phones' "kddi" 3GPP2): its ftyp box lists the brands it is compatible with.
    size = int.from_bytes(data[:4], "big")
    if data[4:8] != b"ftyp" or not 16 <= size <= min(len(data), 256) or data[8:12] in _STILL_BRANDS:
        return None
    compatible = {data[i : i + 4] for i in range(16, size - 3, 4)}
    if compatible & _MP4_BRANDS:
        return "video/mp4"
    if b"qt  " in compatible:
        return "video/quicktime"
    # 3GPP2's brands are 3g2a-3g2c; 3GPP's the other "3g" ones (3gp4-7, 3gs7, 3gr6, 3ge6, ...).
    if any(brand.startswith(b"3g2") for brand in compatible):
        return "video/3gpp2"
    return "video/3gpp" if any(brand.startswith(b"3g") for brand in compatible) else None


def _text_object(data: bytes) -> str | None:
    # Some libmagic builds call vCards and iCalendars plain text, and every build calls them so in
    # UTF-16 (as Windows tools write them); the first line decides.
    if data[:2] in UTF16_BOMS:
        data = data[:130].decode("utf-16", "ignore").encode("utf-8")
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n").upper()
    if head.startswith(b"BEGIN:VCARD"):
        return "text/vcard"
    if head.startswith(b"BEGIN:VCALENDAR"):
        return "text/calendar"
    return None


def kind_of(mime: str) -> str:
    return KIND_BY_MIME.get(mime, "unknown")


def extension_of(name: str | None) -> str | None:
    if not name or "." not in name.rsplit("/", 1)[-1]:
        return None
    return name.rsplit(".", 1)[-1].lower() or None


def extension_mismatch(extension: str | None, mime: str) -> bool:
    """True when the name promises a type the content is not (unknown extensions promise nothing)."""
    expected = MIMES_BY_EXTENSION.get(extension or "")
    return expected is not None and mime not in expected
