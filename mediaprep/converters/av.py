"""What converting sound and converting video share: the result, the checks on how much of the
source decoded, the duration sent, and the error that names the longest duration that fits.

Sound goes to mp3 or AMR-NB in sound.py, video to mp4 or 3gp in video.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import CannotFit, CorruptInput, InputTooLarge
from ..ffmpeg_runner import run_ffmpeg
from ..inspection.media import MediaFacts
from ..settings import Settings

# Bytes per second of an AMR-NB file at each mode: 20 ms frames of 32, 27, 21, 20, 18, 16, 14, 13 bytes
AMR_MODES = ((12.2, 1600), (10.2, 1350), (7.95, 1050), (7.4, 1000), (6.7, 900), (5.9, 800), (5.15, 700), (4.75, 650))
CONTAINER_SHARE = 0.04  # mp4 / 3gp index and packet headers (2.3-3.4 % measured, field notes)
MAX_RETRIES = 4
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


@dataclass(frozen=True)
class AvJob:
    """One sound or clip being encoded: the file, what it is, the seconds sent, and what every one of
    its ffmpeg runs shares (the settings, the progress callback, the one deadline)."""

    src: Path
    mime: str
    facts: MediaFacts
    duration: float
    settings: Settings
    on_progress: Callable | None
    deadline: float

    def run(self, stream) -> dict[str, str]:
        return run_ffmpeg(stream, self.settings, on_progress=self.on_progress, deadline=self.deadline)


def covering_kbps(table: tuple[tuple[int, int], ...], sample_rate: int | None) -> int | None:
    """The bitrate that keeps the whole band of a sound at this sample rate, from a table of
    (highest rate, kbit/s); None when the rate is unknown or above the table."""
    return next((kbps for rate, kbps in table if sample_rate and sample_rate <= rate), None)


def checked(facts: MediaFacts, settings: Settings) -> MediaFacts:
    if not facts.duration or facts.duration <= 0:
        raise CorruptInput("the media has no duration that can be read")
    if facts.has_video and (facts.width or 0) * (facts.height or 0) > settings.max_video_pixels:
        raise InputTooLarge(
            f"{facts.width}x{facts.height} video is over the {settings.max_video_pixels} pixel limit per frame")
    return facts


def check_decoded_frames(done: dict[str, str], duration: float, fps: int, notes: list[str] | None = None) -> None:
    # ffmpeg carries on past undecodable packets; an encode made of a few survivors is not a result.
    frames = int(done.get("frame") or 0)
    expected = duration * fps
    if frames + 1 < expected * DECODED_SHARE:  # + 1: a clip of a frame or two is whole with one
        raise CorruptInput(f"the video stream is damaged: only {frames} of about {expected:.0f} frames decoded")
    if notes is not None and frames < expected - max(0.5, duration * 0.02) * fps:
        notes.append(_cut_short("picture", frames / fps, duration))


def check_decoded_seconds(done: dict[str, str], duration: float, notes: list[str] | None = None) -> None:
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


def copy_could_fit(facts: MediaFacts, size: int, budget: int) -> bool:
    """Whether the first picture and first sound, copied as they are, could fit ``budget``.

    They are judged by their own stated rates where known, not by the file's ``size``: a cover picture,
    another track or a data track count in the file, not in the copy (a 650 kB clip with a 3.75 MB cover
    was encoded three times to fill 1 MB). A sound-only file's own rate stands for its sound's. The
    copy's size is checked all the same.
    """
    if not facts.has_video:
        kept = (facts.audio_bit_rate or facts.bit_rate or 0) * (facts.duration or 0) / 8
    elif facts.video_bit_rate and facts.duration and (facts.audio_bit_rate or not facts.has_audio):
        kept = (facts.video_bit_rate + (facts.audio_bit_rate or 0)) * facts.duration / 8
    else:
        kept = 0
    return min(size, kept or size) <= budget * 1.02  # 2 %: what dropping the source's metadata can save


def sent_duration(facts: MediaFacts, max_duration: float | None) -> float:
    assert facts.duration is not None
    duration = min(facts.duration, max_duration) if max_duration else facts.duration
    return max(0.1, duration)


def too_long(budget: int, floor_kbps: float, duration: float, *, longest: float | None = None) -> CannotFit:
    """``longest``: the seconds that fit, where the caller's plan knows better than a flat share."""
    if longest is None:
        longest = max(0.0, budget * 8 * (1 - CONTAINER_SHARE) / (floor_kbps * 1000))
    longest = math.floor(longest * 10) / 10  # as it is said: a length passed back as it is must fit
    return CannotFit(
        f"{duration:.1f} s cannot fit in {budget} bytes at the floor of {floor_kbps:g} kbit/s; "
        + trim_advice(longest, f"the longest that fits is {longest:.1f} s"),
        longest_seconds=longest,
    )


def trim_advice(longest: float, fits: str) -> str:
    """What to do about a refusal whose longest fitting length is ``longest`` (``fits`` says it)."""
    if longest < 0.1:  # max_duration cannot ask for less than that
        return "not even 0.1 s of it would fit, so trimming cannot help: raise the budget"
    return f"{fits} (pass max_duration to trim)"


def first_sound(stream):
    # The sound the facts describe. Left to ffmpeg, an mp3 kept its cover picture (a 6 s clip with
    # a 6000x3400 cover came out at 10 MB), and a clip with two sound tracks kept both.
    return stream["a:0"]


def why_copied(copied_as: str, taken_as: str | None, target_format: str) -> str:
    if copied_as == taken_as != target_format:
        return "is in a format the profile takes as it is"
    return "plays everywhere"


def tracks_left_out(facts: MediaFacts) -> list[str]:
    """What of the source is never sent, beyond its first picture and first sound."""
    counts = (("picture", facts.picture_tracks), ("sound", facts.sound_tracks))
    notes = [f"only the first of its {count} {kind} tracks is sent" for kind, count in counts if count > 1]
    return notes + (["its subtitles are left out"] if facts.subtitle_tracks else [])
