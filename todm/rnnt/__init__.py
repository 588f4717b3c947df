"""RNN-T losses with k2's API (k2/python/k2/rnnt_loss.py, mutual_information.py).

The compiled recursion comes from k2 when it imports, else fast_rnnt (force one with
``TODM_RNNT_BACKEND=k2|fast_rnnt`` or :func:`set_backend`); the lattice construction, pruning
(Kuang et al. 2022, arXiv 2206.13236) and losses are PyTorch code here, so both backends give the
same results. :func:`pruned_rnnt_loss` is the single call the model makes.
"""

from todm.rnnt.backend import BACKENDS, ENV_VAR, RnntBackend, RnntBackendError, get_backend, set_backend
from todm.rnnt.loss import (
    get_rnnt_logprobs,
    get_rnnt_logprobs_joint,
    get_rnnt_logprobs_smoothed,
    rnnt_loss,
    rnnt_loss_simple,
    rnnt_loss_smoothed,
)
from todm.rnnt.mutual_information import joint_mutual_information_recursion, mutual_information_recursion
from todm.rnnt.pruning import (
    do_rnnt_pruning,
    get_rnnt_logprobs_pruned,
    get_rnnt_prune_ranges,
    rnnt_loss_pruned,
)
from todm.rnnt.transducer_loss import PrunedRnntOutput, pruned_rnnt_loss

__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "PrunedRnntOutput",
    "RnntBackend",
    "RnntBackendError",
    "do_rnnt_pruning",
    "get_backend",
    "get_rnnt_logprobs",
    "get_rnnt_logprobs_joint",
    "get_rnnt_logprobs_pruned",
    "get_rnnt_logprobs_smoothed",
    "get_rnnt_prune_ranges",
    "joint_mutual_information_recursion",
    "mutual_information_recursion",
    "pruned_rnnt_loss",
    "rnnt_loss",
    "rnnt_loss_pruned",
    "rnnt_loss_simple",
    "rnnt_loss_smoothed",
    "set_backend",
    "with_cuda",
]


def __getattr__(name: str):
    # k2.with_cuda is a bool; resolve it lazily so importing todm.rnnt never needs a backend.
    if name == "with_cuda":
        return get_backend().with_cuda
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
