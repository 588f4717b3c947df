"""Pruned RNN-T (Kuang et al. 2022, "Pruned RNN-T for fast, memory-efficient ASR training",
arXiv 2206.13236) with k2's names, arguments and conventions (k2/python/k2/rnnt_loss.py).

The simple loss's occupation probabilities pick, for each frame t, ``s_range`` consecutive
symbol positions [s_begin_t, s_begin_t + s_range); the real joiner is evaluated only there
(B, T, s_range, C) instead of on all (B, T, S+1, C) pairs.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from todm.rnnt.loss import _finish, loss_from_logprobs
from todm.rnnt.validate import boundary_checks, check_float, check_lattice, raise_first

logger = logging.getLogger(__name__)


def _monotonic_lower_bound(x: Tensor) -> Tensor:
    """Largest non-decreasing sequence <= x on the last dim: a reversed running minimum."""
    return torch.flip(torch.cummin(torch.flip(x, dims=(-1,)), dim=-1)[0], dims=(-1,))


def _adjust_pruning_lower_bound(s_begin: Tensor, s_range: int) -> Tensor:
    """Make s_begin (B, T) non-decreasing, start at 0 and grow by < s_range per frame (k2).

    ``s_begin[t+1] - s_begin[t] <= s_range - 1`` holds iff ``(s_range-1)*t - s_begin[t]`` is
    non-decreasing, so the same lower-bound trick is applied to that transform and undone.
    """
    s_begin = _monotonic_lower_bound(s_begin)
    ramp = (s_range - 1) * torch.arange(s_begin.shape[1], device=s_begin.device)
    slack = _monotonic_lower_bound(ramp - s_begin).clamp(min=0)
    return ramp - slack


def _min_regular_s_range(boundary: Tensor) -> int:
    """Regular RNN-T needs (s_range - 1) * T_b + 1 >= S_b + 1 to reach the last symbol."""
    return int(((boundary[:, 2] - 1).div(boundary[:, 3], rounding_mode="trunc") + 2).max())


def get_rnnt_prune_ranges(
    px_grad: Tensor,
    py_grad: Tensor,
    boundary: Tensor,
    s_range: int,
) -> Tensor:
    """Pruning ranges from the simple loss's occupation probabilities (paper §3.2).

    Args:
      px_grad: (B, S, T+1) (regular) or (B, S, T); py_grad: (B, S+1, T), as returned by a simple
        loss with ``return_grad=True``.
      boundary: int64 (B, 4) rows [0, 0, S_b, T_b].
      s_range: symbols kept per frame. Raised (with a warning) for regular RNN-T when too small
        to reach S_b within T_b frames; lowered to S+1 when larger.
    Returns:
      ranges: int64 (B, T, s_range'), ranges[b, t] = s_begin + arange(s_range'), with s_begin
      non-decreasing in t, 0 at t=0, never skipping a symbol and ending at S_b - s_range' + 1.
    """
    B, S, T1 = px_grad.shape
    T = py_grad.shape[-1]
    if T1 not in (T, T + 1) or tuple(py_grad.shape) != (B, S + 1, T):
        raise ValueError(f"px_grad {tuple(px_grad.shape)} and py_grad {tuple(py_grad.shape)} do not match")
    regular = T1 == T + 1
    checks = boundary_checks(boundary, B, S, T)
    if not regular:
        short = boundary[:, 3] < boundary[:, 2]
        checks.append((short.any(), lambda: "modified/constrained RNN-T requires T >= S for every utterance"))
    raise_first(checks)
    if regular:
        s_min = _min_regular_s_range(boundary)
        if s_range < s_min:
            logger.warning(
                "get_rnnt_prune_ranges: s_range=%d cannot reach every symbol; using %d", s_range, s_min
            )
            s_range = s_min
    s_range = min(s_range, S + 1)  # S+1 keeps every position: nothing is pruned
    if s_range < (2 if regular else 1):
        raise ValueError(
            f"s_range must be >= {2 if regular else 1} for {'regular' if regular else 'modified'} RNN-T, "
            f"got {s_range}: no path would survive pruning"
        )
    # Score of a window starting at s: blank occupation of rows s..s+R-1, minus the symbol
    # occupation entering row s (mass that reached the window from below it).
    window_blank = py_grad.unfold(1, s_range, 1).sum(-1)  # (B, S+2-R, T)
    enter = torch.cat((px_grad.new_zeros(B, 1, T1), px_grad), dim=1)[:, : S + 2 - s_range, :T]
    s_begin = torch.argmax(window_blank - enter, dim=1)  # (B, T)

    # From each utterance's last frame on, pin the window to the end of its symbols.
    frames = torch.arange(T, device=px_grad.device).reshape(1, T)
    last = (boundary[:, 2] - s_range + 1).clamp(min=0).reshape(B, 1)
    s_begin = torch.where(frames < boundary[:, 3].reshape(B, 1) - 1, s_begin, last)
    # Modified/constrained RNN-T moves one symbol per frame at most.
    s_begin = _adjust_pruning_lower_bound(s_begin, s_range if regular else 2)
    return s_begin.unsqueeze(2) + torch.arange(s_range, device=px_grad.device)


def do_rnnt_pruning(am: Tensor, lm: Tensor, ranges: Tensor) -> tuple[Tensor, Tensor]:
    """Gather joiner inputs on the pruned lattice.

    Args:
      am: (B, T, C_am) encoder-side joiner input; lm: (B, S+1, C_lm) decoder-side joiner input.
      ranges: int64 (B, T, s_range) from :func:`get_rnnt_prune_ranges`.
    Returns:
      am_pruned (B, T, s_range, C_am) (an expanded view) and lm_pruned (B, T, s_range, C_lm).
    """
    B, T, R = ranges.shape
    if am.ndim != 3 or lm.ndim != 3 or am.shape[:2] != (B, T) or lm.shape[0] != B:
        raise ValueError(
            f"am must be (B, T, C) and lm (B, S+1, C) matching ranges {tuple(ranges.shape)}, "
            f"got {tuple(am.shape)} and {tuple(lm.shape)}"
        )
    C_lm = lm.shape[2]
    am_pruned = am.unsqueeze(2).expand(B, T, R, am.shape[2])
    index = ranges.reshape(B, T * R, 1).expand(B, T * R, C_lm)
    lm_pruned = torch.gather(lm, 1, index).reshape(B, T, R, C_lm)
    return am_pruned, lm_pruned


def _unprune(values: Tensor, ranges: Tensor, S1: int) -> Tensor:
    """values (B, T, R) at positions ranges[b, t, 0] + r -> (B, T, S1) with -inf elsewhere.

    Only ranges[..., 0] is used, as in k2 (which pads and rolls the rows by it).
    """
    B, T, R = values.shape
    index = ranges[:, :, :1] + torch.arange(R, device=ranges.device)
    return values.new_full((B, T, S1), float("-inf")).scatter(2, index, values)


def _pruned_symbols(symbols: Tensor, ranges: Tensor, termination_symbol: int) -> Tensor:
    """(B, T, R): the symbol at each kept position; position S (past the end) gets the blank."""
    B, T, _ = ranges.shape
    padded = torch.cat((symbols, symbols.new_full((B, 1), termination_symbol)), dim=1)
    return torch.gather(padded.unsqueeze(1).expand(B, T, padded.shape[1]), 2, ranges)


class _PrunedLogProbs(torch.autograd.Function):
    """(log_softmax(logits) at the kept symbols, at the blank), each (B, T, R), from (B, T, R, C) logits.

    The same numbers as logsumexp + gather + select, written as one function because its backward is two
    passes over the logits (softmax times the summed incoming gradient, then the two gradients added back at
    their symbols) where autograd's composite makes about ten (logsumexp's backward, and a zero-filled
    (B, T, R, C) tensor for each of the gather and the select). The fused softmax kernels also stay fast on a
    trained model's log-probs below float32's exp range (about -87), where a plain exp() is ~15x slower on
    x86 CPUs. The pruned loss runs once per subnet and step on the largest tensor of the step."""

    @staticmethod
    def forward(ctx, logits: Tensor, kept: Tensor, blank: int) -> tuple[Tensor, Tensor]:
        log_probs = torch.log_softmax(logits, dim=3)
        ctx.save_for_backward(logits, kept)
        ctx.blank = blank
        return log_probs.gather(3, kept).squeeze(3), log_probs[..., blank]

    @staticmethod
    def backward(ctx, grad_px: Tensor, grad_py: Tensor) -> tuple[Tensor, None, None]:
        logits, kept = ctx.saved_tensors
        grad = torch.softmax(logits, dim=3)
        grad.mul_(-(grad_px + grad_py).unsqueeze(3))
        grad.scatter_add_(3, kept, grad_px.unsqueeze(3))
        grad[..., ctx.blank] += grad_py
        return grad, None, None


def pruned_log_probs(logits: Tensor, kept: Tensor, blank: int) -> tuple[Tensor, Tensor]:
    """log_softmax of pruned-lattice logits (B, T, R, C) at the kept symbols (B, T, R, 1) and at the blank:
    two (B, T, R) tensors, with the two-pass backward of `_PrunedLogProbs`."""
    return _PrunedLogProbs.apply(logits, kept, blank)


def _check_pruned(logits: Tensor, symbols: Tensor, ranges: Tensor) -> None:
    check_float("logits", logits)
    if (
        logits.ndim != 4
        or tuple(ranges.shape) != tuple(logits.shape[:3])
        or symbols.shape[0] != logits.shape[0]
    ):
        raise ValueError(
            f"logits must be (B, T, s_range, C) with ranges (B, T, s_range) and symbols (B, S), got "
            f"{tuple(logits.shape)}, {tuple(ranges.shape)} and {tuple(symbols.shape)}"
        )
    S1, R = symbols.shape[1] + 1, ranges.shape[2]
    bad = (ranges[:, :, 0] < 0) | (ranges[:, :, 0] > S1 - R)
    raise_first([(bad.any(), lambda: f"ranges[..., 0] must be in [0, S+1-s_range={S1 - R}]")])


def get_rnnt_logprobs_pruned(
    logits: Tensor,
    symbols: Tensor,
    ranges: Tensor,
    termination_symbol: int,
    boundary: Tensor | None,
    rnnt_type: str = "regular",
) -> tuple[Tensor, Tensor]:
    """(px, py) of the full lattice from the pruned joiner output; pruned-away cells are -inf.

    Args:
      logits: (B, T, s_range, C) joiner output on the pruned lattice; symbols: int64 (B, S).
      ranges: int64 (B, T, s_range); termination_symbol: blank id; boundary: int64 (B, 4) or None.
    Returns:
      px (B, S, T+1) for regular else (B, S, T); py (B, S+1, T).
    """
    _check_pruned(logits, symbols, ranges)
    _B, T, _, C = logits.shape
    S = symbols.shape[1]
    check_lattice(symbols, C, termination_symbol, T, rnnt_type, boundary)
    kept = _pruned_symbols(symbols, ranges, termination_symbol).unsqueeze(3)
    px, py = pruned_log_probs(logits, kept, termination_symbol)
    px = _unprune(px, ranges, S + 1)[:, :, :S].transpose(1, 2)
    py = _unprune(py, ranges, S + 1).transpose(1, 2)
    return _finish(px, py, rnnt_type, boundary)


def _get_hat_logprobs_pruned(
    logits: Tensor,
    symbols: Tensor,
    ranges: Tensor,
    termination_symbol: int,
    boundary: Tensor | None,
    rnnt_type: str = "regular",
) -> tuple[Tensor, Tensor]:
    """HAT version (Variani et al. 2020, arXiv 2003.07705): blank is Bernoulli(sigmoid(logit_0)),
    the other symbols softmax over logits[1:] scaled by 1 - p(blank). Follows k2's
    get_hat_logprobs_pruned; fast_rnnt 1.3 does not have it. Requires blank id 0."""
    if termination_symbol != 0:
        raise ValueError(f"use_hat_loss requires termination_symbol == 0, got {termination_symbol}")
    _check_pruned(logits, symbols, ranges)
    _B, T, _, C = logits.shape
    S = symbols.shape[1]
    check_lattice(symbols, C, termination_symbol, T, rnnt_type, boundary)
    blank_logit = logits[..., 0]
    log_blank = torch.nn.functional.logsigmoid(blank_logit)
    # log(1 - sigmoid(z)) = logsigmoid(z) - z
    log_not_blank = log_blank - blank_logit
    kept = _pruned_symbols(symbols, ranges, termination_symbol).unsqueeze(3)
    px = torch.gather(logits, 3, kept).squeeze(3) - torch.logsumexp(logits[..., 1:], dim=3) + log_not_blank
    px = _unprune(px, ranges, S + 1)[:, :, :S].transpose(1, 2)
    py = _unprune(log_blank, ranges, S + 1).transpose(1, 2)
    return _finish(px, py, rnnt_type, boundary)


def rnnt_loss_pruned(
    logits: Tensor,
    symbols: Tensor,
    ranges: Tensor,
    termination_symbol: int,
    boundary: Tensor = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
    use_hat_loss: bool = False,
) -> Tensor:
    """RNN-T loss on the pruned joiner output.

    Args:
      logits: (B, T, s_range, C); symbols: int64 (B, S); ranges: int64 (B, T, s_range).
      termination_symbol: blank id; boundary: int64 (B, 4) [0, 0, S_b, T_b] or None.
      rnnt_type, delay_penalty, reduction: as in :func:`todm.rnnt.rnnt_loss`.
      use_hat_loss: HAT output distribution (blank id must be 0).
    Returns:
      (B,) for reduction "none", else a scalar.
    """
    get = _get_hat_logprobs_pruned if use_hat_loss else get_rnnt_logprobs_pruned
    px, py = get(logits, symbols, ranges, termination_symbol, boundary, rnnt_type)
    return loss_from_logprobs(px, py, rnnt_type, boundary, delay_penalty, reduction)
