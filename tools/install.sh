#!/usr/bin/env bash
# Installs everything todm needs, idempotently: re-running is a no-op when all is present.
#
# Usage: tools/install.sh
#
# Environment:
#   TODM_VENV      virtualenv to create/use (default: <repo>/.venv). Set TODM_VENV=system to
#                  install into the current interpreter instead.
#   TODM_SKIP_APT  set to 1 to skip apt-get (then espeak-ng, sox, flite, festival with its kal and ked
#                  voices, cmake must already exist).
#
# fast_rnnt 1.3 and kaldifeat 1.24 have no wheels for torch 2.13; both are built from their
# PyPI sdists against the installed torch. Their CMake files download pybind11 at configure
# time, which is impossible offline, so we point FetchContent at pybind11's PyPI sdist.
set -euo pipefail

TORCH_VERSION=2.13.0
FAST_RNNT_VERSION=1.3
KALDIFEAT_VERSION=1.24
PYBIND11_VERSION=3.1.0

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { echo "[install] $*"; }
die() { echo "[install] ERROR: $*" >&2; exit 1; }

# --- system packages -------------------------------------------------------------------------
need_apt=()
command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)
command -v sox >/dev/null || need_apt+=(sox)
# The embedded corpus's other engines: festival voices in training, flite for test-heldout only.
command -v flite >/dev/null || need_apt+=(flite)
command -v festival >/dev/null || need_apt+=(festival)
[ -d /usr/share/festival/voices/english/kal_diphone ] || need_apt+=(festvox-kallpc16k)
[ -d /usr/share/festival/voices/english/ked_diphone ] || need_apt+=(festvox-kdlpc16k)
command -v cmake >/dev/null || need_apt+=(cmake)
command -v g++ >/dev/null || need_apt+=(build-essential)
if [ ${#need_apt[@]} -gt 0 ]; then
  [ "${TODM_SKIP_APT:-0}" = 1 ] && die "missing system tools: ${need_apt[*]} (TODM_SKIP_APT=1 set)"
  command -v apt-get >/dev/null || die "missing system tools ${need_apt[*]} and no apt-get to install them"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  say "apt-get install ${need_apt[*]}"
  $sudo apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null \
    || die "apt-get install ${need_apt[*]} failed"
else
  say "system tools present: espeak-ng sox flite festival (+ voices) cmake g++"
fi

# --- python environment ----------------------------------------------------------------------
venv=${TODM_VENV:-$repo/.venv}
if [ "$venv" = system ]; then
  py=$(command -v python3)
else
  if [ ! -x "$venv/bin/python" ]; then
    say "creating virtualenv $venv"
    python3 -m venv "$venv" || die "python3 -m venv $venv failed (install python3-venv)"
  fi
  py=$venv/bin/python
fi
say "python: $py ($($py --version 2>&1))"
# This machine's pip config lists find-links folders that may not exist; hide pip's notes about them.
pip() { "$py" -m pip --disable-pip-version-check -q "$@" 2> >(grep -v 'is ignored' >&2); }

have_version() {  # have_version DIST VERSION -> true when DIST==VERSION is installed (local tag ignored)
  local found
  found=$("$py" - "$1" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
print(version(sys.argv[1]))
PY
) || return 1
  [ "${found%%+*}" = "$2" ]
}

if have_version torch "$TORCH_VERSION"; then
  say "torch $TORCH_VERSION present"
else
  say "pip install torch==$TORCH_VERSION"
  pip install "torch==$TORCH_VERSION" || die "pip install torch==$TORCH_VERSION failed"
fi

if "$py" -m pip --disable-pip-version-check check >/dev/null 2>&1 \
   && "$py" - "$repo/requirements.txt" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, want = line.split("==")
    try:
        if version(name).split("+")[0] != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
then
  say "requirements.txt satisfied"
else
  say "pip install -r requirements.txt"
  pip install "torch==$TORCH_VERSION" -r "$repo/requirements.txt" || die "pip install -r requirements.txt failed"
fi

# --- fast_rnnt and kaldifeat from sdists, offline ----------------------------------------------
build_dir=$repo/.build
mkdir -p "$build_dir"
pybind_src=$build_dir/pybind11-$PYBIND11_VERSION
if ! have_version fast-rnnt "$FAST_RNNT_VERSION" || ! have_version kaldifeat "$KALDIFEAT_VERSION"; then
  if [ ! -f "$pybind_src/CMakeLists.txt" ]; then
    say "fetching pybind11 $PYBIND11_VERSION sdist"
    pip download --no-deps --no-binary :all: "pybind11==$PYBIND11_VERSION" -d "$build_dir" \
      || die "pip download pybind11==$PYBIND11_VERSION sdist failed"
    tar -xzf "$build_dir/pybind11-$PYBIND11_VERSION.tar.gz" -C "$build_dir" \
      || die "cannot unpack $build_dir/pybind11-$PYBIND11_VERSION.tar.gz"
  fi
  pip install "setuptools<81" wheel cmake >/dev/null 2>&1 || true
  py_include=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  cuda=OFF
  if "$py" -c 'import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null \
     && command -v nvcc >/dev/null; then
    cuda=ON
  fi
  common="-DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_STANDARD=17 -DCMAKE_CXX_FLAGS=-I$py_include"
  common="$common -DFETCHCONTENT_SOURCE_DIR_PYBIND11=$pybind_src -DFETCHCONTENT_FULLY_DISCONNECTED=ON"
  jobs=$(nproc 2>/dev/null || echo 2)
fi

if have_version fast-rnnt "$FAST_RNNT_VERSION"; then
  say "fast_rnnt $FAST_RNNT_VERSION present"
else
  say "building fast_rnnt $FAST_RNNT_VERSION from sdist (CUDA=$cuda, ~1 min)"
  FT_CMAKE_ARGS="$common -DFT_BUILD_TESTS=OFF -DFT_WITH_CUDA=$cuda" FT_MAKE_ARGS="-j$jobs" \
    pip install --no-build-isolation --no-binary fast-rnnt "fast-rnnt==$FAST_RNNT_VERSION" \
    > "$build_dir/fast_rnnt.log" 2>&1 || die "fast_rnnt build failed, see $build_dir/fast_rnnt.log"
fi

if have_version kaldifeat "$KALDIFEAT_VERSION"; then
  say "kaldifeat $KALDIFEAT_VERSION present"
else
  say "building kaldifeat $KALDIFEAT_VERSION from sdist (CUDA=$cuda, ~3 min)"
  KALDIFEAT_CMAKE_ARGS="$common -DKALDIFEAT_BUILD_TESTS=OFF" KALDIFEAT_MAKE_ARGS="-j$jobs" \
    pip install --no-build-isolation --no-binary kaldifeat "kaldifeat==$KALDIFEAT_VERSION" \
    > "$build_dir/kaldifeat.log" 2>&1 || die "kaldifeat build failed, see $build_dir/kaldifeat.log"
fi

# --- todm itself ------------------------------------------------------------------------------
if have_version todm 0.1.0; then
  say "todm installed (editable)"
else
  say "pip install -e $repo"
  pip install --no-build-isolation --no-deps -e "$repo" || die "pip install -e $repo failed"
fi

"$py" -c 'import torch, lhotse, fast_rnnt, kaldifeat, sentencepiece, sherpa_onnx, todm' \
  || die "import check failed in $py"
say "done: activate with 'source $( [ "$venv" = system ] && echo '<none>' || echo "$venv/bin/activate")'"
