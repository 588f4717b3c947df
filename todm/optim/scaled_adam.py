"""ScaledAdam (Zipformer paper; icefall zipformer/optim.py), written afresh: each tensor is updated on its own
terms, the updates of a group issued together as torch._foreach_* calls."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

logger = logging.getLogger(__name__)

# Steps at which the clipping threshold is estimated early (before the first full period), with a doubled
# threshold because the gradient norm still changes fast then (icefall's `irregular_estimate_steps`).
_EARLY_ESTIMATE_STEPS = (10, 20, 40)


@dataclass
class ClippingStats:
    """Gradient-clipping statistics of one parameter group after the last `step()` (for logging).

    Attributes:
      grad_norm: norm of the parameter-scaled gradient of the group (see `ScaledAdam`), before clipping.
      scale: factor the gradients were multiplied by (1.0 means not clipped).
      threshold: current clipping threshold (`clipping_scale` x median recent norm), None until estimated.
      percent_clipped: percentage of steps clipped during the previous estimation period.
      quartiles: min, 25%, median, 75%, max of the recent norms at the last threshold estimate.
    """

    grad_norm: float | Tensor = (
        0.0  # a 0-dim tensor on the parameters' device after a step (read when logged)
    )
    scale: float | Tensor = 1.0
    threshold: float | None = None
    percent_clipped: float = 0.0
    quartiles: list[float] = field(default_factory=list)


class ScaledAdam(Optimizer):
    """Adam whose update is relative to each parameter tensor's size, with learned size and adaptive clipping.

    For a non-scalar tensor ``p`` (``numel > 1``) with root-mean-square value ``r = rms(p)``:

    1. Adam without first-moment bias correction: ``v = b2 v + (1 - b2) g^2``;
       ``delta = -lr * g / (sqrt(v / (1 - b2^n)) + eps)`` (the 1/(1 - b2^n) correction only while it is
       > 1/0.99, as icefall).
    2. Scale the update by the parameter's RMS, ``delta *= max(r, param_min_rms)``, so the *relative*
       change of every tensor is about ``lr`` whatever its size (the paper's main point). ``r`` is refreshed
       every ``size_update_period`` steps.
    3. Learn the tensor's scale: factor ``p = r * p'`` and take an Adam step on ``log r`` whose gradient is
       ``sum(p * g)``; accumulated over ``size_update_period`` steps and applied as ``delta += p * s`` with
       ``s = -lr * scalar_lr_scale * sum(p.g) / sqrt(E[(p.g)^2])`` clamped to [-0.1, 0.1], not shrinking
       below ``param_min_rms`` and never pushing ``r`` above ``param_max_rms``.
    4. Momentum on the update: ``m = b1 m + (1 - b1) delta; p += m`` (no b1 bias correction).

    Scalar parameters (``numel == 1``) get plain step 1 with ``lr * scalar_lr_scale`` and momentum, and are
    clamped to ``[-scalar_max, scalar_max]``.

    Gradient clipping (per parameter group): the norm of the "scaled" gradient -- ``g * r`` for tensors,
    ``g * scalar_lr_scale`` for scalars, i.e. the gradient in units of the update it causes -- is compared
    with ``clipping_scale`` times the median of the last ``clipping_update_period`` norms; above it, all
    gradients of the group are scaled down to the threshold. The threshold is re-estimated every
    ``clipping_update_period`` steps (and early at steps 10, 20, 40 with a 2x margin); there is no clipping
    before step 10. The last statistics are in ``clipping_stats`` (one `ClippingStats` per group).

    Args:
      params: parameters or parameter groups, as for any torch optimizer.
      lr: learning rate; icefall's zipformer uses a base lr of 0.045 with Eden.
      clipping_scale: clip at this multiple of the median recent gradient norm; None disables clipping.
      betas: (b1, b2) momentum and second-moment decay constants.
      scalar_lr_scale: lr factor for scalar parameters and for learning tensor scales.
      eps: added to the denominator sqrt(v).
      param_min_rms: lower limit of a tensor's RMS used to scale its update; the scale stops shrinking below.
      param_max_rms: upper limit of a tensor's RMS.
      scalar_max: scalar parameters are clamped to [-scalar_max, scalar_max].
      size_update_period: steps between updates of a tensor's RMS and scale.
      clipping_update_period: number of recent norms kept, and steps between threshold estimates.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.045,
        clipping_scale: float | None = 2.0,
        betas: tuple[float, float] = (0.9, 0.98),
        scalar_lr_scale: float = 0.1,
        eps: float = 1.0e-8,
        param_min_rms: float = 1.0e-5,
        param_max_rms: float = 3.0,
        scalar_max: float = 10.0,
        size_update_period: int = 4,
        clipping_update_period: int = 100,
    ) -> None:
        if lr <= 0.0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if clipping_scale is not None and clipping_scale <= 0.0:
            raise ValueError(f"clipping_scale must be > 0 or None, got {clipping_scale}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 < betas[1] < 1.0):
            raise ValueError(f"betas must lie in [0, 1) x (0, 1), got {betas}")
        if eps <= 0.0:
            raise ValueError(f"eps must be > 0, got {eps}")
        if not 0.0 < param_min_rms < param_max_rms:
            raise ValueError(
                f"need 0 < param_min_rms < param_max_rms, got param_min_rms={param_min_rms}, "
                f"param_max_rms={param_max_rms}"
            )
        if size_update_period < 1:
            raise ValueError(f"size_update_period must be >= 1, got {size_update_period}")
        if clipping_update_period < 1:
            raise ValueError(f"clipping_update_period must be >= 1, got {clipping_update_period}")
        defaults = {
            "lr": lr,
            "clipping_scale": clipping_scale,
            "betas": betas,
            "scalar_lr_scale": scalar_lr_scale,
            "eps": eps,
            "param_min_rms": param_min_rms,
            "param_max_rms": param_max_rms,
            "scalar_max": scalar_max,
            "size_update_period": size_update_period,
            "clipping_update_period": clipping_update_period,
        }
        super().__init__(params, defaults)
        self.clipping_stats: list[ClippingStats] = [ClippingStats() for _ in self.param_groups]

    @property
    def last_grad_norm(self) -> float:
        """Scaled gradient norm of the last step over all groups (before clipping); reads it from the device."""
        return math.sqrt(sum(float(s.grad_norm) ** 2 for s in self.clipping_stats))

    @property
    def last_clip_scale(self) -> float:
        """Smallest clipping factor applied to any group in the last step (1.0: no clipping)."""
        return min((float(s.scale) for s in self.clipping_stats), default=1.0)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Performs one optimization step; parameters whose ``.grad`` is None are skipped."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if len(self.clipping_stats) != len(self.param_groups):  # add_param_group was called
            self.clipping_stats += [ClippingStats() for _ in self.param_groups[len(self.clipping_stats) :]]

        for group, stats in zip(self.param_groups, self.clipping_stats):
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                if p.grad.is_sparse:
                    raise RuntimeError("ScaledAdam does not support sparse gradients")
                if "step" not in self.state[p]:  # the state may already hold the group's clipping stats
                    self._init_state(group, p)
            scale = self._clipping_scale(group, params, stats)
            self._update(group, params, _scaled_grads([p.grad for p in params], scale))
        return loss

    def _init_state(self, group: dict[str, Any], p: Tensor) -> None:
        state = self.state[p]
        state["step"] = 0
        # All state lives in the parameter's dtype: Optimizer.load_state_dict casts floating tensors to it,
        # and a resumed run must see exactly the same numbers.
        state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["delta"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if p.numel() > 1:
            state["param_rms"] = _rms(p)
            state["scale_grads"] = torch.zeros(group["size_update_period"], dtype=p.dtype, device=p.device)
            state["scale_exp_avg_sq"] = torch.zeros((), dtype=p.dtype, device=p.device)

    def _clipping_scale(self, group: dict[str, Any], params: list[Tensor], stats: ClippingStats) -> float:
        """Returns the factor (<= 1) to multiply this group's gradients by; updates `stats`."""
        # Group-level clipping state is kept in the first parameter's state (as icefall does), so it is
        # saved and restored by the ordinary Optimizer.state_dict machinery.
        first = group["params"][0]
        gstate = self.state[first]
        period = group["clipping_update_period"]
        if "clip_step" not in gstate:
            gstate["clip_step"] = 0
            gstate["clip_norms"] = torch.zeros(period, dtype=first.dtype, device=first.device)
            gstate["clip_threshold"] = None
            gstate["clip_num_clipped"] = 0
        step = gstate["clip_step"]
        gstate["clip_step"] = step + 1

        sumsq = torch.zeros((), dtype=first.dtype, device=first.device)
        for p in params:
            if p.numel() == 1:
                sumsq += (p.grad.to(first.dtype) * group["scalar_lr_scale"]).pow(2).sum()
            else:
                sumsq += (p.grad * self.state[p]["param_rms"]).to(first.dtype).pow(2).sum()
        norm = sumsq.sqrt()
        # Kept on the device: reading it back every step would stall a GPU; the statistics below are read once
        # per clipping period, and the trainer reads the norm when it logs.
        stats.grad_norm = norm
        stats.scale = 1.0
        clipping_scale = group["clipping_scale"]
        if clipping_scale is None or step == 0:
            # icefall skips step 0: no statistics exist yet.
            return 1.0

        gstate["clip_norms"][step % period] = norm
        early = step in _EARLY_ESTIMATE_STEPS and step < period
        if step % period == 0 or early:
            sorted_norms = gstate["clip_norms"].sort().values.cpu()
            if early:  # only `step` entries are filled so far; the rest are zeros at the front
                sorted_norms = sorted_norms[-step:]
            n = sorted_norms.numel()
            quartiles = [sorted_norms[min(n - 1, (n // 4) * k)].item() for k in range(5)]
            median = quartiles[2]
            if not math.isfinite(median):
                raise RuntimeError("ScaledAdam: too many non-finite gradient norms")
            threshold = clipping_scale * median * (2.0 if early else 1.0)
            stats.percent_clipped = 100.0 * float(gstate["clip_num_clipped"]) / n
            strongly = int(gstate.get("clip_num_strong", 0))
            stats.quartiles = quartiles
            gstate["clip_threshold"] = threshold
            gstate["clip_num_clipped"] = 0
            gstate["clip_num_strong"] = 0
            logger.info(
                "Clipping_scale=%s, grad-norm quartiles %s, threshold=%.3e, percent-clipped=%.1f",
                clipping_scale,
                " ".join(f"{q:.3e}" for q in quartiles),
                threshold,
                stats.percent_clipped,
            )
            if strongly:
                logger.warning("%d step(s) of the last period scaled their gradients by < 0.5", strongly)
        threshold = gstate["clip_threshold"]
        stats.threshold = threshold
        if threshold is None:
            return 1.0
        # A non-finite norm (inf/nan gradient) gives scale 0: the batch's gradient is dropped (as icefall).
        scale = torch.where(
            torch.isfinite(norm), (threshold / (norm + 1.0e-20)).clamp(max=1.0), torch.zeros_like(norm)
        )
        gstate["clip_num_clipped"] = gstate["clip_num_clipped"] + (scale < 1.0).to(torch.int64)
        gstate["clip_num_strong"] = gstate.get("clip_num_strong", 0) + (scale < 0.5).to(torch.int64)
        stats.scale = scale
        return scale

    def _update(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        """One update of every parameter of the group (steps 1-4 of the class docstring). The same operations
        in the same order on each tensor, issued as torch._foreach_* calls rather than ~15 small ops per
        tensor from Python (a step of the cpu_small supernet updates ~120 tensors)."""
        states = [self.state[p] for p in params]
        beta1, beta2 = group["betas"]
        scalar_lr = group["lr"] * group["scalar_lr_scale"]

        # 1. Adam-normalised step (second moment only; momentum comes last, on the full update).
        exp_avg_sqs = [state["exp_avg_sq"] for state in states]
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1.0 - beta2)
        corrections = [1.0 - beta2 ** (state["step"] + 1) for state in states]
        # icefall applies the correction only while it is large; its small residual slows the first steps.
        second_moments = [v / c if c < 0.99 else v for v, c in zip(exp_avg_sqs, corrections)]
        denominators = torch._foreach_sqrt(second_moments)
        torch._foreach_add_(denominators, group["eps"])
        deltas = torch._foreach_mul(grads, [-(scalar_lr if p.numel() == 1 else group["lr"]) for p in params])
        torch._foreach_div_(deltas, denominators)

        for p, grad, state, delta in zip(params, grads, states, deltas):  # 2-3, tensors only
            if p.numel() > 1:
                self._scale_delta(group, p, grad, state, delta)

        # 4. Momentum on the whole update (no beta1 bias correction: a slower start is harmless).
        stored = [state["delta"] for state in states]
        torch._foreach_mul_(stored, beta1)
        torch._foreach_add_(stored, deltas, alpha=1.0 - beta1)
        torch._foreach_add_(params, stored)
        for p, state in zip(params, states):
            if p.numel() == 1:
                p.clamp_(min=-group["scalar_max"], max=group["scalar_max"])
            state["step"] += 1

    @staticmethod
    def _scale_delta(
        group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any], delta: Tensor
    ) -> None:
        """Steps 2 and 3: make `delta` relative to rms(p), and periodically add a learned-scale step."""
        step = state["step"]
        period = group["size_update_period"]
        param_rms = state["param_rms"]
        scale_grads = state["scale_grads"]
        # d loss / d log(scale) = sum(p * g): the gradient if p were written as p' * exp(log_scale).
        scale_grads[step % period] = (p * grad).sum()
        last_of_period = step % period == period - 1
        if last_of_period:
            param_rms.copy_(_rms(p))

        delta.mul_(param_rms.clamp(min=group["param_min_rms"]))

        if last_of_period and step > 0:
            beta2 = group["betas"][1]
            # One size update per `period` steps, so the decay per update is beta2**period.
            beta2_period = beta2**period
            scale_exp_avg_sq = state["scale_exp_avg_sq"]
            scale_exp_avg_sq.mul_(beta2_period).add_((scale_grads**2).mean(), alpha=1.0 - beta2_period)
            size_step = (step + 1) // period
            bias_correction2 = 1.0 - beta2_period**size_step
            size_lr = group["lr"] * group["scalar_lr_scale"]
            scale_step = (
                -size_lr
                * bias_correction2**0.5
                * scale_grads.sum()
                / (scale_exp_avg_sq.sqrt() + group["eps"])
            )
            # A tensor already below param_min_rms gets no scale step (icefall zeroes it, which also stops
            # any further shrinking); its ordinary updates still use param_min_rms as their scale.
            scale_step = torch.where(
                param_rms < group["param_min_rms"], torch.zeros_like(scale_step), scale_step
            )
            # Bounded step in log-scale for stability, and never beyond param_max_rms.
            scale_step = scale_step.clamp(min=-0.1, max=0.1)
            scale_step = torch.minimum(scale_step, (group["param_max_rms"] - param_rms) / param_rms)
            delta.add_(p * scale_step)


def _scaled_grads(grads: list[Tensor], scale: float | Tensor) -> list[Tensor]:
    """The gradients times the clipping factor; a factor of 0 (non-finite norm) drops them (icefall), also
    where they hold inf or nan (which a product with 0 would keep)."""
    if not torch.is_tensor(scale):
        return grads
    if scale.device.type == "cpu":  # reading the factor costs nothing here: one product per tensor, no select
        return torch._foreach_mul(grads, scale) if bool(scale > 0) else [torch.zeros_like(g) for g in grads]
    return [torch.where(scale > 0, g * scale, torch.zeros_like(g)) for g in grads]


def _rms(p: Tensor) -> Tensor:
    """Root-mean-square of all elements, as a 0-dim tensor of p's dtype."""
    return p.detach().pow(2).mean().sqrt()
