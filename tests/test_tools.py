import os
import time
from pathlib import Path

import pytest

from mediaprep import Settings
from mediaprep.errors import ToolMissing, ToolTimeout
from mediaprep.tools import find_ffmpeg, run


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
