"""Choice of the compiled mutual-information recursion: k2 if it imports, else fast_rnnt.

Both packages ship the same C++ kernels (`mutual_information_forward/backward`, k2-fsa/k2
k2/python/csrc/torch/mutual_information*.cu, packaged alone as k2-fsa/fast_rnnt). Everything
above the kernels (lattice construction, pruning, losses) is PyTorch code in this package, so
results do not depend on which backend runs, only speed/device support does.

Force a backend with ``TODM_RNNT_BACKEND=k2|fast_rnnt`` or :func:`set_backend`.
"""

from __future__ import annotations

import importlib
import logging
import os
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass

BACKENDS = ("k2", "fast_rnnt")
# What a broken install raises on import: missing module, unloadable .so, k2 built for another torch.
_IMPORT_ERRORS = (ImportError, OSError, RuntimeError, AttributeError)
ENV_VAR = "TODM_RNNT_BACKEND"

logger = logging.getLogger(__name__)


class RnntBackendError(ImportError):
    """No usable RNN-T backend (or the forced one does not import)."""


@dataclass(frozen=True)
class RnntBackend:
    """The compiled kernels of one backend.

    forward(px, py, boundary, p) -> (B,) total log-probs, filling p: (B, S+1, T+1).
    backward(px, py, boundary, p, ans_grad) -> (px_grad, py_grad).
    """

    name: str
    version: str
    with_cuda: bool
    forward: Callable
    backward: Callable


_current: RnntBackend | None = None


def install_hint() -> str:
    """How to build fast_rnnt offline (as tools/install.sh does it)."""
    include = sysconfig.get_paths()["include"]
    return (
        "Install fast_rnnt offline with tools/install.sh (it builds fast-rnnt 1.3 from its PyPI sdist), "
        "or by hand: pip download --no-deps --no-binary :all: pybind11==3.1.0 && tar xzf "
        'pybind11-3.1.0.tar.gz && FT_CMAKE_ARGS="-DCMAKE_BUILD_TYPE=Release -DFT_BUILD_TESTS=OFF '
        f"-DFT_WITH_CUDA=OFF -DCMAKE_CXX_STANDARD=17 -DCMAKE_CXX_FLAGS=-I{include} "
        '-DFETCHCONTENT_SOURCE_DIR_PYBIND11=$PWD/pybind11-3.1.0 -DFETCHCONTENT_FULLY_DISCONNECTED=ON" '
        "FT_MAKE_ARGS=-j2 pip install --no-build-isolation --no-binary fast-rnnt fast-rnnt==1.3 "
        "(use -DFT_WITH_CUDA=ON when torch has CUDA and nvcc matches)."
    )


def _load(name: str) -> RnntBackend:
    """Import one backend; raises ImportError (or whatever the import raises) when unusable."""
    if name == "k2":
        pkg = importlib.import_module("k2")
        ext = importlib.import_module("_k2")
        with_cuda = bool(pkg.with_cuda)
    else:
        pkg = importlib.import_module("fast_rnnt")
        ext = importlib.import_module("_fast_rnnt")
        # fast_rnnt exposes with_cuda as a function, k2 as a bool; we follow k2.
        with_cuda = bool(ext.with_cuda())
    return RnntBackend(
        name=name,
        version=str(getattr(pkg, "__version__", "unknown")),
        with_cuda=with_cuda,
        forward=ext.mutual_information_forward,
        backward=ext.mutual_information_backward,
    )


def _select(name: str | None) -> RnntBackend:
    if name is not None:
        if name not in BACKENDS:
            raise ValueError(f"RNN-T backend must be one of {BACKENDS}, got {name!r}")
        try:
            return _load(name)
        except _IMPORT_ERRORS as e:
            raise RnntBackendError(
                f"RNN-T backend {name!r} was forced but does not import ({type(e).__name__}: {e}). "
                f"Unset {ENV_VAR} to fall back automatically. " + install_hint()
            ) from e
    errors = []
    for candidate in BACKENDS:
        try:
            return _load(candidate)
        except _IMPORT_ERRORS as e:
            errors.append(f"{candidate}: {type(e).__name__}: {e}")
    raise RnntBackendError(f"Neither k2 nor fast_rnnt imports ({'; '.join(errors)}). " + install_hint())


def set_backend(name: str | None = None) -> RnntBackend:
    """Select the backend now. ``name`` None means ``$TODM_RNNT_BACKEND`` if set, else k2, else fast_rnnt."""
    global _current
    if name is None:
        name = os.environ.get(ENV_VAR) or None
    _current = None
    backend = _select(name)
    logger.info(
        "todm.rnnt: using backend %s %s (with_cuda=%s)", backend.name, backend.version, backend.with_cuda
    )
    _current = backend
    return backend


def get_backend() -> RnntBackend:
    """The selected backend, chosen (and logged) on first use."""
    return _current if _current is not None else set_backend()
