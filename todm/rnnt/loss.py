"""Full-lattice RNN-T losses with k2's names, arguments and conventions (k2/python/k2/rnnt_loss.py).

Every loss is "build (px, py) for the lattice, then run the mutual-information recursion":

* px[b, s, t]: log-prob of emitting symbols[b, s] at frame t from context s. Shape (B, S, T+1)
  for rnnt_type="regular" (column T, and column t_end of each utterance, is -inf: the path
  must end with a blank on the last frame), (B, S, T) for "modified"/"constrained".
* py[b, s, t]: log-prob of the termination (blank) symbol at frame t from context s, (B, S+1, T).

rnnt_type: "regular" may emit many symbols per frame (a symbol keeps t); "modified" emits at most
one (a symbol also advances t); "constrained" is modified, but emitting symbol s on frame t also
pays the blank of the *next* context on the same frame (px += py[:, 1:]).

The code is ours, following k2's (identical in fast_rnnt); it runs on either backend's kernels.
"""

from __future__ import annotations

import torch
from torch import Tensor

from todm.rnnt.mutual_information import mutual_information_recursion
from todm.rnnt.validate import REDUCTIONS, check_choice, check_float, check_lattice

LossAndGrads = Tensor | tuple[Tensor, tuple[Tensor, Tensor]]


def fix_for_boundary(px: Tensor, boundary: Tensor | None = None) -> Tensor:
    """Regular RNN-T only: no symbol may be emitted on frame t_end (px[b, :, t_end_b] = -inf)."""
    if boundary is None:
        return px
    B, S, _ = px.shape
    return px.scatter(2, boundary[:, 3].reshape(B, 1, 1).expand(B, S, 1), float("-inf"))


def _finish(px: Tensor, py: Tensor, rnnt_type: str, boundary: Tensor | None) -> tuple[Tensor, Tensor]:
    """px (B, S, T), py (B, S+1, T), both normalized -> the lattice layout of ``rnnt_type``."""
    if rnnt_type == "regular":
        B, S, _ = px.shape
        minus_inf = px.new_full((B, S, 1), float("-inf"))
        px = fix_for_boundary(torch.cat((px, minus_inf), dim=2), boundary)
    elif rnnt_type == "constrained":
        px = px + py[:, 1:, :]
    return px, py


def _symbol_scores(scores: Tensor, symbols: Tensor) -> Tensor:
    """scores (B, T, C), symbols (B, S) -> (B, S, T) with out[b, s, t] = scores[b, t, symbols[b, s]]."""
    B, T, _ = scores.shape
    S = symbols.shape[1]
    return torch.gather(scores, 2, symbols.unsqueeze(1).expand(B, T, S)).transpose(1, 2)


def _check_simple(lm: Tensor, am: Tensor) -> tuple[int, int, int, int]:
    check_float("lm", lm)
    check_float("am", am)
    if lm.ndim != 3 or am.ndim != 3 or lm.shape[0] != am.shape[0] or lm.shape[2] != am.shape[2]:
        raise ValueError(
            f"lm must be (B, S+1, C) and am (B, T, C), got {tuple(lm.shape)} and {tuple(am.shape)}"
        )
    B, T, C = am.shape
    return B, lm.shape[1] - 1, T, C


def _simple_normalizers(lm: Tensor, am: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """log sum_c exp(lm[b,s,c] + am[b,t,c]) as (B, S+1, T) via one matmul of max-shifted probs (k2).

    Also returns lm_max (B, S+1, 1), am_max (B, T, 1) and the shifted probs, reused by the
    smoothed loss.
    """
    lm_max = lm.amax(dim=2, keepdim=True)
    am_max = am.amax(dim=2, keepdim=True)
    lm_probs = (lm - lm_max).exp()
    am_probs = (am - am_max).exp()
    tiny = torch.finfo(am.dtype).tiny  # keeps log() finite when every product underflows
    norm = (torch.matmul(lm_probs, am_probs.transpose(1, 2)) + tiny).log()
    return norm + lm_max + am_max.transpose(1, 2), lm_max, am_max, lm_probs, am_probs


def get_rnnt_logprobs(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    rnnt_type: str = "regular",
    boundary: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """(px, py) of the "simple" transducer whose joiner is addition: logits[b,t,s] = am[b,t] + lm[b,s].

    Args:
      lm: (B, S+1, C) LM part of the unnormalized log-probs; am: (B, T, C) acoustic part.
      symbols: int64 (B, S); termination_symbol: the blank id in [0, C).
      rnnt_type: "regular", "modified" or "constrained"; boundary: optional int64 (B, 4).
    Returns:
      px (B, S, T+1) for regular else (B, S, T); py (B, S+1, T).
    """
    _B, S, T, C = _check_simple(lm, am)
    check_lattice(symbols, C, termination_symbol, T, rnnt_type, boundary)
    norm = _simple_normalizers(lm, am)[0]
    px_lm = torch.gather(lm[:, :S], 2, symbols.unsqueeze(2))  # (B, S, 1)
    px = _symbol_scores(am, symbols) + px_lm - norm[:, :S]
    py = am[:, :, termination_symbol].unsqueeze(1) + lm[:, :, termination_symbol].unsqueeze(2) - norm
    return _finish(px, py, rnnt_type, boundary)


def get_rnnt_logprobs_joint(
    logits: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    rnnt_type: str = "regular",
    boundary: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """(px, py) from the full joiner output.

    Args:
      logits: (B, T, S+1, C) joiner output; symbols: int64 (B, S); termination_symbol: blank id.
      rnnt_type, boundary: as in :func:`get_rnnt_logprobs`.
    Returns:
      px (B, S, T+1) for regular else (B, S, T); py (B, S+1, T).
    """
    check_float("logits", logits)
    if logits.ndim != 4 or logits.shape[0] != symbols.shape[0] or logits.shape[2] != symbols.shape[-1] + 1:
        raise ValueError(
            f"logits must be (B, T, S+1, C) for symbols (B, S), got {tuple(logits.shape)} and {tuple(symbols.shape)}"
        )
    B, T, S1, C = logits.shape
    S = S1 - 1
    check_lattice(symbols, C, termination_symbol, T, rnnt_type, boundary)
    norm = torch.logsumexp(logits, dim=3).transpose(1, 2)  # (B, S+1, T)
    index = symbols.reshape(B, 1, S, 1).expand(B, T, S, 1)
    px = torch.gather(logits[:, :, :S], 3, index).squeeze(3).transpose(1, 2) - norm[:, :S]
    py = logits[:, :, :, termination_symbol].transpose(1, 2) - norm
    return _finish(px, py, rnnt_type, boundary)


def get_rnnt_logprobs_smoothed(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    lm_only_scale: float = 0.1,
    am_only_scale: float = 0.1,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
) -> tuple[Tensor, Tensor]:
    """Simple-transducer (px, py) interpolated with LM-only and AM-only lattices (Kuang et al. 2022, §3.3).

    Each log-prob is ``(1 - l - a) * combined + l * lm_only + a * am_only``, where lm_only uses
    softmax(lm) alone and am_only uses am with a unigram LM (softmax(lm) averaged over batch and
    positions, padding included, as k2 does).

    Args:
      lm: (B, S+1, C); am: (B, T, C); symbols: int64 (B, S); termination_symbol: blank id.
      lm_only_scale, am_only_scale: l and a above. boundary, rnnt_type: as in get_rnnt_logprobs.
    Returns:
      px (B, S, T+1) for regular else (B, S, T); py (B, S+1, T).
    """
    B, S, T, C = _check_simple(lm, am)
    check_lattice(symbols, C, termination_symbol, T, rnnt_type, boundary)
    norm, lm_max, am_max, lm_probs, am_probs = _simple_normalizers(lm, am)
    tiny = torch.finfo(lm.dtype).tiny

    lm_sum = lm_probs.sum(dim=2, keepdim=True)  # (B, S+1, 1)
    unigram = (lm_probs / lm_sum).mean(dim=(0, 1)) + tiny  # (C,)
    am_only_norm = torch.mv(am_probs.reshape(-1, C), unigram).reshape(B, 1, T).log() + am_max.transpose(
        1, 2
    )  # (B, 1, T)
    lm_only_norm = lm_sum.log() + lm_max  # (B, S+1, 1)
    log_unigram = unigram.log()

    px_am = _symbol_scores(am, symbols)  # (B, S, T)
    px_lm = torch.gather(lm[:, :S], 2, symbols.unsqueeze(2))  # (B, S, 1)
    px = px_am + px_lm - norm[:, :S]
    px_am_only = px_am + log_unigram[symbols].unsqueeze(2) - am_only_norm
    px_lm_only = px_lm - lm_only_norm[:, :S]

    py_am = am[:, :, termination_symbol].unsqueeze(1)  # (B, 1, T)
    py_lm = lm[:, :, termination_symbol].unsqueeze(2)  # (B, S+1, 1)
    py = py_am + py_lm - norm
    py_am_only = py_am + log_unigram[termination_symbol] - am_only_norm
    py_lm_only = py_lm - lm_only_norm

    combined = 1.0 - lm_only_scale - am_only_scale
    # k2 replaces exact zeros by 1e-20 so that a -inf term times the scale never gives nan.
    lm_only_scale = lm_only_scale or 1.0e-20
    am_only_scale = am_only_scale or 1.0e-20
    px = px * combined + px_lm_only * lm_only_scale + px_am_only * am_only_scale
    py = py * combined + py_lm_only * lm_only_scale + py_am_only * am_only_scale
    return _finish(px, py, rnnt_type, boundary)


def apply_delay_penalty(px: Tensor, rnnt_type: str, boundary: Tensor | None, delay_penalty: float) -> Tensor:
    """Reward early symbols: px[b, s, t] += delay_penalty * ((T_b - 1) / 2 - t) (k2 issue #955)."""
    if delay_penalty <= 0.0:
        return px
    B, _, T0 = px.shape
    T = T0 - 1 if rnnt_type == "regular" else T0
    if boundary is None:
        offset = torch.full((B,), (T - 1) / 2, dtype=px.dtype, device=px.device)
    else:
        offset = (boundary[:, 3] - 1) / 2
    penalty = offset.reshape(B, 1, 1) - torch.arange(T0, device=px.device).reshape(1, 1, T0)
    return px + (penalty * delay_penalty).to(px.dtype)


def loss_from_logprobs(
    px: Tensor,
    py: Tensor,
    rnnt_type: str,
    boundary: Tensor | None,
    delay_penalty: float,
    reduction: str | None,
    return_grad: bool = False,
) -> LossAndGrads:
    """Delay penalty, recursion and reduction shared by all the losses."""
    check_choice("reduction", reduction, REDUCTIONS)
    px = apply_delay_penalty(px, rnnt_type, boundary, delay_penalty)
    out = mutual_information_recursion(px=px, py=py, boundary=boundary, return_grad=return_grad)
    scores = out[0] if return_grad else out
    if reduction == "none":
        loss = -scores
    elif reduction == "mean":
        loss = -scores.mean()
    else:
        loss = -scores.sum()
    return (loss, out[1]) if return_grad else loss


def rnnt_loss_simple(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
    return_grad: bool = False,
) -> LossAndGrads:
    """RNN-T loss of the simple (additive joiner) transducer.

    Args:
      lm: (B, S+1, C); am: (B, T, C); symbols: int64 (B, S); termination_symbol: blank id.
      boundary: optional int64 (B, 4) [0, 0, S_b, T_b]; rnnt_type: see module docstring.
      delay_penalty: > 0 rewards emitting symbols early; reduction: "none" | "mean" | "sum".
      return_grad: also return (px_grad, py_grad), the occupation probabilities (gradients of
        ``-loss.sum()`` for reduction "none") that :func:`get_rnnt_prune_ranges` consumes.
    Returns:
      loss ((B,) for "none", else scalar), or (loss, (px_grad, py_grad)) if return_grad.
    """
    px, py = get_rnnt_logprobs(lm, am, symbols, termination_symbol, rnnt_type=rnnt_type, boundary=boundary)
    return loss_from_logprobs(px, py, rnnt_type, boundary, delay_penalty, reduction, return_grad)


def rnnt_loss(
    logits: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
) -> Tensor:
    """The ordinary RNN-T loss on the full joiner output.

    Args:
      logits: (B, T, S+1, C); symbols: int64 (B, S); termination_symbol: blank id.
      boundary, rnnt_type, delay_penalty, reduction: as in :func:`rnnt_loss_simple`.
    Returns:
      (B,) for reduction "none", else a scalar.
    """
    px, py = get_rnnt_logprobs_joint(
        logits, symbols, termination_symbol, rnnt_type=rnnt_type, boundary=boundary
    )
    return loss_from_logprobs(px, py, rnnt_type, boundary, delay_penalty, reduction)


def rnnt_loss_smoothed(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    lm_only_scale: float = 0.1,
    am_only_scale: float = 0.1,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
    return_grad: bool = False,
) -> LossAndGrads:
    """The simple loss on the smoothed lattice of :func:`get_rnnt_logprobs_smoothed`.

    Args and returns as :func:`rnnt_loss_simple`, plus lm_only_scale and am_only_scale.
    """
    px, py = get_rnnt_logprobs_smoothed(
        lm,
        am,
        symbols,
        termination_symbol,
        lm_only_scale=lm_only_scale,
        am_only_scale=am_only_scale,
        boundary=boundary,
        rnnt_type=rnnt_type,
    )
    return loss_from_logprobs(px, py, rnnt_type, boundary, delay_penalty, reduction, return_grad)
