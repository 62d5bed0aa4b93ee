"""Audio and video facts from ffprobe, or from `ffmpeg -i` where only ffmpeg exists.

The demuxer is always forced from our own detection (``-f``) and only the
``file`` protocol is allowed, so a playlist or concat list dressed up as an
mp4 is never interpreted and can never make ffmpeg open another file or URL.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import CorruptInput, ToolFailed, UnsupportedType
from ..settings import Settings
from ..tools import Completed, find_ffmpeg, find_ffprobe, run, tidied
from .sniff import AUDIO_TWIN

DEMUXER_BY_MIME = {
    "video/mp4": "mov",
    "video/quicktime": "mov",
    "video/3gpp": "mov",
    "video/3gpp2": "mov",
    "audio/mp4": "mov",
    "video/mpeg": "mpeg",
    "video/webm": "matroska",
    "video/ogg": "ogg",
    "video/x-matroska": "matroska",
    "video/x-msvideo": "avi",
    "video/mp2t": "mpegts",
    "video/x-ms-asf": "asf",
    "video/x-flv": "flv",
    "video/x-dv": "dv",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/aac": "aac",
    "audio/ogg": "ogg",
    "audio/amr": "amr",
    "audio/flac": "flac",
    "audio/aiff": "aiff",
    "audio/x-caf": "caf",
    "audio/basic": "au",
}
# A container holding only sound is read as the same container.
DEMUXER_BY_MIME |= {sound: DEMUXER_BY_MIME[container] for container, sound in AUDIO_TWIN.items()}


INTERLACED_ORDERS = frozenset({"tt", "bb", "tb", "bt"})  # ffprobe's field_order; "progressive" or none else
HDR_TRANSFERS = {"arib-std-b67": "HLG", "smpte2084": "PQ"}


@dataclass(frozen=True)
class MediaFacts:
    duration: float | None
    has_video: bool
    has_audio: bool
    video_codec: str | None = None
    audio_codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    rotation: int = 0
    sample_rate: int | None = None
    channels: int | None = None
    bit_rate: int | None = None  # the whole file's: a cover picture or a second track counts too
    audio_bit_rate: int | None = None  # the first sound's alone, where the container says
    video_bit_rate: int | None = None  # the first picture's alone (cover pictures aside), likewise
    probed_with: str = ""
    # Only ffprobe reports these; what needs them (copying streams as they are) does without.
    video_profile: str | None = None
    pix_fmt: str | None = None
    audio_profile: str | None = None
    # The picture's colour, as ffmpeg names it: HDR phone video says smpte2084 (PQ) or
    # arib-std-b67 (HLG) here and needs tone mapping before it is sent as SDR.
    color_transfer: str | None = None
    color_primaries: str | None = None
    color_matrix: str | None = None
    # The picture's own length where the container says (ffprobe only); a clip's picture can end
    # before its sound.
    video_duration: float | None = None
    # Width over height of one stored pixel: 4/3 for HDV's 1440x1080 shown as 16:9, 1 nearly always.
    pixel_aspect: float = 1.0
    # Two fields per frame, taken a moment apart (camcorders, broadcast, DV): shown as they are,
    # anything that moves is combed.
    interlaced: bool = False
    # A VP8 or VP9 picture with transparency (WebM stickers and overlays), which only libvpx's
    # decoders read.
    alpha: bool = False
    # Where the file's clock starts (ffmpeg counts every input from here): a camcorder's .mts at
    # 1.4 s; a sound made on its own starting late says by how much.
    start: float = 0.0
    # How many of each the file holds (cover pictures aside). Only the first picture and the first
    # sound are ever sent; a second sound track (a commentary, another language) or subtitles are
    # left out, and the result says so.
    picture_tracks: int = 0
    sound_tracks: int = 0
    subtitle_tracks: int = 0

    @property
    def hdr(self) -> str | None:
        """"HLG" or "PQ" for an HDR picture, else None."""
        return HDR_TRANSFERS.get(self.color_transfer or "")


def media_facts(path: Path, mime: str, settings: Settings) -> MediaFacts:
    """The facts of the sound or video file at ``path``, read with the demuxer for ``mime``."""
    demuxer = DEMUXER_BY_MIME.get(mime)
    if demuxer is None:
        raise UnsupportedType(f"no demuxer allowed for {mime}")
    return _probe_path(path.resolve(), demuxer, settings)


def _probe_path(path: Path, demuxer: str, settings: Settings) -> MediaFacts:
    ffprobe = None if settings.probe == "ffmpeg" else find_ffprobe(settings)
    if settings.probe == "ffprobe" and ffprobe is None:
        raise ToolFailed("probe=ffprobe was asked for, but no ffprobe was found")
    # "file:" keeps a name such as "-rf.mp4" from ever being read as an option.
    target = f"file:{path}"
    if ffprobe:
        facts, estimated = _with_ffprobe(ffprobe, target, demuxer, settings)
    else:
        facts, estimated = _with_ffmpeg(find_ffmpeg(settings), target, demuxer, settings)
    # No length at all: a browser's recording (MediaRecorder's WebM has no duration, as it was
    # written as it streamed). A guessed one: see _ESTIMATED. An Ogg's: ffmpeg takes it from the last
    # page's position, which in a chained Ogg (streams one after another: a radio recording, voice
    # notes joined with cat) counts from the last link's start only. Reading the packets tells.
    counted = (_counted_duration(target, demuxer, settings)
               if estimated or not facts.duration or demuxer == "ogg" else None)
    if counted is None and demuxer in _MPEG_PROGRAM_STREAMS and facts.has_video and facts.duration:
        by_picture = _counted_duration(target, demuxer, settings, picture_only=True)
        # Within a second it is the stated length (the sound may end a little after the picture).
        if by_picture and abs(by_picture - facts.duration) > 1:
            counted = by_picture
    if counted:
        # The bitrates were worked out from the guessed length too; the first frame's, which an
        # mp3 stream reports, says nothing about a VBR file.
        facts = replace(facts, duration=counted, bit_rate=int(path.stat().st_size * 8 / counted),
                        audio_bit_rate=None if estimated else facts.audio_bit_rate,
                        video_bit_rate=None if estimated else facts.video_bit_rate)
    return facts


def _with_ffprobe(ffprobe: str, target: str, demuxer: str, settings: Settings) -> tuple[MediaFacts, bool]:
    """The facts, and whether ffprobe had to guess the duration."""
    argv = [ffprobe, "-v", "warning", "-protocol_whitelist", "file", "-f", demuxer,
            "-print_format", "json", "-show_format", "-show_streams", target]
    done = run(argv, timeout=settings.tool_timeout)
    if done.returncode != 0:
        raise CorruptInput(f"cannot read media: {done.stderr_tail(3) or 'ffprobe failed'}")
    if not done.stdout.lstrip().startswith(b"{"):
        # ffprobe that read a file prints a JSON object, whatever the file. Seen with a MEDIAPREP_FFPROBE
        # naming another program (true, echo): the file was blamed as corrupt.
        raise ToolFailed(f"{ffprobe} ended without an error but printed no JSON: is it ffprobe? "
                         "(`mediaprep doctor` shows the ffprobe used)")
    try:
        info = json.loads(done.stdout)
    except ValueError:
        raise CorruptInput("ffprobe gave no readable answer for this file") from None
    streams = info.get("streams") or []
    pictures = [s for s in streams if s.get("codec_type") == "video" and not _is_cover(s)]
    sounds = [s for s in streams if s.get("codec_type") == "audio"]
    video, audio = (pictures or [None])[0], (sounds or [None])[0]
    if video is None and audio is None:
        raise CorruptInput("media has no audio or video stream")
    fmt = info.get("format") or {}
    # Stream durations are missing in some containers; the format's is always there when any is.
    duration = _float(fmt.get("duration")) or _float((video or audio or {}).get("duration"))
    estimated = _ESTIMATED in done.stderr
    return MediaFacts(
        duration=duration,
        has_video=video is not None,
        has_audio=audio is not None,
        video_codec=video.get("codec_name") if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        width=video.get("width") if video else None,
        height=video.get("height") if video else None,
        fps=_rate(video.get("avg_frame_rate") or video.get("r_frame_rate")) if video else None,
        rotation=_ffprobe_rotation(video) if video else 0,
        sample_rate=int(audio["sample_rate"]) if audio and audio.get("sample_rate") else None,
        channels=audio.get("channels") if audio else None,
        bit_rate=int(fmt["bit_rate"]) if fmt.get("bit_rate") else None,
        audio_bit_rate=int(audio["bit_rate"]) if audio and str(audio.get("bit_rate", "")).isdigit() else None,
        video_bit_rate=int(video["bit_rate"]) if video and str(video.get("bit_rate", "")).isdigit() else None,
        probed_with="ffprobe",
        video_profile=video.get("profile") if video else None,
        pix_fmt=video.get("pix_fmt") if video else None,
        audio_profile=audio.get("profile") if audio else None,
        color_transfer=video.get("color_transfer") if video else None,
        color_primaries=video.get("color_primaries") if video else None,
        color_matrix=video.get("color_space") if video else None,
        video_duration=_stream_duration(video) if video else None,
        pixel_aspect=_pixel_aspect(str(video.get("sample_aspect_ratio", ""))) if video else 1.0,
        interlaced=bool(video) and video.get("field_order") in INTERLACED_ORDERS,
        alpha=bool(video) and {k.lower(): v for k, v in (video.get("tags") or {}).items()}.get("alpha_mode") == "1",
        start=_float(fmt.get("start_time")) or 0.0,
        picture_tracks=len(pictures),
        sound_tracks=len(sounds),
        subtitle_tracks=sum(s.get("codec_type") == "subtitle" for s in streams),
    ), estimated


def _pixel_aspect(text: str) -> float:
    """"4:3" as 4/3; 1 for what says nothing ("0:1", "N/A", "") or is no real pixel's shape."""
    num, _, den = text.partition(":")
    try:
        ratio = int(num) / int(den)
    except (ValueError, ZeroDivisionError):
        return 1.0
    # Real pixels are from 1/2 to 2 as wide as tall (DV, HDV, 2:1 anamorphic): 1/4..4 leaves room.
    # A file claiming 10 would otherwise be stretched into a 12800x720 frame.
    return ratio if 0.25 <= ratio <= 4 else 1.0


# What ffmpeg says when a file has no length of its own (an mp3 without a Xing header, raw AAC)
# and it divides the size by the first frames' bitrate: a 40 s VBR mp3 was given 26 s, and cut there.
_ESTIMATED = b"Estimating duration from bitrate"
# MPEG-TS and MPEG-PS: ffmpeg reads their length off the first and last time stamps, which parts
# joined end to end (a camera's, a TV recorder's or a DVD's, with cat) make wrong: 3 s and 4 s
# joined were said to be 4.02 s, and 95347 s where the second part's clock started lower. The
# picture's packets tell; all packets did not, where the sound's format changes midway (stereo to
# 5.1, a new rate): 12.1 s for 6.
_MPEG_PROGRAM_STREAMS = frozenset({"mpegts", "mpeg"})


def stream_ends(path: Path, mime: str, settings: Settings, *, within: float) -> tuple[float | None, float | None]:
    """Where the picture (its cover pictures aside) and the sound end on the clip's time line, from
    their packets' times, read up to ``within`` seconds: for when the facts do not say (ffmpeg
    alone gives only the whole file's length, which a file cut short still states in full). Copied,
    not decoded. The last packet's time of -progress would be its decoding time, which B-frames
    put up to a few frames early."""
    done = _copied_packets(f"file:{path.resolve()}", DEMUXER_BY_MIME[mime], settings,
                           ["-map", "0:V:0", "-map", "0:a:0?"], ["-t", f"{within + 1:.3f}", "-f", "framecrc", "-"])
    if done.returncode != 0:
        return None, None
    bases = {int(i): (int(num), int(den)) for i, num, den in _TIME_BASE.findall(done.stdout)}
    ends: dict[int, int] = {}
    for index, pts, length in _PACKET.findall(done.stdout):
        ends[int(index)] = max(ends.get(int(index), 0), int(pts) + int(length))

    def seconds(index: int) -> float | None:
        num, den = bases.get(index, (0, 0))
        return ends[index] * num / den if index in ends and den else None

    return seconds(0), seconds(1)


# framecrc's time base of each stream, and its line for a packet: stream, dts, pts, duration, size,
# checksum.
_TIME_BASE = re.compile(rb"^#tb (\d+): (\d+)/(\d+)$", re.MULTILINE)
_PACKET = re.compile(rb"^(\d+),\s*-?\d+,\s*(-?\d+),\s*(\d+),", re.MULTILINE)


def _counted_duration(target: str, demuxer: str, settings: Settings, *,
                      picture_only: bool = False) -> float | None:
    """The length found by reading every packet (copied, not decoded: 40 s of mp3 in 0.1 s), or
    only the picture's (its cover pictures aside)."""
    maps = ["-map", "0:V:0"] if picture_only else ["-map", "0:a?", "-map", "0:v?"]
    done = _copied_packets(target, demuxer, settings, maps, ["-f", "null", "-progress", "pipe:1", "-"])
    times = re.findall(rb"^out_time_us=(\d+)$", done.stdout, re.MULTILINE)
    seconds = int(times[-1]) / 1e6 if times else 0
    return seconds if done.returncode == 0 and seconds > 0 else None


def _copied_packets(target: str, demuxer: str, settings: Settings, maps: list[str], output: list[str]) -> Completed:
    """ffmpeg reading the streams in ``maps`` packet by packet, copied (never decoded) to ``output``."""
    argv = [find_ffmpeg(settings), "-hide_banner", "-nostdin", "-nostats", "-protocol_whitelist", "file",
            "-f", demuxer, "-i", target, *maps, "-c", "copy", *output]
    return run(argv, timeout=settings.tool_timeout)


def _stream_duration(stream: dict) -> float | None:
    # mp4 and mov give the stream's duration; Matroska and WebM only a tag, "00:00:02.023000000".
    seconds = _float(stream.get("duration"))
    if seconds is None:
        parts = str((stream.get("tags") or {}).get("DURATION", "")).split(":")
        try:
            seconds = int(parts[0]) * 3600 + int(parts[1]) * 60 + float(parts[2]) if len(parts) == 3 else None
        except ValueError:
            return None
    return seconds if seconds is not None and 0 < seconds < math.inf else None


def _is_cover(stream: dict) -> bool:
    return bool((stream.get("disposition") or {}).get("attached_pic"))


def _ffprobe_rotation(stream: dict) -> int:
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            return _clockwise(float(side["rotation"]))
    rotate = (stream.get("tags") or {}).get("rotate")
    return int(rotate) % 360 if rotate else 0


def _clockwise(displaymatrix_degrees: float) -> int:
    # The display matrix turns counter-clockwise; players rotate the picture clockwise by its negation.
    return int(round(-displaymatrix_degrees)) % 360


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_BITRATE = re.compile(r"Duration: .*?bitrate: (\d+) kb/s")
_START = re.compile(r"Duration: .*?, start: (-?\d+(?:\.\d+)?)")
_STREAM = re.compile(r"^\s*Stream #\d+:\d+\S*: (Video|Audio|Subtitle): (\w+)(.*)$")
_SIZE = re.compile(r", (\d{1,5})x(\d{1,5})")
# "yuv420p(top first)", "yuv420p(tv, bt709, bottom coded first (swapped))"
_FIELDS = re.compile(r"\((?:[^()]*, )?(?:top|bottom) (?:coded )?first")
# "720x576 [SAR 16:15 DAR 4:3], ..., SAR 1:1 DAR 5:4": the codec's, then the container's where it
# differs, which wins (as in ffprobe's sample_aspect_ratio, and as ffmpeg's own filters take it).
_SAR = re.compile(r"SAR (\d+:\d+) DAR")
_FPS = re.compile(r", ([\d.]+) fps")
_HZ = re.compile(r", (\d+) Hz, ([^,]+)")
_KBPS = re.compile(r", (\d+) kb/s")
# "yuv420p10le(tv, bt2020nc/bt2020/arib-std-b67, progressive)": matrix/primaries/transfer, or one
# name when all three are the same.
_COLOUR = re.compile(r", [a-z0-9]+\((?:tv|pc)?(?:, )?([\w-]+(?:/[\w-]+/[\w-]+)?)[,)]")
_ALPHA = re.compile(r"^\s*alpha_mode\s*:\s*1\s*$", re.IGNORECASE)
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees")
_CHANNELS = {"mono": 1, "stereo": 2, "5.1": 6, "5.1(side)": 6, "7.1": 8}


def _with_ffmpeg(ffmpeg: str, target: str, demuxer: str, settings: Settings) -> tuple[MediaFacts, bool]:
    """The facts, and whether ffmpeg had to guess the duration."""
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-protocol_whitelist", "file", "-f", demuxer, "-i", target]
    # With no output ffmpeg always exits 1; whether it read the input shows in what it printed.
    text = run(argv, timeout=settings.tool_timeout).stderr.decode("utf-8", "replace")
    if "Input #0" not in text:
        tail = "\n".join(tidied(text).strip().splitlines()[-3:])
        raise CorruptInput(f"cannot read media: {tail or 'ffmpeg failed'}")
    streams = _streams(text)
    video_line, audio_line, tracks = streams.video, streams.audio, streams.tracks
    if video_line is None and audio_line is None:
        raise CorruptInput("media has no audio or video stream")
    d = _DURATION.search(text)
    duration = int(d.group(1)) * 3600 + int(d.group(2)) * 60 + float(d.group(3)) if d else None
    estimated = _ESTIMATED.decode() in text
    b = _BITRATE.search(text)
    size = _SIZE.search(video_line[1]) if video_line else None
    fps = _FPS.search(video_line[1]) if video_line else None
    hz = _HZ.search(audio_line[1]) if audio_line else None
    colour = _COLOUR.search(video_line[1]) if video_line else None
    sar = _SAR.findall(video_line[1])[-1:] if video_line else None
    matrix, primaries, transfer = _colour_names(colour.group(1)) if colour else (None, None, None)
    video_fields = _fields(video_line[1]) if video_line else []
    return MediaFacts(
        duration=duration,
        has_video=video_line is not None,
        has_audio=audio_line is not None,
        video_codec=video_line[0] if video_line else None,
        audio_codec=audio_line[0] if audio_line else None,
        width=int(size.group(1)) if size else None,
        height=int(size.group(2)) if size else None,
        fps=float(fps.group(1)) if fps else None,
        rotation=streams.rotation,
        sample_rate=int(hz.group(1)) if hz else None,
        channels=_CHANNELS.get(hz.group(2).strip()) if hz else None,
        bit_rate=int(b.group(1)) * 1000 if b else None,
        audio_bit_rate=int(k.group(1)) * 1000 if (k := _KBPS.search(audio_line[1]) if audio_line else None) else None,
        video_bit_rate=int(k.group(1)) * 1000 if (k := _KBPS.search(video_line[1]) if video_line else None) else None,
        probed_with="ffmpeg",
        video_profile=_profile(video_fields[0]) if video_fields else None,
        pix_fmt=(video_fields[1].partition("(")[0].strip() or None) if len(video_fields) > 1 else None,
        audio_profile=_profile(_fields(audio_line[1])[0]) if audio_line else None,
        color_transfer=transfer,
        color_primaries=primaries,
        color_matrix=matrix,
        pixel_aspect=_pixel_aspect(sar[0]) if sar else 1.0,
        interlaced=bool(video_line and _FIELDS.search(video_line[1])),
        alpha=streams.alpha,
        start=float(st.group(1)) if (st := _START.search(text)) else 0.0,
        picture_tracks=tracks["Video"],
        sound_tracks=tracks["Audio"],
        subtitle_tracks=tracks["Subtitle"],
    ), estimated


@dataclass
class _Streams:
    """What ``ffmpeg -i`` lists of a file's streams: the first picture's and sound's (codec, rest of
    the line), the picture's turn and alpha from its side data, and how many tracks of each kind."""

    video: tuple[str, str] | None = None
    audio: tuple[str, str] | None = None
    rotation: int = 0
    alpha: bool = False
    tracks: dict[str, int] = field(default_factory=lambda: {"Video": 0, "Audio": 0, "Subtitle": 0})


def _streams(text: str) -> _Streams:
    found = _Streams()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = _STREAM.match(line)
        if not m or "(attached pic)" in line:
            continue
        found.tracks[m.group(1)] += 1
        if m.group(1) == "Video" and found.video is None:
            found.video = (m.group(2), m.group(3))
            for follow in lines[i + 1 : i + 8]:
                if _STREAM.match(follow):
                    break
                r = _ROTATION.search(follow)
                if r:
                    found.rotation = _clockwise(float(r.group(1)))
                found.alpha = found.alpha or bool(_ALPHA.match(follow))
        elif m.group(1) == "Audio" and found.audio is None:
            found.audio = (m.group(2), m.group(3))
    return found


def _fields(text: str) -> list[str]:
    """A stream line's parts after the codec name, split at the commas outside brackets:
    " (Main) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive), 320x240" gives three."""
    fields, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            fields.append(text[start:i])
            start = i + 1
    return [*fields, text[start:]]


def _profile(codec_part: str) -> str | None:
    """"(Main) (avc1 / 0x31637661)" gives "Main". The codec's tag holds "/", and a decoder's name
    (mp3float, libdav1d) is lower case: neither is a profile."""
    for name in re.findall(r"\(([^()]*)\)", codec_part):
        if "/" not in name and not name.islower():
            return name
    return None


def _colour_names(text: str) -> tuple[str | None, str | None, str | None]:
    names = text.split("/")
    if len(names) == 3:
        return names[0], names[1], names[2]
    # One name: all three the same (bt709), or a field order such as "progressive".
    return (text, text, text) if text.startswith("bt") else (None, None, None)


def _float(value: object) -> float | None:
    try:
        return float(value) if value not in (None, "N/A") else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _rate(text: str) -> float | None:
    try:
        num, _, den = text.partition("/")
        return round(float(num) / float(den or 1), 3) if float(den or 1) else None
    except ValueError:
        return None
