"""The message model: sender, recipients, subject, text, fallback SMS text and slides.

Read from JSON. Slides use seed 002's names (image, audio, video, contact,
calendar, pdf, message-text)::

    {
      "sender": "+15550100",
      "recipients": ["+15550101"],
      "subject": "Opening night",
      "text": "Doors at 7.",
      "fallback_sms_text": "Tickets inside",
      "slides": [
        {"image": "poster.jpg", "message-text": "See you there"},
        {"calendar": {"path": "event.ics"}},
        {"video": {"url": "https://cdn.example/clip.mp4", "bytes": 512000, "mime": "video/mp4"}}
      ]
    }

A media value is a path (relative to the message file), or an object with
``path`` or ``url`` (and, for a URL, optionally the ``bytes`` and ``mime`` it
is known to have). Unknown keys are refused, and a kind named twice on one
slide is kept so the check can report it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InvalidMessage, UsageError
from .profiles import MEDIA_KINDS
from .reading import read_file

SLIDE_TEXT_KEY = "message-text"
MESSAGE_KEYS = {
    "sender",
    "recipients",
    "subject",
    "text",
    "fallback_sms_text",
    "disable_fallback_sms",
    "slides",
}
MAX_MESSAGE_JSON_BYTES = 1024 * 1024


@dataclass(frozen=True)
class MediaRef:
    kind: str
    path: Path | None = None
    url: str | None = None
    declared_bytes: int | None = None
    declared_mime: str | None = None

    @property
    def label(self) -> str:
        return str(self.path) if self.path is not None else str(self.url)


@dataclass(frozen=True)
class Slide:
    media: tuple[MediaRef, ...] = ()
    text: str | None = None
    duration: int | None = None

    @property
    def kinds(self) -> list[str]:
        return [m.kind for m in self.media]


@dataclass(frozen=True)
class Message:
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    subject: str | None = None
    text: str | None = None
    fallback_sms_text: str | None = None
    disable_fallback_sms: bool = False
    slides: tuple[Slide, ...] = ()


def load_message(path: str | Path) -> Message:
    if not isinstance(path, (str, os.PathLike)):
        raise UsageError(f"a message file is a path, not {type(path).__name__} (check() takes a dict or JSON bytes)")
    path = Path(path)
    raw = read_file(path, MAX_MESSAGE_JSON_BYTES)
    return parse_message(raw, base_dir=path.parent, where=str(path))


def parse_message(raw: bytes | str, *, base_dir: Path | None = None, where: str = "message") -> Message:
    if not isinstance(raw, (bytes, bytearray, str)):
        raise UsageError(f"a message to parse is JSON text or bytes, not {type(raw).__name__} "
                         "(check() takes a dict or a Message too)")
    if len(raw) > MAX_MESSAGE_JSON_BYTES:
        raise InvalidMessage(f"{where}: message JSON over {MAX_MESSAGE_JSON_BYTES} bytes")
    try:
        data = json.loads(raw, object_pairs_hook=_pairs)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidMessage(f"{where}: not valid JSON ({exc})") from None
    except RecursionError:
        raise InvalidMessage(f"{where}: JSON nested too deeply to be a message") from None
    return message_from_dict(data, base_dir=base_dir, where=where)


class _Pairs(list):
    """A JSON object kept as its key/value pairs, so a repeated key is not silently lost."""


def _pairs(pairs: list[tuple[str, Any]]) -> _Pairs:
    return _Pairs(pairs)


def _as_pairs(obj: Any, where: str) -> _Pairs:
    """A JSON object's pairs; a dict (from a library caller) is taken as one, at any depth."""
    if isinstance(obj, dict):
        if not all(isinstance(key, str) for key in obj):
            raise InvalidMessage(f"{where}: keys must be text")
        return _Pairs(obj.items())
    if not isinstance(obj, _Pairs):
        raise InvalidMessage(f"{where}: expected a JSON object")
    return obj


def _as_dict(obj: Any, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in _as_pairs(obj, where):
        if key in out:
            raise InvalidMessage(f"{where}: key {key!r} appears twice")
        out[key] = value
    return out


def message_from_dict(data: Any, *, base_dir: Path | None = None, where: str = "message") -> Message:
    bad = _lone_surrogate(data)
    if bad is not None:
        raise InvalidMessage(f"{where}: {bad!r} holds half of a UTF-16 surrogate pair, which is no character at all")
    top = _as_dict(data, where)
    unknown = set(top) - MESSAGE_KEYS
    if unknown:
        raise InvalidMessage(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(MESSAGE_KEYS))}"
        )
    recipients = top.get("recipients", [])
    if isinstance(recipients, str):
        recipients = [recipients]
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        raise InvalidMessage(f"{where}: recipients must be a list of phone numbers")
    slides_raw = top.get("slides", [])
    if not isinstance(slides_raw, list):
        raise InvalidMessage(f"{where}: slides must be a list")
    disable = top.get("disable_fallback_sms", False)
    if not isinstance(disable, bool):
        raise InvalidMessage(f"{where}: disable_fallback_sms must be true or false")
    base = base_dir or Path.cwd()
    return Message(
        sender=_text(top, "sender", where),
        recipients=tuple(recipients),
        subject=_text(top, "subject", where),
        text=_text(top, "text", where),
        fallback_sms_text=_text(top, "fallback_sms_text", where),
        disable_fallback_sms=disable,
        slides=tuple(_slide(s, base, f"{where}: slide {i}") for i, s in enumerate(slides_raw, 1)),
    )


def _lone_surrogate(data: Any) -> str | None:
    """The first text in ``data`` (at any depth) that cannot be UTF-8: JSON's "\\ud800" escapes allow it."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return item[:40]
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.items())
    return None


def _text(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidMessage(f"{where}: {key} must be text")
    return value


def _slide(raw: Any, base: Path, where: str) -> Slide:
    if not isinstance(raw, (_Pairs, dict)):
        raise InvalidMessage(f"{where}: a slide must be a JSON object")
    media: list[MediaRef] = []
    text = None
    duration = None
    for key, value in _as_pairs(raw, where):
        if key in MEDIA_KINDS:
            media.append(_media(key, value, base, f"{where}: {key}"))
        elif key == SLIDE_TEXT_KEY:
            if not isinstance(value, str):
                raise InvalidMessage(f"{where}: {SLIDE_TEXT_KEY} must be text")
            text = value
        elif key == "duration":
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InvalidMessage(f"{where}: duration must be a whole number of seconds")
            duration = value
        else:
            allowed = ", ".join((*MEDIA_KINDS, SLIDE_TEXT_KEY, "duration"))
            raise InvalidMessage(f"{where}: unknown key {key!r}; a slide may hold {allowed}")
    return Slide(media=tuple(media), text=text, duration=duration)


def _media(kind: str, value: Any, base: Path, where: str) -> MediaRef:
    if isinstance(value, str):
        value = _Pairs([("url" if _is_url(value) else "path", value)])
    spec = _as_dict(value, where)
    unknown = set(spec) - {"path", "url", "bytes", "mime"}
    if unknown:
        raise InvalidMessage(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; use path or url")
    if ("path" in spec) == ("url" in spec):
        raise InvalidMessage(f"{where}: give exactly one of path or url")
    if "path" in spec:
        if not isinstance(spec["path"], str) or not spec["path"] or "\0" in spec["path"]:
            raise InvalidMessage(f"{where}: path must be text (with no NUL character)")
        return MediaRef(kind, path=Path(os.path.normpath(base / spec["path"])))
    url = spec["url"]
    if not isinstance(url, str) or not _is_url(url):
        raise InvalidMessage(f"{where}: url must start with http:// or https://")
    size = spec.get("bytes")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise InvalidMessage(f"{where}: bytes must be a whole number")
    mime = spec.get("mime")
    if mime is not None and not isinstance(mime, str):
        raise InvalidMessage(f"{where}: mime must be text")
    return MediaRef(kind, url=url, declared_bytes=size, declared_mime=mime)


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))
