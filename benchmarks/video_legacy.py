"""H.263 for the oldest handsets (profile legacy-30k, 30000 bytes): mediaprep against a plain encode.

    bash benchmarks/setup.sh        # once (photographs from Debian packages)
    .venv/bin/python benchmarks/video_legacy.py [--clip-dir DIR]

The clips are video.py's (built the same way, or reused from --clip-dir), cut to 3, 5, 8 and 10 s.
- mediaprep: ``mediaprep.convert(clip, profile="legacy-30k", max_duration=S)``
- plain: ffmpeg's H.263 at the bitrate the budget gives (30000 x 8 / S less 16 kbit/s of AAC), at
  176x144 padded, 15 fps; one pass (H.263's two-pass control aborts at these rates)

Reported: bytes, whether it fits, the frame, and SSIM (luma) of the picture without its padding
against the source, both at 176 pixels wide, as an old handset shows it.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from video import PHOTOS, ffmpeg, make_clip, mediaprep_settings, sh  # noqa: E402

BUDGET = 30000
SECONDS = (3, 5, 8, 10)


def content_ssim(out: Path, src: Path, seconds: float, inner: tuple[int, int], aspect: float) -> float:
    """SSIM of the picture inside the padding, against the source, both 176 wide."""
    height = round(176 / aspect / 2) * 2
    graph = (f"[0:v]crop={inner[0]}:{inner[1]},scale=176:{height},setsar=1[a];[1:v]trim=duration={seconds},"
             f"setpts=PTS-STARTPTS,fps=15,scale=176:{height},setsar=1[b];[a][b]ssim")
    done = sh(ffmpeg(), "-hide_banner", "-i", str(out), "-i", str(src), "-lavfi", graph, "-f", "null", "-")
    found = re.search(r"SSIM Y:([\d.]+)", done.stderr)
    return float(found.group(1)) if found else 0.0


def inner(box: tuple[int, int], upright: tuple[int, int]) -> tuple[int, int]:
    """The picture's size inside a padded H.263 frame, rounded as mediaprep rounds it."""
    scale = min(1.0, box[0] / upright[0], box[1] / upright[1])
    return max(2, int(upright[0] * scale) // 2 * 2), max(2, int(upright[1] * scale) // 2 * 2)


def plain(src: Path, seconds: float, out: Path, picture: tuple[int, int]) -> None:
    kbps = max(8, int(BUDGET * 8 / seconds / 1000 - 16))
    sh(ffmpeg(), "-y", "-t", str(seconds), "-i", str(src), "-vf",
       f"scale={picture[0]}:{picture[1]},fps=15,pad=176:144:(ow-iw)/2:(oh-ih)/2,format=yuv420p", "-c:v", "h263",
       "-b:v", f"{kbps}k", "-c:a", "aac", "-ar", "16000", "-ac", "1", "-b:a", "16k", "-f", "3gp", str(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip-dir", metavar="DIR", help="video.py's clips, kept here and reused")
    args = parser.parse_args()

    import mediaprep

    settings = mediaprep_settings()
    with tempfile.TemporaryDirectory() as tmp_dir:
        work = Path(tmp_dir)
        for name, photo, length, portrait in (("landscape-10s", PHOTOS[0], 10, False),
                                              ("portrait-20s", PHOTOS[3], 20, True)):
            src = (Path(args.clip_dir) if args.clip_dir else work) / f"{name}.mp4"
            if not src.exists():
                make_clip(src, photo, length, portrait, work)
            media = mediaprep.inspect(src, settings=settings).media
            upright = (media.height, media.width) if media.rotation in (90, 270) else (media.width, media.height)
            aspect = upright[0] / upright[1]
            for seconds in SECONDS:
                out = work / "out.3gp"
                try:
                    result = mediaprep.convert(src, profile="legacy-30k", max_duration=seconds, settings=settings)
                    out.write_bytes(result.data)
                    score = content_ssim(out, src, seconds, inner((result.width, result.height), upright), aspect)
                    ours = (f"{result.bytes:>6} B fits={result.bytes <= BUDGET} {result.width}x{result.height} "
                            f"ssim={score:.4f} encodes={result.encodes}")
                except mediaprep.MediaprepError as exc:
                    ours = f"{exc.code}".ljust(52)
                plain(src, seconds, out, inner((176, 144), upright))
                size = out.stat().st_size
                score = content_ssim(out, src, seconds, inner((176, 144), upright), aspect)
                print(f"{name:<14} {seconds:>2} s  mediaprep {ours}   plain {size:>6} B fits={size <= BUDGET} "
                      f"ssim={score:.4f}", flush=True)


if __name__ == "__main__":
    main()
