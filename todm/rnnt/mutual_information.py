"""k2's mutual-information recursion (k2/python/k2/mutual_information.py) on the backend's kernels.

The recursion, for p of shape (B, S+1, T+1), p[b, s_begin, t_begin] = 0::

    regular  (px: (B, S, T+1)): p[s,t] = log_add(p[s-1,t]   + px[s-1,t],   p[s,t-1] + py[s,t-1])
    modified (px: (B, S, T)):   p[s,t] = log_add(p[s-1,t-1] + px[s-1,t-1], p[s,t-1] + py[s,t-1])

and the answer is p[b, s_end, t_end]. The autograd wrapper is ours: fast_rnnt 1.3 scales the saved
gradients in place during backward, which corrupts the (px_grad, py_grad) it returned with
``return_grad=True``; k2 does it out of place, and so do we.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from todm.rnnt.backend import get_backend
from todm.rnnt.validate import check_boundary, check_float


class _MutualInformation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, px: Tensor, py: Tensor, pxy_grads: list, boundary: Tensor | None, return_grad: bool):
        backend = get_backend()
        B, S, _ = px.shape
        T = py.shape[-1]
        p = torch.empty(B, S + 1, T + 1, device=px.device, dtype=px.dtype)
        ans = backend.forward(px, py, boundary, p)
        grads = (None, None)
        if return_grad or px.requires_grad or py.requires_grad:
            # Occupation probabilities: d(ans)/d(px, py) for ans_grad = 1 (k2 PR #924).
            ones = torch.ones(B, device=px.device, dtype=px.dtype)
            grads = backend.backward(px, py, boundary, p, ones)
            ctx.save_for_backward(*grads)
        pxy_grads[0], pxy_grads[1] = grads
        return ans

    @staticmethod
    def backward(ctx, ans_grad: Tensor):
        px_grad, py_grad = ctx.saved_tensors
        scale = ans_grad.reshape(-1, 1, 1)
        return px_grad * scale, py_grad * scale, None, None, None


def _check_px_py(px: Tensor, py: Tensor, boundary: Tensor | None) -> None:
    check_float("px", px)
    check_float("py", py)
    if px.ndim != 3 or py.ndim != 3:
        raise ValueError(f"px and py must be 3-D, got px {tuple(px.shape)} and py {tuple(py.shape)}")
    B, S, T1 = px.shape
    T = py.shape[-1]
    if T1 not in (T, T + 1) or tuple(py.shape) != (B, S + 1, T):
        raise ValueError(
            f"px must be (B, S, T+1) or (B, S, T) with py (B, S+1, T); got px {tuple(px.shape)}, "
            f"py {tuple(py.shape)}"
        )
    if px.dtype != py.dtype:
        raise ValueError(f"px and py must share a dtype, got {px.dtype} and {py.dtype}")
    if boundary is not None:
        check_boundary(boundary, B, S, T)


def mutual_information_recursion(
    px: Tensor,
    py: Tensor,
    boundary: Tensor | None = None,
    return_grad: bool = False,
) -> tuple[Tensor, tuple[Tensor, Tensor]] | Tensor:
    """Total log-prob of all monotonic paths through the (s, t) lattice (see module docstring).

    Args:
      px: (B, S, T+1) (regular) or (B, S, T) (modified/constrained): log-prob of a step in s.
      py: (B, S+1, T): log-prob of a step in t.
      boundary: optional int64 (B, 4) rows [s_begin, t_begin, s_end, t_end], default [0, 0, S, T].
      return_grad: also return (px_grad, py_grad), the occupation probabilities, i.e. the
        gradients of ``scores.sum()`` w.r.t. px and py (used to find pruning ranges).
    Returns:
      scores (B,), or (scores, (px_grad, py_grad)) if return_grad.
    """
    _check_px_py(px, py, boundary)
    pxy_grads = [None, None]
    scores = _MutualInformation.apply(px.contiguous(), py.contiguous(), pxy_grads, boundary, return_grad)
    return (scores, (pxy_grads[0], pxy_grads[1])) if return_grad else scores


def _inner_product(a: Tensor, b: Tensor) -> Tensor:
    """(a * b).sum(-1) with broadcasting, as a batched matmul to avoid the big temporary."""
    return torch.matmul(a.unsqueeze(-2), b.unsqueeze(-1)).squeeze(-1).squeeze(-1)


def joint_mutual_information_recursion(
    px: Sequence[Tensor],
    py: Sequence[Tensor],
    boundary: Tensor | None = None,
) -> Tensor:
    """The recursion on sum(px), sum(py), reported per term (k2's joint_mutual_information_recursion).

    Args:
      px: N tensors of shape (B, S, T+1) (or (B, S, T) for modified); py: N tensors (B, S+1, T).
      boundary: as in :func:`mutual_information_recursion`.
    Returns:
      (N, B): the expected value of each term under the path posterior; its sum over dim 0 is the
      total log-prob. Row 0 also carries the log-of-sum minus sum-of-log offset, so put the main
      term first.
    """
    if len(px) == 0 or len(px) != len(py):
        raise ValueError(f"px and py must be non-empty sequences of equal length, got {len(px)}, {len(py)}")
    px_all = torch.stack(list(px))  # (N, B, S, T1)
    py_all = torch.stack(list(py))  # (N, B, S+1, T)
    px_tot = px_all.sum(0).contiguous()
    py_tot = py_all.sum(0).contiguous()
    _check_px_py(px_tot, py_tot, boundary)
    N, B = px_all.shape[:2]
    backend = get_backend()
    p = torch.empty(B, px_tot.shape[1] + 1, py_tot.shape[2] + 1, device=px_tot.device, dtype=px_tot.dtype)
    with torch.no_grad():
        tot = backend.forward(px_tot.detach(), py_tot.detach(), boundary, p)
        ones = torch.ones(B, device=px_tot.device, dtype=px_tot.dtype)
        px_occ, py_occ = backend.backward(px_tot.detach(), py_tot.detach(), boundary, p, ones)
    # -inf * 0 occupation would give nan: clamp to the most negative finite value first (as k2).
    lowest = torch.finfo(px_all.dtype).min
    x_terms = _inner_product(px_occ.reshape(1, B, -1), px_all.reshape(N, B, -1).clamp(min=lowest))
    y_terms = _inner_product(py_occ.reshape(1, B, -1), py_all.reshape(N, B, -1).clamp(min=lowest))
    terms = x_terms + y_terms  # (N, B)
    with torch.no_grad():
        offset = tot - terms.sum(0)
    return torch.cat([terms[:1] + offset, terms[1:]])
