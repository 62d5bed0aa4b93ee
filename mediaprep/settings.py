"""Runtime settings: one frozen object, built from arguments or MEDIAPREP_* variables.

Profiles say what a provider accepts; settings say how this installation runs
(where the tools are, how much input it will read, how long a tool may take).
Nothing here is module-level mutable state: callers pass a Settings along.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

from .errors import UsageError

_ENV_PREFIX = "MEDIAPREP_"


@dataclass(frozen=True)
class Settings:
    # Pictures and objects are read into memory once; this caps them before the read.
    max_input_bytes: int = 200 * 1024 * 1024
    # Sound and video are copied to a temporary file for ffmpeg, never held in memory: a minute of
    # an iPhone's 4K is 170-440 MB. This caps the copy (the disk it is on must hold it).
    max_media_bytes: int = 4 * 1024 * 1024 * 1024
    # Checked from the header before any pixel is decoded, in place of Pillow's own limits (89.5 MP,
    # 179 MP); a JPEG of one scan may declare four times it, and is held to it at the reduced size it
    # is decoded at. Anything else is decoded whole: a 200 MP HEIC took 1.7 GB at peak.
    max_image_pixels: int = 64_000_000
    max_frames: int = 2000
    # Every frame of an animation is drawn on the whole canvas: a 46 kB GIF of 2000 one-pixel frames
    # on a 64 MP canvas ran for minutes, in-process. Past this many pixels in all (frames x canvas),
    # an animation is treated as one past max_frames: its first frame is used.
    max_animation_pixels: int = 1_000_000_000
    # A progressive JPEG has about 10 scans, each a pass over the whole picture; thousands of
    # repeated ones (150 kB) took 36 s to decode, in-process where no timeout reaches.
    max_jpeg_scans: int = 100
    # "best": a picture's size is chosen by comparing sizes; "fast": the size one probe predicts,
    # 60-65 % of the time for a little less quality (README, Benchmarks).
    image_effort: str = "best"
    # vCards (with a photo to shrink) and PDFs; a larger one is hostile or a mistake.
    max_object_bytes: int = 16 * 1024 * 1024
    # An invitation is a few kB; megabytes of calendar are a feed or an attack.
    max_calendar_bytes: int = 1024 * 1024
    # Probes and small tools; an audio or video conversion (all passes and retries) gets
    # encode_timeout, and is stopped sooner when ffmpeg stops making progress for stall_timeout.
    tool_timeout: float = 30.0
    encode_timeout: float = 900.0
    stall_timeout: float = 60.0
    # 8K (7680x4320, 8192x4320) is accepted; a larger frame is refused before decoding.
    max_video_pixels: int = 40_000_000
    ffmpeg: str | None = None
    ffprobe: str | None = None
    # "auto": ffprobe when found, else parse `ffmpeg -i`; "ffprobe" / "ffmpeg" force one.
    probe: str = "auto"
    profiles_dir: Path | None = None
    # Storage: "local" (a folder served at base_url) or "s3".
    store: str = "local"
    store_dir: Path = Path("out/media")
    base_url: str = "http://127.0.0.1:8080/media"  # where store_dir (or the bucket) is served
    s3_bucket: str | None = None
    s3_prefix: str = "mms/"
    s3_endpoint_url: str | None = None  # MinIO, R2, moto ...; AWS when unset
    s3_region: str | None = None
    s3_addressing: str = "auto"  # "path" for most S3-compatible servers
    # "when_required" (the default) works on S3-compatible servers; "when_supported" is AWS's.
    s3_checksum: str = "when_required"
    s3_presign_seconds: int = 0  # > 0: hand out presigned GET URLs instead of base_url ones
    s3_max_attempts: int = 3
    s3_timeout: float = 10.0
    cache_control: str = "public, max-age=604800, immutable"
    # URL checks refuse loopback, private and link-local addresses unless this is set.
    allow_private_urls: bool = False
    url_timeout: float = 10.0

    def __post_init__(self) -> None:
        for name in ("profiles_dir", "store_dir"):
            value = getattr(self, name)
            if value is None or isinstance(value, Path):
                continue
            if not isinstance(value, (str, os.PathLike)):
                raise UsageError(f"{name} must be a path, not {value!r}")
            # A library caller passes a str as often as a Path; the rest of the code reads Paths.
            object.__setattr__(self, name, Path(value))
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", "float") and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise UsageError(f"{f.name} must be a number, not {value!r}")
        if self.image_effort not in ("best", "fast"):
            raise UsageError(f"image_effort must be best or fast, not {self.image_effort!r}")
        if self.probe not in ("auto", "ffprobe", "ffmpeg"):
            raise UsageError(f"probe must be auto, ffprobe or ffmpeg, not {self.probe!r}")
        for name in ("max_input_bytes", "max_media_bytes", "max_image_pixels", "max_frames",
                     "max_animation_pixels", "max_jpeg_scans", "max_object_bytes", "max_calendar_bytes",
                     "max_video_pixels", "tool_timeout", "encode_timeout", "stall_timeout", "s3_timeout",
                     "url_timeout", "s3_max_attempts"):
            value = getattr(self, name)
            # NaN compares false with everything: a NaN timeout would never run out.
            if not (value > 0 and math.isfinite(value)):
                raise UsageError(f"{name} must be a positive, finite number, not {value}")
        if self.s3_presign_seconds < 0:
            raise UsageError("s3_presign_seconds must be 0 (off) or positive")
        if self.store not in ("local", "s3"):
            raise UsageError(f"store must be local or s3, not {self.store!r}")
        if self.s3_checksum not in ("when_required", "when_supported"):
            raise UsageError("s3_checksum must be when_required or when_supported")
        if self.s3_addressing not in ("auto", "path", "virtual"):
            raise UsageError("s3_addressing must be auto, path or virtual")
        if not isinstance(self.s3_prefix, str) or not _KEY_PREFIX.fullmatch(self.s3_prefix):
            # A leading or doubled slash, a . or .. segment, or a character a URL must escape: the
            # URL handed back is normalised by the fetcher to another key, or breaks.
            raise UsageError(f"s3_prefix {self.s3_prefix!r} must be folder names of letters, digits and . _ ~ -, "
                             "each ending with /, such as mms/ or media/mms/ (or empty)")
        if problem := _base_url_problem(self.base_url):
            # Each key is put after it: such a URL was handed back for the provider to fetch, and failed.
            raise UsageError(f"base_url {self.base_url!r} {problem}; give where the stored files are served, "
                             "such as https://cdn.example.com/mms")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Defaults, then MEDIAPREP_<FIELD> variables, then explicit overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(_ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, str(f.type), raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """MEDIAPREP_* variables that name no setting, each with the variable it may have meant (or None):
    a misspelt one is otherwise ignored without a word (MEDIAPREP_STORAGE_DIR left the files in out/media)."""
    env = os.environ if environ is None else environ
    known = [f.name.upper() for f in fields(Settings)]
    found = []
    for name in sorted(env):
        if name.startswith(_ENV_PREFIX) and name[len(_ENV_PREFIX):] not in known:
            close = difflib.get_close_matches(name[len(_ENV_PREFIX):], known, n=1, cutoff=0.75)
            found.append((name, _ENV_PREFIX + close[0] if close else None))
    return found


def resolved_settings(settings: object) -> Settings:
    """The settings a library call was given, or those of the environment when it was given none."""
    if settings is None:
        return Settings.from_env()
    if not isinstance(settings, Settings):
        raise UsageError(f"settings must be a mediaprep.Settings, not {type(settings).__name__}")
    return settings


_KEY_PREFIX = re.compile(r"(?:(?!\.\.?/)[A-Za-z0-9._~-]+/)*")


def _base_url_problem(url: object) -> str | None:
    if not isinstance(url, str):
        return "is not a str"
    if any(c.isspace() or not c.isprintable() for c in url):
        return "has a space or a control character in it"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError as exc:  # an unclosed [IPv6] bracket
        return f"is not a URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http(s) URL with a host"
    if parts.query or parts.fragment:
        return "has a query or a fragment, which the file's key would come after"
    return None


def _parse(name: str, type_name: str, raw: str) -> object:
    if type_name.startswith("bool"):
        if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
            raise UsageError(f"{_ENV_PREFIX}{name.upper()}={raw!r} is not true or false")
        return raw.lower() in ("1", "true", "yes")
    try:
        if type_name.startswith("int"):
            return int(raw)
        if type_name.startswith("float"):
            return float(raw)
    except ValueError:
        raise UsageError(f"{_ENV_PREFIX}{name.upper()}={raw!r} is not a number") from None
    if "Path" in type_name:
        return Path(raw)
    return raw
