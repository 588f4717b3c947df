# Sourced by run.sh: use the virtualenv that tools/install.sh made (override with TODM_VENV).
todm_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
todm_venv=${TODM_VENV:-$todm_root/.venv}
if [ "$todm_venv" != system ] && [ -f "$todm_venv/bin/activate" ]; then
  # shellcheck disable=SC1091
  . "$todm_venv/bin/activate"
fi
export PYTHONPATH=$todm_root:${PYTHONPATH:-}
export PYTHONUNBUFFERED=1
