"""A clip or a sound that is already what a phone plays, and fits: its streams copied into a clean file.

Re-encoding such a file loses a generation and gains nothing. Copying the streams (ffmpeg's
``-c copy``) keeps every coded frame as it was, while the new container carries no metadata
(phones record where a clip was shot in it; a song's tags name people and carry its cover), puts
an mp4's index first (+faststart) and holds only the picture and the sound (no data tracks: some
cameras log GPS in one).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import ffmpeg

from ..errors import MediaprepError
from ..ffmpeg_runner import MP3_UNSIGNED, UNSIGNED, input_stream, run_ffmpeg
from ..inspection.media import DEMUXER_BY_MIME, MediaFacts, media_facts
from ..profiles import TARGET_MIMES, VideoTarget
from ..settings import Settings
from .h263 import H263_SIZES

# What every MMS phone decodes: H.264 baseline or main in 4:2:0, AAC-LC. In 3gp, for older
# handsets: H.264 baseline, or H.263 at one of its own frame sizes where the profile asks for it,
# with AMR-NB (or AAC-LC beside H.264).
PLAYABLE_PROFILES = frozenset({"Baseline", "Constrained Baseline", "Main"})
BASELINE = frozenset({"Baseline", "Constrained Baseline"})
# ISO media all: a 3gp or 3g2 (phones' MMS cameras) with these streams is an mp4 in all but its brand.
SOURCE_MIMES = frozenset({"video/mp4", "video/quicktime", "video/3gpp", "video/3gpp2"})
OUTPUT_MIMES = TARGET_MIMES["video"]
SOUND_MIMES = TARGET_MIMES["audio"]


def can_copy(facts: MediaFacts, mime: str, fmt: str, target: VideoTarget, size: int, budget: int) -> bool:
    """Whether the clip's streams may go out as they are (the caller also checks the copy's size)."""
    if fmt not in OUTPUT_MIMES or mime not in SOURCE_MIMES or size > budget * 1.02:
        return False  # 2 %: what dropping the source's metadata can save
    if facts.hdr:
        return False  # tone mapping to SDR is an encode
    width, height = facts.width or 0, facts.height or 0
    if facts.pixel_aspect != 1 or facts.interlaced:
        return False  # stretched pixels or fields: only an encode makes whole, square-pixelled frames
    if facts.rotation or width % 2 or height % 2 or not width or not height:
        return False  # rotation must be in the pixels, which only an encode does
    if (facts.fps or 0) > target.max_fps + 0.5 or not _sound_plays(facts, fmt, target):
        return False
    if fmt == "3gp" and target.codec == "h263":
        return facts.video_codec == "h263" and (width, height) in H263_SIZES and height <= target.max_height
    h264 = facts.video_codec == "h264" and facts.pix_fmt == "yuv420p"
    if fmt == "3gp":  # the frame's height is the profile's lines, as the encode path has it
        return h264 and facts.video_profile in BASELINE and height <= target.max_height
    return (h264 and facts.video_profile in PLAYABLE_PROFILES
            and min(width, height) <= target.max_height and max(width, height) <= target.max_long_side)


def _sound_plays(facts: MediaFacts, fmt: str, target: VideoTarget) -> bool:
    if facts.audio_codec is None:
        return True
    if fmt == "3gp" and facts.audio_codec == "amr_nb":
        return True
    # Not surround, not studio rates.
    aac = (facts.audio_codec == "aac" and facts.audio_profile == "LC"
           and (facts.channels or 0) <= 2 and (facts.sample_rate or 0) <= 48000)
    return aac and not (fmt == "3gp" and target.codec == "h263")  # the oldest handsets: AMR only


def copy_streams(
    src: Path, mime: str, facts: MediaFacts, out: Path, fmt: str, settings: Settings, *, deadline: float,
    on_progress: Callable | None = None,
) -> bytes | None:
    """The clip's first picture and sound, copied into ``out`` (an ``fmt`` file: mp4 or 3gp); None if
    the copy is not the same clip."""
    inp = input_stream(src, DEMUXER_BY_MIME[mime])
    streams = [inp["v:0"]] + ([inp["a:0"]] if facts.has_audio else [])
    stream = ffmpeg.output(*streams, str(out), c="copy", map_metadata=-1, map_chapters=-1,
                           movflags="+faststart", f=fmt, **UNSIGNED)
    run_ffmpeg(stream, settings, on_progress=on_progress, deadline=deadline)
    data = out.read_bytes()
    try:
        copied = media_facts(out, OUTPUT_MIMES[fmt], settings)
        # The first video stream can be a cover picture in odd files: the copy must be the clip probed.
        if not (copied.video_codec == facts.video_codec and copied.has_audio == facts.has_audio
                and (copied.width, copied.height) == (facts.width, facts.height)
                and abs((copied.duration or 0) - (facts.duration or 0)) < 0.25):
            return None
        # A copy does not decode, so damage would go out unseen: decode it once here, where any
        # error, or a frame the decoder had to patch up, sends the clip back to the encode path.
        check = input_stream(out, "mov").output("-", f="null").global_args("-v", "error", "-xerror")
        run_ffmpeg(check, settings, deadline=deadline, quiet_or_corrupt=True)
    except MediaprepError:
        return None
    return data


def copy_sound(
    src: Path, mime: str, facts: MediaFacts, out: Path, fmt: str, settings: Settings, *, deadline: float,
    on_progress: Callable | None = None,
) -> bytes | None:
    """The file's first sound, its frames copied into a bare ``fmt`` file (mp3 or amr) at ``out``;
    None if the copy is not the same sound, or does not decode cleanly."""
    inp = input_stream(src, DEMUXER_BY_MIME[mime])
    stream = ffmpeg.output(inp["a:0"], str(out), c="copy", map_metadata=-1, f=fmt,
                           **(MP3_UNSIGNED if fmt == "mp3" else UNSIGNED))
    run_ffmpeg(stream, settings, on_progress=on_progress, deadline=deadline)
    data = out.read_bytes()
    try:
        copied = media_facts(out, SOUND_MIMES[fmt], settings)
        # A download cut short still states its whole length in its header: the copy measures what is there.
        shorter = abs((copied.duration or 0) - (facts.duration or 0)) >= 0.25
        if copied.audio_codec != facts.audio_codec or shorter:
            return None
        check = input_stream(out, fmt).output("-", f="null").global_args("-v", "error", "-xerror")
        run_ffmpeg(check, settings, deadline=deadline, quiet_or_corrupt=True)
    except MediaprepError:
        return None
    return data
