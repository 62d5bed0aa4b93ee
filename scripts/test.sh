#!/usr/bin/env bash
# The test suite: installs what it needs into .venv, then runs pytest on real files and tools.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
   && ! { command -v ffprobe && command -v pdftoppm; } >/dev/null; then
  # Debian's ffmpeg brings ffprobe, so both probe paths are tested (ffprobe, and ffmpeg alone as
  # the imageio-ffmpeg wheel of a plain pip install gives it), and poppler's pdftoppm draws PDF
  # thumbnails. Elsewhere the suite runs without them: those tests are skipped, saying why.
  echo "test: installing Debian's ffmpeg and poppler-utils" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg poppler-utils >/dev/null
fi
bash scripts/setup.sh test
exec .venv/bin/python -m pytest "$@"
