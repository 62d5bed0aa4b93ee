"""The `mediaprep` command: a thin shell over the library.

Exit codes: 0 all good, 1 problems found (including "cannot fit the budget"), 2 usage
error or unreadable input.
With --json the result goes to stdout as JSON; human text otherwise; logs and
progress always go to stderr.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .checker import Report, check
from .converters import convert, name_within, write_atomically
from .errors import (
    ConvertError,
    InputError,
    MediaprepError,
    StorageError,
    StorageFailed,
    UsageError,
)
from .inspection import Inspection, inspect, read_source
from .inspection.image import MAX_PAGES_COUNTED
from .inspection.media import MediaFacts
from .message import MAX_MESSAGE_JSON_BYTES, load_message, parse_message
from .profiles import Profile, available, list_profiles, load_profile
from .reading import read_stream
from .settings import Settings, unknown_variables
from .streams import (
    StandardError,
    StandardOutput,
    StdoutFailed,
    check_stdin,
    is_device_or_pipe,
    json_text,
    printable,
    write_into,
)

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"mediaprep: {UsageError.code}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mediaprep", description="Make media deliverable by MMS before you send it.")
    parser.add_argument("--version", action="version", version=f"mediaprep {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("inspect", help="what files really are, and the facts that matter for MMS")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, or - for standard input")
    p.add_argument("--json", action="store_true", help="a JSON list on stdout, one object per path")
    p.set_defaults(run=cmd_inspect)

    p = sub.add_parser("check", help="check a message (JSON) against a provider profile")
    p.add_argument("message", metavar="MESSAGE.json", help="the message, or - for standard input")
    p.add_argument("--profile", required=True, metavar="NAME", help="e.g. sinch, clicksend+att-toll-free")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_check)

    p = sub.add_parser("convert", help="make one file fit a profile and a byte budget")
    p.add_argument("source", metavar="SRC", help="input file, or - for standard input")
    p.add_argument("-o", "--output", required=True, metavar="DST", help="output file, folder, or - for standard output")
    p.add_argument("--profile", metavar="NAME",
                   help="the provider's limits and formats (mediaprep profiles lists them); "
                        "without one, --budget")
    p.add_argument("--budget", type=_byte_count, metavar="BYTES",
                   help="at most this many bytes (exact): 250000, 250kB, 1MB or 30KiB")
    p.add_argument("--format", choices=["mp3", "amr", "mp4", "3gp"], help="audio/video container")
    p.add_argument("--max-duration", type=float, metavar="SECONDS",
                   help="trim audio, video or an animation to this length")
    p.add_argument("--effort", choices=["best", "fast"],
                   help="pictures: compare sizes (best, the default) or take the predicted one (fast)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_convert)

    p = sub.add_parser("upload", help="store files (local folder, or S3) and print their URLs")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files to store; - for standard input")
    p.add_argument("--verify", action="store_true", help="fetch each URL back as a provider would")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_upload)

    p = sub.add_parser("verify-url", help="fetch a media URL as a provider would and report problems")
    p.add_argument("url", metavar="URL")
    p.add_argument("--max-bytes", type=_byte_count, metavar="N", help="bytes, or 250kB, 1MB, 30KiB")
    p.add_argument("--profile", metavar="NAME", help="also check the content against this profile")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_verify_url)

    p = sub.add_parser("doctor", help="which ffmpeg, its version and encoders, and what is missing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_doctor)

    p = sub.add_parser("profiles", help="list profiles, or show one resolved")
    p.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_profiles)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    restore = _exit_cleanly_on(signal.SIGTERM, signal.SIGHUP)
    given_stdout, given_stderr = sys.stdout, sys.stderr
    devnull = None
    if sys.stderr is None:
        # Started with 2>&-: print(file=None) would put the messages into stdout, after the data.
        devnull = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the command
    # A name that is not UTF-8 (held as surrogates), or é on an ASCII stream, was a
    # UnicodeEncodeError traceback wherever Python's errors are strict (en_US.UTF-8, PYTHONIOENCODING).
    given_errors = {stream: stream.errors for stream in (given_stdout, sys.stderr) if hasattr(stream, "reconfigure")}
    for stream in given_errors:
        stream.reconfigure(errors="backslashreplace")
    sys.stdout, sys.stderr = StandardOutput(given_stdout), StandardError(sys.stderr)
    try:
        settings = Settings.from_env()
        for name, meant in unknown_variables():
            hint = f" (did you mean {meant}?)" if meant else ""
            print(f"mediaprep: warning: {name} is not a setting, and is ignored{hint}", file=sys.stderr)
        code = int(args.run(args, settings))
        sys.stdout.flush()  # a failure here would otherwise come at exit, as a traceback
        return code
    except KeyboardInterrupt:
        print("mediaprep: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except BrokenPipeError:
        # The reader (head, less) went away; that is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except MediaprepError as exc:
        if getattr(args, "json", False) and not isinstance(exc, StdoutFailed):
            try:
                _print_json({"ok": False, "error": exc.to_dict()})
                sys.stdout.flush()
            except StdoutFailed:
                pass  # the message below still says what went wrong
        print(f"mediaprep: {printable(str(exc), keep_lines=True)}", file=sys.stderr)
        # Input that cannot be made to fit, or a store that fails, is a problem found, not a usage error.
        return EXIT_PROBLEMS if isinstance(exc, (ConvertError, StorageError)) else EXIT_USAGE
    finally:
        restore()
        if devnull is not None:
            devnull.close()
        sys.stdout, sys.stderr = given_stdout, given_stderr
        for stream, errors in given_errors.items():
            if not stream.closed:
                stream.reconfigure(errors=errors)


def _exit_cleanly_on(*signums: int) -> Callable[[], None]:
    """Make these signals an exit that unwinds, as Ctrl-C does; gives back a function that undoes it.

    Python's default for SIGTERM ends the process on the spot: ffmpeg (in its own process group)
    would run on unwatched, and the temporary copies and half-written files would stay. Unwinding
    runs the cleanup that an error runs. (A library does not own the process's signals, so this
    is the CLI's job; a host that embeds mediaprep should do the same.)
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def stop(signum: int, _frame: object) -> None:
        try:
            print(f"mediaprep: stopped by {signal.Signals(signum).name}", file=sys.stderr)
        except OSError:  # after SIGHUP the terminal may be gone; the exit matters, not the message
            pass
        raise SystemExit(128 + signum)

    previous = {signum: signal.signal(signum, stop) for signum in signums}

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore


# ---------------------------------------------------------------- inspect


def _check_paths_from_stdin(paths: list[str]) -> None:
    """PATH - reads standard input (inspect, upload): once, and not from a terminal."""
    if paths.count("-") > 1:
        raise UsageError("PATH - (standard input) can be given once")
    if "-" in paths:
        check_stdin("PATH -")


def cmd_inspect(args: argparse.Namespace, settings: Settings) -> int:
    _check_paths_from_stdin(args.paths)
    results: list[dict[str, Any]] = []
    worst = EXIT_OK
    for path in args.paths:
        try:
            info = (inspect(sys.stdin.buffer, name="-", settings=settings) if path == "-"
                    else inspect(path, settings=settings))
        except InputError as exc:
            results.append({"path": path, "error": exc.to_dict()})
            worst = EXIT_USAGE
            if not args.json:
                print(f"{printable(path)}: error {exc.code}: {printable(exc.message, keep_lines=True)}")
            continue
        results.append(info.to_dict())
        if info.error is not None:
            worst = max(worst, EXIT_PROBLEMS)
        if not args.json:
            print(printable(_inspection_line(info)))
    if args.json:
        _print_json(results)
    return worst


def _sound_layout(m: MediaFacts) -> list[str]:
    """Channels, sample rate and bitrate, as far as known: what a sound's mp3 or AAC is sized from."""
    channels = {1: "mono", 2: "stereo"}.get(m.channels or 0, f"{m.channels} channels" if m.channels else "")
    # A sound-only file's own rate stands for its sound's where the stream states none (Ogg, WAV).
    rate = m.audio_bit_rate or (m.bit_rate if not m.has_video else None)
    return [part for part in (channels, f"{m.sample_rate} Hz" if m.sample_rate else "",
                              f"{round(rate / 1000)} kbit/s" if rate else "") if part]


def _picture_rate(m: MediaFacts) -> list[str]:
    """Frames a second and the picture's own bitrate, as far as known: what decides whether a clip
    can be copied as it is, or how far it must come down."""
    return [part for part in (f"{m.fps:.3g} fps" if m.fps else "",
                              f"{round(m.video_bit_rate / 1000)} kbit/s" if m.video_bit_rate is not None else "")
            if part]


# Providers write their limits as "250 kB" or "1 MB": decimal, as the profiles' byte limits are.
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(b|k|kb|m|mb|kib|mib)?\s*", re.IGNORECASE)
_UNIT_BYTES = {"b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "kib": 1024, "mib": 1024**2}


def _byte_count(text: str) -> int:
    found = _SIZE.fullmatch(text)
    count = float(found[1]) * _UNIT_BYTES[(found[2] or "b").lower()] if found else None
    if count is None or count != int(count):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number of bytes (250000, 250kB, 1MB or 30KiB)")
    return int(count)


def _inspection_line(info: Inspection) -> str:
    parts = [info.path or "<bytes>", info.mime, info.kind, f"{info.bytes} B"]
    if info.image:
        parts.append(f"{info.image.width}x{info.image.height}")
        if info.image.format == "TIFF" and info.image.frames > MAX_PAGES_COUNTED:
            parts.append(f"more than {MAX_PAGES_COUNTED} pages")
        elif info.image.frames > 1:
            # An animation's frames; a TIFF's pages; a burst's or an MPO's pictures, of which one is sent.
            unit = {"TIFF": "pages", "MPO": "pictures", "HEIF": "pictures"}.get(info.image.format or "", "frames")
            length = f", {info.image.duration:g} s" if info.image.duration is not None else ""
            parts.append(f"{info.image.frames} {unit}{length}")
        if info.image.orientation != 1:
            parts.append(f"EXIF orientation {info.image.orientation}")
    if info.media:
        m = info.media
        if m.duration is not None:
            parts.append(f"{m.duration:.2f} s")
        if m.has_video:
            parts.append(" ".join([f"{m.video_codec} {m.width}x{m.height}", *_picture_rate(m)]))
            if m.pixel_aspect != 1 and m.width and m.height:
                parts.append(f"shown {round(m.width * m.pixel_aspect)}x{m.height}")
            if m.interlaced:
                parts.append("interlaced")
            if m.rotation:
                parts.append(f"rotated {m.rotation}")
            if m.hdr:
                parts.append(f"HDR {m.hdr}")
        if m.has_audio:
            parts.append(" ".join([m.audio_codec or "sound", *_sound_layout(m)]))
        # Only the first picture and the first sound are ever sent.
        parts += [f"{count} {kind} tracks" for kind, count in (("picture", m.picture_tracks),
                                                                  ("sound", m.sound_tracks)) if count > 1]
        if m.subtitle_tracks:
            parts.append("subtitles")
    if info.object:
        o = info.object
        noun = {"contact": "card", "calendar": "event", "pdf": "page"}.get(info.kind, "item")
        parts.append(f"{o.items} {noun}{'s' if o.items != 1 else ''}")
        if o.encrypted:
            parts.append("encrypted")
    if info.extension_mismatch:
        parts.append(f"named .{info.extension} but is {info.mime}")
    if info.error is not None:
        code = f" ({info.error.provider_code})" if info.error.provider_code else ""
        parts.append(f"error {info.error.code}{code}: {info.error.message}")
    return "  ".join(parts)


# ---------------------------------------------------------------- check


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    profile = load_profile(args.profile, settings)
    if args.message == "-":
        # As inspect and convert read "-": a message built by another program and piped in. Its
        # media paths are taken from the current folder, as a file's are from the file's folder.
        check_stdin("MESSAGE -")
        raw = read_stream(sys.stdin.buffer, MAX_MESSAGE_JSON_BYTES)
        message = parse_message(raw, base_dir=Path.cwd(), where="-")
    else:
        message = load_message(args.message)
    report = check(message, profile, settings=settings)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(printable(_report_text(args.message, report), keep_lines=True))
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _report_text(name: str, report: Report) -> str:
    errors = len(report.errors)
    warnings = len(report.problems) - errors
    verdict = "OK" if report.ok else "NOT SENDABLE"
    lines = [
        f"{name} against {report.profile}: {verdict}: {errors} error(s), {warnings} warning(s); "
        f"about {report.estimated_bytes} bytes on the wire ({report.payload_bytes} B of content)"
    ]
    for p in report.problems:
        where = f"slide {p.slide}" if p.slide else "message"
        code = f" [{p.provider_code}]" if p.provider_code else ""
        lines.append(f"  {p.severity:<7} {where:<8} {p.code}{code}: {p.message}")
    return "\n".join(lines)


# ---------------------------------------------------------------- convert


def cmd_convert(args: argparse.Namespace, settings: Settings) -> int:
    # /dev/stdout too: as a path it would be given an extension, or replaced by a renamed file.
    to_stdout = args.output in ("-", "/dev/stdout")
    if to_stdout and args.json:
        raise UsageError("-o - and --json both want standard output: give -o FILE with --json")
    if to_stdout and sys.stdout.isatty():
        raise UsageError("-o -: standard output is a terminal; redirect it to a file or a pipe")
    if to_stdout and sys.stdout.stream is None:
        raise UsageError("-o -: standard output is closed")
    from_stdin = args.source == "-"
    if from_stdin:
        check_stdin("SRC -")
    if from_stdin and not to_stdout and _names_a_folder(args.output):
        raise UsageError("SRC - has no name to give the file in a folder: give -o FILE or -o -")
    if args.effort:
        settings = settings.with_(image_effort=args.effort)
    source = sys.stdin.buffer if from_stdin else args.source
    result = convert(source, profile=args.profile, budget=args.budget, settings=settings,
                     format=args.format, max_duration=args.max_duration,
                     on_progress=_show_progress if sys.stderr.isatty() else None)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if to_stdout:
        sys.stdout.write_bytes(result.data)
        shown = "-"
    elif is_device_or_pipe(args.output):
        write_into(Path(args.output), result.data)
        shown = args.output
    else:
        dest = _output_path(Path(args.source), args.output, result.extension)
        write_atomically(result.data, dest)
        shown = str(dest)
    if args.json:
        _print_json({"path": shown, **result.to_dict()})
        return EXIT_OK
    if result.passed_through:
        how = "passed through unchanged"
    elif result.kind in ("image", "video") and result.encodes == 0:  # metadata cut, or streams copied
        how = f"{result.width}x{result.height}, not re-encoded"
    elif result.kind == "image":
        how = f"{result.width}x{result.height}"
        how += f", quality {result.quality}" if result.quality else ""
        how += f" ({result.subsampling})" if result.quality and result.subsampling else ""
        how += f", {result.frames} frames" if result.frames and result.frames > 1 else ""
        how += f", {_count(result.encodes, 'encode')}"
    elif result.kind in ("audio", "video"):
        how = (f"{result.width}x{result.height}, " if result.width else "") + _count(result.encodes, "encode")
    else:
        how = "normalised"
    # With -o - the bytes own standard output, so the summary goes where the messages go.
    report = sys.stderr if to_stdout else sys.stdout
    print(f"{printable(shown)}: {result.mime} {result.bytes} B of {result.budget} B budget; {how}", file=report)
    for note in result.notes:
        print(f"  note: {printable(note, keep_lines=True)}", file=report)
    return EXIT_OK


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def _show_progress(block: dict[str, str]) -> None:
    done = block.get("out_time", "").split(".")[0]
    print(f"\r  encoding: {done} done, {block.get('speed', '').strip()} ", end="", file=sys.stderr, flush=True)


def _names_a_folder(output_arg: str) -> bool:
    return output_arg.endswith(("/", os.sep)) or _is_dir(Path(output_arg))


def _output_path(source: Path, output_arg: str, extension: str) -> Path:
    if _names_a_folder(output_arg):
        # photo.webp -> photo-webp.jpg, so photo.webp and photo.tiff do not overwrite each other.
        old = source.suffix.lower().lstrip(".")
        same = not old or old in _EXTENSIONS_FOR.get(extension, {extension})
        # Cut short where the source's own name was already as long as a name can be.
        return Path(output_arg) / name_within(source.stem, f".{extension}" if same else f"-{old}.{extension}")
    output = Path(output_arg)
    if output.suffix.lower().lstrip(".") not in _EXTENSIONS_FOR.get(extension, {extension}):
        fixed = output.with_suffix(f".{extension}")
        why = f"not {output.suffix}" if output.suffix else "and the name given has no extension"
        print(f"mediaprep: writing {printable(str(fixed))}: the content is .{extension}, {why}", file=sys.stderr)
        return fixed
    return output


_EXTENSIONS_FOR = {"jpg": {"jpg", "jpeg"}, "tiff": {"tif", "tiff"}}


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long: the write that follows says so, with a code
        return False


# ---------------------------------------------------------------- storage


def cmd_upload(args: argparse.Namespace, settings: Settings) -> int:
    from .storage import open_store
    from .storage.verify import verify_url

    _check_paths_from_stdin(args.paths)  # convert ... -o - | mediaprep upload -
    store = open_store(settings)
    results: list[dict[str, Any]] = []
    worst = EXIT_OK
    store_down: StorageError | None = None
    for path in args.paths:
        if store_down is not None:
            # The store as a whole failed: each further try would wait out the same timeouts.
            _upload_error(results, path, type(store_down)(f"{path}: not uploaded, the store failed: {store_down.message}"),
                          args.json)
            continue
        try:
            # Read once: the bytes inspected are the bytes stored, so the Content-Type is theirs.
            data, _ = read_source(sys.stdin.buffer if path == "-" else path, settings)
        except InputError as exc:
            _upload_error(results, path, exc, args.json)
            worst = max(worst, EXIT_USAGE)
            continue
        info = inspect(data, name=path, settings=settings)
        if info.error is not None:
            _upload_error(results, path, info.error, args.json)
            worst = max(worst, EXIT_PROBLEMS)
            continue
        try:
            stored = store.put(data, info.mime)
        except StorageError as exc:
            exc.message = f"{path}: {exc.message}"
            _upload_error(results, path, exc, args.json)
            worst = max(worst, EXIT_PROBLEMS)
            if not isinstance(exc, StorageFailed):
                store_down = exc
            continue
        row: dict[str, Any] = {"path": path, "key": stored.key, "url": stored.url, "mime": stored.mime,
                               "bytes": stored.bytes, "created": stored.created}
        if args.verify:
            report = verify_url(stored.url, expect_mime=info.mime, settings=settings)
            row["verify"] = report.to_dict()
            worst = max(worst, EXIT_OK if report.ok else EXIT_PROBLEMS)
        results.append(row)
        if not args.json:
            print(f"{printable(path)}: {printable(stored.url)} ({stored.mime}, {stored.bytes} B{'' if stored.created else ', already there'})")
    if args.json:
        _print_json(results)
    return worst


def _upload_error(results: list[dict[str, Any]], path: str, error: MediaprepError, as_json: bool) -> None:
    results.append({"path": path, "error": error.to_dict()})
    if not as_json:
        print(f"{printable(path)}: error {error.code}: {printable(error.message, keep_lines=True)}")


def cmd_verify_url(args: argparse.Namespace, settings: Settings) -> int:
    from .storage.verify import verify_url

    report = verify_url(args.url, max_bytes=args.max_bytes, profile=args.profile, settings=settings)
    if args.json:
        _print_json(report.to_dict())
    else:
        verdict = "OK" if report.ok else "WOULD BE REJECTED"
        print(printable(f"{args.url}: {verdict}: {report.status}, Content-Length {report.content_length}, "
                     f"{report.received_bytes} B received, Content-Type {report.content_type}, "
                     f"bytes are {report.sniffed_mime}"))
        for p in report.problems:
            print(f"  {p.code}: {printable(p.message)}")
    return EXIT_OK if report.ok else EXIT_PROBLEMS


# ---------------------------------------------------------------- doctor

WANTED_ENCODERS = {
    "libx264": "H.264 for mp4 and 3gp",
    "aac": "AAC audio in mp4",
    "libmp3lame": "mp3 audio",
    "h263": "H.263 for the oldest handsets' 3gp",
    "libopencore_amrnb": "AMR-NB audio for 3gp and legacy-30k; sound that is AMR-NB already is copied without it "
                         "(Debian: libavcodec-extra; the imageio-ffmpeg wheel has it)",
}


WANTED_FILTERS = {
    "zscale": "HDR phone video (HLG, PQ) tone-mapped to SDR (Debian's ffmpeg and the wheel have it)",
}


WANTED_DECODERS = {
    "libvpx": "transparent VP8 WebM read with its alpha, flattened on white",
    "libvpx-vp9": "transparent VP9 WebM (stickers, overlays) read with its alpha, flattened on white",
}


# A distribution's older ffmpeg on PATH comes before the wheel's (Ubuntu 22.04 has 4.4); on 4.2
# a few kinds of input (MPEG-TS, sound that changes its rate midway) were not read.
OLDEST_FFMPEG_TESTED = (5, 1)


def _ffmpeg_release(version_line: str) -> tuple[int, int] | None:
    """(5, 1) from "ffmpeg version 5.1.9-0+deb12u1 ..." or "... n9.0.2-17-g2a571b6068 ..."; None for
    a build from git ("N-118000-g...") or an unreadable line."""
    found = re.match(r"ffmpeg version n?(\d+)\.(\d+)", version_line)
    return (int(found.group(1)), int(found.group(2))) if found else None


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from .ffmpeg_abilities import decoders_of, encoders_of, filters_of
    from .tools import find_ffmpeg, find_ffprobe, run

    ffmpeg_path = find_ffmpeg(settings)
    version = run([ffmpeg_path, "-hide_banner", "-version"], timeout=settings.tool_timeout)
    names = encoders_of(ffmpeg_path, settings.tool_timeout)
    present = {name: name in names for name in WANTED_ENCODERS}
    filters = filters_of(ffmpeg_path, settings.tool_timeout)
    filters_present = {name: name in filters for name in WANTED_FILTERS}
    decoders = decoders_of(ffmpeg_path, settings.tool_timeout)
    decoders_present = {name: name in decoders for name in WANTED_DECODERS}
    report: dict[str, Any] = {
        "ffmpeg": ffmpeg_path,
        "version": version.stdout.decode("utf-8", "replace").splitlines()[0] if version.stdout else "",
        "ffprobe": find_ffprobe(settings),
        "encoders": present,
        "filters": filters_present,
        "decoders": decoders_present,
        # Optional: only converters.objects.pdf_thumbnail draws with it.
        "pdftoppm": shutil.which("pdftoppm"),
        # Every sound and clip is copied here for ffmpeg, up to max_media_bytes.
        "temporary_folder": tempfile.gettempdir(),
        "temporary_free_bytes": shutil.disk_usage(tempfile.gettempdir()).free,
    }
    missing = [name for name, ok in {**present, **filters_present, **decoders_present}.items() if not ok]
    # MEDIAPREP_FFMPEG set to another program (true, echo, a wrapper that prints nothing): every
    # encoder showed MISSING under an empty version line, and nothing said why.
    report["is_ffmpeg"] = report["version"].startswith("ffmpeg version")
    if not report["is_ffmpeg"]:
        missing.insert(0, "ffmpeg itself")
    release = _ffmpeg_release(report["version"])
    report["too_old"] = release is not None and release < OLDEST_FFMPEG_TESTED
    if report["too_old"]:
        missing.append(f"ffmpeg {OLDEST_FFMPEG_TESTED[0]}.{OLDEST_FFMPEG_TESTED[1]} or newer")
    if args.json:
        _print_json({**report, "missing": missing})
    else:
        print(f"ffmpeg:  {report['ffmpeg']}\n         {printable(report['version']) or '(printed no version)'}")
        if not report["is_ffmpeg"]:
            print(f"  NOT FFMPEG  {report['ffmpeg']} -version does not say \"ffmpeg version\"; set MEDIAPREP_FFMPEG "
                  "to an ffmpeg, or unset it to take the one on PATH or the imageio-ffmpeg wheel's")
        if report["too_old"]:
            print(f"  OLD     ffmpeg {release[0]}.{release[1]}: mediaprep is tested on 5.1 (Debian 12) and 9.0 (the "
                  "imageio-ffmpeg wheel); set MEDIAPREP_FFMPEG to the wheel's, which `python -c \"import "
                  "imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())\"` prints")
        print(f"ffprobe: {report['ffprobe'] or 'none (probing reads ffmpeg -i)'}")
        print(f"pdftoppm: {report['pdftoppm'] or 'none (optional: PDF first-page pictures; Debian: poppler-utils)'}")
        free, cap = report["temporary_free_bytes"] / 1e9, settings.max_media_bytes / 1e9
        print(f"temporary folder: {report['temporary_folder']} ({free:.1f} GB free; each sound and clip is "
              f"copied there, up to max_media_bytes: {cap:.1f} GB)")
        for name, why in WANTED_ENCODERS.items():
            print(f"  {'ok     ' if name in names else 'MISSING'} {name:<18} {why}")
        for name, why in WANTED_FILTERS.items():
            print(f"  {'ok     ' if name in filters else 'MISSING'} {name:<18} {why}")
        for name, why in WANTED_DECODERS.items():
            print(f"  {'ok     ' if name in decoders else 'MISSING'} {name:<18} {why}")
    return EXIT_OK if not missing else EXIT_PROBLEMS


# ---------------------------------------------------------------- profiles


def cmd_profiles(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "show":
        if not args.name:
            raise UsageError("profiles show needs a NAME, e.g. mediaprep profiles show sinch")
        profile = load_profile(args.name, settings)
        if args.json:
            _print_json(profile.to_dict())
        else:
            print(_profile_text(profile))
        return EXIT_OK
    if args.name:
        raise UsageError("use: mediaprep profiles show NAME")
    profiles = list_profiles(settings)
    if args.json:
        _print_json([{"name": p.name, "kind": p.kind, "title": p.title, "source": p.source} for p in profiles])
    else:
        for p in profiles:
            print(f"{p.name:<20} {p.kind:<9} {p.title}")
        print(f"\n{len(available(settings))} profiles; combine a provider with a route: clicksend+att-toll-free",
              file=sys.stderr)
    return EXIT_OK


def _profile_text(p: Profile) -> str:
    lines = [f"{p.name}: {p.title} ({p.kind}; source: {p.source})"]
    m = p.message
    lines.append(
        f"  slides: {m.max_slides or 'no limit'}; media files: {m.max_media or 'no limit'}; "
        f"message bytes: {m.max_bytes or 'no limit'} "
        f"(base64 estimate); recipients per send: {m.max_recipients or 'no limit'}"
    )
    for kind, rule in (p.media or {}).items():
        convert = f"; converted first: {', '.join(rule.convert)}" if rule.convert else ""
        lines.append(
            f"  {kind}: {', '.join(rule.accept) or 'nothing'} as is{convert}; "
            f"{f'at most {rule.max_bytes} bytes' if rule.max_bytes else 'no byte limit of its own'}"
        )
    for mix in p.slide_mixes:
        lines.append(f"  not on one slide: {'/'.join(mix.kinds)} with {'/'.join(mix.with_)} ({mix.problem})")
    t = p.text
    limits = {k: v for k, v in vars(t).items() if v not in (None, False) and k != "counting"}
    lines.append(f"  text ({t.counting}): " + ", ".join(f"{k} {v}" for k, v in limits.items()))
    return "\n".join(lines)


def _print_json(obj: Any) -> None:
    sys.stdout.write(json_text(obj, getattr(sys.stdout, "encoding", None)) + "\n")


if __name__ == "__main__":
    sys.exit(main())
