"""Provider and carrier profiles: TOML data loaded into frozen dataclasses.

A profile says what one provider (or carrier route) accepts. Every key is
checked: an unknown key or a value of the wrong type is an InvalidProfile
error naming the file and the key, never silently ignored.

Profiles combine with ``+``: ``clicksend+att-toll-free`` is ClickSend's rules
with the AT&T toll-free route's limits on top, the stricter value winning.
"""

from __future__ import annotations

import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from .errors import InvalidProfile, UnknownProfile, UsageError
from .inspection.sniff import AUDIO_TWIN, kind_of
from .settings import Settings, resolved_settings

MEDIA_KINDS = ("image", "audio", "video", "contact", "calendar", "pdf")
PDF_FEATURES = ("javascript", "openaction", "aa", "launch", "embeddedfile", "richmedia", "xfa")
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True)
class MessageRules:
    max_slides: int | None = None
    # Media files in the whole message, whatever slides hold them: an API that takes a list of
    # media (Twilio's ten MediaUrl) rather than slides.
    max_media: int | None = None
    max_bytes: int | None = None  # whole message, compared with the base64 estimate
    max_recipients: int | None = None
    # Flags default to the permissive value, so that combining with a profile
    # that does not set them changes nothing.
    # Sinch: "SHALL NOT support multiple files of similar type on the same slide".
    one_file_per_kind: bool = False
    require_media: bool = False


@dataclass(frozen=True)
class MediaRule:
    accept: tuple[str, ...] = ()  # sent as they are
    convert: tuple[str, ...] = ()  # accepted once mediaprep has converted them to the target
    max_bytes: int | None = None
    # PDF features refused outright (javascript, openaction, aa, launch, embeddedfile, richmedia, xfa);
    # the others found are reported as warnings.
    forbid: tuple[str, ...] = ()


@dataclass(frozen=True)
class SlideMix:
    """Kinds that may not share a slide: any of ``kinds`` together with any other of ``with_``."""

    kinds: tuple[str, ...]
    with_: tuple[str, ...]
    problem: str


@dataclass(frozen=True)
class TextRules:
    # "gsm": GSM 03.38 units, with the *_unicode limits once any character is outside it.
    counting: str = "chars"
    body: int | None = None
    body_unicode: int | None = None
    slide_text: int | None = None
    subject: int | None = None
    subject_recommended: int | None = None
    subject_unicode: bool = True
    title: int | None = None
    fallback_sms: int | None = None
    fallback_sms_recommended: int | None = None
    # "never", "without_subject" (Sinch XML) or "unless_disabled" (Sinch JSON).
    fallback_required: str = "never"


@dataclass(frozen=True)
class ImageTarget:
    format: str = "jpeg"
    max_long_side: int = 1600
    min_long_side: int = 320
    min_quality: int = 10
    keep_gif: bool = True  # an animated GIF stays a GIF where the profile takes GIF
    progressive: bool = True  # progressive JPEG is smaller; some old handsets only show baseline
    # False where max_long_side is what the handsets can decode (OMA's 640x480), not only what a
    # screen shows: then no picture is longer, whatever its shape.
    stretch_elongated: bool = True

    def long_side_for(self, size: tuple[int, int]) -> int:
        """max_long_side for a picture of this shape (longer for one more elongated than 2:1), and
        never past what a JPEG can hold."""
        from .quality import stretched  # here, not at the top: loading a profile need not load numpy

        side = stretched(self.max_long_side, size) if self.stretch_elongated else self.max_long_side
        return min(side, JPEG_MAX_SIDE)


# libjpeg's limit on either side. A 3x70000 line grows its allowed side past it (stretched), and
# the encode failed with Pillow's "broken data stream": a traceback, not a coded error.
JPEG_MAX_SIDE = 65500


@dataclass(frozen=True)
class AudioTarget:
    format: str = "mp3"
    max_kbps: int = 64
    min_kbps: int = 16


@dataclass(frozen=True)
class VideoTarget:
    format: str = "mp4"
    # "h264" (baseline in 3gp, main in mp4) or "h263" (3gp only, for the oldest handsets).
    codec: str = "h264"
    # Lines of the frame: in mp4 held landscape (its short side: 720 allows 1280x720 and 720x1280),
    # in 3gp (older handsets) its height. The long side is within max_long_side as well.
    max_height: int = 720
    min_height: int = 144
    max_fps: int = 30
    min_fps: int = 10
    min_video_kbps: int = 48
    min_audio_kbps: int = 12

    @property
    def max_long_side(self) -> int:
        """The frame's long side at most: "720p" is 1280 wide. A 2.39:1 film at 720 lines would be
        1718 wide, past what a 720p decoder takes (H.264 level 3.1's macroblocks)."""
        return round(self.max_height * 16 / 9)


@dataclass(frozen=True)
class Targets:
    image: ImageTarget = field(default_factory=ImageTarget)
    audio: AudioTarget = field(default_factory=AudioTarget)
    video: VideoTarget = field(default_factory=VideoTarget)


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    kind: str  # "provider", or "route": a carrier route that only narrows a provider's limits
    source: str
    message: MessageRules = field(default_factory=MessageRules)
    # None on a route: it has no opinion on media types, only on sizes.
    media: Mapping[str, MediaRule] | None = None
    slide_mixes: tuple[SlideMix, ...] = ()
    text: TextRules = field(default_factory=TextRules)
    targets: Targets | None = None
    provider_codes: Mapping[str, str] = field(default_factory=dict)
    # Field path -> the sentence of the source it comes from (tests hold the two together).
    quotes: Mapping[str, str] = field(default_factory=dict)

    def rule_for(self, kind: str) -> MediaRule | None:
        return (self.media or {}).get(kind)

    def verdict(self, kind: str, mime: str) -> str:
        """'accept', 'convert' or 'reject' for content of this kind and type."""
        rule = self.rule_for(kind)
        if rule is None:
            return "reject"
        if kind == "audio" and kind_of(mime) == "video" and mime not in AUDIO_TWIN:
            # Sound alone in a container with no sound type of its own (MPEG-TS, QuickTime, AVI):
            # no provider lists it, and mediaprep makes it the profile's own sound.
            return "convert"
        if mime in rule.accept:
            return "accept"
        if mime in rule.convert:
            return "convert"
        return "reject"

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


# ---------------------------------------------------------------- loading

_TOML_ALIASES = {"with": "with_"}


def profile_dirs(settings: Settings | None = None) -> list[Path]:
    """Where profiles are found: the settings' folder first, then the ones shipped with mediaprep."""
    settings = resolved_settings(settings)
    here = Path(__file__).resolve().parent
    if settings.profiles_dir and not settings.profiles_dir.is_dir():
        # Passed over, a misspelt folder left the shipped profile of the same name in force unseen.
        raise UsageError(f"profiles_dir {settings.profiles_dir} is not a folder")
    dirs = [settings.profiles_dir] if settings.profiles_dir else []
    dirs += [here / "_profiles", here.parent / "profiles"]
    return [d for d in dirs if d and d.is_dir()]


def available(settings: Settings | None = None) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in profile_dirs(settings):
        for path in sorted(d.glob("*.toml")):
            found.setdefault(path.stem, path)
    return dict(sorted(found.items()))


def list_profiles(settings: Settings | None = None) -> list[Profile]:
    return [load_file(path) for path in available(settings).values()]


def load_profile(name: str | Profile, settings: Settings | None = None) -> Profile:
    """A profile by name; ``a+b`` combines profiles, the stricter limit winning."""
    if isinstance(name, Profile):
        return name
    parts = [p.strip() for p in str(name).split("+")]
    if not all(parts):
        raise UnknownProfile(f"profile name {name!r} is malformed: use NAME or NAME+ROUTE")
    known = available(settings)
    loaded = []
    for part in parts:
        if part not in known:
            listing = ", ".join(known) or "none"
            raise UnknownProfile(f"no profile named {part!r}; known profiles: {listing}")
        loaded.append(load_file(known[part]))
    if loaded[0].kind == "route":
        raise UnknownProfile(
            f"{loaded[0].name!r} is a carrier route, which narrows a provider's limits: "
            f"combine it with a provider, e.g. clicksend+{loaded[0].name}"
        )
    profile = loaded[0]
    for other in loaded[1:]:
        profile = combine(profile, other)
    return profile


def load_file(path: Path) -> Profile:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidProfile(f"{path}: cannot be read as TOML: {exc}") from None
    profile = _build(Profile, raw, f"{path.name}")
    if profile.name != path.stem:
        raise InvalidProfile(f"{path.name}: name = {profile.name!r} must match the file name {path.stem!r}")
    _validate(profile, path.name)
    return profile


def _validate(p: Profile, where: str) -> None:
    if not set(p.name) <= NAME_CHARS:
        raise InvalidProfile(f"{where}: name {p.name!r} may hold only a-z, 0-9, - and _")
    if p.kind not in ("provider", "route"):
        raise InvalidProfile(f"{where}: kind must be 'provider' or 'route', not {p.kind!r}")
    if p.kind == "provider" and (p.media is None or p.targets is None):
        raise InvalidProfile(f"{where}: a provider profile needs [media.*] and [targets.*] tables")
    for kind in p.media or {}:
        if kind not in MEDIA_KINDS:
            raise InvalidProfile(f"{where}: media.{kind}: unknown kind; kinds are {', '.join(MEDIA_KINDS)}")
    for kind, rule in (p.media or {}).items():
        unknown = set(rule.forbid) - set(PDF_FEATURES)
        if unknown:
            raise InvalidProfile(f"{where}: media.{kind}.forbid: unknown {sorted(unknown)}; known: {PDF_FEATURES}")
    for mix in p.slide_mixes:
        for kind in mix.kinds + mix.with_:
            if kind not in MEDIA_KINDS:
                raise InvalidProfile(f"{where}: slide_mixes: unknown kind {kind!r}")
    if p.text.counting not in ("gsm", "chars"):
        raise InvalidProfile(f"{where}: text.counting must be 'gsm' or 'chars', not {p.text.counting!r}")
    if p.text.fallback_required not in ("never", "without_subject", "unless_disabled"):
        raise InvalidProfile(
            f"{where}: text.fallback_required must be never, without_subject or unless_disabled"
        )
    if p.targets is not None:
        _validate_targets(p.targets, p.media or {}, where)
    sections: list[Any] = [p.message, p.text, *(p.media or {}).values()]
    if p.targets is not None:
        sections += [p.targets.image, p.targets.audio, p.targets.video]
    for section in sections:
        for f in fields(section):
            value = getattr(section, f.name)
            if isinstance(value, int) and not isinstance(value, bool) and value <= 0:
                raise InvalidProfile(f"{where}: {f.name} = {value} must be a positive number")


# What each target's format makes: a format outside these was a traceback at the first file.
TARGET_MIMES = {
    "image": {"jpeg": "image/jpeg", "gif": "image/gif"},
    "audio": {"mp3": "audio/mpeg", "amr": "audio/amr"},
    "video": {"mp4": "video/mp4", "3gp": "video/3gpp"},
}


def _validate_targets(targets: Targets, media: Mapping[str, MediaRule], where: str) -> None:
    if targets.image.min_quality > 100:
        raise InvalidProfile(f"{where}: targets.image.min_quality = {targets.image.min_quality} is over 100")
    if targets.video.codec not in ("h264", "h263"):
        raise InvalidProfile(f"{where}: targets.video.codec must be h264 or h263, not {targets.video.codec!r}")
    if targets.video.codec == "h263" and targets.video.format != "3gp":
        raise InvalidProfile(f"{where}: targets.video.codec = 'h263' is for 3gp, not {targets.video.format!r}")
    for kind, target in (("image", targets.image), ("audio", targets.audio), ("video", targets.video)):
        made = TARGET_MIMES[kind].get(target.format)
        if made is None:
            choices = " or ".join(TARGET_MIMES[kind])
            raise InvalidProfile(f"{where}: targets.{kind}.format must be {choices}, not {target.format!r}")
        rule = media.get(kind)
        # A picture's output is chosen among the types the profile takes; a sound's or a clip's is the target's.
        if kind != "image" and rule is not None and made not in rule.accept:
            raise InvalidProfile(f"{where}: targets.{kind}.format = {target.format!r} makes {made}, which "
                                 f"media.{kind} does not accept ({', '.join(rule.accept) or 'nothing'})")


def _build(cls: type, raw: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, rejecting unknown keys and wrong types."""
    if not isinstance(raw, dict):
        raise InvalidProfile(f"{where}: expected a table, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        attr = _TOML_ALIASES.get(key, key)
        if attr not in names:
            allowed = ", ".join(sorted(n.rstrip("_") for n in names))
            raise InvalidProfile(f"{where}: unknown key {key!r} (allowed: {allowed})")
        values[attr] = _coerce(hints[attr], value, f"{where}: {key}")
    missing = [f.name for f in fields(cls) if f.name not in values and _required(f)]
    if missing:
        raise InvalidProfile(f"{where}: missing key(s) {', '.join(missing)}")
    return cls(**values)


def _required(f: Any) -> bool:
    from dataclasses import MISSING

    return f.default is MISSING and f.default_factory is MISSING


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where)
    if is_dataclass(hint):
        return _build(hint, value, where)  # type: ignore[arg-type]
    if origin is tuple:
        if not isinstance(value, list):
            raise InvalidProfile(f"{where}: expected a list")
        return tuple(_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict):
        if not isinstance(value, dict):
            raise InvalidProfile(f"{where}: expected a table")
        return types.MappingProxyType({str(k): _coerce(args[1], v, f"{where}.{k}") for k, v in value.items()})
    if hint is bool:
        if not isinstance(value, bool):
            raise InvalidProfile(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidProfile(f"{where}: expected a whole number, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise InvalidProfile(f"{where}: expected text, got {value!r}")
        return value
    raise InvalidProfile(f"{where}: unsupported value {value!r}")


# ---------------------------------------------------------------- combining


def combine(base: Profile, other: Profile) -> Profile:
    """``base`` narrowed by ``other``: every limit takes the stricter of the two."""
    media = base.media
    if other.media is not None:
        media = types.MappingProxyType(
            {
                kind: _narrow_media(rule, other.media[kind])
                for kind, rule in (base.media or {}).items()
                if kind in other.media
            }
        )
    mixes = base.slide_mixes + tuple(m for m in other.slide_mixes if m not in base.slide_mixes)
    return replace(
        base,
        name=f"{base.name}+{other.name}",
        title=f"{base.title}, over {other.title}",
        source=f"{base.source}; {other.source}",
        message=_narrow(base.message, other.message),
        media=media,
        slide_mixes=mixes,
        text=_narrow(base.text, other.text),
        # A device class or route that sets targets knows its handsets: its targets win.
        targets=other.targets or base.targets,
        provider_codes=base.provider_codes,
        quotes=types.MappingProxyType({**base.quotes, **other.quotes}),
    )


def _narrow_media(a: MediaRule, b: MediaRule) -> MediaRule:
    return MediaRule(
        forbid=tuple(dict.fromkeys(a.forbid + b.forbid)),
        accept=tuple(m for m in a.accept if m in b.accept),
        # What one side sends as it is but the other needs converted must be converted.
        convert=tuple(m for m in dict.fromkeys(a.convert + a.accept) if m in b.convert + b.accept
                      and not (m in a.accept and m in b.accept)),
        max_bytes=_stricter_int("max_bytes", a.max_bytes, b.max_bytes),
    )


# Whether the stricter of two flags is both (an allowance) or either (a requirement).
_BOOL_STRICTER = {"subject_unicode": all, "one_file_per_kind": any, "require_media": any}
_FALLBACK_STRENGTH = {"never": 0, "without_subject": 1, "unless_disabled": 2}


def _narrow(a: Any, b: Any) -> Any:
    values = {}
    for f in fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "counting":
            values[f.name] = "gsm" if "gsm" in (x, y) else x
        elif f.name == "fallback_required":
            values[f.name] = max(x, y, key=_FALLBACK_STRENGTH.__getitem__)
        elif isinstance(x, bool):
            values[f.name] = _BOOL_STRICTER[f.name]((x, y))
        else:
            values[f.name] = _stricter_int(f.name, x, y)
    return type(a)(**values)


def _stricter_int(name: str, x: int | None, y: int | None) -> int | None:
    if x is None:
        return y
    if y is None:
        return x
    return max(x, y) if name.startswith("min") else min(x, y)


def _plain(obj: Any) -> Any:
    if is_dataclass(obj):
        return {f.name.rstrip("_"): _plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return [_plain(v) for v in obj]
    return obj

