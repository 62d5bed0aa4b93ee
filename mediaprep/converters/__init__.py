"""Conversion: make one asset fit a profile's types and a byte budget, at the best quality that fits."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NotAllowed, UnsupportedType, UsageError
from ..inspection import Source, read_source
from ..inspection.sniff import EXTENSION_BY_MIME, kind_of, sniff_mime
from ..profiles import ImageTarget, Profile, load_profile
from ..settings import Settings


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
    quality: int | None = None
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
) -> Converted:
    """Convert ``source`` (path or bytes) for ``profile``, at most ``budget`` bytes (exact).

    The budget is the smaller of ``budget`` and the profile's limit for the kind;
    one of them must be given. Raises CannotFit when nothing within the profile's
    floors fits, never returning an oversized result.
    """
    settings = settings or Settings.from_env()
    resolved = load_profile(profile, settings) if profile is not None else None
    data, _ = read_source(source, settings)
    mime = sniff_mime(data)
    kind = kind_of(mime)
    if kind != "image":
        raise UnsupportedType(f"content is {mime}; mediaprep converts images so far, not {kind}")
    verdict = resolved.verdict("image", mime) if resolved else None
    if resolved is not None and resolved.rule_for("image") is None:
        raise NotAllowed(f"{resolved.name} takes no images")
    limit = _budget(budget, resolved, "image")
    targets = resolved.targets if resolved and resolved.targets else None
    target = targets.image if targets else ImageTarget()
    accepts = _accepted_outputs(resolved)
    from .image import convert_image

    return convert_image(data, mime, limit, target, verdict, accepts, settings)


def _budget(budget: int | None, profile: Profile | None, kind: str) -> int:
    rule = profile.rule_for(kind) if profile else None
    limits = [b for b in (budget, rule.max_bytes if rule else None) if b is not None]
    if not limits:
        raise UsageError("give a byte budget, or a profile with a size limit for this kind")
    if budget is not None and budget <= 0:
        raise UsageError(f"the budget must be a positive number of bytes, not {budget}")
    return min(limits)


def _accepted_outputs(profile: Profile | None) -> frozenset[str]:
    if profile is None:
        return frozenset({"image/jpeg", "image/gif"})
    rule = profile.rule_for("image")
    return frozenset(rule.accept if rule else ())


def write_atomically(data: bytes, dest: Path) -> None:
    """Write all of ``data`` to ``dest`` or nothing: a reader never sees half a file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["Converted", "convert", "write_atomically"]
