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

from ..inspection.sniff import EXTENSION_BY_MIME
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


def open_store(settings: Settings | None = None) -> Store:
    settings = resolved_settings(settings)
    if settings.store == "s3":
        from .s3 import S3Store

        return S3Store.from_settings(settings)
    from .local import LocalStore

    return LocalStore(settings.store_dir, settings.base_url)


__all__ = ["Store", "Stored", "content_key", "open_store"]
