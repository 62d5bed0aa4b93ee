"""Finding and running external tools (ffmpeg, ffprobe).

Every external process goes through :func:`run`: no stdin, output collected
by ``communicate`` (so a chatty stderr can never fill a pipe and deadlock),
its own process group, and a timeout that kills the whole group.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ToolFailed, ToolMissing, ToolTimeout
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
    """Run argv, return its output; raise ToolTimeout (whole group killed) or ToolMissing."""
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if input_bytes is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise ToolMissing(f"cannot start {argv[0]}: {exc.strerror}") from exc
    try:
        out, err = proc.communicate(input=input_bytes, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise ToolTimeout(f"{Path(argv[0]).name} took longer than {timeout:g} s and was stopped") from None
    except BaseException:
        _kill_group(proc)
        raise
    return Completed(proc.returncode, out, err)


def run_checked(argv: list[str], *, timeout: float, input_bytes: bytes | None = None) -> Completed:
    done = run(argv, timeout=timeout, input_bytes=input_bytes)
    if done.returncode != 0:
        raise ToolFailed(f"{Path(argv[0]).name} failed (exit {done.returncode}): {done.stderr_tail()}")
    return done


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()
