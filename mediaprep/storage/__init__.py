"""Storage: put prepared bytes somewhere a provider can fetch them, and hand back the URL.

One small protocol, two stores: a local folder (the default, served by any static server or the
sidecar) and S3-compatible object storage. Keys are content-addressed (sha256 + the extension of
the true type) under a prefix, so storing the same bytes twice is a no-op and a key never changes
meaning. Nothing half-written is ever visible under a final key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from ..errors import UsageError
from ..inspection.sniff import EXTENSION_BY_MIME, HEAD_BYTES, canonical_type, same_type, sniff_mime
from ..settings import Settings, resolved_settings


@dataclass(frozen=True)
class Stored:
    key: str
    url: str
    bytes: int
    mime: str
    created: bool  # False when the same bytes were already there


class Store(Protocol):
    def put(self, data: bytes, mime: str) -> Stored: ...

    def exists(self, key: str) -> bool: ...

    def url(self, key: str) -> str: ...


def content_key(data: bytes, mime: str, prefix: str = "") -> str:
    return f"{prefix}{hashlib.sha256(data).hexdigest()}.{EXTENSION_BY_MIME.get(mime, 'bin')}"


def checked_content(data: bytes, mime: str) -> tuple[bytes, str]:
    """``data`` as bytes and ``mime`` as mediaprep names it (image/jpg is stored as image/jpeg),
    refused when the bytes are not of that type: a provider fetches by the Content-Type, and one
    that lies gets the message rejected or sent as a link."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise UsageError(f"data to store is bytes, not {type(data).__name__}")
    if not isinstance(mime, str):
        raise UsageError(f"mime is a str (such as image/jpeg), not {type(mime).__name__}")
    data = bytes(data)
    found = sniff_mime(data[:HEAD_BYTES])
    if not same_type(mime, found):
        raise UsageError(f"the bytes are {found}, not {mime}: they would be served under a false Content-Type")
    return data, canonical_type(mime)


def open_store(settings: Settings | None = None) -> Store:
    settings = resolved_settings(settings)
    if settings.store == "s3":
        from .s3 import S3Store

        return S3Store.from_settings(settings)
    from .local import LocalStore

    return LocalStore(settings.store_dir, settings.base_url)


__all__ = ["Store", "Stored", "content_key", "open_store"]
