"""Finding and running external tools (ffmpeg, ffprobe).

Every external process starts in :func:`running`: its own process group, killed whole when
the work around it fails or is interrupted. :func:`run` adds no stdin, output collected by
``communicate`` (so a chatty stderr can never fill a pipe and deadlock) and a timeout; ffmpeg's
encodes have their own runner (mediaprep.ffmpeg_runner).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import OutputUnwritable, ToolError, ToolFailed, ToolMissing, ToolTimeout
from .settings import Settings


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: bytes
    stderr: bytes

    def stderr_tail(self, lines: int = 8) -> str:
        text = tidied(self.stderr.decode("utf-8", "replace")).strip().splitlines()
        return "\n".join(text[-lines:])


# A file in one of mediaprep's own temporary folders, as ffmpeg names it in its messages
# ("file:/tmp/mediaprep-x1y2/input: End of file"): nothing the sender can find, and no business of a
# server's client. The input's name goes with its folder; an output keeps its own ("out.mp4: ...").
# The temporary folder's own path is matched as it is: TMPDIR may hold a space.
_WORK_PATH = r"(?:file:)?(?:{temp}|[^\s'\"]*)/mediaprep-[^/\s]+/(?:input: )?"
# "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x56087a6751c0]": where the demuxer was in memory, new every run.
_ADDRESS = re.compile(r" @ 0x[0-9a-f]+\]")


def tidied(text: str) -> str:
    """A tool's message without what means nothing to its reader: our temporary folders, addresses."""
    work = re.compile(_WORK_PATH.format(temp=re.escape(tempfile.gettempdir())))
    return _ADDRESS.sub("]", work.sub("", text))


def find_ffmpeg(settings: Settings) -> str:
    """A setting / MEDIAPREP_FFMPEG, then PATH, then the imageio-ffmpeg wheel's binary."""
    if settings.ffmpeg:
        return _existing(settings.ffmpeg, "ffmpeg")
    found = shutil.which("ffmpeg") or wheel_ffmpeg()
    if found is None:
        raise ToolMissing("no ffmpeg found: set MEDIAPREP_FFMPEG, put ffmpeg on PATH, or pip install imageio-ffmpeg")
    return found


def wheel_ffmpeg() -> str | None:
    """The imageio-ffmpeg wheel's binary; None where the wheel or its binary for this platform is not."""
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):  # RuntimeError: the wheel has no binary for this platform
        return None


def find_ffprobe(settings: Settings) -> str | None:
    """A setting / MEDIAPREP_FFPROBE, then PATH, then beside ffmpeg; None when there is none."""
    if settings.ffprobe:
        return _existing(settings.ffprobe, "ffprobe")
    on_path = shutil.which("ffprobe")
    if on_path:
        return on_path
    try:
        sibling = Path(find_ffmpeg(settings)).with_name("ffprobe")
    except ToolMissing:
        return None
    return str(sibling) if sibling.is_file() and os.access(sibling, os.X_OK) else None


def _existing(path: str, what: str) -> str:
    found = shutil.which(path)
    if not found:
        raise ToolMissing(f"{what} set to {path!r}, which is not an executable file")
    return found


def run(argv: list[str], *, timeout: float, input_bytes: bytes | None = None) -> Completed:
    """Run argv, return its output; raise ToolTimeout (whole group killed), or ToolMissing or
    ToolFailed when it cannot be started."""
    stdin = subprocess.PIPE if input_bytes is not None else subprocess.DEVNULL
    with running(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            out, err = proc.communicate(input=input_bytes, timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            proc.communicate()  # what it wrote before, so its pipes are closed
            raise ToolTimeout(f"{Path(argv[0]).name} took longer than {timeout:g} s and was stopped") from None
    return Completed(proc.returncode, out, err)


@contextmanager
def running(argv: list[str], **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` started in its own process group; the whole group is killed if the block raises anything
    (a timeout, an error, Ctrl-C, or the CLI's SIGTERM). One that cannot be started is ToolMissing
    (not a program that runs here) or ToolFailed (no memory or processes left to start it).

    An interrupt that comes while the process starts is held until the process is known and then
    delivered, inside the block: raised inside ``subprocess.Popen``, after the fork, it left the tool
    running unwatched (1 in 150 SIGTERMs sent at random moments to a loop of short ffmpeg runs).
    """
    with _signals_held() as deliver:
        try:
            proc = subprocess.Popen(argv, start_new_session=True, **popen)
        except OSError as exc:
            raise _not_started(argv[0], exc) from exc
        try:
            deliver()
            yield proc
        except BaseException:
            kill_group(proc)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
            raise


def check_room(tool: str, said: str, folders: list[str]) -> None:
    """After a failed run: output.unwritable when a folder it writes in has no room left, the disk's
    doing, not the input's or the tool's. (Its stderr goes to that disk too, so it may have said
    nothing: "ffmpeg failed (exit 1): " and no cause was all a full TMPDIR gave.)"""
    for folder in folders:
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            continue
        if free < _NO_ROOM or _DISK_FULL in said:
            raise OutputUnwritable(f"no room left in {folder} for {tool}'s work ({free} bytes free); "
                                   "TMPDIR says where it goes")


_NO_ROOM = 1 << 20  # bytes free under which a failed run is put down to the disk
_DISK_FULL = "No space left on device"


def _not_started(program: str, exc: OSError) -> ToolError:
    # Not a program that runs here (gone, not executable, another machine's binary) is the set-up's
    # to mend; anything else (no memory or processes left to fork) is the moment's.
    if isinstance(exc, (FileNotFoundError, PermissionError)) or exc.errno == errno.ENOEXEC:
        return ToolMissing(f"cannot start {program}: {exc.strerror} (a program built for this machine is "
                           "needed; for ffmpeg, MEDIAPREP_FFMPEG names it, and `mediaprep doctor` shows which is used)")
    return ToolFailed(f"cannot start {program}: {exc.strerror}")


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the process's whole group (a tool's own children too) and reap it."""
    if proc.returncode is None:  # once reaped, its group id may belong to someone else
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


@contextmanager
def _signals_held() -> Iterator[Callable[[], None]]:
    """Holds the signals whose handlers are Python's (Ctrl-C's KeyboardInterrupt, the CLI's SIGTERM
    and SIGHUP) until the function it gives is called, or the block ends; then runs those handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None  # Python runs signal handlers in the main thread only: nothing to hold here
        return
    held: dict[int, Any] = {}

    def hold(signum: int, frame: Any) -> None:
        held.setdefault(signum, frame)

    previous = {}
    for signum in _HELD:
        handler = signal.getsignal(signum)
        if callable(handler):  # the default (end the process) and "ignore" are left as they are
            previous[signum] = signal.signal(signum, hold)

    def deliver() -> None:
        handlers = dict(previous)
        previous.clear()
        try:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
        finally:
            # A signal whose own handler was back already may have raised before the rest were put back;
            # left to hold, a later Ctrl-C would have gone nowhere.
            for signum, handler in handlers.items():
                if signal.getsignal(signum) is hold:
                    signal.signal(signum, handler)
        # Called, not raised again: a wakeup fd (asyncio's signal handling) already had the signal once.
        for signum, frame in list(held.items()):
            del held[signum]
            handlers[signum](signum, frame)

    try:
        yield deliver
    finally:
        deliver()


_HELD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run_checked(argv: list[str], *, timeout: float, input_bytes: bytes | None = None) -> Completed:
    done = run(argv, timeout=timeout, input_bytes=input_bytes)
    if done.returncode != 0:
        raise ToolFailed(f"{Path(argv[0]).name} failed (exit {done.returncode}): {done.stderr_tail()}")
    return done


