
import contextlib
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import mediaprep

from .conftest import BROKEN, MEDIA, MESSAGES, ROOT


def test_inspect_json_lists_one_object_per_path(cli):
    r = cli("inspect", str(MEDIA / "photo.jpg"), str(MEDIA / "clip.mp4"), "--json")
    assert r.code == 0
    out = r.json()
    assert [o["kind"] for o in out] == ["image", "video"]
    for o in out:
        assert {"path", "mime", "kind", "bytes", "extension_mismatch"} <= set(o)
        assert "error" not in o


def test_inspect_keeps_going_past_bad_files_and_exits_2_for_unreadable_ones(cli, tmp_path):
    paths = [BROKEN / "truncated.jpg", tmp_path / "missing.jpg", tmp_path, BROKEN / "empty.jpg", MEDIA / "still.gif"]
    r = cli("inspect", *map(str, paths), "--json")
    assert r.code == 2
    out = r.json()
    assert len(out) == 5
    assert [o.get("error", {}).get("code") for o in out] == [
        "input.corrupt", "input.not_found", "input.not_a_file", "input.empty", None,
    ]
    assert out[0]["error"]["provider_code"] == "E341"
    assert out[4]["image"]["frames"] == 1


def test_inspect_says_pages_pictures_or_frames_as_the_file_holds_them(cli, tmp_path):
    # One of a TIFF's pages or an MPO's pictures is sent; "3 frames" read as an animation.
    from PIL import Image

    red, blue = Image.new("RGB", (40, 30), "red"), Image.new("RGB", (40, 30), "blue")
    red.save(tmp_path / "scan.tiff", save_all=True, append_images=[blue, red])
    red.save(tmp_path / "stereo.jpg", "MPO", save_all=True, append_images=[blue])
    r = cli("inspect", str(tmp_path / "scan.tiff"), str(tmp_path / "stereo.jpg"), str(MEDIA / "animated.gif"))
    said = [line.split("  ")[-1] for line in r.stdout.splitlines()]
    assert said == ["3 pages", "2 pictures", "8 frames, 0.96 s"]


def test_inspect_says_when_a_clip_holds_more_tracks_than_are_sent(cli, tmp_path):
    from .conftest import make

    srt = tmp_path / "words.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    film = make(tmp_path, "film.mkv", "-f", "lavfi", "-i", "testsrc2=s=160x120:d=1", "-f", "lavfi", "-i", "sine=d=1",
                "-f", "lavfi", "-i", "sine=f=880:d=1", "-i", str(srt), "-map", "0", "-map", "1", "-map", "2",
                "-map", "3", "-c:v", "libx264", "-c:a", "aac", "-c:s", "srt")
    r = cli("inspect", str(film), str(MEDIA / "clip.mp4"))
    first, second = r.stdout.splitlines()
    assert re.search(r"  aac mono 44100 Hz( \d+ kbit/s)?  2 sound tracks  subtitles$", first), first
    assert re.search(r"  aac mono 22050 Hz \d+ kbit/s$", second), second


@pytest.mark.parametrize("probe", ["ffprobe", "ffmpeg"])
def test_inspect_says_how_a_sound_is_coded(cli, tmp_path, probe):
    # What its mp3 is sized from: a voice note's 15 kbit/s of Opus is why it gets five times that.
    from .conftest import make

    note = make(tmp_path, "note.ogg", "-i", str(MEDIA / "speech.wav"), "-c:a", "libopus", "-b:a", "16k")
    r = cli("inspect", str(note), str(MEDIA / "speech.wav"), env={"MEDIAPREP_PROBE": probe})
    first, second = r.stdout.splitlines()
    rate = int(re.search(r"  opus mono 48000 Hz (\d+) kbit/s$", first)[1])
    assert abs(rate - note.stat().st_size * 8 / 2 / 1000) <= 2  # the note lasts 2 s
    assert second.endswith("  pcm_s16le mono 16000 Hz 256 kbit/s")


@pytest.mark.parametrize("probe", ["ffprobe", "ffmpeg"])
def test_inspect_says_a_picture_s_frame_rate_and_its_own_bitrate(cli, tmp_path, probe):
    # Whether a clip is copied or how far it must come down goes by its picture's own rate, not the
    # file's: the PNG cover here is most of the file.
    from .conftest import make

    cover = tmp_path / "cover.png"
    Image.effect_noise((600, 600), 90).save(cover)
    plain = make(tmp_path, "plain.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=15:d=2", "-c:v", "libx264")
    clip = make(tmp_path, "clip.mp4", "-i", str(plain), "-i", str(cover), "-map", "0", "-map", "1", "-c", "copy",
                "-disposition:v:1", "attached_pic")
    assert clip.stat().st_size > 2 * plain.stat().st_size
    line = cli("inspect", str(clip), env={"MEDIAPREP_PROBE": probe}).stdout
    rate = int(re.search(r"  h264 320x240 15 fps (\d+) kbit/s(  |$)", line)[1])
    # The file without the cover, less its headers (x264's settings, the index): within 5 %.
    assert 0.95 < rate / (plain.stat().st_size * 8 / 2 / 1000) <= 1, line


def test_inspect_exits_1_when_content_is_damaged_but_readable(cli):
    r = cli("inspect", str(BROKEN / "random.bin"))
    assert r.code == 1
    assert "input.unsupported" in r.stdout


def test_a_file_named_like_an_option_is_a_file(cli):
    r = cli("inspect", "--json", "--", "-rf.jpg", cwd=BROKEN)
    assert r.code == 0 and r.json()[0]["mime"] == "image/jpeg"


def test_check_reports_every_problem_as_json(cli):
    r = cli("check", str(MESSAGES / "five-problems-sinch.json"), "--profile", "sinch-xml", "--json")
    assert r.code == 1
    report = r.json()
    assert report["ok"] is False and report["estimated_bytes"] > 0
    got = {p["provider_code"] for p in report["problems"]}
    assert got == {"E224", "E226", "E227", "E313", "E334"}
    for p in report["problems"]:
        assert {"code", "provider_code", "slide", "message"} <= set(p)


def test_check_human_output_and_success_exit(cli):
    r = cli("check", str(MESSAGES / "ok-sinch.json"), "--profile", "sinch")
    assert r.code == 0
    assert "OK" in r.stdout and "bytes on the wire" in r.stdout


def test_check_reads_a_message_from_standard_input():
    # app | mediaprep check - : "-" was a missing file, where inspect and convert read it. Media
    # paths are taken from the current folder.
    def piped(name: str, *args: str) -> subprocess.CompletedProcess:
        with (MESSAGES / name).open("rb") as pipe:
            return subprocess.run([sys.executable, "-m", "mediaprep", "check", "-", *args], stdin=pipe,
                                  capture_output=True, check=False, cwd=MESSAGES, timeout=120)

    for name, profile in (("ok-sinch.json", "sinch"), ("five-problems-sinch.json", "sinch-xml")):
        done = piped(name, "--profile", profile, "--json")
        expected = mediaprep.check(MESSAGES / name, profile).to_dict()
        assert done.returncode == (0 if expected["ok"] else 1), done.stderr
        assert json.loads(done.stdout) == expected
    done = piped("ok-sinch.json", "--profile", "sinch")
    assert done.returncode == 0 and done.stdout.startswith(b"- against sinch: OK")


@pytest.mark.parametrize(
    "args, code",
    [
        (["check", str(BROKEN / "bad-message.json"), "--profile", "sinch"], "message.invalid"),
        (["check", str(MESSAGES / "ok-sinch.json"), "--profile", "nosuch"], "profile.unknown"),
        (["check", "/nonexistent/message.json", "--profile", "sinch"], "input.not_found"),
        (["profiles", "show", "nosuch"], "profile.unknown"),
    ],
)
def test_bad_input_gives_a_coded_error_and_exit_2(cli, args, code):
    r = cli(*args)
    assert r.code == 2
    assert code in r.stderr
    r = cli(*args, "--json")
    assert r.code == 2 and r.json()["error"]["code"] == code


def test_unknown_keys_in_a_profile_file_are_a_coded_error(cli, tmp_path):
    (tmp_path / "bad-profile.toml").write_bytes((BROKEN / "bad-profile.toml").read_bytes())
    r = cli("profiles", "show", "bad-profile", env={"MEDIAPREP_PROFILES_DIR": str(tmp_path)})
    assert r.code == 2 and "profile.invalid" in r.stderr and "max_slidez" in r.stderr


def test_usage_errors_exit_2(cli):
    assert cli().code == 2
    r = cli("check", str(MESSAGES / "ok-sinch.json"))
    assert r.code == 2 and "--profile" in r.stderr


@pytest.mark.parametrize("given, budget", [("30kB", 30000), ("30 kb", 30000), ("30KiB", 30720),
                                           ("0.25MB", 250000), ("29000", 29000)])
def test_a_budget_is_taken_as_providers_write_it(cli, tmp_path, given, budget):
    # Providers give their limits as "250 kB" or "1 MB"; --budget 30kB was "invalid int value".
    r = cli("convert", str(MEDIA / "photo.jpg"), "-o", str(tmp_path / "out.jpg"), "--budget", given, "--json")
    assert r.code == 0 and r.json()["budget"] == budget and r.json()["bytes"] <= budget


def test_a_budget_that_is_not_a_size_says_what_is(cli, tmp_path):
    r = cli("convert", str(MEDIA / "photo.jpg"), "-o", str(tmp_path / "out.jpg"), "--budget", "lots")
    assert r.code == 2 and "usage.invalid" in r.stderr and "250kB" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_profiles_list_and_show(cli):
    r = cli("profiles", "--json")
    names = {p["name"] for p in r.json()}
    assert {"clicksend", "sinch", "sinch-xml", "infobip", "legacy-30k", "att-toll-free"} <= names
    shown = cli("profiles", "show", "clicksend+att-toll-free", "--json").json()
    assert shown["message"]["max_bytes"] == 600_000
    assert shown["media"]["image"]["max_bytes"] == 250_000
    assert "slides: 1" in cli("profiles", "show", "clicksend").stdout
    # A kind with a byte limit says it; one without says so in words ("max no limit bytes" before).
    twilio = cli("profiles", "show", "twilio").stdout
    assert "media files: 10" in twilio and "at most" not in twilio and "no byte limit of its own" in twilio
    assert "at most 250000 bytes" in cli("profiles", "show", "clicksend").stdout


def test_public_names_are_the_ones_the_readme_documents():
    readme = (ROOT / "README.md").read_text()
    for name in mediaprep.__all__:
        assert f"`{name}" in readme, f"{name} is public but the README does not mention it"


def test_convert_writes_the_file_and_reports_json(cli, tmp_path):
    dest = tmp_path / "out.jpg"
    r = cli("convert", str(MEDIA / "phone-rotated.jpg"), "-o", str(dest), "--budget", "20000", "--json")
    assert r.code == 0
    out = r.json()
    assert out["path"] == str(dest) and dest.stat().st_size == out["bytes"] <= 20000
    assert out["mime"] == "image/jpeg" and out["passed_through"] is False
    assert [p.name for p in tmp_path.iterdir()] == ["out.jpg"]


def test_convert_effort_chooses_how_hard_a_picture_is_searched(cli, tmp_path):
    runs = {}
    for effort in ("best", "fast"):
        r = cli("convert", str(MEDIA / "photo.jpg"), "-o", str(tmp_path / f"{effort}.jpg"), "--budget", "12000",
                "--effort", effort, "--json")
        assert r.code == 0 and r.json()["bytes"] <= 12000
        runs[effort] = r.json()
    assert runs["fast"]["encodes"] < runs["best"]["encodes"]
    r = cli("convert", str(MEDIA / "photo.jpg"), "-o", str(tmp_path / "x.jpg"), "--budget", "12000",
            env={"MEDIAPREP_IMAGE_EFFORT": "quick"})
    assert r.code == 2 and "image_effort" in r.stderr and not (tmp_path / "x.jpg").exists()


def test_convert_to_dash_writes_the_bytes_to_standard_output(cli, tmp_path):
    # For pipes (convert ... -o - | upload elsewhere): the bytes alone on stdout, the summary on stderr.
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "mediaprep", "convert", str(MEDIA / "phone-rotated.jpg"), "-o", "-",
                           "--budget", "20000"], capture_output=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == mediaprep.convert(MEDIA / "phone-rotated.jpg", budget=20000).data
    assert b"image/jpeg" in done.stderr and list(tmp_path.iterdir()) == []
    r = cli("convert", str(MEDIA / "photo.jpg"), "-o", "-", "--budget", "20000", "--json", cwd=tmp_path)
    assert r.code == 2 and r.json()["error"]["code"] == "usage.invalid" and list(tmp_path.iterdir()) == []


def test_convert_from_dash_reads_standard_input(tmp_path):
    # curl ... | mediaprep convert - -o - | upload: the source from a pipe too. "-" was a missing file.
    import subprocess
    import sys

    def run(*args: str, stdin=None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mediaprep", "convert", *args], capture_output=True,
                              check=False, cwd=tmp_path, timeout=120, stdin=stdin)

    photo = MEDIA / "phone-rotated.jpg"
    expected = mediaprep.convert(photo, budget=20000).data
    with photo.open("rb") as pipe:
        done = run("-", "-o", "-", "--budget", "20000", stdin=pipe)
    assert done.returncode == 0 and done.stdout == expected, done.stderr
    with photo.open("rb") as pipe:
        done = run("-", "-o", "upright.jpg", "--budget", "20000", stdin=pipe)
    assert done.returncode == 0 and (tmp_path / "upright.jpg").read_bytes() == expected
    # A folder needs a name to give the file, which a pipe has not.
    with photo.open("rb") as pipe:
        done = run("-", "-o", str(tmp_path) + "/", "--budget", "20000", stdin=pipe)
    assert done.returncode == 2 and b"usage.invalid" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["upright.jpg"]


def _run_with_closed(fd: int, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The command started with one of its standard streams closed, as by `<&-`, `>&-` or `2>&-`."""
    return subprocess.run([sys.executable, "-m", "mediaprep", *args], capture_output=True, check=False,
                          cwd=cwd, timeout=120, preexec_fn=lambda: os.close(fd))


def test_a_closed_standard_stream_is_a_coded_error_or_does_without_it(tmp_path):
    # Each was an AttributeError traceback (on None); with stderr closed that traceback went nowhere
    # and -o - wrote nothing, exit 1.
    photo = str(MEDIA / "photo.jpg")
    done = _run_with_closed(0, "convert", "-", "-o", "-", "--budget", "30000", cwd=tmp_path)
    assert done.returncode == 2 and b"usage.invalid: SRC -: standard input is closed" in done.stderr
    done = _run_with_closed(0, "inspect", "-", cwd=tmp_path)
    assert done.returncode == 2 and b"usage.invalid: PATH -: standard input is closed" in done.stderr
    done = _run_with_closed(1, "convert", photo, "-o", "-", "--budget", "30000", cwd=tmp_path)
    assert done.returncode == 2 and b"usage.invalid: -o -: standard output is closed" in done.stderr
    done = _run_with_closed(1, "inspect", "--json", photo, cwd=tmp_path)
    assert done.returncode == 2 and b"output.unwritable: standard output is closed" in done.stderr
    done = _run_with_closed(2, "convert", photo, "-o", "-", "--budget", "30000", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == mediaprep.convert(photo, budget=30000).data
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize("args", [("convert", "photo.jpg", "-o", "-", "--budget", "30000"),
                                  ("inspect", "photo.jpg"), ("inspect", "--json", "photo.jpg")],
                         ids=["convert", "inspect", "inspect-json"])
def test_standard_output_on_a_full_disk_is_output_unwritable(tmp_path, args):
    # Was an OSError traceback (ENOSPC) from print, json.dump or the bytes' write.
    with open("/dev/full", "wb") as full:
        done = subprocess.run([sys.executable, "-m", "mediaprep", *args], stdout=full, stderr=subprocess.PIPE,
                              check=False, cwd=MEDIA, timeout=120)
    assert done.returncode == 2 and b"Traceback" not in done.stderr, done.stderr
    assert done.stderr.decode().splitlines()[-1] == (
        "mediaprep: output.unwritable: standard output: cannot be written (No space left on device)")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_messages_that_cannot_be_written_leave_the_exit_status_as_it_was(tmp_path):
    # 2>/dev/full: the failed message write was a traceback (that went nowhere) and exit 1, after
    # -o - had written every byte, and for a missing file that exits 2.
    photo = str(MEDIA / "photo.jpg")
    with open("/dev/full", "wb") as full:
        done = subprocess.run([sys.executable, "-m", "mediaprep", "convert", photo, "-o", "-", "--budget", "30000"],
                              stdout=subprocess.PIPE, stderr=full, check=False, cwd=tmp_path, timeout=120)
        assert done.returncode == 0 and done.stdout == mediaprep.convert(photo, budget=30000).data
        done = subprocess.run([sys.executable, "-m", "mediaprep", "inspect", "missing.jpg"], stdout=subprocess.PIPE,
                              stderr=full, check=False, cwd=tmp_path, timeout=120)
        assert done.returncode == 2 and b"input.not_found" in done.stdout


def test_output_to_a_device_or_a_named_pipe_is_written_into_it(cli, tmp_path):
    # -o /dev/null wrote /dev/null.jpg ("the name given has no extension"), and a FIFO named .jpg was
    # replaced by a regular file renamed over it, so its reader waited for ever.
    photo = str(MEDIA / "photo.jpg")
    expected = mediaprep.convert(photo, budget=30000).data
    r = cli("convert", photo, "-o", "/dev/null", "--budget", "30000", "--json")
    assert r.code == 0 and r.json()["path"] == "/dev/null" and not Path("/dev/null.jpg").exists()
    done = subprocess.run([sys.executable, "-m", "mediaprep", "convert", photo, "-o", "/dev/stdout",
                           "--budget", "30000"], capture_output=True, check=False, timeout=120)
    assert done.returncode == 0 and done.stdout == expected and not Path("/dev/stdout.jpg").exists()
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    r = cli("convert", photo, "-o", str(fifo), "--budget", "30000")  # nothing reads it: refused, not waited on
    assert r.code == 2 and "output.unwritable" in r.stderr and "nothing reads from it" in r.stderr
    # Linux opens a FIFO both ways without waiting: this end reads what the command writes (a JPEG
    # smaller than the pipe's 64 KiB, so the command's write does not wait for it).
    reader = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        r = cli("convert", photo, "-o", str(fifo), "--budget", "30000")
        assert r.code == 0, r.stderr
        got = bytearray()
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(reader, 65536):
                got += chunk
    finally:
        os.close(reader)
    assert got == expected
    assert stat.S_ISFIFO(fifo.stat().st_mode) and [p.name for p in tmp_path.iterdir()] == ["pipe.jpg"]


def test_inspect_from_dash_reads_standard_input(tmp_path):
    # curl ... | mediaprep inspect -: convert reads a pipe, and inspect took "-" for a missing file.
    import subprocess
    import sys

    for name in ("clip.mp4", "photo.jpg"):
        with (MEDIA / name).open("rb") as pipe:
            done = subprocess.run([sys.executable, "-m", "mediaprep", "inspect", "-", "--json"], capture_output=True,
                                  check=False, cwd=tmp_path, timeout=120, stdin=pipe)
        assert done.returncode == 0, done.stderr
        [info] = json.loads(done.stdout)
        expected = mediaprep.inspect(MEDIA / name).to_dict()
        assert info["path"] == "-" and info["sha256"] == expected["sha256"]
        assert (info["mime"], info["bytes"]) == (expected["mime"], expected["bytes"])
    with (MEDIA / "photo.jpg").open("rb") as pipe:
        done = subprocess.run([sys.executable, "-m", "mediaprep", "inspect", "-", "-"], capture_output=True,
                              check=False, cwd=tmp_path, timeout=120, stdin=pipe)
    assert done.returncode == 2 and b"usage.invalid" in done.stderr


def test_control_characters_in_names_are_printed_as_escapes(cli, tmp_path):
    # A name with ESC sequences recoloured the terminal (any escape could be sent: title, cursor,
    # clear), a newline split inspect's one line per file, and U+202E showed "x...exe.jpg" reversed.
    name = "evil\x1b[31mRED\x1b[0m\nline\x9b2J\u202egpj.exe.jpg"
    (tmp_path / name).write_bytes((MEDIA / "photo.jpg").read_bytes())
    escaped = "evil\\x1b[31mRED\\x1b[0m\\nline\\x9b2J\\u202egpj.exe.jpg"
    r = cli("inspect", name, cwd=tmp_path)
    assert r.code == 0 and r.stdout.splitlines() == [f"{escaped}  image/jpeg  image  56155 B  600x400"]
    assert json.loads(cli("inspect", "--json", name, cwd=tmp_path).stdout)[0]["path"] == name
    r = cli("convert", name, "-o", "out/", "--budget", "30000", cwd=tmp_path)
    assert r.code == 0 and r.stdout.startswith(f"out/{escaped}: image/jpeg")
    assert (tmp_path / "out" / name).exists()  # the file keeps its name
    r = cli("inspect", "no\x1bsuch.jpg", cwd=tmp_path)
    assert r.code == 2 and r.stdout == "no\\x1bsuch.jpg: error input.not_found: no\\x1bsuch.jpg: no such file\n"
    r = cli("convert", "no\x07such.jpg", "-o", "out/", "--budget", "30000", cwd=tmp_path)
    assert r.code == 2 and "input.not_found: no\\x07such.jpg: no such file" in r.stderr
    for said in (cli("inspect", name, cwd=tmp_path), r):
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]", said.stdout + said.stderr)


@pytest.mark.parametrize("encoding", ["utf-8", "ascii"])
def test_names_the_output_stream_cannot_encode_are_printed_as_escapes(cli, tmp_path, encoding):
    # A name that is not UTF-8 (Python holds its byte as a surrogate), or é on an ASCII stream, was
    # a UnicodeEncodeError traceback where the stream's errors are strict (en_US.UTF-8 desktops,
    # PYTHONIOENCODING): inspect stopped at it and convert wrote the file but failed to say so.
    names = ["caf\u00e9.jpg", os.fsdecode(b"bad\xff.jpg")]
    for name in names:
        (tmp_path / name).write_bytes((MEDIA / "photo.jpg").read_bytes())
    env = {"PYTHONIOENCODING": encoding}
    r = cli("inspect", *names, cwd=tmp_path, env=env)
    shown = ["café.jpg" if encoding == "utf-8" else "caf\\xe9.jpg", "bad\\udcff.jpg"]
    assert r.code == 0 and [line.split("  ")[0] for line in r.stdout.splitlines()] == shown
    r = cli("inspect", "--json", *names, cwd=tmp_path, env=env)
    assert [info["path"] for info in r.json()] == names
    r = cli("convert", names[1], "-o", "out/", "--budget", "30000", cwd=tmp_path, env=env)
    assert r.code == 0 and r.stdout.startswith("out/bad\\udcff.jpg: image/jpeg")


def test_convert_names_the_output_after_its_content(cli, tmp_path):
    r = cli("convert", str(MEDIA / "alpha.png"), "-o", str(tmp_path / "sticker.png"), "--profile", "clicksend")
    assert r.code == 0
    assert (tmp_path / "sticker.jpg").exists() and not (tmp_path / "sticker.png").exists()
    assert "the content is .jpg, not .png" in r.stderr
    r = cli("convert", str(MEDIA / "photo.jpg"), "-o", str(tmp_path / "holiday"), "--budget", "20000")
    assert r.code == 0 and (tmp_path / "holiday.jpg").exists()
    assert "the name given has no extension" in r.stderr and "unnamed" not in r.stderr
    r = cli("convert", str(MEDIA / "still.gif"), "-o", str(tmp_path) + "/", "--profile", "clicksend")
    assert r.code == 0 and (tmp_path / "still.gif").read_bytes() == (MEDIA / "still.gif").read_bytes()
    assert "passed through" in r.stdout


def test_a_source_whose_name_is_as_long_as_a_name_can_be_is_written_under_a_name_that_fits(cli, tmp_path):
    # 250 bytes (125 two-byte letters): photo-webp.jpg's naming made it 258, over the 255 a name may
    # have, and a file that could be read could not be written (output.unwritable).
    source = tmp_path / ("é" * 122 + ".webp")
    source.write_bytes((MEDIA / "photo.webp").read_bytes())
    out = tmp_path / "out"
    r = cli("convert", str(source), "-o", str(out) + "/", "--profile", "clicksend", "--json")
    assert r.code == 0, r.stdout + r.stderr
    [written] = out.iterdir()
    assert written.name.endswith("-webp.jpg") and written.name.startswith("é" * 100)
    assert len(written.name.encode()) <= 255 and Path(r.json()["path"]).name == written.name


def test_an_output_name_as_long_as_a_name_can_be_is_written(cli, tmp_path):
    # The half-written file's name (".NAME.XXXXXXXX.part") ran past 255 bytes where NAME did not.
    dest = tmp_path / ("z" * 251 + ".jpg")
    r = cli("convert", str(MEDIA / "photo.jpg"), "-o", str(dest), "--budget", "30000")
    assert r.code == 0, r.stderr
    assert [p.name for p in tmp_path.iterdir()] == [dest.name]


@pytest.mark.parametrize("dest", ["y" * 300 + ".jpg", "a-file/out.jpg"], ids=["name-too-long", "under-a-file"])
def test_convert_to_a_path_that_cannot_be_written_is_a_coded_error(cli, tmp_path, dest):
    (tmp_path / "a-file").write_text("not a directory")
    r = cli("convert", str(MEDIA / "photo.jpg"), "-o", str(tmp_path / dest), "--budget", "30000", "--json")
    assert r.code == 2 and r.json()["error"]["code"] == "output.unwritable"
    assert "Traceback" not in r.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]


def test_convert_that_cannot_fit_leaves_nothing_behind(cli, tmp_path):
    dest = tmp_path / "out.jpg"
    r = cli("convert", str(MEDIA / "photo.jpg"), "-o", str(dest), "--budget", "300")
    assert r.code == 1 and "convert.cannot_fit" in r.stderr
    assert list(tmp_path.iterdir()) == []
    r = cli("convert", str(BROKEN / "truncated.jpg"), "-o", str(dest), "--budget", "30000", "--json")
    assert r.code == 2 and r.json()["error"]["provider_code"] == "E341"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("source, budget, key", [("clip.mp4", "12000", "longest_seconds"),
                                                  ("photo.jpg", "2000", "floor_bytes")])
def test_a_refusal_in_json_carries_its_figures(cli, tmp_path, source, budget, key):
    # The length that fits, or what the floors cost, were in the Python error's details and in the
    # message's words only: a script reading --json had to parse the English to retry.
    r = cli("convert", str(MEDIA / source), "-o", str(tmp_path / "out"), "--budget", budget, "--profile", "sinch",
            "--json")
    error = r.json()["error"]
    assert r.code == 1 and error["code"] == "convert.cannot_fit"
    figure = error["details"][key]
    assert isinstance(figure, (int, float)) and figure > 0 and f"{figure}" in error["message"]


@pytest.mark.parametrize("name, value", [("ENCODE_TIMEOUT", "nan"), ("TOOL_TIMEOUT", "inf"), ("URL_TIMEOUT", "-1"),
                                         ("S3_MAX_ATTEMPTS", "0"), ("S3_PRESIGN_SECONDS", "-5")])
def test_a_setting_that_would_switch_a_limit_off_is_a_usage_error(cli, tmp_path, name, value):
    # A NaN timeout never runs out; an infinite one crashed the process runner.
    r = cli("convert", str(MEDIA / "clip.mp4"), "-o", str(tmp_path / "out.mp4"), "--budget", "300000",
            env={f"MEDIAPREP_{name}": value})
    assert r.code == 2 and "usage.invalid" in r.stderr and name.lower() in r.stderr
    assert list(tmp_path.iterdir()) == []
