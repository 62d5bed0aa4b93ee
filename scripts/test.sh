#!/usr/bin/env bash
# The test suite: installs what it needs into .venv, then runs pytest on real files and tools.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
exec .venv/bin/python -m pytest "$@"
