"""Reading a named file the way every entry point must: a regular file, and never more than a limit."""

from __future__ import annotations

from pathlib import Path

from .errors import InputTooLarge, NotAFile, SourceNotFound, UnreadableInput


def read_file(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, refusing what is missing, not a regular file, or over ``limit`` bytes.

    The read itself stops at ``limit + 1`` bytes: a file can grow after it was looked at, and
    some report no size at all (/proc), so the size on disk alone does not bound memory.
    """
    # Looking at the path can fail too (a name too long, a directory without search permission).
    try:
        if not path.exists():
            raise SourceNotFound(f"{path}: no such file")
        if not path.is_file():
            raise NotAFile(f"{path}: is a directory or a device, not a file")
        size = path.stat().st_size
        if size > limit:
            raise InputTooLarge(f"{path}: {size} bytes is over the {limit} byte input limit")
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise UnreadableInput(f"{path}: cannot be read ({exc.strerror})") from None
    if len(data) > limit:
        raise InputTooLarge(f"{path}: over the {limit} byte input limit (it grew while being read)")
    return data
