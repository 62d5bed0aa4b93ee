#!/usr/bin/env bash
# Shared by demo.sh and test.sh: a .venv with mediaprep installed, and libmagic present.
# Usage: scripts/setup.sh [EXTRAS]   (EXTRAS e.g. "test")
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
extras=${1:-}

have_libmagic() { "$PYTHON" -c 'import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library("magic") else 1)'; }
if ! have_libmagic; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing libmagic1 (python-magic needs it)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libmagic1 >&2
  else
    echo "setup: libmagic is missing: install it (Debian/Ubuntu: apt-get install libmagic1; macOS: brew install libmagic)" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
spec="."
[ -n "$extras" ] && spec=".[$extras]"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec" >&2
