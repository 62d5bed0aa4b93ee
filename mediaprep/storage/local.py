"""A local folder as the store: files under a base URL, written atomically."""

from __future__ import annotations

from pathlib import Path

from ..converters import write_atomically
from ..errors import OutputUnwritable, StorageFailed
from . import Stored, checked_content, content_key


class LocalStore:
    def __init__(self, root: Path, base_url: str, prefix: str = "") -> None:
        self.root = Path(root)
        self.base_url = base_url.rstrip("/")
        self.prefix = prefix

    def put(self, data: bytes, mime: str) -> Stored:
        data, mime = checked_content(data, mime)
        key = content_key(data, mime, self.prefix)
        created = not self.exists(key)
        if created:
            try:
                write_atomically(data, self.root / key)
            except OutputUnwritable as exc:
                raise StorageFailed(exc.message) from None
        return Stored(key=key, url=self.url(key), bytes=len(data), mime=mime, created=created)

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    def url(self, key: str) -> str:
        return f"{self.base_url}/{key}"
