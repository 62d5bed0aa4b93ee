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
from ..ffmpeg_runner import input_stream, run_ffmpeg
from ..inspection.media import DEMUXER_BY_MIME, MediaFacts, media_facts
from ..profiles import VideoTarget
from ..settings import Settings

# What every MMS phone decodes: H.264 baseline or main in 4:2:0, AAC-LC.
PLAYABLE_PROFILES = frozenset({"Baseline", "Constrained Baseline", "Main"})
# ISO media all: a 3gp or 3g2 (phones' MMS cameras) with these streams is an mp4 in all but its brand.
SOURCE_MIMES = frozenset({"video/mp4", "video/quicktime", "video/3gpp", "video/3gpp2"})


def can_copy(facts: MediaFacts, mime: str, fmt: str, target: VideoTarget, size: int, budget: int) -> bool:
    """Whether the clip's streams may go out as they are (the caller also checks the copy's size)."""
    if fmt != "mp4" or mime not in SOURCE_MIMES or size > budget * 1.02:
        return False  # 2 %: what dropping the source's metadata can save
    if facts.video_codec != "h264" or facts.video_profile not in PLAYABLE_PROFILES or facts.pix_fmt != "yuv420p":
        return False
    if facts.hdr:
        return False  # tone mapping to SDR is an encode
    if facts.audio_codec is not None and (
        facts.audio_codec != "aac" or facts.audio_profile != "LC"
        or (facts.channels or 0) > 2 or (facts.sample_rate or 0) > 48000  # surround, studio rates
    ):
        return False
    width, height = facts.width or 0, facts.height or 0
    if facts.pixel_aspect != 1 or facts.interlaced:
        return False  # stretched pixels or fields: only an encode makes whole, square-pixelled frames
    if facts.rotation or width % 2 or height % 2 or not width or not height:
        return False  # rotation must be in the pixels, which only an encode does
    return (min(width, height) <= target.max_height and max(width, height) <= target.max_long_side
            and (facts.fps or 0) <= target.max_fps + 0.5)


def copy_streams(
    src: Path, mime: str, facts: MediaFacts, out: Path, settings: Settings, *, deadline: float,
    on_progress: Callable | None = None,
) -> bytes | None:
    """The clip's first picture and sound, copied into ``out``; None if the copy is not the same clip."""
    inp = input_stream(src, DEMUXER_BY_MIME[mime])
    streams = [inp["v:0"]] + ([inp["a:0"]] if facts.has_audio else [])
    stream = ffmpeg.output(*streams, str(out), c="copy", map_metadata=-1, map_chapters=-1,
                           movflags="+faststart", f="mp4")
    run_ffmpeg(stream, settings, on_progress=on_progress, deadline=deadline)
    data = out.read_bytes()
    try:
        copied = media_facts(data, "video/mp4", out, settings)
        # The first video stream can be a cover picture in odd files: the copy must be the clip probed.
        if not (copied.video_codec == "h264" and copied.has_audio == facts.has_audio
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
    stream = ffmpeg.output(inp["a:0"], str(out), c="copy", map_metadata=-1, f=fmt)
    run_ffmpeg(stream, settings, on_progress=on_progress, deadline=deadline)
    data = out.read_bytes()
    try:
        copied = media_facts(data, f"audio/{'mpeg' if fmt == 'mp3' else fmt}", out, settings)
        # A download cut short still states its whole length in its header: the copy measures what is there.
        if copied.audio_codec != facts.audio_codec or abs((copied.duration or 0) - (facts.duration or 0)) >= 0.25:
            return None
        check = input_stream(out, fmt).output("-", f="null").global_args("-v", "error", "-xerror")
        run_ffmpeg(check, settings, deadline=deadline, quiet_or_corrupt=True)
    except MediaprepError:
        return None
    return data
