"""Drawings under a tight budget: the converter's pick (a scaled GIF or the JPEG) against the JPEG alone.

    bash benchmarks/setup.sh            # once: gnupg's and libxslt's documentation diagrams
    .venv/bin/python benchmarks/drawings.py [--profile legacy-30k]

Pictures drawn with few colours (diagrams, a QR code, a page of black text) that the profile's long
side or budget makes mediaprep scale. Real diagrams come from Debian packages (gnupg's manual,
libxslt's documentation); the QR code and the page are made here, as a generator and an office
scanner save them (1-bit). For each: what mediaprep sends (type, bytes, size) and its SSIM on luma
against the source, both at 1080 px (quality.ssim_images, the images benchmark's measure), beside
the best JPEG the search alone finds for the same budget and profile.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mediaprep import convert, load_profile
from mediaprep.converters.jpeg import fit_jpeg
from mediaprep.quality import ssim_images

DIAGRAMS = [
    Path("/usr/share/info/gnupg-card-architecture.png"),  # gnupg: 914x508, 5 colours
    Path("/usr/share/doc/libxslt1-dev/html/processing.gif"),  # libxslt1-dev: 648x521, 3 colours
    Path("/usr/share/doc/libxslt1-dev/html/templates.gif"),  # 520x668, 3 colours
]


def qr_code() -> Image.Image:
    """41 x 41 modules of 50 px: a QR code as a generator saves it for print (2050 px, 1-bit)."""
    modules = np.random.default_rng(7).integers(0, 2, (41, 41), dtype=np.uint8) * 255
    return Image.fromarray(modules).resize((2050, 2050), Image.Resampling.NEAREST).convert("1")


def page_of_text() -> Image.Image:
    """A letter scanned in black and white at 150 dpi (1240 x 1754)."""
    page = Image.new("1", (1240, 1754), 1)
    draw, font = ImageDraw.Draw(page), ImageFont.load_default(size=30)
    words = ["invoice", "payment", "due", "delivery", "order", "customer", "account", "balance", "total"]
    rng = np.random.default_rng(2)
    for row in range(40):
        draw.text((130, 150 + row * 38), " ".join(rng.choice(words, 8)), fill=0, font=font)
    return page


def flattened(im: Image.Image) -> Image.Image:
    rgba = im.convert("RGBA")
    white = Image.new("RGB", rgba.size, (255, 255, 255))
    white.paste(rgba, mask=rgba.getchannel("A"))
    return white


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="legacy-30k")
    args = parser.parse_args()
    profile = load_profile(args.profile)
    budget = profile.media["image"].max_bytes
    pictures = {p.name: Image.open(p) for p in DIAGRAMS if p.exists()}
    missing = [str(p) for p in DIAGRAMS if not p.exists()]
    pictures.update({"qr-code (made here)": qr_code(), "page-of-text (made here)": page_of_text()})
    print(f"profile {profile.name}, budget {budget} bytes; {len(missing)} diagrams missing {missing or ''}")
    print(f"  {'picture':28} {'mediaprep sends':34} {'SSIM':>6}   {'the JPEG alone':24} {'SSIM':>6}")
    gains = []
    for name, im in pictures.items():
        buf = io.BytesIO()
        im.save(buf, "PNG")
        source = flattened(im)
        sent = convert(buf.getvalue(), profile=profile)
        jpeg = fit_jpeg(source, budget, profile.targets.image)
        ours = ssim_images(source, Image.open(io.BytesIO(sent.data)))
        alone = ssim_images(source, Image.open(io.BytesIO(jpeg.data)))
        gains.append(ours - alone)
        what = f"{sent.mime.split('/')[1]} {sent.bytes} B {sent.width}x{sent.height}"
        print(f"  {name:28} {what:34} {ours:6.4f}   jpeg {len(jpeg.data)} B q{jpeg.quality:<6} {alone:6.4f}")
    print(f"mean SSIM gain over the JPEG alone: {statistics.mean(gains):+.4f} (worst {min(gains):+.4f})")


if __name__ == "__main__":
    main()
