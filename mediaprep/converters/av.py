"""Audio to mp3 or AMR-NB, video to mp4 or 3gp, under a byte budget.

The bitrate comes from the budget, the duration, the audio share and the container's overhead; the
size is verified after encoding and the encode repeated lower until it fits. Resolution and frame
rate follow the bitrate (no 1080p at 100 kbit/s), within the profile's floors; when even the floors
do not fit, the error says the longest duration that would, unless the caller allowed trimming.
"""

from __future__ import annotations

import functools
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import CannotFit, CorruptInput, InputTooLarge, ToolFailed
from ..ffmpeg_runner import input_stream, run_ffmpeg
from ..inspection.media import DEMUXER_BY_MIME, MediaFacts, media_facts
from ..profiles import AudioTarget, VideoTarget
from ..settings import Settings
from ..tools import find_ffmpeg, run

MP3_KBPS = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128)
AMR_MODES = ((12.2, 1600), (10.2, 1350), (7.95, 1050), (7.4, 1000), (6.7, 900), (5.9, 800), (5.15, 700), (4.75, 650))
# bytes per second of an AMR-NB file at each mode: 20 ms frames of 32, 27, 21, 20, 18, 16, 14, 13 bytes
CONTAINER_SHARE = 0.04  # mp4 / 3gp index and packet headers (2.3-3.4 % measured, field notes)
HEIGHTS = (720, 576, 480, 432, 360, 288, 240, 180, 144, 120, 96)
H263_SIZES = ((128, 96), (176, 144), (352, 288), (704, 576))
BITS_PER_PIXEL = 0.015  # below this per pixel and frame even x264 turns to mush
H263_BITS_PER_PIXEL = 0.08  # H.263 needs several times what H.264 does
MAX_RETRIES = 4
FIXED_BYTES = 2000
DECODED_SHARE = 0.5  # fewer frames (or seconds) than this share of the asked duration: a damaged stream


@dataclass(frozen=True)
class AvResult:
    data: bytes
    mime: str
    kind: str
    width: int | None
    height: int | None
    duration: float
    encodes: int
    notes: tuple[str, ...]


def has_encoder(name: str, settings: Settings) -> bool:
    return name in encoders_of(find_ffmpeg(settings), settings.tool_timeout)


@functools.lru_cache(maxsize=8)
def encoders_of(ffmpeg_path: str, timeout: float) -> frozenset[str]:
    done = run([ffmpeg_path, "-hide_banner", "-encoders"], timeout=timeout)
    return frozenset(line.split()[1] for line in done.stdout.decode("utf-8", "replace").splitlines()
                     if len(line.split()) > 1 and line.startswith(" ") and line.split()[0][:1] in "VAS")


def convert_audio(
    data: bytes, mime: str, budget: int, target: AudioTarget, settings: Settings,
    *, fmt: str | None = None, max_duration: float | None = None, on_progress: Callable | None = None,
    facts: MediaFacts | None = None,
) -> AvResult:
    fmt = fmt or target.format
    deadline = time.monotonic() + settings.encode_timeout
    with tempfile.TemporaryDirectory(prefix="mediaprep-") as tmp_dir:
        tmp = Path(tmp_dir)
        src = tmp / "input"
        src.write_bytes(data)
        facts = _checked(facts or media_facts(data, mime, src, settings), settings)
        duration = _duration(facts, max_duration)
        notes = [f"trimmed to {duration:.1f} s as asked"] if duration < (facts.duration or 0) - 0.05 else []
        if fmt == "amr":
            if not has_encoder("libopencore_amrnb", settings):
                raise ToolFailed("this ffmpeg has no AMR-NB encoder (Debian: install libavcodec-extra)")
            modes = [m for m in AMR_MODES if m[1] * duration <= budget * (1 - CONTAINER_SHARE)]
            if not modes:
                raise _too_long(budget, AMR_MODES[-1][1] * 8 / 1000, duration)
            out = tmp / "out.amr"
            for encodes, (mode, _) in enumerate(modes, 1):
                stream = input_stream(src, DEMUXER_BY_MIME[mime]).output(
                    str(out), t=duration, ac=1, ar=8000, acodec="libopencore_amrnb", **{"b:a": f"{mode}k"}, f="amr"
                )
                done = run_ffmpeg(stream, settings, on_progress=on_progress, deadline=deadline)
                _check_decoded_seconds(done, duration)
                if out.stat().st_size <= budget:
                    return AvResult(out.read_bytes(), "audio/amr", "audio", None, None, duration, encodes,
                                    tuple(notes + [f"AMR-NB {mode} kbit/s"]))
            raise CannotFit(f"no AMR-NB mode fits {duration:.1f} s in {budget} bytes")
        kbps = _mp3_kbps(budget, duration, target)
        out = tmp / "out.mp3"
        encodes = 0
        while True:
            rate = 16000 if kbps <= 24 else (22050 if kbps <= 48 else 44100)
            stream = input_stream(src, DEMUXER_BY_MIME[mime]).output(
                str(out), t=duration, ac=1, ar=rate, acodec="libmp3lame", **{"b:a": f"{kbps}k"},
                map_metadata=-1, f="mp3",
            )
            done = run_ffmpeg(stream, settings, on_progress=on_progress, deadline=deadline)
            _check_decoded_seconds(done, duration)
            encodes += 1
            if out.stat().st_size <= budget:
                return AvResult(out.read_bytes(), "audio/mpeg", "audio", None, None, duration, encodes,
                                tuple(notes + [f"mp3 mono {kbps} kbit/s, {rate} Hz"]))
            lower = [k for k in MP3_KBPS if k < kbps and k >= target.min_kbps]
            if not lower or encodes > MAX_RETRIES:
                raise CannotFit(f"the mp3 is {out.stat().st_size} bytes at {kbps} kbit/s, over {budget}")
            kbps = lower[-1]


def _mp3_kbps(budget: int, duration: float, target: AudioTarget) -> int:
    fits = budget * 8 * (1 - CONTAINER_SHARE) / duration / 1000
    usable = [k for k in MP3_KBPS if target.min_kbps <= k <= min(fits, target.max_kbps)]
    if not usable:
        raise _too_long(budget, target.min_kbps, duration)
    return usable[-1]


def convert_video(
    data: bytes, mime: str, budget: int, target: VideoTarget, settings: Settings,
    *, fmt: str | None = None, max_duration: float | None = None, on_progress: Callable | None = None,
    facts: MediaFacts | None = None,
) -> AvResult:
    fmt = fmt or target.format
    deadline = time.monotonic() + settings.encode_timeout
    with tempfile.TemporaryDirectory(prefix="mediaprep-") as tmp_dir:
        tmp = Path(tmp_dir)
        src = tmp / "input"
        src.write_bytes(data)
        facts = _checked(facts or media_facts(data, mime, src, settings), settings)
        if not facts.has_video:
            raise CorruptInput("the file has no video stream; convert it as audio")
        audio_floor = target.min_audio_kbps if facts.has_audio else 0
        duration = _duration(facts, max_duration)
        notes = [f"trimmed to {duration:.1f} s as asked"] if duration < (facts.duration or 0) - 0.05 else []
        # Headers and the first key frame cost about the same however short the clip.
        total_kbps = (budget - FIXED_BYTES) * 8 * (1 - CONTAINER_SHARE) / duration / 1000
        # The audio's share shrinks with the budget: speech survives 16-24 kbit/s mono.
        a_kbps: float = 0 if not facts.has_audio else max(audio_floor, min(48, round(total_kbps * 0.15)))
        use_amr = fmt == "3gp" and facts.has_audio and has_encoder("libopencore_amrnb", settings)
        if use_amr:
            a_kbps = 12.2 if total_kbps > 80 else 7.95  # AMR-NB modes (kbit/s)
        v_kbps = total_kbps - a_kbps
        if v_kbps < target.min_video_kbps:
            raise _too_long(budget, target.min_video_kbps + audio_floor, duration, fixed=FIXED_BYTES)
        h263 = fmt == "3gp" and target.codec == "h263"
        width, height, fps, pad = _geometry(facts, v_kbps, target, "h263" if h263 else fmt)
        out = tmp / f"out.{fmt}"
        passlog = tmp / "pass"
        encodes = 0
        analysed = None  # the frame size and rate the first-pass statistics describe
        for _ in range(MAX_RETRIES + 1):
            # x264's second pass needs statistics of the same frames: a new size or rate, a new first pass.
            first_pass = not h263 and analysed != (width, height, fps)
            done = _encode(src, mime, out, passlog, fmt, h263, width, height, pad, fps, v_kbps, a_kbps, use_amr,
                           facts, duration, settings, on_progress, deadline, first_pass=first_pass)
            _check_decoded_frames(done, duration, fps)
            analysed = (width, height, fps)
            # H.263 runs one pass: its two-pass rate control aborts on low bitrates ("bitrate too low").
            encodes += 2 if first_pass else 1
            size = out.stat().st_size
            if size <= budget:
                out_w, out_h = pad or (width, height)
                notes.append(f"{out_w}x{out_h} at {fps} fps, video {v_kbps:.0f} kbit/s, audio {a_kbps} kbit/s")
                mime_out = "video/3gpp" if fmt == "3gp" else "video/mp4"
                return AvResult(out.read_bytes(), mime_out, "video", out_w, out_h, duration, encodes, tuple(notes))
            if pad is not None and pad != H263_SIZES[0]:
                # H.263's rate control cannot go low at a large frame: a smaller frame first.
                smaller = H263_SIZES[H263_SIZES.index(pad) - 1]
                scale = min(smaller[0] / pad[0], smaller[1] / pad[1])
                width, height, pad = _even(width * scale), _even(height * scale), smaller
            # Over: aim the video bitrate at what the overshoot says, a little under.
            v_kbps = v_kbps * (budget / size) * 0.97 - (a_kbps * (1 - budget / size))
            if v_kbps < target.min_video_kbps:
                break
            if not h263:  # the frame size follows the new bitrate
                width, height, fps, pad = _geometry(facts, v_kbps * 0.9, target, fmt)
        raise CannotFit(f"the encode stays over {budget} bytes at the lowest video bitrate the profile allows")


def _checked(facts: MediaFacts, settings: Settings) -> MediaFacts:
    if not facts.duration or facts.duration <= 0:
        raise CorruptInput("the media has no duration that can be read")
    if facts.has_video and (facts.width or 0) * (facts.height or 0) > settings.max_video_pixels:
        raise InputTooLarge(
            f"{facts.width}x{facts.height} video is over the {settings.max_video_pixels} pixel limit per frame")
    return facts


def _check_decoded_frames(done: dict[str, str], duration: float, fps: int) -> None:
    # ffmpeg carries on past undecodable packets; an encode made of a few survivors is not a result.
    frames = int(done.get("frame") or 0)
    expected = duration * fps
    if frames < expected * DECODED_SHARE:
        raise CorruptInput(f"the video stream is damaged: only {frames} of about {expected:.0f} frames decoded")


def _check_decoded_seconds(done: dict[str, str], duration: float) -> None:
    reached = int(done.get("out_time_us") or 0) / 1e6 if (done.get("out_time_us") or "").isdigit() else 0.0
    if reached < duration * DECODED_SHARE:
        raise CorruptInput(f"the audio stream is damaged: only {reached:.1f} of {duration:.1f} s decoded")


def _duration(facts: MediaFacts, max_duration: float | None) -> float:
    assert facts.duration is not None
    duration = min(facts.duration, max_duration) if max_duration else facts.duration
    return max(0.1, duration)


def _too_long(budget: int, floor_kbps: float, duration: float, *, fixed: int = 0) -> CannotFit:
    longest = max(0.0, (budget - fixed) * 8 * (1 - CONTAINER_SHARE) / (floor_kbps * 1000))
    return CannotFit(
        f"{duration:.1f} s cannot fit in {budget} bytes at the floor of {floor_kbps:g} kbit/s; "
        f"the longest that fits is {math.floor(longest * 10) / 10:.1f} s (pass max_duration to trim)",
        longest_seconds=longest,
    )


def _geometry(facts: MediaFacts, v_kbps: float, target: VideoTarget, fmt: str):
    w, h = facts.width or 320, facts.height or 240
    if facts.rotation in (90, 270):
        w, h = h, w  # ffmpeg turns the pixels upright before scaling
    src_fps = facts.fps or 30
    if fmt == "h263":
        # H.263 knows only a few frame sizes: the largest the bitrate carries, the picture padded into it.
        fps = max(target.min_fps, min(15, target.max_fps, round(src_fps)))
        sizes = [s for s in H263_SIZES if v_kbps * 1000 / (s[0] * s[1] * fps) >= H263_BITS_PER_PIXEL]
        sizes = sizes or [H263_SIZES[0]]
        box_w, box_h = sizes[-1]
        scale = min(box_w / w, box_h / h)
        return _even(w * scale), _even(h * scale), fps, (box_w, box_h)
    # The frame rate is kept as long as any allowed height carries it: on panning photo clips
    # held frames cost more SSIM than a smaller picture (benchmarks/video.py). A source smaller or
    # slower than the floors keeps its own size and rate: scaling up adds bytes, not picture.
    top_fps = max(1, min(round(src_fps), target.max_fps))
    min_fps = min(target.min_fps, top_fps)
    rates = sorted({r for r in (top_fps, 24, 15, min_fps) if min_fps <= r <= top_fps}, reverse=True)
    top = min(h, target.max_height)
    floor = min(target.min_height, top)
    heights = [top] + [x for x in HEIGHTS if floor <= x < top]
    for fps in rates:
        for height in heights:
            width = _even(w * height / h)
            if v_kbps * 1000 / (width * height * fps) >= BITS_PER_PIXEL:
                return width, _even(height), fps, None
    return _even(w * floor / h), _even(floor), min_fps, None


def _even(x: float) -> int:
    return max(2, int(x) // 2 * 2)


def _encode(src, mime, out, passlog, fmt, h263, width, height, pad, fps, v_kbps, a_kbps, use_amr, facts,
            duration, settings, on_progress, deadline, *, first_pass: bool) -> dict[str, str]:
    import ffmpeg

    def video(stream):
        v = stream.video.filter("scale", width, height).filter("fps", fps=fps)
        if pad:
            v = v.filter("pad", pad[0], pad[1], "(ow-iw)/2", "(oh-ih)/2")
        return v.filter("format", "yuv420p")

    if h263:
        vopts = {"vcodec": "h263", "b:v": f"{int(v_kbps)}k"}
    else:
        # No VBV cap: the clip is downloaded whole before it plays, and a cap costs quality on
        # noisy phone footage.
        vopts = {"vcodec": "libx264", "profile:v": "baseline" if fmt == "3gp" else "main", "preset": "medium",
                 "b:v": f"{int(v_kbps)}k"}
    common = {"t": duration, "map_metadata": -1}
    passes: dict[str, object] = {} if h263 else {"passlogfile": str(passlog)}
    if first_pass:
        inp = input_stream(src, DEMUXER_BY_MIME[mime])
        stream = ffmpeg.output(video(inp), "-", f="null", **vopts, **common, **passes, **{"pass": 1})
        run_ffmpeg(stream, settings, on_progress=on_progress, deadline=deadline)
    inp = input_stream(src, DEMUXER_BY_MIME[mime])
    streams = [video(inp)]
    aopts = {}
    if facts.has_audio:
        streams.append(inp.audio)
        if use_amr:
            aopts = {"acodec": "libopencore_amrnb", "ar": 8000, "ac": 1, "b:a": f"{a_kbps}k"}
        else:
            aopts = {"acodec": "aac", "ac": 1, "b:a": f"{a_kbps}k"}
    extra = {"movflags": "+faststart"} if fmt == "mp4" else {}
    if not h263:
        passes["pass"] = 2
    stream = ffmpeg.output(*streams, str(out), f="3gp" if fmt == "3gp" else "mp4", **vopts, **aopts, **common,
                           **extra, **passes)
    return run_ffmpeg(stream, settings, on_progress=on_progress, deadline=deadline)
