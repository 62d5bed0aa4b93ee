"""The one place ffmpeg runs: commands built with ffmpeg-python, run with every safeguard.

Every run has ``-nostdin``, ``-protocol_whitelist file,pipe`` and the demuxer forced from our own
detection on its input, absolute paths that mediaprep created (under its own temporary folder),
stderr drained to a file (a chatty ffmpeg can never fill a pipe and hang), its own process group,
and a timeout that kills the group. ``-progress pipe:1`` events go to an optional callback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ffmpeg

from .errors import ToolFailed, ToolMissing, ToolTimeout
from .settings import Settings
from .tools import find_ffmpeg

Progress = Callable[[dict[str, str]], None]


def input_stream(path: Path, demuxer: str, **options: Any) -> Any:
    _check_path(path)
    return ffmpeg.input(str(path), f=demuxer, protocol_whitelist="file,pipe", **options)


def run_ffmpeg(
    stream: Any, settings: Settings, *, on_progress: Progress | None = None, timeout: float | None = None
) -> None:
    """Run a built ffmpeg-python stream; raise ToolFailed (with stderr's tail) or ToolTimeout."""
    exe = find_ffmpeg(settings)
    for out in _outputs(stream):
        if out not in ("-", "pipe:1", "pipe:") and not out.startswith("/"):
            raise ToolFailed(f"refusing to write to {out!r}: outputs must be absolute paths mediaprep made")
    argv = [exe, "-nostdin", "-hide_banner", "-y", "-nostats", "-progress", "pipe:1", *stream.get_args()]
    limit = timeout if timeout is not None else settings.tool_timeout
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, start_new_session=True
            )
        except FileNotFoundError as exc:
            raise ToolMissing(f"cannot start ffmpeg: {exc.strerror}") from exc
        reader = threading.Thread(target=_read_progress, args=(proc, on_progress), daemon=True)
        reader.start()
        deadline = time.monotonic() + limit
        try:
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    _kill(proc)
                    raise ToolTimeout(f"ffmpeg took longer than {limit:g} s and was stopped")
                time.sleep(0.02)
        except BaseException:
            _kill(proc)
            raise
        finally:
            reader.join(timeout=2)
            if proc.stdout is not None:
                proc.stdout.close()
        if proc.returncode != 0:
            errors.seek(0)
            tail = errors.read().decode("utf-8", "replace").strip().splitlines()[-6:]
            raise ToolFailed(f"ffmpeg failed (exit {proc.returncode}): " + " | ".join(tail))


def _read_progress(proc: subprocess.Popen[bytes], on_progress: Progress | None) -> None:
    block: dict[str, str] = {}
    assert proc.stdout is not None
    for raw in proc.stdout:
        key, _, value = raw.decode("utf-8", "replace").strip().partition("=")
        block[key] = value
        if key == "progress":  # "continue" or "end" closes a block
            if on_progress is not None:
                try:
                    on_progress(dict(block))
                except Exception:  # a failing callback must not break the encode
                    pass
            block = {}


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _check_path(path: Path) -> None:
    if not path.is_absolute():
        raise ToolFailed(f"refusing {path}: ffmpeg is only given absolute paths mediaprep made")


def _outputs(stream: Any) -> list[str]:
    # An ffmpeg-python output stream keeps its file name on its node.
    return [str(stream.node.kwargs.get("filename", ""))]
