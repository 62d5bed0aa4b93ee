"""The one place ffmpeg runs: commands built with ffmpeg-python, run with every safeguard.

Every run has ``-nostdin``, ``-protocol_whitelist file,pipe`` and the demuxer forced from our own
detection on its input, absolute paths that mediaprep created (under its own temporary folder),
stderr drained to a file (a chatty ffmpeg can never fill a pipe and hang), its own process group,
and two limits that kill the group: a deadline, and a stall limit (``-progress`` blocks whose frame
count, output time and size stop moving: a damaged stream that makes ffmpeg spin without producing
anything). The group is also killed when the run is interrupted (an exception, Ctrl-C, or SIGTERM,
which the CLI turns into an exit), and ``-timelimit`` bounds ffmpeg's CPU time in case mediaprep is
killed without a chance to clean up. The progress blocks also go to an optional callback.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ffmpeg

from .errors import CorruptInput, InputTooLarge, ToolFailed, ToolTimeout
from .settings import Settings
from .tools import check_room, find_ffmpeg, kill_group, running, tidied

Progress = Callable[[dict[str, str]], None]

# ffmpeg signs the files it writes with its name and version: the container's encoder tag
# ("Lavf59.27.100") and an mp3's ID3 tag. No player shows them; they are budget spent on nothing,
# and tell which software, at which version, made the file. Every file mediaprep sends is written
# without. (The AAC encoder's own signature, ~20 bytes in its first frame, stays: its bitexact flag
# also changes how it encodes.)
UNSIGNED = {"fflags": "+bitexact"}
MP3_UNSIGNED = {**UNSIGNED, "id3v2_version": 0}  # no ID3 tag at all: empty, it is a 10-byte header


def input_stream(path: Path, demuxer: str, **options: Any) -> Any:
    _check_path(path)
    return ffmpeg.input(str(path), f=demuxer, protocol_whitelist="file,pipe", **options)


def run_ffmpeg(
    stream: Any,
    settings: Settings,
    *,
    on_progress: Progress | None = None,
    timeout: float | None = None,
    deadline: float | None = None,
    quiet_or_corrupt: bool = False,
) -> dict[str, str]:
    """Run a built ffmpeg-python stream and return its last progress block.

    ``deadline`` (a ``time.monotonic()`` value) is shared by every run of one conversion;
    ``timeout`` limits this run alone (default: the settings' encode_timeout). Raises
    ToolTimeout (stopped), CorruptInput (the input could not be decoded) or ToolFailed.
    ``quiet_or_corrupt``: a run made with ``-v error`` that prints anything at all is CorruptInput
    too (a decoder that conceals damage says so and carries on with exit status 0).
    """
    exe = find_ffmpeg(settings)
    files = [out for out in _outputs(stream) if out not in ("-", "pipe:1", "pipe:")]
    for out in files:
        if not out.startswith("/"):
            raise ToolFailed(f"refusing to write to {out!r}: outputs must be absolute paths mediaprep made")
    started = time.monotonic()
    end = started + (timeout if timeout is not None else settings.encode_timeout)
    if deadline is not None:
        end = min(end, deadline)
    # A backstop for when mediaprep itself is killed outright (SIGKILL, the OOM killer) and cannot
    # stop the group: ffmpeg then ends itself after this much CPU time. It counts every thread, so
    # it is the wall-clock limit times the cores, and never fires before the watch below.
    cpu_limit = min(math.ceil(max(1.0, end - started) * (os.cpu_count() or 1)) + 1, _MAX_TIMELIMIT)
    # -v warning: the error's last lines are then the cause, not x264's closing statistics (which
    # come after it, at info level). A run's own -v (a decode check's -v error) comes later and wins.
    argv = [exe, "-nostdin", "-hide_banner", "-v", "warning", "-y", "-nostats", "-timelimit", str(cpu_limit),
            "-progress", "pipe:1",
            *stream.get_args()]
    watch = _Watch(on_progress, started)
    with tempfile.TemporaryFile() as errors:
        with running(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors) as proc:
            _wait(proc, watch, started, end, settings.stall_timeout)
        errors.seek(0)
        said = errors.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        check_room("ffmpeg", said, [*(os.path.dirname(out) for out in files), tempfile.gettempdir()])
    _check_outcome(said, proc.returncode, quiet_or_corrupt)
    for out in files:
        if not os.path.exists(out):
            # Seen with a MEDIAPREP_FFMPEG that names another program (true, echo): it ends well and writes nothing.
            raise ToolFailed(f"{exe} ended without an error but wrote no {Path(out).name}: is it ffmpeg? "
                             "(`mediaprep doctor` shows the ffmpeg used and its version)")
    return watch.last


def _wait(proc: subprocess.Popen, watch: _Watch, started: float, end: float, stall_timeout: float) -> None:
    """Until ffmpeg ends, its progress read on a thread; its whole group is killed at ``end``, after
    ``stall_timeout`` seconds without progress, or when the caller's callback raises."""
    reader = threading.Thread(target=watch.read, args=(proc,), daemon=True)
    reader.start()
    try:
        while proc.poll() is None:
            if watch.raised is not None:
                raise watch.raised  # the caller's callback stops the work (its client has gone)
            now = time.monotonic()
            if now > end:
                raise ToolTimeout(f"ffmpeg ran past its time limit ({end - started:.0f} s) and was stopped",
                                  reason="deadline")
            if now - watch.moved > stall_timeout:
                raise ToolTimeout(
                    f"ffmpeg made no progress for {stall_timeout:g} s (a damaged or hostile stream) "
                    "and was stopped", reason="stalled")
            time.sleep(0.02)
    except BaseException:
        kill_group(proc)  # here, not only in running(): the reader's pipe ends only when ffmpeg does
        raise
    finally:
        reader.join(timeout=2)
        if proc.stdout is not None:
            proc.stdout.close()
    if watch.raised is not None:  # raised on the run's last block, as ffmpeg ended
        raise watch.raised


def _check_outcome(said: str, returncode: int, quiet_or_corrupt: bool) -> None:
    """The error a run's stderr and exit status mean, if any: a frame over the pixel limit, damaged
    input, or ffmpeg's own failure with its last lines."""
    if oversized := _OVER_MAX_PIXELS.search(said):
        # The decoder drops such frames and carries on, so the output would be the clip cut.
        width, height, limit = oversized.groups()
        raise InputTooLarge(f"a frame inside the stream is {width}x{height}, over the {limit} pixel limit "
                            "per frame (max_video_pixels); the header gave a smaller size")
    lines = tidied(said).strip().splitlines()
    if quiet_or_corrupt and returncode == 0 and lines:
        raise CorruptInput(f"the media decodes with errors ({len(lines)}), first: {lines[0].strip()}")
    if returncode != 0:
        damaged = [line.strip() for line in lines if any(sign in line for sign in _UNDECODABLE)]
        if damaged:
            # exit 69: more than -max_error_rate (2/3) of the frames failed to decode
            kinds = {_STREAM_KINDS[k] for k in _INPUT_STREAM.findall(" ".join(damaged))}
            what = f"the {kinds.pop()} stream is damaged and" if len(kinds) == 1 else "the media"
            raise CorruptInput(f"{what} cannot be decoded ({len(damaged)} errors), first: {damaged[0]}")
        raise ToolFailed(f"ffmpeg failed (exit {returncode}): " + " | ".join(lines[-6:]))


# libavutil's check of a decoder's max_pixels option (av_image_check_size2).
_OVER_MAX_PIXELS = re.compile(r"Picture size (\d+)x(\d+) exceeds specified max pixel count (\d+)")

_MAX_TIMELIMIT = 2**31 - 1  # ffmpeg refuses a larger -timelimit (an int option)

# ffmpeg 7 and newer name the input stream an error comes from: "[aist#0:1/aac @ 0x...]".
_INPUT_STREAM = re.compile(r"\[([av])ist#")
_STREAM_KINDS = {"a": "audio", "v": "video"}

# What ffmpeg says when the input itself is damaged, as opposed to a failing tool.
_UNDECODABLE = (
    "Invalid data found when processing input",
    "Error while decoding stream",
    "moov atom not found",
    "Could not find codec parameters",
    "Cannot determine format of input stream",
)


class _Watch:
    """Reads -progress blocks: passes them on and notes when the work last moved."""

    def __init__(self, on_progress: Progress | None, started: float) -> None:
        self.on_progress = on_progress
        self.moved = started
        self.last: dict[str, str] = {}
        self._mark: tuple[str, ...] = ()
        self.raised: BaseException | None = None  # by on_progress, for the run to raise

    def read(self, proc: subprocess.Popen[bytes]) -> None:
        block: dict[str, str] = {}
        assert proc.stdout is not None
        for raw in proc.stdout:
            key, _, value = raw.decode("utf-8", "replace").strip().partition("=")
            block[key] = value
            if key == "progress":  # "continue" or "end" closes a block
                self._note(block)
                block = {}

    def _note(self, block: dict[str, str]) -> None:
        # fps, bitrate and speed change even when nothing is produced; these three only move forward.
        mark = (block.get("frame", ""), block.get("out_time_us", ""), block.get("total_size", ""))
        if mark != self._mark:
            self._mark = mark
            self.moved = time.monotonic()
        self.last = dict(block)
        if self.on_progress is not None and self.raised is None:
            try:
                self.on_progress(dict(block))
            except BaseException as exc:  # raised again in the caller's thread, which stops the run
                self.raised = exc


def _check_path(path: Path) -> None:
    if not path.is_absolute():
        raise ToolFailed(f"refusing {path}: ffmpeg is only given absolute paths mediaprep made")


def _outputs(stream: Any) -> list[str]:
    # An ffmpeg-python output node keeps its file name; merged outputs hang below a merge node.
    node = stream.node
    nodes = [edge.upstream_node for edge in node.incoming_edges] if "filename" not in node.kwargs else [node]
    return [str(n.kwargs.get("filename", "")) for n in nodes]
