"""Image fitting benchmark: mediaprep (both efforts) against ImageMagick, a naive Pillow loop and libvips.

    bash benchmarks/setup.sh            # once: ImageMagick, libvips, pyvips, the photographs
    .venv/bin/python benchmarks/images.py [--limit N] [--budgets 250000,30000] [--json out.json]

Real photographs come from Debian packages (lomiri-wallpapers-16.04 and -20.04: CC-BY / CC-BY-SA photos;
plasma-workspace-wallpapers: GPL-2+ photos); see PHOTOS below. Each (tool, photo, budget) runs in
a fresh worker process, so its peak memory is its own; the time is measured inside the worker and
covers decode, search and encode, not the interpreter start.

Per tool and budget it prints: share of outputs that fit, median bytes/budget, mean and worst SSIM
on luma against the source (both resized to 1080 px on the long side), median seconds per image,
and peak memory; then the issue's targets against the best anchor in the same run, for mediaprep
at both image efforts ("mediaprep" is the default, "best"; "mediaprep-fast" is image_effort="fast").
It also runs mediaprep on a 50 MP mosaic stitched from nine of the photographs (never upscaled)
for memory.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BACKGROUNDS = Path("/usr/share/backgrounds")
WALLPAPERS = Path("/usr/share/wallpapers")
PHOTOS = [
    *(BACKGROUNDS / f"{name}.jpg" for name in (
        "Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Kleiber_by_Lukas_Baubkus", "Wine_by_Jakkub_Mede",
        "aitzgorri_by_Aitzol_Berasategi", "friends_by_Aitzol_Berasategi", "life_by_Aitzol_Berasategi",
        "picosdeeuropa_by_Aitzol_Berasategi", "seeding_by_Clements_Engelhardt", "sunset_by_Aitzol_Berasategi",
        "greentock_by_Peter_Nerlich", "free_by_Peter_Nerlich", "Picture_0B_by_freespace",
        "Picture_1A_by_freespace",
    )),
    *(WALLPAPERS / name / "contents/images/2560x1600.jpg" for name in (
        "BytheWater", "ColorfulCups", "EveningGlow", "Path", "OneStandsOut", "Grey",
    )),
]
MOSAIC_TILES = PHOTOS[:3] + PHOTOS[4:5] + PHOTOS[6:11]  # nine photos at least 2800 x 2000
TOOLS = ("mediaprep", "mediaprep-fast", "imagemagick", "pillow-naive", "libvips")
OURS = ("mediaprep", "mediaprep-fast")  # image_effort "best" (the default) and "fast"
ANCHORS = ("imagemagick", "pillow-naive", "libvips")
TARGET_SSIM_GAIN = {30000: 0.008, 250000: 0.002}


def anchor_box(budget: int) -> int:
    # The anchors: 1280 px for 250 kB, 640 px for 30 kB.
    return 640 if budget <= 60000 else 1280


# ---------------------------------------------------------------- the tools (run in a worker)


def run_mediaprep(src: Path, budget: int) -> bytes:
    import mediaprep.converters as conv

    return conv.convert(src, budget=budget).data


def run_mediaprep_fast(src: Path, budget: int) -> bytes:
    import mediaprep.converters as conv
    from mediaprep import Settings

    return conv.convert(src, budget=budget, settings=Settings(image_effort="fast")).data


def run_imagemagick(src: Path, budget: int) -> bytes:
    box = anchor_box(budget)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.jpg"
        subprocess.run(
            ["/usr/bin/convert", str(src), "-resize", f"{box}x{box}>", "-strip",
             "-define", f"jpeg:extent={budget}", str(out)],
            check=True, timeout=300, stdin=subprocess.DEVNULL,
        )
        return out.read_bytes()


def run_pillow_naive(src: Path, budget: int) -> bytes:
    from PIL import Image, ImageOps

    im = ImageOps.exif_transpose(Image.open(src)).convert("RGB")
    box = anchor_box(budget)
    im.thumbnail((box, box))
    data = b""
    for _ in range(12):
        for q in range(95, 45, -5):
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=q)
            data = buf.getvalue()
            if len(data) <= budget:
                return data
        im = im.resize((max(1, int(im.width * 0.75)), max(1, int(im.height * 0.75))), Image.Resampling.LANCZOS)
    return data


def run_libvips(src: Path, budget: int) -> bytes:
    import pyvips

    box = anchor_box(budget)
    thumb = pyvips.Image.thumbnail(str(src), box, height=box, size="down").copy_memory()
    lo, hi, best = 1, 100, None
    while lo <= hi:
        q = (lo + hi) // 2
        data = thumb.jpegsave_buffer(Q=q, strip=True, optimize_coding=True)
        if len(data) <= budget:
            best, lo = data, q + 1
        else:
            hi = q - 1
    return best if best is not None else thumb.jpegsave_buffer(Q=1, strip=True, optimize_coding=True)


RUNNERS = {
    "mediaprep": run_mediaprep,
    "mediaprep-fast": run_mediaprep_fast,
    "imagemagick": run_imagemagick,
    "pillow-naive": run_pillow_naive,
    "libvips": run_libvips,
}


def worker(tool: str, src: str, budget: int, out: str) -> None:
    # Imports happen before the clock starts. Each worker imports only its own tool: pyvips loads
    # the system libjpeg with global symbols, which would take the place of the mozjpeg functions
    # linked into mediaprep's lossless optimiser (its output stays valid, only less compact).
    if tool == "libvips":
        import pyvips  # noqa: F401
    from PIL import Image, ImageOps  # noqa: F401

    import mediaprep.converters  # noqa: F401
    import mediaprep.converters.image  # noqa: F401

    start = time.perf_counter()
    data = RUNNERS[tool](Path(src), budget)
    seconds = time.perf_counter() - start
    Path(out).write_bytes(data)
    # VmHWM starts afresh at exec; ru_maxrss would carry the parent's high-water mark over.
    status = Path("/proc/self/status").read_text()
    own = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # ImageMagick's convert
    print(json.dumps({"seconds": seconds, "peak_kib": max(own, children)}))


# ---------------------------------------------------------------- measuring


def measure(src: Path, budget: int, tools: list[str], tmp: Path) -> dict[str, dict]:
    from PIL import Image, ImageOps

    from mediaprep.quality import display_size, luma, ssim

    # The reference: the whole source, upright, resampled (Lanczos) to 1080 px; every output
    # is resampled to the same size the same way.
    with Image.open(src) as im:
        source = ImageOps.exif_transpose(im).convert("RGB")
    size = display_size(source.size)
    ref = luma(source, size, Image.Resampling.LANCZOS)
    results = {}
    for tool in tools:
        out = tmp / f"{tool}.jpg"
        done = subprocess.run(
            [sys.executable, __file__, "--worker", tool, str(src), str(budget), str(out)],
            capture_output=True, text=True, timeout=600,
        )
        if done.returncode != 0:
            results[tool] = {"error": done.stderr.strip().splitlines()[-1:]}
            continue
        stats = json.loads(done.stdout.strip().splitlines()[-1])
        data = out.read_bytes()
        with Image.open(io.BytesIO(data)) as got:
            score = ssim(ref, luma(got.convert("RGB"), size, Image.Resampling.LANCZOS))
            dims = got.size
        results[tool] = {**stats, "bytes": len(data), "ssim": score, "size": dims}
    return results


def summarise(rows: list[dict], tool: str, budget: int) -> dict:
    ok = [r[tool] for r in rows if "error" not in r[tool]]
    fits = [r for r in ok if r["bytes"] <= budget]
    return {
        "n": len(rows),
        "fit_share": len(fits) / len(rows) if rows else 0.0,
        "median_fill": statistics.median(r["bytes"] / budget for r in ok) if ok else 0.0,
        "mean_ssim": statistics.fmean(r["ssim"] for r in ok) if ok else 0.0,
        "worst_ssim": min((r["ssim"] for r in ok), default=0.0),
        "median_seconds": statistics.median(r["seconds"] for r in ok) if ok else 0.0,
        "peak_mib": max((r["peak_kib"] for r in ok), default=0) / 1024,
        "errors": len(rows) - len(ok),
    }


def make_mosaic(path: Path) -> None:
    from PIL import Image

    tile_w, tile_h = 2800, 2000
    mosaic = Image.new("RGB", (tile_w * 3, tile_h * 3))
    for i, src in enumerate(MOSAIC_TILES):
        im = Image.open(src).convert("RGB")
        left, top = (im.width - tile_w) // 2, (im.height - tile_h) // 2
        mosaic.paste(im.crop((left, top, left + tile_w, top + tile_h)), ((i % 3) * tile_w, (i // 3) * tile_h))
    if path.suffix == ".png":
        mosaic.save(path, compress_level=1)
    else:
        mosaic.save(path, quality=92)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", nargs=4, metavar=("TOOL", "SRC", "BUDGET", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N photographs")
    parser.add_argument("--budgets", default="250000,30000")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--json", metavar="PATH", help="also write every measurement here")
    args = parser.parse_args()
    if args.worker:
        tool, src, budget, out = args.worker
        worker(tool, src, int(budget), out)
        return

    photos = [p for p in PHOTOS if p.exists()]
    missing = len(PHOTOS) - len(photos)
    if not photos:
        sys.exit("no photographs found: run bash benchmarks/setup.sh first")
    if args.limit:
        photos = photos[: args.limit]
    budgets = [int(b) for b in args.budgets.split(",")]
    tools = args.tools.split(",")
    print(f"{len(photos)} photographs ({missing} missing), budgets {budgets}, tools {tools}", file=sys.stderr)

    everything: dict = {"photos": [str(p) for p in photos], "runs": {}}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        for budget in budgets:
            rows = []
            for i, photo in enumerate(photos, 1):
                rows.append(measure(photo, budget, tools, tmp))
                line = "  ".join(
                    f"{t} {r[t].get('ssim', 0):.4f} {r[t].get('bytes', 0)}B {r[t].get('seconds', 0):.2f}s"
                    for r in rows[-1:] for t in tools
                )
                print(f"[{budget} {i}/{len(photos)}] {photo.name}: {line}", file=sys.stderr)
            everything["runs"][str(budget)] = rows
            report(budget, rows, tools)

        if "mediaprep" in tools:
            print("\n50 MP input (a 3x3 mosaic of the photographs, 8400 x 6000), as JPEG and as PNG:")
            for fmt in ("jpg", "png"):
                mosaic = tmp / f"mosaic-50mp.{fmt}"
                make_mosaic(mosaic)
                for budget in budgets:
                    got = measure(mosaic, budget, ["mediaprep"], tmp)["mediaprep"]
                    everything.setdefault("mosaic", {})[f"{fmt} {budget}"] = got
                    if "error" in got:
                        print(f"  {fmt} budget {budget}: error {got['error']}")
                        continue
                    verdict = "PASS" if got["peak_kib"] < 1024 * 1024 else "MISS"
                    print(
                        f"  {fmt} budget {budget}: {got['bytes']} B, {got['size'][0]}x{got['size'][1]}, "
                        f"{got['seconds']:.2f} s, peak {got['peak_kib'] / 1024:.0f} MiB "
                        f"(target < 1024 MiB: {verdict})"
                    )
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=1, default=str))


def report(budget: int, rows: list[dict], tools: list[str]) -> None:
    print(f"\nBudget {budget} bytes, {len(rows)} photographs")
    print(f"  {'tool':<14} {'fit':>5} {'bytes/budget':>12} {'mean SSIM':>9} {'worst':>7} {'median s':>8} {'peak MiB':>8}")
    sums = {t: summarise(rows, t, budget) for t in tools}
    for t, s in sums.items():
        err = f"  ({s['errors']} errors)" if s["errors"] else ""
        print(
            f"  {t:<14} {s['fit_share']:>5.0%} {s['median_fill']:>12.3f} {s['mean_ssim']:>9.4f} "
            f"{s['worst_ssim']:>7.4f} {s['median_seconds']:>8.3f} {s['peak_mib']:>8.0f}{err}"
        )
    anchors = {t: sums[t] for t in ANCHORS if t in sums}
    for name in (t for t in OURS if t in sums):
        _targets(name, sums[name], anchors, sums.get("libvips"), budget)


def _targets(name: str, ours: dict, anchors: dict[str, dict], vips: dict | None, budget: int) -> None:
    print(f"  targets, {name}:")
    print(f"    fit 100 %: {ours['fit_share']:.0%} -> {'PASS' if ours['fit_share'] == 1 else 'MISS'}")
    if anchors:
        best_name = max(anchors, key=lambda t: anchors[t]["mean_ssim"])
        gain = ours["mean_ssim"] - anchors[best_name]["mean_ssim"]
        need = TARGET_SSIM_GAIN.get(budget, 0.0)
        print(
            f"    mean SSIM {ours['mean_ssim']:.4f} vs best anchor {best_name} {anchors[best_name]['mean_ssim']:.4f}: "
            f"{gain:+.4f} (need >= +{need}) -> {'PASS' if gain >= need else 'MISS'}"
        )
    if vips is not None:
        print(
            f"    median seconds {ours['median_seconds']:.3f} vs libvips {vips['median_seconds']:.3f} -> "
            f"{'PASS' if ours['median_seconds'] <= vips['median_seconds'] else 'MISS'}"
        )


if __name__ == "__main__":
    main()
