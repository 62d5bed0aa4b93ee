#!/usr/bin/env bash
# The test suite on the oldest releases pyproject.toml allows (each ">=" taken as "=="), so that a
# user whose other packages hold one back gets what the suite checks. Run it after raising or
# adding a dependency:  bash scripts/test-floors.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${FLOORS_VENV:-.venv-floors}"
python3 -m venv "$venv"
pins=$(python3 - <<'EOF'
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
for spec in project["dependencies"] + project["optional-dependencies"]["test"]:
    print(spec.replace(">=", "=="))
EOF
)
# shellcheck disable=SC2086 # one pin per word
"$venv/bin/pip" install -q $pins
"$venv/bin/pip" install -q --no-deps -e .
exec "$venv/bin/python" -m pytest "$@"
