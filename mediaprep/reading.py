"""Reading input the way every entry point must: a named file only if regular, and never more than a limit."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from .errors import InputTooLarge, NotAFile, SourceNotFound, UnreadableInput, UsageError


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


def read_stream(stream: BinaryIO, limit: int) -> bytes:
    """At most ``limit`` + 1 bytes of ``stream``: one more than the limit is enough to refuse it, and
    a stream that never ends is not read for ever. Short reads (sockets, raw files) are read on."""
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        try:
            chunk = stream.read(limit + 1 - size)
        except OSError as exc:  # an upload whose client went away, a file on a failing disk
            raise UnreadableInput(f"the file object cannot be read ({exc.strerror or exc})") from None
        if chunk is None:  # a non-blocking stream with nothing ready yet
            raise UsageError("the file object has no data ready (non-blocking); pass a blocking one or bytes")
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise UsageError(f"a file object given as a source must be opened in binary mode (it read "
                             f"{type(chunk).__name__})")
        if not chunk:
            break
        parts.append(bytes(chunk))
        size += len(chunk)
    return b"".join(parts)
