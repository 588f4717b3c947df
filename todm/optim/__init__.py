"""ScaledAdam optimizer and Eden learning-rate schedule.

Both follow icefall (k2-fsa/icefall, egs/librispeech/ASR/zipformer/optim.py) and the Zipformer paper
(Yao et al., ICLR 2024, arXiv 2310.11230, the ScaledAdam and Eden sections). TODM (Shangguan et
al. 2023, arXiv 2309.01947) trains its supernet with this pair. The code here is written afresh, one
parameter tensor at a time (icefall stacks same-shape tensors for GPU speed; the arithmetic is the same).

Typical use::

    optimizer = make_optimizer(model.parameters(), name="scaled_adam", lr=0.045)
    scheduler = Eden(optimizer, lr_batches=7500, lr_epochs=3.5)
    for epoch in ...:
        scheduler.step_epoch(epoch - 1)
        for batch in ...:
            loss.backward(); optimizer.step(); optimizer.zero_grad()
            scheduler.step_batch(batch_idx_train)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from todm.optim.eden import Eden
from todm.optim.scaled_adam import ClippingStats, ScaledAdam

__all__ = ["DEFAULT_LR", "OPTIMIZER_NAMES", "ClippingStats", "Eden", "ScaledAdam", "make_optimizer"]


OPTIMIZER_NAMES = ("scaled_adam", "adam")
DEFAULT_LR = {"scaled_adam": 0.045, "adam": 2.0e-3}


def make_optimizer(
    model_params: Iterable[Tensor] | Iterable[dict[str, Any]],
    name: str = "scaled_adam",
    lr: float | None = None,
    clipping_scale: float | None = 2.0,
    betas: tuple[float, float] = (0.9, 0.98),
    eps: float = 1.0e-8,
    weight_decay: float = 0.0,
) -> Optimizer:
    """Builds the training optimizer; both kinds are meant to be driven by `Eden`.

    Args:
      model_params: parameters or parameter groups.
      name: "scaled_adam" (TODM's choice) or "adam" (the ablation: torch.optim.Adam).
      lr: base learning rate. Default 0.045 for ScaledAdam (icefall zipformer). For Adam the update is not
        relative to parameter size, so the lr is absolute: default 2e-3, the near-constant lr that trained
        the CPU prototypes this recipe started from; with Eden the effective lr then decays from there.
      clipping_scale: ScaledAdam's adaptive clipping (ignored by Adam: clip in the trainer with
        torch.nn.utils.clip_grad_norm_ if wanted).
      betas: (beta1, beta2) for either optimizer; icefall's (0.9, 0.98).
      eps: denominator epsilon for either optimizer.
      weight_decay: plain Adam only (ScaledAdam's scale limits play this role); must be 0 for ScaledAdam.
    """
    if name == "scaled_adam":
        if weight_decay != 0.0:
            raise ValueError("weight_decay is not supported by ScaledAdam (its param_max_rms bounds sizes)")
        return ScaledAdam(
            model_params,
            lr=DEFAULT_LR[name] if lr is None else lr,
            clipping_scale=clipping_scale,
            betas=betas,
            eps=eps,
        )
    if name == "adam":
        return torch.optim.Adam(
            model_params,
            lr=DEFAULT_LR[name] if lr is None else lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
        )
    raise ValueError(f"name must be one of {OPTIMIZER_NAMES}, got {name!r}")
