"""Reading input the way every entry point must: a named file only if regular, and never more than a limit."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import InputTooLarge, NotAFile, OutputUnwritable, SourceNotFound, UnreadableInput, UsageError

# More than libmagic reads of a file (sniff sets its limit to this): the type is told from these
# first bytes alone, before the rest is read anywhere.
HEAD_BYTES = 8 * 1024 * 1024
_CHUNK = 1024 * 1024


def read_file(path: Path, limit: int, limit_name: str = "input limit") -> bytes:
    """The bytes of ``path``, refusing what is missing, not a regular file, or over ``limit`` bytes.

    The read itself stops at ``limit + 1`` bytes: a file can grow after it was looked at, and
    some report no size at all (/proc), so the size on disk alone does not bound memory.
    """
    with _regular_file(path, limit, limit_name) as f:
        data = _read(f, limit + 1, path)
    if len(data) > limit:
        raise _grew(path, limit, limit_name)
    return data


@contextmanager
def _regular_file(path: Path, limit: int | None = None, limit_name: str = "") -> Iterator[BinaryIO]:
    # Looking at the path can fail too (a name too long, a directory without search permission).
    try:
        try:
            status = path.stat()
        except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: a NUL in the name
            if path.is_symlink():  # said "no such file" of a name that is there
                raise SourceNotFound(f"{path}: a symbolic link to {os.readlink(path)}, which does not exist") from None
            raise SourceNotFound(f"{path}: no such file") from None
        # A link that leads back to itself (ELOOP) was "no such file" too; it is an OSError below.
        if not stat.S_ISREG(status.st_mode):
            raise NotAFile(f"{path}: is a directory or a device, not a file")
        size = status.st_size
        if limit is not None and size > limit:
            raise InputTooLarge(f"{path}: {size} bytes is over the {limit} byte {limit_name}")
        f = path.open("rb")
    except OSError as exc:
        raise UnreadableInput(f"{path}: cannot be read ({exc.strerror})") from None
    with f:
        yield f


def _read(f: BinaryIO, n: int, path: Path) -> bytes:
    try:
        return f.read(n)
    except OSError as exc:
        raise UnreadableInput(f"{path}: cannot be read ({exc.strerror})") from None


def read_stream(stream: BinaryIO, limit: int) -> bytes:
    """At most ``limit`` + 1 bytes of ``stream``: one more than the limit is enough to refuse it, and
    a stream that never ends is not read for ever. Short reads (sockets, raw files) are read on."""
    parts: list[bytes] = []
    _copy(lambda n: _stream_chunk(stream, n), parts.append, limit)
    return b"".join(parts)


def _stream_chunk(stream: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes of ``stream`` (b"" at its end)."""
    try:
        chunk = stream.read(n)
    except OSError as exc:  # an upload whose client went away, a file on a failing disk
        raise UnreadableInput(f"the file object cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:  # open(path) without "rb" on a picture: it reads str, and cannot
        raise UsageError("a file object given as a source must be opened in binary mode (it read text, "
                         "and failed to decode the bytes as text)") from None
    if chunk is None:  # a non-blocking stream with nothing ready yet
        raise UsageError("the file object has no data ready (non-blocking); pass a blocking one or bytes")
    if not isinstance(chunk, (bytes, bytearray, memoryview)):
        raise UsageError(f"a file object given as a source must be opened in binary mode (it read "
                         f"{type(chunk).__name__})")
    return bytes(chunk)


class Opened:
    """A source of which only the first bytes are read, enough to tell what it is. The rest is read
    once, when asked: into memory (``data``) for pictures and objects, or into a file (``save``) for
    sound and video, which ffmpeg reads from a file anyway and which run to hundreds of MB."""

    def __init__(self, source: bytes | Path | BinaryIO, head_bytes: int = HEAD_BYTES) -> None:
        self.path = source if isinstance(source, Path) else None
        self._stream = None if isinstance(source, (bytes, Path)) else source
        if isinstance(source, bytes):
            self._read_so_far = source
        elif self.path is not None:
            with _regular_file(self.path) as f:
                self._read_so_far = _read(f, head_bytes, self.path)
        else:
            self._read_so_far = read_stream(self._stream, head_bytes - 1)
        self.head = self._read_so_far[:head_bytes]
        # A source that ended within its head is all read: it is not read again.
        self._whole = isinstance(source, bytes) or len(self._read_so_far) < head_bytes

    def data(self, limit: int, limit_name: str) -> bytes:
        """All the bytes, refusing more than ``limit``."""
        if self._whole:
            self._refuse_over(limit, limit_name)
            return self._read_so_far
        if self.path is not None:
            return read_file(self.path, limit, limit_name)
        data = self.head + read_stream(self._stream, max(0, limit - len(self.head)))
        if len(data) > limit:  # a stream is read only one byte past the limit: its size is not known
            raise InputTooLarge(f"input is over the {limit} byte {limit_name}")
        return data

    def save(self, dest: Path, limit: int, limit_name: str) -> int:
        """All the bytes into ``dest`` (a new file), refusing more than ``limit``; how many there were."""
        if self._whole:
            self._refuse_over(limit, limit_name)
        try:
            with dest.open("xb") as out:
                if self._whole:
                    out.write(self._read_so_far)
                    return len(self._read_so_far)
                if self.path is not None:
                    with _regular_file(self.path, limit, limit_name) as f:
                        size = _copy(lambda n: _read(f, n, self.path), out.write, limit)
                else:
                    out.write(self.head)
                    size = len(self.head) + _copy(lambda n: _stream_chunk(self._stream, n), out.write,
                                                  limit - len(self.head))
        except OSError as exc:  # the reads raise errors of their own: this is the copy (a full disk)
            raise OutputUnwritable(f"no room for a copy of the input in {dest.parent} ({exc.strerror}); "
                                   "TMPDIR says where it goes") from None
        if size > limit:
            if self.path is not None:
                raise _grew(self.path, limit, limit_name)
            raise InputTooLarge(f"input is over the {limit} byte {limit_name}")
        return size

    def _refuse_over(self, limit: int, limit_name: str) -> None:
        n = len(self._read_so_far)
        if n > limit:
            size = f"{self.path}: {n} bytes" if self.path else f"input of {n} bytes"
            raise InputTooLarge(f"{size} is over the {limit} byte {limit_name}")


def _copy(read: Callable[[int], bytes], write: Callable[[bytes], object], limit: int) -> int:
    """What ``read`` gives, to ``write``, until it ends or passes ``limit``; the bytes copied."""
    size = 0
    while size <= limit:
        chunk = read(min(_CHUNK, limit + 1 - size))
        if not chunk:
            break
        write(chunk)
        size += len(chunk)
    return size


def file_digest(path: Path, limit: int, limit_name: str) -> tuple[int, str]:
    """The size and SHA-256 of ``path``, read in chunks, refusing more than ``limit`` bytes."""
    digest = hashlib.sha256()
    with _regular_file(path, limit, limit_name) as f:
        size = _copy(lambda n: _read(f, n, path), digest.update, limit)
    if size > limit:
        raise _grew(path, limit, limit_name)
    return size, digest.hexdigest()


def _grew(path: Path, limit: int, limit_name: str) -> InputTooLarge:
    # Its size was within the limit when it was looked at (_regular_file).
    return InputTooLarge(f"{path}: over the {limit} byte {limit_name} (it grew while being read)")

