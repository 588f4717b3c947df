#!/usr/bin/env bash
# The prepared device check of the GPU path: runs on one GPU in a few minutes with no network.
#
# Usage:
#   tools/gpu_check.sh pack           # here, with PyPI reachable: everything the GPU machine lacks -> .gpu_check/
#   tools/gpu_check.sh [report-dir]   # on the GPU machine, from the repository root, with .gpu_check/ copied along
#
# pack brings: the fast-rnnt and pybind11 sdists (fast_rnnt is built with CUDA there), the kaldialign wheel for
# that machine's Python (WER), and batches of the tiny embedded corpus with its BPE model (made here: the GPU
# machine has no espeak-ng). The GPU machine must have torch with CUDA, nvcc, cmake, sentencepiece, numpy and
# pytest. The check then
#   1. builds fast_rnnt with CUDA for the GPU's architecture,
#   2. runs the RNN-T loss tests on CUDA against the CPU and torchaudio (tests/test_rnnt_cuda.py),
#   3. runs tools/gpu_check.py check: NCCL collectives of the trainer, the tiny supernet trained in bf16 and
#      fp16 and decoded, the librispeech preset's steps/s and peak memory on 600 s batches.
# The report goes to <report-dir>/gpu_check.md (default: .gpu_check/report); docs/gpu.md records it.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pack_dir=$repo/.gpu_check
say() { echo "[gpu_check] $(date '+%H:%M:%S') $*"; }
die() { echo "[gpu_check] ERROR: $*" >&2; exit 1; }

FAST_RNNT_VERSION=1.3
PYBIND11_VERSION=3.1.0
KALDIALIGN_VERSION=$(sed -n 's/^kaldialign==\([^ #]*\).*/\1/p' "$repo/requirements.txt")
GPU_PYTHON=3.12  # the GPU machine's Python

if [ "${1:-}" = pack ]; then
  py=${PYTHON:-$repo/.venv/bin/python}
  mkdir -p "$pack_dir"
  say "sdists: fast-rnnt $FAST_RNNT_VERSION, pybind11 $PYBIND11_VERSION"
  "$py" -m pip download -q --no-deps --no-binary :all: "fast-rnnt==$FAST_RNNT_VERSION" \
    "pybind11==$PYBIND11_VERSION" -d "$pack_dir" || die "pip download of the sdists failed"
  say "wheel: kaldialign $KALDIALIGN_VERSION for Python $GPU_PYTHON"
  "$py" -m pip download -q --no-deps --only-binary=:all: --python-version "$GPU_PYTHON" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$pack_dir" "kaldialign==$KALDIALIGN_VERSION" || die "pip download of the kaldialign wheel failed"
  tiny=$repo/egs/librispeech/todm/data-tiny
  if [ ! -f "$tiny/lang_bpe_64/bpe.model" ]; then
    say "preparing the tiny corpus (run.sh --profile tiny, stages 0-3)"
    (cd "$repo/egs/librispeech/todm" && ./run.sh --profile tiny --stop-stage 3)
  fi
  "$py" "$repo/tools/gpu_check.py" pack --out "$pack_dir"
  say "done: copy $pack_dir along with the repository (e.g. carry .gpu_check) and run tools/gpu_check.sh there"
  exit 0
fi

report_dir=${1:-$pack_dir/report}
[ -f "$pack_dir/batches.pt" ] || die "$pack_dir/batches.pt missing: run 'tools/gpu_check.sh pack' first"
command -v nvcc >/dev/null || die "nvcc not found: fast_rnnt's CUDA build needs the CUDA compiler"
py=${PYTHON:-python3}
"$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' \
  || die "$py: torch sees no GPU"
mkdir -p "$report_dir"
site=/tmp/todm-gpu-site
build=/tmp/todm-gpu-build
mkdir -p "$site" "$build"
export PYTHONPATH=$repo:$site${PYTHONPATH:+:$PYTHONPATH}
say "installing the packed wheels into $site"
"$py" -m pip install -q --no-index --no-deps --no-compile --target "$site" "$pack_dir"/kaldialign-*.whl

say "building fast_rnnt $FAST_RNNT_VERSION with CUDA"
tar -xzf "$pack_dir/pybind11-$PYBIND11_VERSION.tar.gz" -C "$build"
tar -xzf "$pack_dir/fast_rnnt-$FAST_RNNT_VERSION.tar.gz" -C "$build"
src=$build/fast_rnnt-$FAST_RNNT_VERSION
arch=$("$py" -c 'import torch; major, minor = torch.cuda.get_device_capability(); print(f"{major}{minor}")')
# fast_rnnt 1.3 compiles for a fixed list of architectures from sm_35, which CUDA 12+ no longer has: build
# for this GPU's architecture instead.
sed -i "s/set(FT_COMPUTE_ARCH_CANDIDATES 35 50 60 61 70 75)/set(FT_COMPUTE_ARCH_CANDIDATES $arch)/" \
  "$src/CMakeLists.txt"
py_include=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
cmake_args="-DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_STANDARD=17 -DCMAKE_CXX_FLAGS=-I$py_include"
cmake_args="$cmake_args -DFETCHCONTENT_SOURCE_DIR_PYBIND11=$build/pybind11-$PYBIND11_VERSION"
cmake_args="$cmake_args -DFETCHCONTENT_FULLY_DISCONNECTED=ON -DFT_BUILD_TESTS=OFF -DFT_WITH_CUDA=ON"
if ! FT_CMAKE_ARGS="$cmake_args" FT_MAKE_ARGS="-j$(nproc)" \
    "$py" -m pip install --no-index --no-deps --no-build-isolation --target "$site" "$src" \
    > "$report_dir/fast_rnnt_build.log" 2>&1; then
  tail -30 "$report_dir/fast_rnnt_build.log"
  die "fast_rnnt CUDA build failed (log: $report_dir/fast_rnnt_build.log)"
fi
"$py" -c 'import _fast_rnnt, sys; sys.exit(0 if _fast_rnnt.with_cuda() else 1)' || die "fast_rnnt built without CUDA"

say "RNN-T loss tests on CUDA vs CPU"
export TODM_RNNT_BACKEND=fast_rnnt
set +e
(cd "$repo" && "$py" -m pytest -q -p no:cacheprovider tests/test_rnnt_cuda.py) 2>&1 | tee "$report_dir/rnnt_cuda_tests.log"
tests_rc=${PIPESTATUS[0]}
set -e

say "collectives, mixed-precision training, decoding, the librispeech preset"
"$py" "$repo/tools/gpu_check.py" check --data "$pack_dir" --report "$report_dir/gpu_check.md"
{
  echo
  echo "## RNN-T loss tests on CUDA (tests/test_rnnt_cuda.py), exit status $tests_rc"
  echo
  echo '```'
  tail -5 "$report_dir/rnnt_cuda_tests.log"
  echo '```'
} >> "$report_dir/gpu_check.md"
say "report: $report_dir/gpu_check.md"
exit "$tests_rc"
