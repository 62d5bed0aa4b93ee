"""How SSIM depends on the frame size at one budget: mediaprep with its frame height forced.

    .venv/bin/python benchmarks/video_sizes.py CLIP [--budgets 600000,1000000] [--heights 360,432,540]

CLIP is a clip built by benchmarks/video.py (keep them with its --clip-dir). For each budget it runs
mediaprep as it is, then with each forced height (same bitrate, audio and frame rate), and prints
the size, bytes, encodes and SSIM at 640x360 and at 1920x1080, with video.py's ffmpeg and SSIM.
An exploration tool for choosing frame sizes, not a target check.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import video

import mediaprep
import mediaprep.converters as conv
from mediaprep.converters import video as video_converter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", type=Path)
    parser.add_argument("--budgets", default="600000,1000000")
    parser.add_argument("--heights", default="360,432,540")
    parser.add_argument("--format", default="mp4", choices=("mp4", "3gp"))
    args = parser.parse_args()
    own_geometry = video_converter._geometry
    settings = video.mediaprep_settings()
    rate = video.frame_rate(mediaprep.inspect(args.clip, settings=settings).media.fps or 30)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"out.{args.format}"
        for budget in (int(b) for b in args.budgets.split(",")):
            for height in [None, *(int(h) for h in args.heights.split(","))]:
                def forced(facts, v_kbps, target, fmt, height=height):
                    width, own_height, fps, pad = own_geometry(facts, v_kbps, target, fmt)
                    if height is None:
                        return width, own_height, fps, pad
                    return video_converter._even(width * height / own_height), height, fps, None

                video_converter._geometry = forced
                result = conv.convert(args.clip, budget=budget, format=args.format, settings=settings)
                out.write_bytes(result.data)
                small, full = video.ssim(out, args.clip, [(640, 360), (1920, 1080)], rate)
                label = "own rule" if height is None else f"forced {height}"
                print(f"{budget} {label:>10}: {result.width}x{result.height} {len(result.data)} B "
                      f"encodes={result.encodes} ssim 640x360={small:.4f} full={full:.4f}", flush=True)
    video_converter._geometry = own_geometry


if __name__ == "__main__":
    main()
