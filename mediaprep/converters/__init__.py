"""Conversion: make one asset fit a profile's types and a byte budget, at the best quality that fits."""

from __future__ import annotations

import math
import operator
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import NotAllowed, OutputUnwritable, UnsupportedType, UsageError
from ..inspection import INPUT_LIMIT, MEDIA_LIMIT, Source, open_source
from ..inspection.sniff import (
    AUDIO_TWIN,
    EXTENSION_BY_MIME,
    MIMES_BY_EXTENSION,
    as_held,
    extension_of,
    kind_of,
    sniff_mime,
)
from ..profiles import ImageTarget, Profile, load_profile
from ..settings import Settings, resolved_settings
from ..wire import largest_payload


@dataclass(frozen=True)
class Converted:
    data: bytes = field(repr=False)
    mime: str
    kind: str
    source_mime: str
    source_bytes: int
    budget: int
    passed_through: bool
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    quality: float | None = None  # JPEG quality; fractions come from the last fill
    subsampling: str | None = None
    scale: float = 1.0  # output long side / source long side
    encodes: int = 0
    notes: tuple[str, ...] = ()

    @property
    def bytes(self) -> int:
        return len(self.data)

    @property
    def extension(self) -> str:
        return EXTENSION_BY_MIME.get(self.mime, "bin")

    def to_dict(self) -> dict[str, Any]:
        return {
            "mime": self.mime,
            "kind": self.kind,
            "bytes": self.bytes,
            "budget": self.budget,
            "source_mime": self.source_mime,
            "source_bytes": self.source_bytes,
            "passed_through": self.passed_through,
            "width": self.width,
            "height": self.height,
            "frames": self.frames,
            "quality": self.quality,
            "subsampling": self.subsampling,
            "scale": round(self.scale, 4),
            "encodes": self.encodes,
            "notes": list(self.notes),
        }


def convert(
    source: Source,
    *,
    profile: Profile | str | None = None,
    budget: int | None = None,
    settings: Settings | None = None,
    format: str | None = None,
    max_duration: float | None = None,
    on_progress: Callable[[dict[str, str]], None] | None = None,
) -> Converted:
    """Convert ``source`` (path, bytes or binary file object) for ``profile``, at most ``budget``
    bytes (exact).

    Images become a jpg or gif; audio an mp3 or AMR (``format="amr"``); video an
    mp4 or 3gp (``format="3gp"``); sound, video and animations are trimmed only when ``max_duration`` asks;
    vCards and calendars are normalised; PDFs are checked. ``on_progress`` gets
    ffmpeg's progress blocks. The budget is the smallest of ``budget``, the profile's limit for
    the kind, and what its whole-message limit leaves for one attachment (for images and video one
    of them must be given). Raises CannotFit when nothing
    within the profile's floors fits, never returning an oversized result.
    """
    settings = resolved_settings(settings)
    if max_duration is not None and (
        isinstance(max_duration, bool)
        or not isinstance(max_duration, (int, float))
        or not (math.isfinite(max_duration) and max_duration > 0)
    ):
        raise UsageError(f"max_duration must be a positive number of seconds, not {max_duration!r}")
    if on_progress is not None and not callable(on_progress):
        # Found out otherwise at the first progress block, as a TypeError halfway through an encode.
        raise UsageError(f"on_progress must be a function taking a dict, not {on_progress!r}")
    resolved = load_profile(profile, settings) if profile is not None else None
    opened = open_source(source, settings)
    path = opened.path
    mime = sniff_mime(opened.head)
    kind = kind_of(mime)
    promised = _kind_promised_by(path)
    # A video container may hold sound alone (.wma, .mka are ASF and Matroska): that is no lie.
    if promised is not None and promised != kind and not (promised == "audio" and mime in AUDIO_TWIN):
        # A file that lies about being a picture (a PDF or a web page named .jpg) is refused,
        # not quietly handled as whatever it turns out to be.
        raise UnsupportedType(f"{path.name if path else 'input'} is named as {promised} but holds {mime}")
    if kind not in ("image", "audio", "video", "contact", "calendar", "pdf"):
        raise UnsupportedType(f"content is {mime}, which mediaprep does not convert")
    if format is not None and kind not in ("audio", "video"):
        raise UsageError(f"format chooses a sound or video container; this is {mime}, whose output the profile decides")
    # Sound and video are judged once the probe has said what the container holds (_convert_av).
    if resolved is not None and kind not in ("audio", "video") and resolved.verdict(kind, mime) == "reject":
        raise NotAllowed(f"{resolved.name} does not take {mime}")
    if kind in ("audio", "video"):
        made = _convert_av(opened, mime, resolved, budget, settings, format, max_duration, on_progress)
        return _with_budget_note(made, resolved, budget)
    data = opened.data(settings.max_input_bytes, INPUT_LIMIT)
    if kind == "image":
        from .image import convert_image

        targets = resolved.targets if resolved and resolved.targets else None
        target = targets.image if targets else ImageTarget()
        verdict = resolved.verdict("image", mime) if resolved else None
        limit = _budget(budget, resolved, "image")
        result = convert_image(data, mime, limit, target, verdict, _accepted_outputs(resolved), settings,
                               max_duration)
    else:
        result = _convert_object(data, mime, kind, resolved, budget, settings)
    return _with_budget_note(result, resolved, budget)


def _with_budget_note(result: Converted, resolved: Profile | None, budget: int | None) -> Converted:
    cap = resolved.message.max_bytes if resolved else None
    if cap and result.budget == largest_payload(cap) and result.budget != budget:
        why = f"the budget is what {resolved.name}'s {cap}-byte message limit leaves for one attachment"
        result = replace(result, notes=(*result.notes, why))
    return result


def _convert_av(opened, mime, profile, budget, settings, fmt, max_duration, on_progress) -> Converted:
    # ffmpeg reads a copy in a folder of our own (never a name the caller chose, which could start
    # with "-"), copied there without being held in memory.
    with tempfile.TemporaryDirectory(prefix="mediaprep-") as tmp:
        src = Path(tmp) / "input"
        opened.save(src, settings.max_media_bytes, MEDIA_LIMIT)
        return _convert_media_file(src, mime, profile, budget, settings, fmt, max_duration, on_progress)


def _convert_media_file(src, mime, profile, budget, settings, fmt, max_duration, on_progress) -> Converted:
    from ..inspection.media import media_facts
    from ..profiles import AudioTarget, VideoTarget
    from .remux import OUTPUT_MIMES, SOUND_MIMES
    from .sound import convert_audio
    from .video import convert_video

    facts = media_facts(src, mime, settings)
    kind, mime = as_held(mime, facts.has_video)
    if profile is not None and profile.verdict(kind, mime) == "reject":
        raise NotAllowed(f"{profile.name} does not take {mime}")
    targets = profile.targets if profile and profile.targets else None
    audio_target = targets.audio if targets else AudioTarget()
    video_target = targets.video if targets else VideoTarget()
    def taken(output_mime: str | None) -> bool:
        return output_mime is not None and profile is not None and profile.verdict(kind, output_mime) == "accept"

    formats = SOUND_MIMES if kind == "audio" else OUTPUT_MIMES
    if fmt is not None and fmt not in formats:
        raise UsageError(f"{kind} converts to {' or '.join(formats)}, not {fmt}")
    made = formats.get(fmt or "")
    if made is not None and profile is not None and not taken(made):
        rule = profile.rule_for(kind)
        raise NotAllowed(f"{profile.name} does not take {made}, which format={fmt} makes; it takes "
                         f"{', '.join(rule.accept) if rule and rule.accept else 'no ' + kind}")
    limit = _budget(budget, profile, kind)
    # A sound or clip in a format the profile takes as it is (Infobip's AMR-NB, from a .amr or an
    # Android recorder's .3gp; a phone's 3gp clip) stays in it where it can be copied. Not AMR-WB,
    # which libmagic also calls audio/amr: AMR-NB would lose half its band.
    if kind == "audio":
        own = {"amr_nb": "amr", "mp3": "mp3"}.get(facts.audio_codec or "")
        taken_as = own if own is not None and taken(SOUND_MIMES[own]) else None
        result = convert_audio(src, mime, limit, audio_target, settings, fmt=fmt, max_duration=max_duration,
                               on_progress=on_progress, facts=facts, taken_as=taken_as)
    else:
        own = {m: f for f, m in OUTPUT_MIMES.items()}.get(mime)
        taken_as = own if taken(mime) else None
        result = convert_video(src, mime, limit, video_target, settings, fmt=fmt, max_duration=max_duration,
                               on_progress=on_progress, facts=facts, taken_as=taken_as)
    return Converted(data=result.data, mime=result.mime, kind=result.kind, source_mime=mime,
                     source_bytes=src.stat().st_size, budget=limit, passed_through=False, width=result.width,
                     height=result.height, encodes=result.encodes, notes=result.notes)


def _convert_object(
    data: bytes, mime: str, kind: str, profile: Profile | None, budget: int | None, settings: Settings
) -> Converted:
    from ..inspection.objects import refuse_oversized
    from .objects import check_pdf, normalise_calendar, normalise_vcard

    refuse_oversized(data, kind, settings)
    limit = _budget(budget, profile, kind, default=settings.max_object_bytes)
    base: dict[str, Any] = {
        "mime": mime, "kind": kind, "source_mime": mime, "source_bytes": len(data), "budget": limit
    }
    if kind == "pdf":
        rule = profile.rule_for("pdf") if profile else None
        notes = check_pdf(data, limit, rule.forbid if rule else ())
        return Converted(data=data, passed_through=True, notes=tuple(notes), **base)
    if kind == "contact":
        out, notes = normalise_vcard(data, limit, settings)
    else:
        out, notes = normalise_calendar(data, limit)
    return Converted(data=out, passed_through=out == data, notes=tuple(notes), **base)


def _kind_promised_by(path: Path | None) -> str | None:
    mimes = MIMES_BY_EXTENSION.get(extension_of(path.name) or "") if path else None
    kinds = {kind_of(m) for m in mimes} if mimes else set()
    # ".txt" promises no particular media; ".jpg" promises a picture.
    return kinds.pop() if len(kinds) == 1 and kinds != {"text"} else None


def _budget(budget: int | None, profile: Profile | None, kind: str, default: int | None = None) -> int:
    rule = profile.rule_for(kind) if profile else None
    # A whole-message cap (a carrier route's, Infobip's) bounds any one attachment too: the most
    # content whose wire estimate (x 1.37 + 814) still fits it.
    cap = profile.message.max_bytes if profile else None
    limits = [b for b in (budget, rule.max_bytes if rule else None, largest_payload(cap) if cap else None)
              if b is not None]
    if not limits and default is not None:
        limits = [default]
    if not limits:
        raise UsageError("give a byte budget, or a profile with a size limit for this kind")
    if budget is not None and (isinstance(budget, bool) or not _whole(budget) or budget <= 0):
        raise UsageError(f"the budget must be a positive whole number of bytes, not {budget!r}")
    return min(limits)


def _whole(value: object) -> bool:
    try:
        operator.index(value)  # int, and numpy's integers; not float, NaN or str
    except TypeError:
        return False
    return True


def _accepted_outputs(profile: Profile | None) -> frozenset[str]:
    if profile is None:
        return frozenset({"image/jpeg", "image/gif"})
    rule = profile.rule_for("image")
    return frozenset(rule.accept if rule else ())


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once: os.umask can only be read by setting it


NAME_MAX = 255  # bytes a file's name may have (ext4, XFS, btrfs, APFS, NTFS in UTF-16 units)


def name_within(stem: str, tail: str, limit: int = NAME_MAX) -> str:
    """``stem + tail``, the stem cut short (whole letters) where the name would pass ``limit`` bytes."""
    while stem and len(os.fsencode(stem + tail)) > limit:
        stem = stem[:-1]
    return stem + tail


def write_atomically(data: bytes, dest: Path) -> None:
    """Write all of ``data`` to ``dest`` or nothing: a reader never sees half a file."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        # ".NAME.XXXXXXXX.part" must itself be a name a file may have.
        fd, tmp = tempfile.mkstemp(prefix=name_within(f".{dest.stem}", f"{dest.suffix}.", NAME_MAX - 13),
                                   suffix=".part", dir=dest.parent)
    except OSError as exc:
        raise OutputUnwritable(f"{dest}: cannot be written ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private; a prepared asset is meant to be served.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, dest)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):  # a full disk, or a destination that is a directory
            raise OutputUnwritable(f"{dest}: cannot be written ({exc.strerror})") from None
        raise


__all__ = ["NAME_MAX", "Converted", "convert", "name_within", "write_atomically"]
