"""Which subnets one training step trains, with which dropout, and the per-step loss scales.

Sandwich rule (BigNAS, Yu et al. 2020; used by TODM): every step trains the largest subnet, the smallest,
and `num_random` uniformly sampled ones. The largest comes first because it is the in-place KD teacher.
The draw is seeded by (seed, step) only, so every DDP rank trains the same subnets at each step and a
resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from todm.dropout import adaptive_dropout
from todm.model import SubnetConfig, SupernetConfig, largest, num_params, sample_subnet, smallest


@dataclass
class SampledSubnet:
    """One member of a step's sandwich."""

    kind: str  # "largest" | "smallest" | "random"
    subnet: SubnetConfig
    dropout: float


def step_subnets(
    cfg: SupernetConfig,
    step: int,
    seed: int,
    num_random: int,
    sandwich: bool,
    dropout_min: float,
    dropout_max: float,
    adaptive: bool,
    fixed_subnet: SubnetConfig | None = None,
    largest_only_steps: int = 0,
) -> list[SampledSubnet]:
    """The subnets trained at `step`, the KD teacher first.

    sandwich=False (ablation, "random subnets only"): num_random + 2 random subnets, the same number of
    passes as a sandwich step; the biggest of them is the teacher. fixed_subnet: one-by-one baseline
    training of a standalone model (that architecture only), with one dropout rate, dropout_max: adaptive
    dropout is a rule for many sizes sharing weights. adaptive=False: every subnet uses dropout_max (fixed
    dropout). largest_only_steps: a supernet run (sandwich or random-only) trains only the largest subnet
    for its first steps (the blank-only phase ends after a number of updates, and a largest-only step
    costs 0.44x a sandwich step on CPU, so it ends sooner in wall time).
    """
    big, small = num_params(cfg, largest(cfg)), num_params(cfg, smallest(cfg))

    def member(kind: str, subnet: SubnetConfig) -> SampledSubnet:
        if not adaptive:
            return SampledSubnet(kind, subnet, dropout_max)
        rate = adaptive_dropout(num_params(cfg, subnet), big, small, dropout_min, dropout_max)
        return SampledSubnet(kind, subnet, rate)

    if fixed_subnet is not None:
        return [SampledSubnet("fixed", fixed_subnet, dropout_max)]
    rng = random.Random(f"{seed}-{step}")
    if step <= largest_only_steps:  # the same warm-up in every arm, the random-only ablation too
        return [member("largest", largest(cfg))]
    if not sandwich:
        randoms = [sample_subnet(cfg, rng) for _ in range(num_random + 2)]
        randoms.sort(key=lambda s: num_params(cfg, s), reverse=True)
        return [member("random", s) for s in randoms]
    members = [member("largest", largest(cfg)), member("smallest", smallest(cfg))]
    members += [member("random", sample_subnet(cfg, rng)) for _ in range(num_random)]
    return members


def warmup_loss_scales(step: int, warm_step: int, simple_loss_scale: float) -> tuple[float, float]:
    """icefall's pruned-RNN-T warm-up: (simple scale 1 -> s, pruned scale 0.1 -> 1) over warm_step batches."""
    if step >= warm_step:
        return simple_loss_scale, 1.0
    frac = step / warm_step
    return 1.0 - frac * (1.0 - simple_loss_scale), 0.1 + 0.9 * frac


def kd_scale_at(step: int, kd_scale: float, kd_start: int, kd_ramp: int) -> float:
    """KD weight: off until the teacher has learnt something (kd_start), then a linear ramp to kd_scale."""
    if kd_scale <= 0 or step < kd_start:
        return 0.0
    if kd_ramp <= 0:
        return kd_scale
    return kd_scale * min(1.0, (step - kd_start) / kd_ramp)
