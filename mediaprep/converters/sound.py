"""Sound to mp3 (mono; rate and sample rate chosen for the budget and for what the source holds)
or AMR-NB, under a byte budget; a sound that already fits as the profile takes it is copied."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import CannotFit
from ..ffmpeg_abilities import has_encoder, no_amr_encoder
from ..ffmpeg_runner import MP3_UNSIGNED, UNSIGNED, input_stream
from ..inspection.media import DEMUXER_BY_MIME, MediaFacts, media_facts
from ..profiles import AudioTarget
from ..settings import Settings
from .av import (
    AMR_MODES,
    CONTAINER_SHARE,
    MAX_RETRIES,
    AvJob,
    AvResult,
    check_decoded_seconds,
    checked,
    copy_could_fit,
    covering_kbps,
    first_sound,
    sent_duration,
    too_long,
    tracks_left_out,
    why_copied,
)
from .remux import SOUND_MIMES, copy_sound

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
RATE_SLACK = 1.05  # a sound's rate measured from its file: tags and headers on top of the stream
SHORTEST_SOUND = 0.05  # seconds; shorter sounds are padded with silence to this


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
        facts = checked(facts or media_facts(src, mime, settings), settings)
        duration = sent_duration(facts, max_duration)
        trimmed = duration < (facts.duration or 0) - 0.05
        notes = [f"trimmed to {duration:.1f} s as asked"] if trimmed else []
        notes += tracks_left_out(facts)
        if not trimmed and not facts.has_video and copy_could_fit(facts, src.stat().st_size, budget):
            why = _why_sound_not_copied(facts, fmt, target)
            if why is None:
                copied = copy_sound(src, mime, facts, tmp / f"copy.{fmt}", fmt, settings, deadline=deadline,
                                    on_progress=on_progress)
                if copied is not None and len(copied) <= budget:
                    note = (f"copied as it was, not re-encoded (the sound already fits and "
                            f"{why_copied(fmt, taken_as, target.format)}); nothing but the sound is kept")
                    return AvResult(copied, SOUND_MIMES[fmt], "audio", None, None, duration, 0, (note, *notes))
            elif why:  # it fits and is encoded all the same: the user is told why
                notes.append(f"encoded although the sound fits: {why}")
        if fmt == "amr" and not has_encoder("libopencore_amrnb", settings):
            if asked or target.format == "amr":
                raise no_amr_encoder(settings)
            fmt = target.format  # the source's own AMR, which the profile takes, is not a must
        sound = AvJob(src, mime, facts, duration, settings, on_progress, deadline)
        if fmt == "amr":
            return _fit_amr(sound, budget, tmp / "out.amr", notes)
        return _fit_mp3(sound, budget, target, tmp / "out.mp3", notes)


def _sound_input(sound: AvJob):
    return first_sound(input_stream(sound.src, DEMUXER_BY_MIME[sound.mime]))


def _fit_amr(sound: AvJob, budget: int, out: Path, notes: list[str]) -> AvResult:
    """The highest AMR-NB mode that fits."""
    duration = sound.duration
    modes = [m for m in AMR_MODES if m[1] * duration <= budget * (1 - CONTAINER_SHARE)]
    if not modes:
        raise too_long(budget, AMR_MODES[-1][1] * 8 / 1000, duration)
    for encodes, (mode, _) in enumerate(modes, 1):
        stream = _sound_input(sound).output(
            str(out), t=duration, ac=1, ar=8000, acodec="libopencore_amrnb", **{"b:a": f"{mode}k"}, f="amr",
            **UNSIGNED)
        done = sound.run(stream)
        fits = out.stat().st_size <= budget
        check_decoded_seconds(done, duration, notes if fits else None)
        if fits:
            return AvResult(out.read_bytes(), "audio/amr", "audio", None, None, duration, encodes,
                            tuple(notes + [f"AMR-NB {mode} kbit/s"]))
    raise CannotFit(f"no AMR-NB mode fits {duration:.1f} s in {budget} bytes")


def _fit_mp3(sound: AvJob, budget: int, target: AudioTarget, out: Path, notes: list[str]) -> AvResult:
    """Mono mp3 at the bitrate the budget allows (no more than the source can use), lower until it fits."""
    facts, duration = sound.facts, sound.duration
    source_kbps = _lossy_kbps(facts)
    factor = MP3_KBPS_PER_SOURCE_KBPS.get(facts.audio_codec or "", MP3_KBPS_PER_OTHER_KBPS)
    matching = source_kbps * factor if source_kbps else None
    kbps = _mp3_kbps(budget, duration, target, matching, facts.sample_rate)
    held_back = kbps < _mp3_kbps(budget, duration, target)
    encodes = 0
    while True:
        rate = 16000 if kbps <= 24 else (22050 if kbps <= 48 else 44100)
        # Never above the source's own rate: resampling up adds bytes and no sound.
        rate = min(rate, next((r for r in MP3_RATES if r >= (facts.sample_rate or 0)), rate))
        stream = _sound_input(sound)
        if (facts.duration or 0) < SHORTEST_SOUND:
            # A few samples (a recorder stopped at once) are all held in the resampler's delay, and
            # the mp3 came out a header with no sound in it, which no player opens.
            stream = stream.filter("apad", whole_dur=SHORTEST_SOUND)
        stream = stream.output(
            str(out), t=duration, ac=1, ar=rate, acodec="libmp3lame", **{"b:a": f"{kbps}k"},
            map_metadata=-1, f="mp3", **MP3_UNSIGNED,
        )
        done = sound.run(stream)
        encodes += 1
        fits = out.stat().st_size <= budget
        check_decoded_seconds(done, duration, notes if fits else None)
        if fits:
            notes.append(f"mp3 mono {kbps} kbit/s, {rate} Hz")
            if held_back:
                said = [f"{source_kbps:.0f} kbit/s"] if source_kbps else []
                said += [f"{facts.sample_rate} Hz"] if facts.sample_rate and facts.sample_rate < 44100 else []
                notes.append(f"the source is {' and '.join(said)}: more than {kbps} kbit/s would not sound better")
            if facts.sample_rate and rate > facts.sample_rate:
                why = ("not every phone decodes an mp3 sampled at 8-12 kHz (MPEG-2.5)" if facts.sample_rate < 16000
                       else "mp3 has no such rate")
                notes.append(f"{rate} Hz, not the source's {facts.sample_rate}: {why}")
            return AvResult(out.read_bytes(), "audio/mpeg", "audio", None, None, duration, encodes, tuple(notes))
        lower = [k for k in MP3_KBPS if k < kbps and k >= target.min_kbps]
        if not lower or encodes > MAX_RETRIES:
            raise CannotFit(f"the mp3 is {out.stat().st_size} bytes at {kbps} kbit/s, over {budget}")
        kbps = lower[-1]


def _why_sound_not_copied(facts: MediaFacts, fmt: str, target: AudioTarget) -> str | None:
    """Why the sound's coded frames may not go out as they are: words for a note, "" where the
    reason goes without saying (another codec than the one sent), None where they may (the caller
    checks the size)."""
    if fmt == "amr":  # AMR-NB is narrowband mono by definition; AMR-WB is another codec
        return None if facts.audio_codec == "amr_nb" else ""
    if fmt != "mp3" or facts.audio_codec != "mp3":
        return ""
    # Not MPEG-2.5's 8-12 kHz, which not every phone decodes; not over what the profile would spend.
    # Where the file's rate is all there is, its tags and header frame count in it (a 64 kbit/s mp3
    # of 1.2 s measured 64.4), which the copy leaves out: a few per cent over is the profile's rate.
    if facts.sample_rate not in MP3_RATES:
        return f"it is sampled at {facts.sample_rate} Hz, which not every phone decodes in an mp3"
    if (facts.channels or 0) not in (1, 2):
        return f"it has {facts.channels} channels, and phones play mono or stereo"
    kbps = _lossy_kbps(facts)
    if kbps is None:
        return ""
    if kbps > target.max_kbps * RATE_SLACK:
        return f"it is {kbps:.0f} kbit/s, over the profile's {target.max_kbps}"
    return None


# What an mp3 carries whatever its length: the Info frame, the encoder's delay and padding (330
# bytes at 16 kbit/s: 1332 for 0.5 s, 2340 for 1 s, 40356 for 20 s).
MP3_FIXED_BYTES = 400


def _mp3_kbps(budget: int, duration: float, target: AudioTarget, matching_kbps: float | None = None,
              source_rate: int | None = None) -> int:
    """``matching_kbps``: the mp3 rate that carries a lossy source's sound (MP3_KBPS_PER_SOURCE_KBPS)."""
    room = (budget - MP3_FIXED_BYTES) * 8 * (1 - CONTAINER_SHARE) / 1000  # kbit for the whole sound
    usable = [k for k in MP3_KBPS if target.min_kbps <= k <= min(room / duration, target.max_kbps)]
    if not usable:
        raise too_long(budget, target.min_kbps, duration, longest=max(0.0, room / target.min_kbps))
    # A lossy source has no more to give than its own sound: a 32 kbit/s mp3 given a 1 MB budget
    # came out at 96 kbit/s, three times the bytes for nothing more. A low sample rate holds no
    # sound above half of it.
    needs = [matching_kbps] if matching_kbps else []
    covering = covering_kbps(KBPS_COVERING_RATE, source_rate)
    needs += [covering] if covering else []
    if needs:
        enough = [k for k in usable if k >= min(needs)]
        return enough[0] if enough else usable[-1]
    return usable[-1]


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
