"""In-place knowledge distillation with AlphaNet's (adaptive) alpha-divergence.

TODM (Shangguan et al. 2023, arXiv 2309.01947) distils the largest subnet (teacher, trained in the same step)
into the smaller ones with the adaptive alpha-divergence of AlphaNet (Wang et al., ICML 2021, "AlphaNet:
Improved Training of Supernets with Alpha-Divergence", arXiv 2102.07954; reference code
facebookresearch/AlphaNet, loss_ops.py `f_divergence` and `AdaptiveLossSoft`). Here the distributions are
the RNN-T joiner's output distributions on the pruned lattice: logits of shape (B, T, prune_range, V).

Notation (as in AlphaNet): ``p`` is the teacher distribution, ``q`` the student's, ``t = p / q`` the
importance weight, per lattice node over the V classes.

Alpha-divergence (AlphaNet's definition)::

    D_a(p || q) = 1 / (a (a - 1)) * sum_v q_v [ (p_v / q_v)^a - 1 ]          a not in {0, 1}
    D_1(p || q) = sum_v p_v log(p_v / q_v) = KL(p || q)                       limit a -> 1
    D_0(p || q) = sum_v q_v log(q_v / p_v) = KL(q || p)                       limit a -> 0

a -> 1 is the usual forward KL of knowledge distillation (student covers the teacher, may over-estimate
uncertainty); a -> 0 is the reverse KL (mode seeking, may under-estimate it). Large |a| penalises the
corresponding failure more strongly, but t^a then has heavy tails, so AlphaNet clips the importance weight:
``w_v = min(t_v^a, iw_clip)`` (near a = 0, ``min(t_v, iw_clip)`` inside the log; no clip near a = 1, where
the weight is t itself). The value computed here is the divergence with clipped weights::

    D_a^clip = 1 / (a (a - 1)) * sum_v q_v (w_v - 1)                          a not near {0, 1}
    D_0^clip = - sum_v q_v log min(t_v, iw_clip)                               |a| < 1e-3
    D_1      = sum_v p_v log(p_v / q_v)                                        |a - 1| < 1e-3

and the gradient w.r.t. the student is AlphaNet's gradient-friendly form (the score-function gradient
of the definition above, with clipped weights; `f_divergence` in the reference code)::

    grad D_a = - sum_v q_v rho_v grad log q_v,    rho = t f'(t) - f(t) for D = sum q f(p/q)
    rho_v = w_v / a + 1 / (a (a - 1))   |   log min(t_v, iw_clip) - 1   |   t_v        (same three cases)

which equals the exact gradient of D_a when no weight is clipped. The returned tensor carries the value of
D^clip and this gradient. Without clipping (``iw_clip=None``) the a -> 0 / a -> 1 branches are the exact
limits of the general formula; with clipping, the branch near a = 0 clips t where the general formula
(which clips t^a) would not, as in AlphaNet's reference code. The teacher is always detached.

Adaptive alpha-divergence (AlphaNet's adaptive KD loss, `AdaptiveLossSoft` in the reference code): per
distribution, the larger of D_{a_min} and D_{a_max} (default a_min = -1, a_max = 1), with the gradient of
the one selected, so the student is pushed against whichever of over- or under-estimation of the teacher's
uncertainty is currently worse.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

# Half-width of the neighbourhoods of a = 0 and a = 1 where the KL limits replace the general formula
# (AlphaNet's reference code uses 1e-3 too); the general formula divides by a (a - 1) there.
_LIMIT_EPS = 1.0e-3

REDUCTIONS = ("sum", "mean", "none")


def _divergence_and_weights(
    log_q: Tensor, log_p: Tensor, alpha: float, iw_clip: float | None, q: Tensor, p: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """(D^clip per distribution (...,), q * rho per class (..., V)) from detached student and teacher
    log-probs.

    q = log_q.exp() comes from the caller (it serves both divergences of the adaptive loss and the gradient);
    `p` = log_p.exp() may be passed when the caller already has it. q * rho is what the gradient needs; for
    a -> 1 it is p itself, which stays finite where q underflows and p / q would not."""
    with torch.no_grad():
        log_t = log_p - log_q  # log importance weight, computed in log space for range
        log_clip = math.inf if iw_clip is None else math.log(iw_clip)
        if abs(alpha) < _LIMIT_EPS:
            log_w = log_t.clamp(max=log_clip)
            div = -(q * log_w).sum(-1)
            q_rho = q * (log_w - 1.0)
        elif abs(alpha - 1.0) < _LIMIT_EPS:
            p = log_p.exp() if p is None else p
            # sum_v p log(p/q); classes with p = 0 contribute 0 (p * log_t with log_t = -inf would be nan).
            div = torch.where(p > 0, p * log_t, torch.zeros_like(p)).sum(-1)
            q_rho = p  # q * (p / q)
        else:
            w = (alpha * log_t).clamp(max=log_clip).exp()
            base = 1.0 / (alpha * (alpha - 1.0))
            div = base * (q * (w - 1.0)).sum(-1)
            q_rho = q * (w / alpha + base)
    return div, q_rho


def _with_gradient(div: Tensor, q_rho: Tensor, q: Tensor, logits: Tensor) -> Tensor:
    """A tensor whose value is `div` and whose gradient w.r.t. the student's `logits` is AlphaNet's
    -sum_v q_v rho_v grad log q_v.

    Written out through the softmax: d log q_v / d z_j = [v = j] - q_j, so the gradient on logit j is
    q_j sum_v q_v rho_v - q_j rho_j. Handing autograd that tensor directly (one product with the logits)
    replaces a surrogate loss through log_softmax's backward: fewer passes over the (..., V) tensors, which
    torch.compile fuses into a few loops."""
    with torch.no_grad():
        grad = q * q_rho.sum(-1, keepdim=True) - q_rho
    linear = (logits * grad).sum(-1)
    # value = div; d/d(logits) = grad
    return div + (linear - linear.detach())


def teacher_log_probs(teacher_logits: Tensor) -> Tensor:
    """The teacher's detached log-probs; compute once per step and pass to every student's loss."""
    with torch.no_grad():
        return torch.log_softmax(_promote(teacher_logits.detach()), dim=-1)


def _reduce(per_node: Tensor, mask: Tensor | None, reduction: str) -> Tensor:
    """Masks padded positions and reduces the per-distribution divergence."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if mask is not None:
        if mask.dim() > per_node.dim() or tuple(mask.shape) != tuple(per_node.shape[: mask.dim()]):
            raise ValueError(
                f"mask shape {tuple(mask.shape)} must be a leading part of the logits' shape without the "
                f"class dim, {tuple(per_node.shape)}"
            )
        m = mask.to(torch.bool).reshape(tuple(mask.shape) + (1,) * (per_node.dim() - mask.dim()))
        m = m.expand_as(per_node)
        # where() rather than multiplication so that inf/nan in padded positions cannot leak in.
        per_node = torch.where(m, per_node, torch.zeros_like(per_node))
        count = m.sum()
    else:
        count = torch.tensor(per_node.numel(), device=per_node.device)
    if reduction == "none":
        return per_node
    total = per_node.sum()
    if reduction == "sum":
        return total
    return total / count.clamp(min=1).to(total.dtype)


def _promote(logits: Tensor) -> Tensor:
    """Half-precision logits are evaluated in float32 (exp/log of ratios need the range)."""
    return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits


def _check(student_logits: Tensor, teacher_logits: Tensor, iw_clip: float | None) -> None:
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student_logits {tuple(student_logits.shape)} and teacher_logits "
            f"{tuple(teacher_logits.shape)} must have the same shape"
        )
    if student_logits.dim() < 1:
        raise ValueError("logits need a class dimension (the last one)")
    if iw_clip is not None and not iw_clip > 0:
        raise ValueError(f"iw_clip must be > 0 or None, got {iw_clip}")


def alpha_divergence(
    student_logits: Tensor,
    teacher_logits: Tensor,
    alpha: float,
    mask: Tensor | None = None,
    iw_clip: float | None = 5.0,
    reduction: str = "sum",
) -> Tensor:
    """Alpha-divergence D_alpha(p || q), p = softmax(teacher), q = softmax(student); see the module docstring.

    Args:
      student_logits: (..., V), e.g. (B, T, prune_range, V) pruned joiner logits of the student subnet.
      teacher_logits: same shape; detached here (the teacher gets no gradient from this loss).
      alpha: the divergence order; 1 is KL(p || q) (standard KD), 0 is KL(q || p).
      mask: optional bool/0-1 tensor over the leading dims, e.g. (B, T) valid frames; False positions
        contribute nothing (their logits may hold anything).
      iw_clip: clip of the importance weight (p/q)^alpha (AlphaNet: 5.0); None disables clipping.
      reduction: "sum" over valid positions, "mean" over valid positions (each lattice node counts once),
        or "none" (per-position divergence of shape logits.shape[:-1], zero at masked positions).

    Returns:
      the divergence, with AlphaNet's clipped-importance-weight gradient w.r.t. student_logits.
    """
    _check(student_logits, teacher_logits, iw_clip)
    logits = _promote(student_logits)
    with torch.no_grad():
        log_q = torch.log_softmax(logits, dim=-1)
        q = log_q.exp()
    div, q_rho = _divergence_and_weights(log_q, teacher_log_probs(teacher_logits), float(alpha), iw_clip, q)
    return _reduce(_with_gradient(div, q_rho, q, logits), mask, reduction)


def adaptive_alpha_divergence(
    student_logits: Tensor,
    teacher_logits: Tensor,
    alpha_min: float = -1.0,
    alpha_max: float = 1.0,
    iw_clip: float | None = 5.0,
    mask: Tensor | None = None,
    reduction: str = "sum",
    teacher_logp: Tensor | None = None,
) -> Tensor:
    """AlphaNet's adaptive alpha-divergence: max(D_alpha_min, D_alpha_max) per distribution (AlphaNet).

    Each lattice node (one distribution over V) takes the value and gradient of whichever of the two
    divergences is larger there (ties go to alpha_max, as AlphaNet's reference code). Arguments as
    `alpha_divergence`; default [-1, 1] as AlphaNet and TODM. teacher_logp: `teacher_log_probs(teacher_logits)`
    when the caller has it already (in-place KD: one teacher, several students per step).
    """
    _check(student_logits, teacher_logits, iw_clip)
    if not alpha_min < alpha_max:
        raise ValueError(f"need alpha_min < alpha_max, got alpha_min={alpha_min}, alpha_max={alpha_max}")
    log_p = teacher_log_probs(teacher_logits) if teacher_logp is None else teacher_logp
    # One student log_softmax serves both divergences and the gradient; p is shared by both too.
    logits = _promote(student_logits)
    with torch.no_grad():
        log_q = torch.log_softmax(logits, dim=-1)
        q, p = log_q.exp(), log_p.exp()
    div_lo, q_rho_lo = _divergence_and_weights(log_q, log_p, float(alpha_min), iw_clip, q, p)
    div_hi, q_rho_hi = _divergence_and_weights(log_q, log_p, float(alpha_max), iw_clip, q, p)
    pick_lo = div_lo > div_hi
    div = torch.where(pick_lo, div_lo, div_hi)
    q_rho = torch.where(pick_lo.unsqueeze(-1), q_rho_lo, q_rho_hi)
    return _reduce(_with_gradient(div, q_rho, q, logits), mask, reduction)
