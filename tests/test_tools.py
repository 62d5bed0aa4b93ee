import os
import socket
import time
from pathlib import Path

import pytest

from mediaprep import Settings
from mediaprep.errors import ToolMissing, ToolTimeout
from mediaprep.tools import find_ffmpeg, run

from .conftest import MEDIA


def processes_with(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if marker.encode() in cmd:
                found.append(int(pid))
    return found


def test_timeout_kills_the_whole_process_group():
    marker = "37.123"
    start = time.monotonic()
    with pytest.raises(ToolTimeout):
        run(["sh", "-c", f"sleep {marker} & sleep {marker}; wait"], timeout=0.5)
    assert time.monotonic() - start < 5
    time.sleep(0.2)
    assert processes_with(f"sleep {marker}") == []


def test_a_chatty_tool_cannot_deadlock_on_a_full_pipe():
    done = run(["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x >&2; echo ok"], timeout=10)
    assert done.stdout.strip() == b"ok" and len(done.stderr) == 300000


def test_ffmpeg_is_found_without_a_system_install():
    assert os.access(find_ffmpeg(Settings()), os.X_OK)


def test_a_configured_ffmpeg_that_does_not_exist_is_a_coded_error():
    with pytest.raises(ToolMissing):
        find_ffmpeg(Settings(ffmpeg="/nonexistent/ffmpeg"))


def test_a_configured_ffmpeg_built_for_another_machine_is_a_coded_error_not_a_traceback(tmp_path):
    # An arm64 build on x86_64 (or a download that is an error page) is executable but cannot run:
    # the exec fails with ENOEXEC, which escaped as a bare OSError from every conversion and from doctor.
    import subprocess
    import sys

    from mediaprep import convert

    foreign = tmp_path / "ffmpeg"
    foreign.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 4)
    foreign.chmod(0o755)
    with pytest.raises(ToolMissing) as e:
        convert(MEDIA / "clip.mp4", budget=100000, settings=Settings(ffmpeg=str(foreign)))
    assert "Exec format error" in str(e.value) and "MEDIAPREP_FFMPEG" in str(e.value)
    doctor = subprocess.run([sys.executable, "-m", "mediaprep", "doctor"], check=False, capture_output=True, text=True,
                            env={**os.environ, "MEDIAPREP_FFMPEG": str(foreign)}, timeout=60)
    assert doctor.returncode == 2
    assert "Traceback" not in doctor.stderr and "tool.missing" in doctor.stderr


@pytest.mark.parametrize("source", ["clip.mp4", "speech.wav"])
def test_a_configured_ffmpeg_that_is_another_program_is_a_coded_error(source):
    # MEDIAPREP_FFMPEG naming a program that ends well and writes nothing (true, echo, a wrapper that
    # lost its arguments): the missing output escaped as a FileNotFoundError with a traceback.
    import shutil

    from mediaprep import convert
    from mediaprep.errors import ToolFailed

    with pytest.raises(ToolFailed) as e:
        convert(MEDIA / source, budget=100000, settings=Settings(ffmpeg=shutil.which("true")))
    assert "is it ffmpeg?" in str(e.value)


def test_a_configured_ffprobe_that_is_another_program_is_a_coded_error_not_the_files_fault():
    # With a MEDIAPREP_FFPROBE that prints nothing (or not JSON), a good clip was called corrupt.
    import shutil

    from mediaprep import inspect
    from mediaprep.errors import ToolFailed

    for program in ("true", "echo"):
        error = inspect(MEDIA / "clip.mp4", settings=Settings(ffprobe=shutil.which(program))).error
        assert isinstance(error, ToolFailed) and "is it ffprobe?" in str(error)


def test_a_failed_ffmpeg_run_names_its_cause_not_the_encoders_closing_statistics(tmp_path):
    # The second pass of a two-pass encode fed other frames than its analysis pass: x264 stops with
    # a one-line cause, and then prints a dozen lines of statistics at info level.
    import ffmpeg

    from mediaprep.errors import ToolFailed
    from mediaprep.ffmpeg_runner import run_ffmpeg

    settings = Settings()
    log = tmp_path / "pass"
    for n, seconds in ((1, 1), (2, 2)):
        source = ffmpeg.input(f"testsrc2=s=160x120:r=10:d={seconds}", f="lavfi")
        out = "-" if n == 1 else str(tmp_path / "out.mp4")
        stream = source.output(out, f="null" if n == 1 else "mp4", vcodec="libx264", passlogfile=str(log),
                               **{"pass": n, "b:v": "100k"})
        if n == 1:
            run_ffmpeg(stream, settings)
            continue
        with pytest.raises(ToolFailed) as e:
            run_ffmpeg(stream, settings)
    assert "stats" in str(e.value) and "kb/s" not in str(e.value)


@pytest.fixture
def sigterm_inside_popen(monkeypatch):
    """SIGTERM sent at the moment a tool has been started and subprocess.Popen has not yet returned it."""
    import signal
    import subprocess

    real_popen = subprocess.Popen

    def popen_then_signal(*args, **kwargs):
        proc = real_popen(*args, **kwargs)
        signal.raise_signal(signal.SIGTERM)
        return proc

    monkeypatch.setattr(subprocess, "Popen", popen_then_signal)


@pytest.mark.parametrize("runner", ["run", "run_ffmpeg"])
def test_a_stop_signal_that_comes_while_a_tool_starts_still_stops_it(sigterm_inside_popen, runner):
    # The CLI turns SIGTERM into an exit that unwinds and kills the tool's group. Such an exit raised
    # inside subprocess.Popen, after the fork, lost the process: ffmpeg ran on unwatched (1 in 150
    # SIGTERMs sent at random moments to a loop of short ffmpeg runs). The signal is sent here at
    # that moment: the tool is started, and Popen has not yet returned it.
    import signal

    import ffmpeg

    from mediaprep.ffmpeg_runner import run_ffmpeg

    marker = "4242.5"

    def stop(signum, _frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    ctrl_c = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit):
            if runner == "run":
                run(["sleep", marker], timeout=600)
            else:
                busy = ffmpeg.input("testsrc2=s=64x64:r=5", f="lavfi", t=marker)
                run_ffmpeg(ffmpeg.output(busy, "-", f="null"), Settings())
    finally:
        signal.signal(signal.SIGTERM, previous)
    time.sleep(0.2)
    assert processes_with(marker) == []
    assert signal.getsignal(signal.SIGTERM) is previous and signal.getsignal(signal.SIGINT) is ctrl_c


def test_a_signal_held_while_a_tool_starts_runs_its_handler_once_and_the_work_goes_on(sigterm_inside_popen):
    # A host whose handler only takes note (asyncio's, which reads the signal from its wakeup fd)
    # must see the signal once, and the tool's run must not be disturbed by it.
    import signal

    seen = []

    def note(signum, _frame):
        seen.append(signum)

    previous = signal.signal(signal.SIGTERM, note)
    woken, wakeup = socket.socketpair()
    wakeup.setblocking(False)
    previous_fd = signal.set_wakeup_fd(wakeup.fileno())
    try:
        done = run(["sh", "-c", "echo ok"], timeout=10)
    finally:
        handler = signal.signal(signal.SIGTERM, previous)
        signal.set_wakeup_fd(previous_fd)
    woken.setblocking(False)
    with woken, wakeup:
        assert woken.recv(16) == bytes([signal.SIGTERM])
    assert done.stdout == b"ok\n" and done.returncode == 0
    assert seen == [signal.SIGTERM]
    assert handler is note  # its own handler, back in place
