"""The one RNN-T loss call the model makes: icefall's pruned-transducer sequence.

Follows icefall egs/librispeech/ASR/zipformer/model.py (forward_transducer): smoothed simple
loss in fp32 -> prune ranges -> project, prune, join -> pruned loss in fp32. Warm-up scaling of
the two losses is the trainer's job.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from todm.rnnt.loss import rnnt_loss_smoothed
from todm.rnnt.pruning import do_rnnt_pruning, get_rnnt_prune_ranges, rnnt_loss_pruned
from todm.rnnt.validate import (
    REDUCTIONS,
    RNNT_TYPES,
    Check,
    check_choice,
    check_float,
    finite_check,
    length_checks,
    raise_first,
    target_checks,
)


@dataclass
class PrunedRnntOutput:
    """What :func:`pruned_rnnt_loss` returns.

    simple_loss: the smoothed simple loss, reduced as asked ((B,) for "none", else scalar).
    pruned_loss: the RNN-T loss on the pruned lattice, reduced the same way.
    logits: (B, T, R, V) joiner output on the pruned lattice (R = ranges.shape[2]).
    ranges: int64 (B, T, R) symbol positions kept per frame; pass to the student's call to reuse.
    boundary: int64 (B, 4) rows [0, 0, target_len, encoder_out_len].
    """

    simple_loss: Tensor
    pruned_loss: Tensor
    logits: Tensor
    ranges: Tensor
    boundary: Tensor


def _validate(
    encoder_out: Tensor,
    encoder_out_lens: Tensor,
    decoder_out: Tensor,
    targets: Tensor,
    target_lens: Tensor,
    vocab_size: int,
    blank_id: int,
    prune_range: int,
    rnnt_type: str,
    reduction: str,
    ranges: Tensor | None,
) -> None:
    """Shape/type checks on the host, value checks fused into one device sync."""
    check_float("encoder_out", encoder_out)
    check_float("decoder_out", decoder_out)
    check_choice("rnnt_type", rnnt_type, RNNT_TYPES)
    check_choice("reduction", reduction, REDUCTIONS)
    if prune_range < 2:
        raise ValueError(f"prune_range must be >= 2 (no path survives a narrower lattice), got {prune_range}")
    if not 0 <= blank_id < vocab_size:
        raise ValueError(f"blank_id must be in [0, vocab_size={vocab_size}), got {blank_id}")
    if encoder_out.ndim != 3:
        raise ValueError(f"encoder_out must be (B, T, C_enc), got shape {tuple(encoder_out.shape)}")
    B, T, _ = encoder_out.shape
    if targets.ndim != 2 or targets.shape[0] != B:
        raise ValueError(f"targets must be (B={B}, S), got shape {tuple(targets.shape)}")
    S = targets.shape[1]
    if decoder_out.ndim != 3 or tuple(decoder_out.shape[:2]) != (B, S + 1):
        raise ValueError(
            f"decoder_out must be (B={B}, S+1={S + 1}, C_dec) (decoder run on blank-prepended targets), "
            f"got shape {tuple(decoder_out.shape)}"
        )
    for name, lens in (("encoder_out_lens", encoder_out_lens), ("target_lens", target_lens)):
        if tuple(lens.shape) != (B,):
            raise ValueError(f"{name} must have shape (B={B},), got {tuple(lens.shape)}")
    checks: list[Check] = length_checks("encoder_out_lens", encoder_out_lens, T, "encoder_out.size(1)")
    checks += length_checks("target_lens", target_lens, S, "targets.size(1)")
    checks += target_checks(targets, target_lens, vocab_size, blank_id)
    if rnnt_type != "regular":
        short = encoder_out_lens < target_lens
        checks.append(
            (
                short.any(),
                lambda: (
                    f"rnnt_type={rnnt_type!r} emits at most one symbol per frame, so it needs encoder_out_lens >= "
                    f"target_lens; got {int(encoder_out_lens[short][0])} frames for {int(target_lens[short][0])} targets"
                ),
            )
        )
    checks += [finite_check("encoder_out", encoder_out), finite_check("decoder_out", decoder_out)]
    if ranges is not None:
        if ranges.dtype != torch.int64 or ranges.ndim != 3 or tuple(ranges.shape[:2]) != (B, T):
            raise ValueError(
                f"ranges must be int64 (B={B}, T={T}, R), got {ranges.dtype} {tuple(ranges.shape)}"
            )
        R = ranges.shape[2]
        bad = (ranges[:, :, 0] < 0) | (ranges[:, :, 0] > S + 1 - R)
        checks.append(
            (
                bad.any(),
                lambda: (
                    f"ranges[..., 0] must be in [0, S+1-R={S + 1 - R}] for these targets (reused from another batch?)"
                ),
            )
        )
    raise_first(checks)


def pruned_rnnt_loss(
    encoder_out: Tensor,
    encoder_out_lens: Tensor,
    decoder_out: Tensor,
    targets: Tensor,
    target_lens: Tensor,
    joiner: nn.Module,
    simple_am_proj: nn.Module,
    simple_lm_proj: nn.Module,
    blank_id: int = 0,
    prune_range: int = 5,
    am_scale: float = 0.0,
    lm_scale: float = 0.0,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str = "sum",
    ranges: Tensor | None = None,
) -> PrunedRnntOutput:
    """Simple + pruned RNN-T losses of a transducer (Kuang et al. 2022; icefall's forward_transducer).

    Args:
      encoder_out: (B, T, C_enc); encoder_out_lens: (B,) int.
      decoder_out: (B, S+1, C_dec), the decoder run on blank-prepended targets.
      targets: int64 (B, S), padded (padding must be a valid id, e.g. blank); target_lens: (B,).
      joiner: has ``encoder_proj``, ``decoder_proj`` and ``joiner(enc, dec, project_input=False)``
        -> (..., V) logits on already-projected inputs.
      simple_am_proj: C_enc -> V; simple_lm_proj: C_dec -> V (the additive "simple" joiner).
      blank_id: blank/termination id. prune_range: symbols kept per frame (>= 2).
      am_scale, lm_scale: am_only_scale / lm_only_scale of the smoothed simple loss.
      rnnt_type, delay_penalty, reduction: as in :func:`todm.rnnt.rnnt_loss` (applied to both losses).
      ranges: (B, T, R) ranges to reuse (e.g. the teacher's in in-place distillation); then the
        simple loss is still computed but its occupation probabilities are not.
    Returns:
      :class:`PrunedRnntOutput`.
    """
    vocab_size = simple_am_proj.weight.shape[0]
    _validate(
        encoder_out,
        encoder_out_lens,
        decoder_out,
        targets,
        target_lens,
        vocab_size,
        blank_id,
        prune_range,
        rnnt_type,
        reduction,
        ranges,
    )
    B = encoder_out.shape[0]
    boundary = torch.zeros(B, 4, dtype=torch.int64, device=encoder_out.device)
    boundary[:, 2] = target_lens
    boundary[:, 3] = encoder_out_lens

    lm = simple_lm_proj(decoder_out)
    am = simple_am_proj(encoder_out)
    # icefall computes both losses in fp32 with autocast off.
    with torch.autocast(device_type=encoder_out.device.type, enabled=False):
        simple = rnnt_loss_smoothed(
            lm=lm.float(),
            am=am.float(),
            symbols=targets,
            termination_symbol=blank_id,
            lm_only_scale=lm_scale,
            am_only_scale=am_scale,
            boundary=boundary,
            rnnt_type=rnnt_type,
            delay_penalty=delay_penalty,
            reduction=reduction,
            return_grad=ranges is None,
        )
    if ranges is None:
        simple_loss, (px_grad, py_grad) = simple
        ranges = get_rnnt_prune_ranges(
            px_grad=px_grad, py_grad=py_grad, boundary=boundary, s_range=prune_range
        )
    else:
        simple_loss = simple

    # Project before pruning: R*T rows of the small projections instead of T*(S+1) (icefall).
    am_pruned, lm_pruned = do_rnnt_pruning(
        am=joiner.encoder_proj(encoder_out), lm=joiner.decoder_proj(decoder_out), ranges=ranges
    )
    logits = joiner(am_pruned, lm_pruned, project_input=False)
    check_float("joiner output (logits)", logits)
    with torch.autocast(device_type=encoder_out.device.type, enabled=False):
        pruned_loss = rnnt_loss_pruned(
            logits=logits.float(),
            symbols=targets,
            ranges=ranges,
            termination_symbol=blank_id,
            boundary=boundary,
            rnnt_type=rnnt_type,
            delay_penalty=delay_penalty,
            reduction=reduction,
        )
    return PrunedRnntOutput(simple_loss, pruned_loss, logits, ranges, boundary)
