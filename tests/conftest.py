from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
MEDIA = FIXTURES / "media"
BROKEN = FIXTURES / "broken"
MESSAGES = FIXTURES / "messages"
SOURCES = ROOT / "profiles" / "sources"


def with_ffprobe(*values):
    """A parameter set that probes with ffprobe: skipped where there is none (a plain pip install
    brings ffmpeg alone; scripts/test.sh installs Debian's ffmpeg, which has it, where it can)."""
    from mediaprep import Settings
    from mediaprep.tools import find_ffprobe

    return pytest.param(*values, marks=pytest.mark.skipif(find_ffprobe(Settings()) is None,
                                                          reason="no ffprobe on this machine"))


def make(tmp: Path, name: str, *args: str, ffmpeg: str | None = None) -> Path:
    """``tmp / name`` written by ffmpeg from ``args`` (the system's ffmpeg unless one is given)."""
    from mediaprep import Settings
    from mediaprep.tools import find_ffmpeg

    out = tmp / name
    subprocess.run([ffmpeg or find_ffmpeg(Settings()), "-nostdin", "-v", "error", "-y", *args, str(out)],
                   check=True, timeout=120)
    return out


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> CliResult:
    """The real command, in its own process, as a user would run it."""
    full_env = {**os.environ, **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "mediaprep", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=full_env,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return CliResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def small_disk(tmp_path):
    """A folder on a filesystem of 100 kB over the size asked for (a tmpfs: mounting needs root)."""
    mounted = []

    def of(size: int) -> Path:
        folder = tmp_path / "small"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size + 100_000}", "tmpfs", str(folder)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"no small filesystem can be mounted here: {done.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield of
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.fixture
def write_message(tmp_path):
    """Write a message JSON next to links to the media fixtures, so relative paths work."""

    def write(body: dict, name: str = "message.json") -> Path:
        path = tmp_path / name
        media = tmp_path / "media"
        if not media.exists():
            media.symlink_to(MEDIA)
            (tmp_path / "broken").symlink_to(BROKEN)
        path.write_text(json.dumps(body), encoding="utf-8")
        return path

    return write
