"""The command's standard streams and the names it prints: what a terminal would act on is printed
as an escape, and a stream that is closed or full, or an output that is a device or a pipe, gets a
coded error or is written as such, not a traceback."""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import OutputUnwritable, UsageError


class StdoutFailed(OutputUnwritable):
    """Standard output could not take what the command wrote."""


class StandardOutput:
    """sys.stdout while a command runs: a write that fails (a full disk, a closed descriptor) is
    output.unwritable with the reason, where it was a traceback, or at exit a lost "Exception
    ignored". A reader that went away stays BrokenPipeError, which is not an error of ours."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream  # None when started with >&-

    def write(self, text: str) -> int:
        return self._guarded(lambda stream: stream.write(text))

    def write_bytes(self, data: bytes) -> None:
        def write(stream: Any) -> None:
            stream.buffer.write(data)
            stream.buffer.flush()
        self._guarded(write)

    def flush(self) -> None:
        if self.stream is not None:
            self._guarded(lambda stream: stream.flush())

    def isatty(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def _guarded(self, write: Callable[[Any], Any]) -> Any:
        if self.stream is None:
            raise StdoutFailed("standard output is closed: nothing can be written to it")
        try:
            return write(self.stream)
        except BrokenPipeError:
            raise
        except OSError as exc:
            # What stayed in the buffer would fail again at exit: it goes nowhere instead.
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.stream.fileno())
            raise StdoutFailed(f"standard output: cannot be written ({exc.strerror})") from None


class StandardError:
    """sys.stderr while a command runs: a message that cannot be written (2>/dev/full) is dropped,
    as there is nowhere left to say so, and the exit status still tells what happened. It was a
    traceback that went nowhere, and exit 1 whatever had happened, even after -o - wrote its bytes."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except OSError:
            return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError:
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def check_stdin(what: str) -> None:
    if sys.stdin is None:
        raise UsageError(f"{what}: standard input is closed")
    if sys.stdin.isatty():
        raise UsageError(f"{what}: standard input is a terminal; pipe a file into it")


def is_device_or_pipe(output_arg: str) -> bool:
    try:
        mode = os.stat(output_arg).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def write_into(path: Path, data: bytes) -> None:
    """Write into a device or a named pipe (-o /dev/null, a FIFO) as it is: a file renamed over it
    would replace it, and an extension added to its name would write beside it."""
    try:
        # A pipe that nothing reads is refused at once (ENXIO) instead of waited on for ever.
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except OSError as exc:
        why = "nothing reads from it" if exc.errno == errno.ENXIO else exc.strerror
        raise OutputUnwritable(f"{path}: cannot be written ({why})") from None


# Control characters (C0 but tab and newline, DEL, C1) and the bidirectional marks and overrides:
# printed as escapes, so a file's name, a server's header or a file's own text cannot recolour,
# retitle or clear the terminal, move its cursor, or show a name reversed (photo<RLO>gpj.exe).
UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str, *, keep_lines: bool = False) -> str:
    """``text`` as it is safe to print; a newline too is escaped unless ``keep_lines``."""
    def escape(match: re.Match[str]) -> str:
        code = ord(match[0])
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    text = UNPRINTABLE.sub(escape, text)
    return text if keep_lines else text.replace("\n", "\\n")


def json_text(obj: object, encoding: str | None) -> str:
    """``obj`` as indented JSON for a stream of ``encoding``: json escapes C0 controls itself, and
    the rest of UNPRINTABLE are escaped the same way. For a stream that is not UTF-8 every other
    character is too: backslashreplace's \\xe9 is not JSON."""
    utf8 = (encoding or "").lower().replace("-", "") in ("utf8", "utf_8")
    text = json.dumps(obj, indent=2, ensure_ascii=not utf8)
    return UNPRINTABLE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)
