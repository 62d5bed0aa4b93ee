"""Issue 4's bad-input list: every one ends with a coded error (or a correct result) in time,
with no ffmpeg left running and nothing written."""

import http.server
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from mediaprep import Settings, convert, inspect
from mediaprep.errors import CannotFit, CorruptInput, EmptyInput, InputTooLarge, ToolTimeout, UnsupportedType
from mediaprep.ffmpeg_runner import input_stream, run_ffmpeg
from mediaprep.inspection.media import media_facts

from .conftest import BROKEN, MEDIA, make, with_ffprobe
from .test_convert_av import children_of


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad-av")
    return {
        # three hours of a tiny picture and silence: small on disk, long in time
        "three-hours": make(tmp, "three-hours.mp4", "-f", "lavfi", "-i", "color=c=gray:s=64x64:r=1",
                            "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "10800", "-c:v", "libx264",
                            "-preset", "ultrafast", "-g", "600", "-c:a", "aac", "-b:a", "8k"),
        "8k": make(tmp, "8k.mp4", "-f", "lavfi", "-i", "testsrc2=s=7680x4320:r=10", "-t", "1",
                   "-c:v", "libx264", "-preset", "ultrafast", "-crf", "40"),
    }


def test_zero_length_is_empty_input():
    with pytest.raises(EmptyInput):
        convert(BROKEN / "zero-length.mp4", budget=40000)


def test_a_video_without_sound_gives_all_the_budget_to_the_picture():
    result = convert(MEDIA / "no-audio.mp4", budget=40000)
    info = inspect(result.data).media
    assert result.bytes <= 40000 and info.has_video and not info.has_audio
    assert result.bytes >= 0.85 * 40000  # the audio's share was not set aside and wasted


def test_variable_frame_rate_keeps_its_timing_and_sound():
    source = inspect(MEDIA / "vfr.mp4").media
    assert source.fps < 24  # 7 frames in 10 kept, the rest gaps: the average rate is what is real
    result = convert(MEDIA / "vfr.mp4", budget=40000)
    out = inspect(result.data).media
    assert result.bytes <= 40000 and out.has_audio
    assert abs(out.duration - source.duration) < 0.2
    assert out.fps == round(source.fps)  # no duplicated frames to reach the container's nominal 25


def test_8k_is_scaled_down_and_a_frame_over_the_pixel_ceiling_is_refused(made):
    result = convert(made["8k"], budget=60000)
    out = inspect(result.data).media
    assert result.bytes <= 60000 and out.height <= 720 and out.width == round(out.height * 16 / 9 / 2) * 2
    start = time.monotonic()
    with pytest.raises(InputTooLarge):
        convert(made["8k"], budget=60000, settings=Settings(max_video_pixels=8_000_000))
    assert time.monotonic() - start < 5  # refused from the header, nothing decoded


@pytest.fixture(scope="module")
def grows_mid_stream(tmp_path_factory):
    """An mp4 whose header says 320x240 and whose H.264 switches to 1280x960 after a second (a new
    SPS in-band): the container and the first parameter sets pass the pixel ceiling; the frames do not."""
    tmp = tmp_path_factory.mktemp("grows")
    parts = [make(tmp, f"{size}.h264", "-f", "lavfi", "-i", f"testsrc=s={size}:r=10:d=1", "-pix_fmt", "yuv420p",
                  "-c:v", "libx264", "-profile:v", "main", "-preset", "ultrafast", "-x264-params", "repeat-headers=1")
             for size in ("320x240", "1280x960")]
    joined = tmp / "joined.h264"
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))
    return make(tmp, "grows.mp4", "-r", "10", "-f", "h264", "-i", str(joined), "-c", "copy")


@pytest.mark.parametrize("budget", [400000, 20000], ids=["fits-as-it-is", "encoded"])
def test_a_frame_size_that_grows_mid_stream_past_the_ceiling_is_refused(grows_mid_stream, budget, tmp_path):
    header = inspect(grows_mid_stream).media
    assert (header.width, header.height) == (320, 240)
    under = Settings(max_video_pixels=1_000_000)  # 320x240 passes; 1280x960 (1.2 MP) does not
    with pytest.raises(InputTooLarge, match="1280x960, over the 1000000 pixel limit"):
        convert(grows_mid_stream, profile="sinch", budget=budget, settings=under)
    # Under the ceiling the whole clip goes, never the small frames alone (the decoder drops what is
    # over max_pixels and carries on: without the check that was a clip cut silently in half).
    whole = convert(grows_mid_stream, profile="sinch", budget=budget)
    assert abs(inspect(whole.data).media.duration - 2.0) < 0.2


def test_a_three_hour_file_is_refused_at_once_or_trimmed_when_asked(made):
    start = time.monotonic()
    with pytest.raises(CannotFit) as e:
        convert(made["three-hours"], budget=300000)
    assert time.monotonic() - start < 5  # refused from the duration, before any encode
    # A still 64x64 grey picture (80 bit/s) needs next to nothing: the longest is what the sound's
    # floor (12 kbit/s) leaves room for. (With the picture held to the profile's 48 kbit/s it was 36 s.)
    assert "10800.0 s" in e.value.message and 100 < e.value.details["longest_seconds"] < 200
    start = time.monotonic()
    trimmed = convert(made["three-hours"], budget=300000, max_duration=20)
    assert time.monotonic() - start < 20  # only the first 20 s are read
    out = inspect(trimmed.data).media
    assert abs(out.duration - 20) < 1.5 and trimmed.bytes <= 300000
    assert (out.width, out.height) == (64, 64)  # a small source is not scaled up


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        self.hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def canary_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.hits = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("name", ["playlist.mp4", "concat.mp4"])
def test_playlists_and_concat_lists_named_mp4_are_refused(name):
    with pytest.raises(UnsupportedType):
        convert(BROKEN / name, budget=40000)


def test_a_list_forced_past_the_sniffing_still_opens_no_other_file_or_url(tmp_path, canary_url):
    # Even if detection were fooled, ffmpeg gets the mp4 demuxer and only the file protocol.
    secret = tmp_path / "secret.mp4"
    secret.write_bytes((MEDIA / "clip.mp4").read_bytes())
    for body in (f"#EXTM3U\n#EXTINF:10,\n{canary_url}/segment.ts\n#EXTINF:10,\nfile:{secret}\n#EXT-X-ENDLIST\n",
                 f"ffconcat version 1.0\nfile '{canary_url}/part.mp4'\nfile '{secret}'\n"):
        listing = tmp_path / "list.mp4"
        listing.write_text(body)
        with pytest.raises(CorruptInput):
            media_facts(listing, "video/mp4", Settings())
    assert _Recorder.hits == []


def test_a_stream_that_cannot_be_decoded_is_corrupt_input_and_writes_nothing(cli, tmp_path):
    with pytest.raises(CorruptInput) as e:
        convert(BROKEN / "corrupt-stream.mp4", budget=40000)
    assert "cannot be decoded" in e.value.message
    r = cli("convert", str(BROKEN / "corrupt-stream.mp4"), "-o", str(tmp_path / "out.mp4"), "--budget", "40000")
    assert r.code == 2 and "input.corrupt" in r.stderr
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(CorruptInput):
        convert(BROKEN / "truncated.mp4", budget=40000)


@pytest.mark.parametrize("temp", ["tmp", "my temp"])
@pytest.mark.parametrize("probe", [with_ffprobe("ffprobe"), "ffmpeg"])
def test_an_error_names_no_folder_of_mediaprep_s_own(tmp_path, probe, temp, monkeypatch):
    # The tools' messages named the temporary copy ("file:/tmp/mediaprep-x1y2/input: End of file"):
    # nothing the sender can find, and no business of a server's client. A TMPDIR with a space in
    # it left "file:/tmp/my" behind.
    import tempfile

    (tmp_path / temp).mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / temp))
    clip = make(tmp_path, "clip.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:d=3", "-c:v", "libx264")
    cut = clip.read_bytes()[:2000]
    for source in (cut, BROKEN / "truncated.mp4", BROKEN / "corrupt-stream.mp4"):
        with pytest.raises(CorruptInput) as e:
            convert(source, budget=40000, settings=Settings(probe=probe))
        assert "mediaprep-" not in e.value.message and str(tmp_path) not in e.value.message, e.value.message
        assert not re.search(r"@ 0x[0-9a-f]+", e.value.message), e.value.message  # nor where ffmpeg was in memory


def test_a_picture_whose_sample_table_is_lost_is_corrupt_input_not_a_tool_failure(tmp_path):
    # HEVC carries its pixel format in hvcC, so the probe is content; with the sample sizes (stsz)
    # gone, not one frame decodes. The analysis pass "succeeded" on nothing, and the second pass
    # failed as tool.failed ("can't open stats file"). Found by fuzzing.
    clip = make(tmp_path, "hevc.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:d=1", "-c:v", "libx265",
                "-x265-params", "log-level=error")
    broken = tmp_path / "no-sample-sizes.mp4"
    broken.write_bytes(clip.read_bytes().replace(b"stsz", b"xtsz", 1))
    with pytest.raises(CorruptInput) as e:
        convert(broken, budget=100000)
    assert "video stream is damaged: only 0 of" in e.value.message


@pytest.mark.parametrize("fmt, profile", [("mp4", None), ("3gp", None), ("3gp", "legacy-30k")])  # legacy: H.263
def test_a_clip_whose_sound_cannot_be_decoded_is_corrupt_input_never_a_silent_clip(tmp_path, fmt, profile):
    # The picture is whole; every audio packet is noise (ffmpeg's noise filter, packets copied).
    clip = make(tmp_path, "noisy-sound.mp4", "-i", str(MEDIA / "clip.mp4"), "-c", "copy", "-bsf:a", "noise=1",
                "-movflags", "+faststart")
    with pytest.raises(CorruptInput) as e:
        convert(clip, budget=300000 if profile is None else None, format=fmt, profile=profile)
    assert "audio stream is damaged" in e.value.message


def test_an_ffmpeg_that_stops_making_progress_is_stopped_long_before_the_deadline(tmp_path):
    import ffmpeg

    # A FIFO nobody writes to: ffmpeg waits for input forever, the purest hang.
    fifo = tmp_path / "input"
    os.mkfifo(fifo)
    stream = ffmpeg.output(input_stream(fifo, "mov"), str(tmp_path / "out.mp4"))
    start = time.monotonic()
    with pytest.raises(ToolTimeout) as e:
        run_ffmpeg(stream, Settings(stall_timeout=1.0, encode_timeout=600))
    assert e.value.details["reason"] == "stalled"
    assert time.monotonic() - start < 10
    time.sleep(0.2)
    assert children_of(os.getpid()) == []
    assert not (tmp_path / "out.mp4").exists()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _encoders_started_by(pid: int) -> list[int]:
    # The encode, not the probe that comes before it and ends by itself.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = []
        for child in children_of(pid):
            try:
                if b"libx264" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(child)
            except OSError:
                continue
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("the encode never started")


def _stuck(proc: subprocess.Popen, ffmpegs: list[int]) -> str:
    """Where a command that did not end is: its threads' Python stacks, and its processes' states."""
    states = []
    for pid in (proc.pid, *ffmpegs, *children_of(proc.pid)):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            wchan = Path(f"/proc/{pid}/wchan").read_text()
        except OSError:
            stat, wchan = "gone", ""
        states.append(f"pid {pid}: state {stat} {wchan}")
    proc.send_signal(signal.SIGUSR1)
    try:
        _, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired as e:
        err = e.stderr or b""
    return "\n".join(states) + "\n" + err.decode("utf-8", "replace")


@pytest.mark.parametrize("signum", [15, 2], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_convert_stops_ffmpeg_and_leaves_nothing_behind(tmp_path, signum):
    # docker stop, systemd or a batch runner's timeout send SIGTERM; Ctrl-C sends SIGINT. Either way
    # ffmpeg (in its own process group) must not run on unwatched, and no copy or half file may stay.
    import sys

    clip = make(tmp_path, "busy.mp4", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30", "-t", "40",
                "-c:v", "libx264", "-preset", "ultrafast", "-crf", "30")
    temp, out = tmp_path / "temp", tmp_path / "out"
    temp.mkdir()
    out.mkdir()
    # A background job inherits SIGINT ignored (as CI may run this); the command must take it as a user's ^C.
    # SIGUSR1 makes it print every thread's stack: what it was doing, should it not end in time.
    as_at_a_terminal = ("import faulthandler, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                        "faulthandler.register(signal.SIGUSR1, all_threads=True); "
                        "from mediaprep.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", as_at_a_terminal, "convert", str(clip), "-o", str(out / "x.mp4"),
                             "--budget", "1000000"], env={**os.environ, "TMPDIR": str(temp)},
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ffmpegs = _encoders_started_by(proc.pid)
        time.sleep(0.5)
        proc.send_signal(signum)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail("the command did not end within 20 s of the signal:\n" + _stuck(proc, ffmpegs))
    finally:
        proc.kill()
        proc.wait()  # reaped: a zombie left here would fail the later tests that count children
    assert proc.returncode == 128 + signum
    assert b"Traceback" not in err and b"mediaprep: " in err
    assert not any(_alive(pid) for pid in ffmpegs)
    assert list(temp.iterdir()) == [] and list(out.iterdir()) == []


def test_ffmpeg_ends_itself_when_mediaprep_is_killed_outright():
    # SIGKILL (or the OOM killer) leaves no chance to clean up; ffmpeg's own CPU time limit
    # (the run's time limit times the cores) still ends it instead of running on unwatched.
    import sys

    script = (
        "import ffmpeg\n"
        "from mediaprep import Settings\n"
        "from mediaprep.ffmpeg_runner import run_ffmpeg\n"
        "busy = ffmpeg.input('testsrc2=s=1280x720:r=30', f='lavfi', t=3600)\n"
        "run_ffmpeg(ffmpeg.output(busy, '-', f='null', vcodec='libx264'), Settings(encode_timeout=2))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        ffmpegs = _encoders_started_by(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    cpu_limit = 2 * (os.cpu_count() or 1) + 1
    deadline = time.monotonic() + cpu_limit + 5  # even on one busy thread
    while any(_alive(pid) for pid in ffmpegs) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        assert not any(_alive(pid) for pid in ffmpegs)
    finally:
        for pid in ffmpegs:
            try:
                os.kill(pid, 9)
            except OSError:
                pass


def test_a_quiet_run_that_reports_errors_is_corrupt_input(tmp_path):
    # ffmpeg conceals damage and exits 0; at -v error, anything it says is the damage.
    import ffmpeg

    whole = convert(MEDIA / "clip.mp4", profile="sinch").data  # index first (+faststart)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: int(len(whole) * 0.8)])
    quiet = ffmpeg.output(input_stream(cut, "mov"), "-", f="null").global_args("-v", "error")
    run_ffmpeg(quiet, Settings())  # exit status 0: by itself, not an error
    with pytest.raises(CorruptInput, match="decodes with errors"):
        run_ffmpeg(quiet, Settings(), quiet_or_corrupt=True)


def test_a_temporary_folder_that_fills_during_the_encode_is_output_unwritable(tmp_path, monkeypatch, small_disk):
    # The copy of the clip fits, the encode does not. ffmpeg's stderr is on the same disk, so it said
    # nothing, and this was "tool.failed: ffmpeg failed (exit 1): " with no cause.
    import tempfile

    from mediaprep.errors import OutputUnwritable

    clip = make(tmp_path, "clip.mp4", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25", "-t", "10",
                "-c:v", "libx264", "-b:v", "800k")
    temp = small_disk(clip.stat().st_size)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    with pytest.raises(OutputUnwritable) as e:
        convert(clip, budget=300000)
    assert "no room left" in str(e.value) and "TMPDIR" in str(e.value)
    assert list(temp.iterdir()) == []
    assert children_of(os.getpid()) == []
