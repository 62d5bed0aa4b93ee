"""Inspection: what a file really is and the facts that decide whether it can travel by MMS."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import EmptyInput, MediaprepError, UnsupportedType, UsageError
from ..reading import HEAD_BYTES, Opened, file_digest
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


# Which setting each limit is, named in the error so that it can be raised.
INPUT_LIMIT = "input limit (max_input_bytes)"
MEDIA_LIMIT = "limit for sound and video (max_media_bytes)"


def open_source(source: Source, settings: Settings) -> Opened:
    """A path, a bytes object or a binary file object (read from where it stands), its first bytes
    read to tell its type; the rest is read when the type says how (Opened)."""
    # Until the type is known, no more than a picture may take is held.
    head = min(HEAD_BYTES, settings.max_input_bytes + 1)
    if hasattr(source, "read") and not isinstance(source, (str, os.PathLike)):
        # A file object's name is not used: an upload's is whatever its sender chose.
        opened = Opened(source, head)
        if not opened.head and (at := _position(source)):
            # Written to and not rewound, as a temporary file or an upload's buffer often is.
            raise EmptyInput(f"input: the file object is at byte {at}, its end, so nothing was read from it; "
                             "seek(0) before passing it")
    elif isinstance(source, (bytes, bytearray, memoryview)):
        opened = Opened(bytes(source), head)
    elif isinstance(source, (str, os.PathLike)):
        opened = Opened(Path(os.fspath(source)), head)
    else:
        raise UsageError(f"a source is a path, bytes or a binary file object, not {type(source).__name__}")
    if not opened.head:
        raise EmptyInput(f"{opened.path or 'input'}: is empty (0 bytes)")
    return opened


def _position(stream: object) -> int:
    """Where a file object stands, or 0 where it cannot say (a pipe, a socket)."""
    try:
        return int(stream.tell())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError, TypeError):
        return 0


def read_source(source: Source, settings: Settings) -> tuple[bytes, Path | None]:
    """The bytes of a path, a bytes object or a binary file object, refusing what cannot or should
    not be read into memory."""
    opened = open_source(source, settings)
    return opened.data(settings.max_input_bytes, INPUT_LIMIT), opened.path


def inspect(source: Source, *, name: str | None = None, settings: Settings | None = None) -> Inspection:
    """Inspect a path, bytes or a binary file object.

    Raises an InputError when no bytes can be had (missing, a directory, empty,
    unreadable, too large). Content that is read but damaged or of an unknown
    type comes back as an Inspection whose ``error`` says what is wrong.
    """
    settings = resolved_settings(settings)
    if name is not None and not isinstance(name, str):
        raise UsageError(f"name is the file name to report, a str, not {type(name).__name__}")
    opened = open_source(source, settings)
    path = opened.path
    mime = sniff_mime(opened.head)
    kind = kind_of(mime)
    shown = name or (str(path) if path else None)
    ext = extension_of(name or (path.name if path else None))
    info = Inspection(path=str(path) if path else name, mime=mime, kind=kind, bytes=0, sha256="",
                      extension=ext, extension_mismatch=extension_mismatch(ext, mime))
    if kind in ("audio", "video"):
        with tempfile.TemporaryDirectory(prefix="mediaprep-") as tmp:
            # A named file is probed where it is; anything else is copied to a file for ffmpeg.
            media_file = path or Path(tmp) / "input"
            if path is None:
                opened.save(media_file, settings.max_media_bytes, MEDIA_LIMIT)
            size, sha256 = file_digest(media_file, settings.max_media_bytes, MEDIA_LIMIT)
            info = replace(info, bytes=size, sha256=sha256)
            try:
                media = media_facts(media_file, mime, settings)
            except MediaprepError as exc:
                return _failed(info, exc, shown)
        kind, held = as_held(mime, media.has_video)
        return replace(info, kind=kind, mime=held, extension_mismatch=extension_mismatch(ext, held),
                       media=media)
    data = opened.data(settings.max_input_bytes, INPUT_LIMIT)
    info = replace(info, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    try:
        if kind == "image":
            return replace(info, image=image_facts(data, mime, settings))
        if kind in ("contact", "calendar", "pdf"):
            return replace(info, object=object_facts(data, kind, settings))
        if kind == "text":
            return info
        raise UnsupportedType(f"{shown or 'input'}: content is {mime}, which is not a media type mediaprep handles")
    except MediaprepError as exc:
        return _failed(info, exc, shown)


def _failed(info: Inspection, exc: MediaprepError, shown: str | None) -> Inspection:
    if shown and not exc.message.startswith(shown):
        exc.message = f"{shown}: {exc.message}"
    return replace(info, error=exc)


__all__ = ["ImageFacts", "Inspection", "MediaFacts", "ObjectFacts", "inspect", "open_source", "read_source"]
