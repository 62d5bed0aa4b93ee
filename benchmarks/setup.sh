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
