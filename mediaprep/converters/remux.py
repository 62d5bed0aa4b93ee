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


def why_not_copied(facts: MediaFacts, mime: str, fmt: str, target: VideoTarget) -> str | None:
    """Why the clip's streams may not go out as they are, in a note's words; None where they may
    (the caller checks the size)."""
    width, height = facts.width or 0, facts.height or 0
    if fmt not in OUTPUT_MIMES or mime not in SOURCE_MIMES:
        return f"it is {mime}, and only mp4, QuickTime and 3gp streams are copied as they are"
    if facts.hdr:
        return "it is HDR, and turning it into SDR for the screens most phones have is an encode"
    if facts.pixel_aspect != 1:
        return "its pixels are not square, and a copy keeps them stretched"
    if facts.interlaced:
        return "it is interlaced, and a copy keeps its fields"
    if facts.rotation:
        return "it is turned by its metadata, and the turn must be in the pixels"
    if width % 2 or height % 2 or not width or not height:
        return f"its frame, {width}x{height}, has an odd side"
    if (facts.fps or 0) > target.max_fps + 0.5:
        return f"it runs at {facts.fps:g} fps, over the profile's {target.max_fps}"
    if (sound := _sound_refusal(facts, fmt, target)) is not None:
        return sound
    video = f"{facts.video_codec} {facts.video_profile or ''}".rstrip()
    if fmt == "3gp" and target.codec == "h263":
        if facts.video_codec == "h263" and (width, height) in H263_SIZES and height <= target.max_height:
            return None
        sizes = ", ".join(f"{w}x{h}" for w, h in H263_SIZES if h <= target.max_height)
        return f"the profile's handsets play H.263 at {sizes}, not {video} at {width}x{height}"
    if facts.video_codec != "h264":
        return f"its video is {video}, not H.264"
    if facts.pix_fmt != "yuv420p":
        return f"its pictures are {facts.pix_fmt}, not yuv420p (4:2:0 in the range phones read)"
    if fmt == "3gp":  # the frame's height is the profile's lines, as the encode path has it
        if facts.video_profile not in BASELINE:
            return f"its H.264 is {facts.video_profile}, and a 3gp's handsets play baseline"
        if height > target.max_height:
            return f"its frame is {height} lines high, over the profile's {target.max_height}"
        return None
    if facts.video_profile not in PLAYABLE_PROFILES:
        return f"its H.264 is {facts.video_profile}, and phones play baseline and main"
    if min(width, height) > target.max_height or max(width, height) > target.max_long_side:
        return f"its frame, {width}x{height}, is over the profile's {target.max_long_side}x{target.max_height}"
    return None


def _sound_refusal(facts: MediaFacts, fmt: str, target: VideoTarget) -> str | None:
    if facts.audio_codec is None:
        return None
    if fmt == "3gp" and facts.audio_codec == "amr_nb":
        return None
    if fmt == "3gp" and target.codec == "h263":
        return f"its sound is {facts.audio_codec}, and the oldest handsets, which play H.263, take only AMR-NB"
    # Not surround, not studio rates.
    if not (facts.audio_codec == "aac" and facts.audio_profile == "LC"
            and (facts.channels or 0) <= 2 and (facts.sample_rate or 0) <= 48000):
        sound = f"{facts.audio_codec} {facts.audio_profile or ''}".rstrip()
        channels = {1: "mono", 2: "stereo"}.get(facts.channels or 0, f"{facts.channels} channels")
        return (f"its sound is {sound}, {channels} at {facts.sample_rate} Hz: phones play AAC-LC, mono or "
                "stereo, at up to 48 kHz")
    return None


def copy_streams(
    src: Path, mime: str, facts: MediaFacts, out: Path, fmt: str, settings: Settings, *, deadline: float,
    max_bytes: int, on_progress: Callable | None = None,
) -> bytes | None:
    """The clip's first picture and sound, copied into ``out`` (an ``fmt`` file: mp4 or 3gp); None if
    the copy is not the same clip. ffmpeg stops writing a little past ``max_bytes``: a copy tried on
    the streams' stated bitrates, which a hostile file can understate, is never a copy of all of it."""
    inp = input_stream(src, DEMUXER_BY_MIME[mime])
    streams = [inp["v:0"]] + ([inp["a:0"]] if facts.has_audio else [])
    stream = ffmpeg.output(*streams, str(out), c="copy", map_metadata=-1, map_chapters=-1,
                           movflags="+faststart", f=fmt, fs=max_bytes, **UNSIGNED)
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
        check = (input_stream(out, "mov", max_pixels=settings.max_video_pixels)
                 .output("-", f="null").global_args("-v", "error", "-xerror"))
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
