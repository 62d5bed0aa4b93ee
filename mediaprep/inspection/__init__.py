"""Inspection: what a file really is and the facts that decide whether it can travel by MMS."""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import EmptyInput, InputTooLarge, MediaprepError, UnsupportedType, UsageError
from ..reading import read_file, read_stream
from ..settings import Settings, resolved_settings
from .image import ImageFacts, image_facts
from .media import MediaFacts, media_facts
from .objects import ObjectFacts, object_facts
from .sniff import as_held, extension_mismatch, extension_of, kind_of, sniff_mime

Source = str | os.PathLike[str] | bytes | BinaryIO


@dataclass(frozen=True)
class Inspection:
    path: str | None
    mime: str
    kind: str
    bytes: int
    sha256: str
    extension: str | None
    extension_mismatch: bool
    image: ImageFacts | None = None
    media: MediaFacts | None = None
    object: ObjectFacts | None = None
    # Set when the bytes were read but their content is damaged or not a type we handle.
    error: MediaprepError | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "mime": self.mime,
            "kind": self.kind,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "extension": self.extension,
            "extension_mismatch": self.extension_mismatch,
        }
        for name in ("image", "media", "object"):
            facts = getattr(self, name)
            if facts is not None:
                out[name] = asdict(facts)
        if self.error is not None:
            out["error"] = self.error.to_dict()
        return out


def read_source(source: Source, settings: Settings) -> tuple[bytes, Path | None]:
    """The bytes of a path, a bytes object or a binary file object (read from where it stands),
    refusing what cannot or should not be read."""
    if hasattr(source, "read") and not isinstance(source, (str, os.PathLike)):
        # A file object's name is not used: an upload's is whatever its sender chose.
        source = read_stream(source, settings.max_input_bytes)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        path = None
        if len(data) > settings.max_input_bytes:
            raise InputTooLarge(f"input of {len(data)} bytes is over the {settings.max_input_bytes} byte limit")
    else:
        if not isinstance(source, (str, os.PathLike)):
            raise UsageError(
                f"a source is a path, bytes or a binary file object, not {type(source).__name__}")
        path = Path(os.fspath(source))
        data = read_file(path, settings.max_input_bytes)
    if not data:
        raise EmptyInput(f"{path or 'input'}: is empty (0 bytes)")
    return data, path


def inspect(source: Source, *, name: str | None = None, settings: Settings | None = None) -> Inspection:
    """Inspect a path, bytes or a binary file object.

    Raises an InputError when no bytes can be had (missing, a directory, empty,
    unreadable, too large). Content that is read but damaged or of an unknown
    type comes back as an Inspection whose ``error`` says what is wrong.
    """
    settings = resolved_settings(settings)
    data, path = read_source(source, settings)
    mime = sniff_mime(data)
    kind = kind_of(mime)
    shown = name or (str(path) if path else None)
    ext = extension_of(name or (path.name if path else None))
    info = Inspection(
        path=str(path) if path else name,
        mime=mime,
        kind=kind,
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        extension=ext,
        extension_mismatch=extension_mismatch(ext, mime),
    )
    try:
        if kind == "image":
            return replace(info, image=image_facts(data, mime, settings))
        if kind in ("audio", "video"):
            media = media_facts(data, mime, path, settings)
            kind, held = as_held(mime, media.has_video)
            return replace(info, kind=kind, mime=held, extension_mismatch=extension_mismatch(ext, held), media=media)
        if kind in ("contact", "calendar", "pdf"):
            return replace(info, object=object_facts(data, kind, settings))
        if kind == "text":
            return info
        raise UnsupportedType(f"{shown or 'input'}: content is {mime}, which is not a media type mediaprep handles")
    except MediaprepError as exc:
        if shown and not exc.message.startswith(shown):
            exc.message = f"{shown}: {exc.message}"
        return replace(info, error=exc)


__all__ = ["ImageFacts", "Inspection", "MediaFacts", "ObjectFacts", "inspect", "read_source"]
