#!/usr/bin/env bash
# Runs the test suite (installing whatever is missing first; the install is a no-op when complete).
#
# Usage: tools/test.sh [pytest args...]     e.g. tools/test.sh -k rnnt
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$repo/tools/install.sh"
venv=${TODM_VENV:-$repo/.venv}
py=python3
[ "$venv" = system ] || py=$venv/bin/python
cd "$repo"
exec "$py" -m pytest -q "$@"
