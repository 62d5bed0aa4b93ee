"""What the ffmpeg in use can do: its encoders, decoders, filters and bitstream filters, listed
once per binary (each listing is an ffmpeg run)."""

from __future__ import annotations

import functools

from .errors import ToolMissing
from .settings import Settings
from .tools import find_ffmpeg, run, wheel_ffmpeg


def has_encoder(name: str, settings: Settings) -> bool:
    return name in encoders_of(find_ffmpeg(settings), settings.tool_timeout)


def no_amr_encoder(settings: Settings) -> ToolMissing:
    return ToolMissing(amr_missing(settings))


def amr_missing(settings: Settings) -> str:
    # A distribution's ffmpeg on PATH comes first, and Debian's has no AMR-NB; the wheel installed
    # with mediaprep often has, and is named so the fix is one setting.
    used, wheel = find_ffmpeg(settings), wheel_ffmpeg()
    other = ""
    if wheel and wheel != used and "libopencore_amrnb" in encoders_of(wheel, settings.tool_timeout):
        other = f"; the imageio-ffmpeg wheel's has it: MEDIAPREP_FFMPEG={wheel}"
    return f"this ffmpeg ({used}) has no AMR-NB encoder (Debian: install libavcodec-extra{other})"


def has_filter(name: str, settings: Settings) -> bool:
    return name in filters_of(find_ffmpeg(settings), settings.tool_timeout)


@functools.lru_cache(maxsize=8)
def filters_of(ffmpeg_path: str, timeout: float) -> frozenset[str]:
    done = run([ffmpeg_path, "-hide_banner", "-filters"], timeout=timeout)
    # " TSC zscale   V->V   ..." : flags, then the name
    return frozenset(line.split()[1] for line in done.stdout.decode("utf-8", "replace").splitlines()
                     if len(line.split()) > 2 and line.startswith(" ") and "->" in line.split()[2])


@functools.lru_cache(maxsize=8)
def bitstream_filters_of(ffmpeg_path: str, timeout: float) -> frozenset[str]:
    done = run([ffmpeg_path, "-hide_banner", "-bsfs"], timeout=timeout)
    # "Bitstream filters:", then a name a line
    return frozenset(line.strip() for line in done.stdout.decode("utf-8", "replace").splitlines()[1:] if line.strip())


@functools.lru_cache(maxsize=8)
def encoders_of(ffmpeg_path: str, timeout: float) -> frozenset[str]:
    return _codecs_listed(ffmpeg_path, timeout, "-encoders")


@functools.lru_cache(maxsize=8)
def decoders_of(ffmpeg_path: str, timeout: float) -> frozenset[str]:
    return _codecs_listed(ffmpeg_path, timeout, "-decoders")


def _codecs_listed(ffmpeg_path: str, timeout: float, option: str) -> frozenset[str]:
    done = run([ffmpeg_path, "-hide_banner", option], timeout=timeout)
    # " V....D libvpx   libvpx VP8 (codec vp8)": flags, then the name
    return frozenset(line.split()[1] for line in done.stdout.decode("utf-8", "replace").splitlines()
                     if len(line.split()) > 1 and line.startswith(" ") and line.split()[0][:1] in "VAS")
