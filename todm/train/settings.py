"""Typed training settings: what the Trainer needs, built once from train.py's command line.

Each group is one concern the library reads. The groups have no defaults of their own: train.py's parser is
the one home of the defaults, and `TrainingSettings.from_args` the one place that maps its arguments (by field
name) to settings, so train.py, the benchmarks and the tests build the same settings the same way.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from pathlib import Path

from todm.model import SubnetConfig, SupernetConfig

from .objective import LossSettings
from .sandwich import SampledSubnet, kd_scale_at, step_subnets, warmup_loss_scales

# train.py options (argparse dests) that act only through in-place KD: on a step whose KD weight is 0 (before
# --kd-start-batch, or --use-kd false) they change nothing, the students' label losses included.
KD_ONLY_OPTIONS = frozenset(
    {"use_kd", "kd_scale", "kd_ramp_batches", "alpha_min", "alpha_max", "student_label_scale"}
)
# train.py options that act only on steps training two or more subnets: KD, the sandwich rule and how many random
# subnets join the largest, and the dropout of subnets other than the largest (which gets --dropout-max with
# adaptive dropout or without). A supernet's largest-only warm-up steps are the same whatever they are set to, so
# runs differing only in these can start from one warm-up checkpoint (local/shared_steps.py).
# tests/test_shared_steps.py trains the warm-up with each of them changed and compares.
SANDWICH_ONLY_OPTIONS = KD_ONLY_OPTIONS | {
    "kd_start_batch",
    "sandwich",
    "num_random_subnets",
    "dropout_min",
    "adaptive_dropout",
}


def kd_off_through(options: dict, steps: int) -> bool:
    """True when the KD weight is 0 on every optimizer step 1..steps of a run with these train.py options (their
    argparse dests), so that KD_ONLY_OPTIONS and --kd-start-batch cannot have acted on those steps."""
    if not options["use_kd"]:
        return True
    weight = options["kd_scale"], options["kd_start_batch"], options["kd_ramp_batches"]
    return all(kd_scale_at(step, *weight) == 0.0 for step in range(1, steps + 1))


@dataclass(frozen=True)
class SandwichSettings:
    """Which subnets each step trains and their dropout (todm.train.sandwich)."""

    seed: int
    sandwich: bool
    num_random_subnets: int
    largest_only_batches: int
    adaptive_dropout: bool
    dropout_min: float
    dropout_max: float

    def members(
        self, cfg: SupernetConfig, step: int, fixed_subnet: SubnetConfig | None
    ) -> list[SampledSubnet]:
        return step_subnets(
            cfg,
            step,
            self.seed,
            self.num_random_subnets,
            self.sandwich,
            self.dropout_min,
            self.dropout_max,
            self.adaptive_dropout,
            fixed_subnet,
            self.largest_only_batches,
        )


@dataclass(frozen=True)
class LossSchedule:
    """The losses and how their scales move with the step (icefall's warm-up, the KD ramp)."""

    warm_step: int
    simple_loss_scale: float
    prune_range: int
    am_scale: float
    lm_scale: float
    use_ctc: bool
    ctc_loss_scale: float
    use_kd: bool
    kd_scale: float
    kd_start_batch: int
    kd_ramp_batches: int
    alpha_min: float
    alpha_max: float
    student_label_scale: float
    kd_teacher_decay: float  # 0: the step's largest subnet teaches in place; else an EMA of the weights does

    @property
    def ema_teacher(self) -> bool:
        return self.use_kd and self.kd_teacher_decay > 0

    @property
    def ctc_scale(self) -> float:
        return self.ctc_loss_scale if self.use_ctc else 0.0

    def at(self, step: int) -> LossSettings:
        """The loss settings of optimizer step `step` (1-based)."""
        simple, pruned = warmup_loss_scales(step, self.warm_step, self.simple_loss_scale)
        kd = (
            kd_scale_at(step, self.kd_scale, self.kd_start_batch, self.kd_ramp_batches)
            if self.use_kd
            else 0.0
        )
        # The students' label losses move from 1 to student_label_scale along the KD ramp, so that a student
        # is never left with neither labels nor a teacher.
        ramp = kd / self.kd_scale if self.kd_scale > 0 else 0.0
        return LossSettings(
            simple,
            pruned,
            self.ctc_scale,
            kd,
            self.prune_range,
            self.am_scale,
            self.lm_scale,
            self.alpha_min,
            self.alpha_max,
            student_label_scale=1.0 + (self.student_label_scale - 1.0) * ramp,
        )


@dataclass(frozen=True)
class OptimizerSettings:
    """Optimizer and Eden schedule (todm.optim)."""

    optimizer: str
    base_lr: float | None  # None: the optimizer's default
    ssm_lr_scale: float
    lr_batches: float
    lr_epochs: float
    warmup_batches: float


@dataclass(frozen=True)
class LoopSettings:
    """Where the loop writes, when it stops, logs, saves and averages; precision and compilation."""

    exp_dir: Path
    num_epochs: int
    max_steps: int
    max_train_minutes: float
    log_interval: int
    save_every_n: int
    keep_last_k: int
    average_period: int
    tensorboard: bool
    use_fp16: bool
    use_bf16: bool
    torch_compile: bool


@dataclass(frozen=True)
class TrainingSettings:
    """Everything the Trainer reads. `fixed_subnet`: a one-by-one baseline trains that architecture only (its
    standalone model's whole); `baseline_of`: the supernet architecture such a model is (decode/export map it)."""

    sandwich: SandwichSettings
    loss: LossSchedule
    optimizer: OptimizerSettings
    loop: LoopSettings
    fixed_subnet: SubnetConfig | None = None
    baseline_of: SubnetConfig | None = None

    @classmethod
    def from_args(
        cls,
        args: argparse.Namespace,
        fixed_subnet: SubnetConfig | None = None,
        baseline_of: SubnetConfig | None = None,
    ) -> TrainingSettings:
        """From train.py's parsed arguments (each group takes the attributes of its field names)."""

        def group(kind: type):
            return kind(**{f.name: getattr(args, f.name) for f in fields(kind)})

        loop = group(LoopSettings)
        return cls(
            group(SandwichSettings),
            group(LossSchedule),
            group(OptimizerSettings),
            LoopSettings(**{**vars(loop), "exp_dir": Path(loop.exp_dir)}),
            fixed_subnet,
            baseline_of,
        )
