"""The training objective of one step: for each sampled subnet, pruned RNN-T (+ CTC helper) (+ in-place KD).

`StepObjective` is the module DDP wraps: its forward runs all of the step's subnets. Follows icefall's pruned_transducer model.forward: the
decoder reads blank-prepended targets, the simple loss gives the prune ranges, the joiner runs on the
pruned lattice only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from todm.data.loader import Batch
from todm.distill import adaptive_alpha_divergence, teacher_log_probs
from todm.model import SubnetConfig, Transducer
from todm.rnnt import PrunedRnntOutput, pruned_rnnt_loss
from todm.train.sandwich import SampledSubnet

logger = logging.getLogger(__name__)


@dataclass
class TeacherOutput:
    """What the largest subnet hands to the students: its pruned-lattice logits and the ranges."""

    logits: Tensor  # (N, T', prune_range, V), detached
    ranges: Tensor  # (N, T', prune_range)
    log_probs: Tensor | None = None  # log_softmax(logits), computed once for all students of the step


@dataclass
class LossSettings:
    """Per-step scales (icefall warm-up of simple/pruned, CTC helper, KD ramp) and lattice settings."""

    simple_scale: float
    pruned_scale: float
    ctc_scale: float
    kd_scale: float
    prune_range: int = 5
    am_scale: float = 0.0
    lm_scale: float = 0.0
    alpha_min: float = -1.0
    alpha_max: float = 1.0
    iw_clip: float = 5.0
    # The students' own transducer + CTC losses, relative (the teacher's stay at 1): 1 trains each student on
    # labels and KD, 0 on KD alone (AlphaNet's students).
    student_label_scale: float = 1.0


@dataclass
class SubnetLosses:
    """Summed (over utterances) losses of one subnet, plus the teacher material when it is the largest."""

    total: Tensor
    simple: Tensor
    pruned: Tensor
    ctc: Tensor
    kd: Tensor
    num_frames: Tensor  # scalar, on the training device (read back at log time)
    teacher: TeacherOutput


@dataclass
class StepLosses:
    """The step's total (what backward runs on) and each member's losses, in member order."""

    total: Tensor
    members: list[SubnetLosses]


class StepObjective(nn.Module):
    """Wraps the supernet; forward(batch, members, settings) returns the losses of one training step.

    The shared parts (front end, decoder) run once per step; each member's elastic layers run on their
    output. The first member is the KD teacher of the others. One module call per step keeps DDP simple:
    one forward, one backward, one gradient all-reduce.
    """

    def __init__(self, model: Transducer, compile_kd: bool = False) -> None:
        """compile_kd: run the alpha-divergence through torch.compile. It is ~20 element-wise passes over the
        (N, T', prune_range, V) logits per student, which inductor fuses into a few loops: on CPU ~5x faster
        for a one-time compile of ~30 s (dynamic shapes, so new batch shapes do not recompile)."""
        super().__init__()
        self.model = model
        self.kd_loss = adaptive_alpha_divergence
        if compile_kd:
            self.kd_loss = compiled_or_eager(adaptive_alpha_divergence)

    def forward(
        self,
        batch: Batch,
        members: list[SampledSubnet],
        settings: LossSettings,
        teacher_model: Transducer | None = None,
    ) -> StepLosses:
        """teacher_model: the students learn from this model's first-member subnet (no dropout, no gradient,
        e.g. an EMA of the weights) instead of from the first member as trained in this step; the first
        member learns from labels in either case."""
        model = self.model
        distill = settings.kd_scale > 0 and len(members) > 1
        teacher = None
        if distill and teacher_model is not None:
            teacher = self.teacher_output(teacher_model, members[0].subnet, batch, settings)
        frontend_out, encoder_lens, decoder_out = shared_inputs(model, batch)
        results = []
        with model.encoder.shared_kernel_spectra():
            for i, member in enumerate(members):
                encoder_out = model.forward_layers(frontend_out, encoder_lens, member.subnet, member.dropout)
                losses = self.subnet_losses(
                    encoder_out, encoder_lens, decoder_out, batch, settings, teacher if i > 0 else None
                )
                if distill and teacher is None:  # the first member teaches in place
                    teacher = losses.teacher
                    teacher.log_probs = teacher_log_probs(teacher.logits)
                results.append(losses)
        return StepLosses(total=sum(r.total for r in results), members=results)

    @torch.no_grad()
    def teacher_output(
        self, teacher_model: Transducer, subnet: SubnetConfig, batch: Batch, settings: LossSettings
    ) -> TeacherOutput:
        """A separate teacher's pruned-lattice logits and ranges on this batch (its own simple loss picks
        the ranges, as the in-place teacher's does)."""
        frontend_out, encoder_lens, decoder_out = shared_inputs(teacher_model, batch)
        with teacher_model.encoder.shared_kernel_spectra():
            encoder_out = teacher_model.forward_layers(frontend_out, encoder_lens, subnet, 0.0)
        rnnt = pruned_lattice_loss(teacher_model, encoder_out, encoder_lens, decoder_out, batch, settings)
        return TeacherOutput(rnnt.logits, rnnt.ranges, teacher_log_probs(rnnt.logits))

    def subnet_losses(
        self,
        encoder_out: Tensor,
        encoder_lens: Tensor,
        decoder_out: Tensor,
        batch: Batch,
        settings: LossSettings,
        teacher: TeacherOutput | None,
    ) -> SubnetLosses:
        """Pruned RNN-T (+ CTC helper) (+ KD towards `teacher`) of one subnet's encoder output."""
        model = self.model
        ranges = None if teacher is None else teacher.ranges
        rnnt = pruned_lattice_loss(model, encoder_out, encoder_lens, decoder_out, batch, settings, ranges)
        zero = encoder_out.new_zeros(())
        ctc = zero
        if model.ctc_output is not None and settings.ctc_scale > 0:
            ctc = ctc_loss(
                model.ctc_output(encoder_out),
                encoder_lens,
                batch.targets,
                batch.target_lens,
                model.cfg.blank_id,
            )
        kd = zero
        if teacher is not None:
            kd = self.kd_loss(
                rnnt.logits,
                teacher.logits,
                alpha_min=settings.alpha_min,
                alpha_max=settings.alpha_max,
                iw_clip=settings.iw_clip,
                mask=lattice_mask(encoder_lens, batch.target_lens, teacher.ranges),
                reduction="sum",
                teacher_logp=teacher.log_probs,
            )
        label_scale = 1.0 if teacher is None else settings.student_label_scale
        label = (
            settings.simple_scale * rnnt.simple_loss
            + settings.pruned_scale * rnnt.pruned_loss
            + settings.ctc_scale * ctc
        )
        total = label_scale * label + settings.kd_scale * kd
        return SubnetLosses(
            total=total,
            simple=rnnt.simple_loss.detach(),
            pruned=rnnt.pruned_loss.detach(),
            ctc=ctc.detach(),
            kd=kd.detach(),
            num_frames=encoder_lens.sum(),
            teacher=TeacherOutput(rnnt.logits.detach(), rnnt.ranges),
        )


def shared_inputs(model: Transducer, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
    """What every subnet of a step reads: the front end's output and lengths, and the decoder's output on the
    blank-prepended targets."""
    frontend_out, encoder_lens = model.forward_frontend(batch.features, batch.feature_lens)
    decoder_out = model.decoder(F.pad(batch.targets, (1, 0), value=model.cfg.blank_id))
    return frontend_out, encoder_lens, decoder_out


def pruned_lattice_loss(
    model: Transducer,
    encoder_out: Tensor,
    encoder_lens: Tensor,
    decoder_out: Tensor,
    batch: Batch,
    settings: LossSettings,
    ranges: Tensor | None = None,
) -> PrunedRnntOutput:
    """Pruned RNN-T of `model`'s joiner on one encoder output; `ranges`: a teacher's lattice instead of the
    ranges this output's own simple loss picks."""
    return pruned_rnnt_loss(
        encoder_out=encoder_out,
        encoder_out_lens=encoder_lens,
        decoder_out=decoder_out,
        targets=batch.targets,
        target_lens=batch.target_lens,
        joiner=model.joiner,
        simple_am_proj=model.simple_am_proj,
        simple_lm_proj=model.simple_lm_proj,
        blank_id=model.cfg.blank_id,
        prune_range=settings.prune_range,
        am_scale=settings.am_scale,
        lm_scale=settings.lm_scale,
        ranges=ranges,
    )


def compiled_or_eager(fn: Callable, backend: str | Callable = "inductor") -> Callable:
    """torch.compile(fn, dynamic=True), or fn itself (with one warning) where the compiler fails on this
    machine: inductor's C++ code does not build on every CPU (e.g. torch's scalar kernels,
    ATEN_CPU_CAPABILITY=default), and training should go on at eager speed rather than stop."""
    compiled = torch.compile(fn, dynamic=True, backend=backend)
    failed = False

    def call(*args, **kwargs):
        nonlocal failed
        if not failed:
            try:
                return compiled(*args, **kwargs)
            except torch._dynamo.exc.BackendCompilerFailed as e:
                logger.warning(
                    "torch.compile of %s failed (%s); running it eagerly", fn.__name__, str(e)[:200]
                )
                failed = True
        return fn(*args, **kwargs)

    return call


def ctc_loss(logits: Tensor, logit_lens: Tensor, targets: Tensor, target_lens: Tensor, blank: int) -> Tensor:
    """CTC helper loss (icefall's --use-ctc), summed over utterances. logits: (N, T, V)."""
    log_probs = logits.log_softmax(-1).transpose(0, 1)  # (T, N, V)
    return F.ctc_loss(
        log_probs, targets, logit_lens, target_lens, blank=blank, reduction="sum", zero_infinity=True
    )


def lattice_mask(encoder_lens: Tensor, target_lens: Tensor, ranges: Tensor) -> Tensor:
    """(N, T, R) bool: lattice nodes inside each utterance (frame < T_n and symbol position <= S_n)."""
    frames = torch.arange(ranges.size(1), device=ranges.device)
    frame_ok = frames.view(1, -1, 1) < encoder_lens.view(-1, 1, 1)
    return frame_ok & (ranges <= target_lens.view(-1, 1, 1))
