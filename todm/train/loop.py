"""The supernet training loop: sandwich steps, in-place KD, DDP, icefall checkpoints, TensorBoard.

One batch, start to end: loader -> `to_batch` -> `SandwichSettings.members` (which subnets) -> `SubnetObjective`
(loss of each, largest first as teacher) -> backward (gradients accumulate; DDP syncs on the last
member) -> one optimizer step -> Eden.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from todm.checkpoint import (
    Progress,
    check_architecture,
    checkpoint_progress,
    load_model_state,
    read_checkpoint,
    remove_old_checkpoints,
    rng_state,
    save_checkpoint,
    set_rng_state,
    update_averaged_model,
    update_ema,
)
from todm.data.bpe import bpe_pieces, vocabulary_fingerprint
from todm.data.loader import to_batch
from todm.errors import UserError
from todm.machine import describe_machine
from todm.model import SubnetConfig, Transducer, largest, macs
from todm.optim import DEFAULT_LR, Eden, make_optimizer
from todm.rnnt.validate import value_checks
from todm.train.objective import StepObjective
from todm.train.settings import OptimizerSettings, TrainingSettings


@dataclass
class KindStats:
    """Loss sums per subnet kind since the last log line, normalised per frame when logged.

    The sums may be tensors on the training device: they are read back only in `per_frame`, at log time, so
    a GPU step does not wait for its losses to reach the host."""

    sums: dict = field(default_factory=dict)

    def add(self, kind: str, frames: int | torch.Tensor, **losses: float | torch.Tensor) -> None:
        entry = self.sums.setdefault(kind, {"frames": 0})
        entry["frames"] = entry["frames"] + frames
        for name, value in losses.items():
            entry[name] = entry.get(name, 0.0) + value

    def per_frame(self) -> dict[str, dict[str, float]]:
        return {
            kind: {k: float(v) / max(1.0, float(e["frames"])) for k, v in e.items() if k != "frames"}
            for kind, e in self.sums.items()
        }


class Trainer:
    """Owns model, optimizer, scheduler and the loop, as `settings` say (built by train.py)."""

    def __init__(
        self,
        settings: TrainingSettings,
        model: Transducer,
        sp,
        rank: int = 0,
        world_size: int = 1,
        train_data: str = "",
    ) -> None:
        """`train_data` names the cut stream the loader draws (train.py: the training parts); a checkpoint
        of another stream (the warm-up part's) restores everything but the sampler."""
        self.settings, self.sp, self.rank, self.world_size = settings, sp, rank, world_size
        self.train_data = train_data
        loop, opt = settings.loop, settings.optimizer
        self.exp_dir = Path(loop.exp_dir)
        # fp32 on CPU; on GPU one device per rank, with autocast under --use-bf16 or --use-fp16 (the latter
        # with a GradScaler: fp16 gradients underflow, bf16 ones have fp32's range).
        self.device = training_device(rank)
        self.amp_dtype = autocast_dtype(loop.use_fp16, loop.use_bf16, self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.model_avg = copy.deepcopy(model).to(torch.float64) if rank == 0 else None
        self.model = model.to(self.device)
        # --kd-teacher-decay: the students learn from an exponential moving average of the weights (a "mean
        # teacher": smoother targets than the step's own largest subnet) instead of from the largest in place.
        self.teacher_model: Transducer | None = None
        if settings.loss.ema_teacher and settings.fixed_subnet is None:
            self.teacher_model = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.optimizer = make_optimizer(parameter_groups(model, opt), name=opt.optimizer, lr=opt.base_lr)
        self.scheduler = Eden(
            self.optimizer, opt.lr_batches, opt.lr_epochs, warmup_batches=opt.warmup_batches
        )
        self.objective = StepObjective(model, compile_kd=loop.torch_compile)
        if world_size > 1:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            # Searching the graph for unused parameters costs a traversal per step; only steps without the
            # largest subnet (one-by-one or random-only training) or without the CTC head can leave any.
            self.objective = DistributedDataParallel(
                self.objective,
                device_ids=device_ids,
                find_unused_parameters=may_leave_parameters_unused(settings, model),
                gradient_as_bucket_view=True,
            )
        self.progress = Progress()
        self._cpu_mark, self._macs_since_sync = time.process_time(), 0
        self.fixed_subnet: SubnetConfig | None = settings.fixed_subnet
        # A one-by-one baseline: the supernet architecture this standalone model is (decode/export map it).
        self.baseline_of: SubnetConfig | None = settings.baseline_of
        self.tb = None
        if rank == 0 and loop.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(log_dir=str(self.exp_dir / "tensorboard"))

    # ---- checkpoints -------------------------------------------------------------------------------
    def resume(self, path: Path, sampler=None) -> None:
        """Restore everything from `path` so the run continues exactly where it stopped."""
        state = read_checkpoint(path)
        check_architecture(state, self.model.cfg, path)
        load_model_state(self.model, state["model"], path)
        if self.model_avg is not None and state.get("model_avg") is not None:
            load_model_state(self.model_avg, state["model_avg"], path)
        if self.teacher_model is not None:
            if state.get("kd_teacher") is not None:
                load_model_state(self.teacher_model, state["kd_teacher"], path)
            else:  # switched on at this resume: the average starts from the weights as they are
                self.teacher_model.load_state_dict(self.model.state_dict())
                logging.info("%s has no EMA teacher: it starts from the model's weights", path)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("grad_scaler"):
            self.scaler.load_state_dict(state["grad_scaler"])
        self.progress = Progress(**checkpoint_progress(state))
        if not same_train_data(state, self.train_data):
            # lhotse restores a sampler only over the cuts it was saved with: the new stream (after the warm-up
            # part) starts a fresh epoch instead of fast-forwarding through cuts it never saw.
            if self.progress.cur_batch_idx > 0:
                self.progress.cur_epoch, self.progress.cur_batch_idx = self.progress.cur_epoch + 1, 0
            logging.info(
                "training data changed since %s (%s -> %s): epoch %d starts on the new data",
                path,
                state.get("train_data"),
                self.train_data,
                self.progress.cur_epoch,
            )
        elif sampler is not None and state.get("sampler") is not None:
            sampler.load_state_dict(state["sampler"])
        # Each rank draws its own dropout masks and SpecAugment: it continues from its own state (checkpoints
        # of one process, or of another world size, hold rank 0's only).
        per_rank = state.get("rng_per_rank") or []
        set_rng_state(per_rank[self.rank] if len(per_rank) == self.world_size else state["rng"])
        logging.info(
            "resumed from %s at batch %d (epoch %d)",
            path,
            self.progress.batch_idx_train,
            self.progress.cur_epoch,
        )

    def sync_costs(self) -> None:
        """Add the CPU seconds and encoder MACs since the last call, summed over ranks, to progress."""
        now = time.process_time()
        local = torch.tensor(
            [now - self._cpu_mark, float(self._macs_since_sync)], dtype=torch.float64, device=self.device
        )
        self._cpu_mark, self._macs_since_sync = now, 0
        if self.world_size > 1:
            dist.all_reduce(local)
        self.progress.train_cpu_seconds += float(local[0])
        self.progress.train_encoder_macs += float(local[1])

    def save(self, path: Path, sampler=None) -> None:
        """Every rank calls this (it all-reduces the costs and gathers each rank's RNG state); rank 0 writes."""
        self.sync_costs()
        rng_per_rank = [rng_state()]
        if self.world_size > 1:
            rng_per_rank = [None] * self.world_size
            dist.all_gather_object(rng_per_rank, rng_state())
        if self.rank != 0:
            return
        save_checkpoint(
            path,
            self.model,
            self.model_avg,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            sampler=sampler,
            progress=vars(self.progress).copy(),
            average_period=self.settings.loop.average_period,
            grad_scaler=self.scaler,
            kd_teacher=self.teacher_model,
            fixed_subnet=None if self.fixed_subnet is None else self.fixed_subnet.to_dict(),
            baseline_of=None if self.baseline_of is None else self.baseline_of.to_dict(),
            rng_per_rank=rng_per_rank,
            train_data=self.train_data,
            vocabulary=None if self.sp is None else vocabulary_fingerprint(bpe_pieces(self.sp)),
        )

    # ---- one step ------------------------------------------------------------------------------------
    def train_step(self, batch, stats: KindStats | None = None) -> None:
        """One optimizer step on `batch` over the step's subnets (sandwich or fixed subnet)."""
        self.accumulate_gradients(batch, stats)
        step = self.progress.batch_idx_train + 1
        self.progress.batch_idx_train = step
        self.scheduler.step_batch(step)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.teacher_model is not None:
            update_ema(self.teacher_model, self.model, self.settings.loss.kd_teacher_decay)
        period = self.settings.loop.average_period
        if self.model_avg is not None and step % period == 0:
            update_averaged_model(self.model_avg, self.model, period, step)

    def accumulate_gradients(self, batch, stats: KindStats | None = None) -> None:
        """Forward/backward of every subnet of the next step; gradients summed (and reduced over ranks)."""
        step = self.progress.batch_idx_train + 1
        members = self.settings.sandwich.members(self.model.cfg, step, self.fixed_subnet)
        settings = self.settings.loss.at(step)
        cfg, frames = self.model.cfg, batch.feature_lens.tolist()
        self._macs_since_sync += sum(macs(cfg, m.subnet, n) for m in members for n in frames)
        self.optimizer.zero_grad(set_to_none=True)
        batch = batch.to(self.device)
        # The losses' input value checks read flags back from the device: every step on the CPU (free),
        # every log interval on a GPU (each read stalls the step).
        check_values = self.device.type == "cpu" or step % self.settings.loop.log_interval == 1
        with (
            value_checks(check_values),
            torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None),
        ):
            out = self.objective(batch, members, settings, self.teacher_model)
        # DDP averages gradients over ranks; scale so they equal the sum over the global batch.
        self.scaler.scale(out.total * self.world_size).backward()
        if stats is not None:  # device tensors: read back at log time only
            for member, losses in zip(members, out.members):
                stats.add(
                    member.kind,
                    losses.num_frames,
                    simple=losses.simple,
                    pruned=losses.pruned,
                    ctc=losses.ctc,
                    kd=losses.kd,
                )

    # ---- the loop ------------------------------------------------------------------------------------
    def train(self, train_loader, hours_per_epoch: float) -> None:
        p = self.settings.loop
        if self.should_stop():  # a re-run of a finished training is a no-op
            logging.info("training already finished at batch %d", self.progress.batch_idx_train)
            return
        start = time.time()
        seconds_before = self.progress.train_seconds
        segment = {
            "machine": describe_machine(),
            "first_step": self.progress.batch_idx_train,
            "last_step": self.progress.batch_idx_train,
            "seconds": 0.0,
        }
        self.progress.segments = [*self.progress.segments, segment]
        for epoch in range(self.progress.cur_epoch, p.num_epochs + 1):
            self.progress.cur_epoch = epoch
            self.scheduler.step_epoch(epoch - 1)
            train_loader.sampler.set_epoch(epoch - 1)
            stats, hours_done = KindStats(), 0.0
            for lhotse_batch in train_loader:
                batch = to_batch(lhotse_batch, self.sp, self.model.cfg.blank_id)
                hours_done += float(batch.feature_lens.sum()) * 0.01 / 3600 * self.world_size
                self.train_step(batch, stats)
                self.progress.cur_batch_idx += 1
                self.progress.train_seconds = seconds_before + time.time() - start
                step = self.progress.batch_idx_train
                segment.update(last_step=step, seconds=time.time() - start)
                if step % p.log_interval == 0:
                    done = ((epoch - 1) * hours_per_epoch + hours_done) / (p.num_epochs * hours_per_epoch)
                    self.log(stats, epoch, done)
                    stats = KindStats()
                stop = self.should_stop(check_clock=step % p.log_interval == 0)
                if stop or step % p.save_every_n == 0:
                    self.save(self.exp_dir / f"checkpoint-{step}.pt", train_loader.sampler)
                    if self.rank == 0:
                        remove_old_checkpoints(self.exp_dir, p.keep_last_k)
                if stop:
                    logging.info("stopping at batch %d (limit reached)", step)
                    return
            self.progress.cur_batch_idx = 0
            self.progress.cur_epoch = epoch + 1
            self.save(self.exp_dir / f"epoch-{epoch}.pt")
            logging.info(
                "epoch %d done: %d batches so far, %.1f min of training",
                epoch,
                self.progress.batch_idx_train,
                self.progress.train_seconds / 60,
            )

    def should_stop(self, check_clock: bool = True) -> bool:
        """Whether the step or time limit is reached. The step limit is the same on every rank; the time
        limit is each rank's own clock, so with several ranks it is agreed on by an all-reduce (on the
        training device: NCCL takes no CPU tensors), only when `check_clock` (every log interval), not at
        every step: each such check waits for the device."""
        p = self.settings.loop
        if p.max_steps > 0 and self.progress.batch_idx_train >= p.max_steps:
            return True
        if p.max_train_minutes <= 0 or not check_clock:
            return False
        stop = self.progress.train_seconds >= 60 * p.max_train_minutes
        if self.world_size > 1:  # every rank must agree, or the others hang in the next all-reduce
            flag = torch.tensor([int(stop)], device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop = bool(flag.item())
        return stop

    def log(self, stats: KindStats, epoch: int, fraction_done: float) -> None:
        if self.rank != 0:
            return
        p, prog = self.settings.loop, self.progress
        if p.max_steps > 0:
            fraction_done = max(fraction_done, prog.batch_idx_train / p.max_steps)
        if p.max_train_minutes > 0:
            fraction_done = max(fraction_done, prog.train_seconds / (60 * p.max_train_minutes))
        elapsed = prog.train_seconds
        eta = elapsed / fraction_done - elapsed if fraction_done > 0 else math.nan
        lr = self.scheduler.get_last_lr()[0]
        grad_norm = getattr(self.optimizer, "last_grad_norm", None)
        grad_norm = grad_norm() if callable(grad_norm) else grad_norm
        losses = stats.per_frame()
        parts = [
            f"{kind}: pruned {v['pruned']:.3f} simple {v['simple']:.3f}"
            + (f" ctc {v['ctc']:.3f}" if v["ctc"] else "")
            + (f" kd {v['kd']:.4f}" if v["kd"] else "")
            for kind, v in losses.items()
        ]
        logging.info(
            "epoch %d batch %d | %s | lr %.2e | %.1f min, ETA %.1f min",
            epoch,
            prog.batch_idx_train,
            " | ".join(parts),
            lr,
            elapsed / 60,
            eta / 60,
        )
        if self.tb is not None:
            for kind, values in losses.items():
                for name, value in values.items():
                    self.tb.add_scalar(f"train/{kind}_{name}_loss", value, prog.batch_idx_train)
            self.tb.add_scalar("train/lr", lr, prog.batch_idx_train)
            if grad_norm is not None:
                self.tb.add_scalar("train/grad_norm", grad_norm, prog.batch_idx_train)
            self.tb.flush()


def same_train_data(state: dict, train_data: str) -> bool:
    """Whether checkpoint `state` was trained on the cut stream `train_data` (older checkpoints, which do not
    say, count as the same)."""
    return state.get("train_data", train_data) == train_data


def parameter_groups(model: Transducer, opt: OptimizerSettings) -> list[dict]:
    """The model's two groups (the SSM kernel parameters at --ssm-lr-scale times the base lr, the rest);
    under ScaledAdam the kernel group has no RMS cap (its values are time scales, see todm.model.ssm)."""
    groups = model.parameter_groups(
        opt.base_lr if opt.base_lr is not None else DEFAULT_LR[opt.optimizer], opt.ssm_lr_scale
    )
    if opt.optimizer == "scaled_adam":
        groups[1]["param_max_rms"] = 1.0e4
    return groups


def may_leave_parameters_unused(settings: TrainingSettings, model: Transducer) -> bool:
    """Whether some training step may not use every parameter (DDP must then look for unused ones)."""
    ctc_unused = model.ctc_output is not None and settings.loss.ctc_scale <= 0
    fixed = settings.fixed_subnet
    part_of_the_model = fixed is not None and fixed != largest(model.cfg)
    return part_of_the_model or not settings.sandwich.sandwich or ctc_unused


def autocast_dtype(use_fp16: bool, use_bf16: bool, device: torch.device) -> torch.dtype | None:
    """The mixed-precision dtype of a training step, None for fp32 (always on the CPU)."""
    if use_fp16 and use_bf16:
        raise UserError("--use-fp16 and --use-bf16: choose one")
    if device.type != "cuda":
        return None
    if use_bf16:
        return torch.bfloat16
    return torch.float16 if use_fp16 else None


def training_device(rank: int) -> torch.device:
    """The CPU, or this process's GPU: LOCAL_RANK under torchrun (several nodes), else the rank."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def process_group_backend() -> str:
    """gloo on CPU; on GPU nccl for CUDA tensors with gloo beside it for any CPU tensor (lhotse's samplers
    and user code may all-reduce on the CPU)."""
    return "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"


def init_distributed(rank: int, world_size: int, master_port: int) -> None:
    """One process group for --world-size spawning and for torchrun alike."""
    if world_size <= 1 or dist.is_initialized():
        return
    os.environ.setdefault("MASTER_ADDR", "localhost")
    os.environ.setdefault("MASTER_PORT", str(master_port))
    if torch.cuda.is_available():
        torch.cuda.set_device(training_device(rank))
    dist.init_process_group(process_group_backend(), rank=rank, world_size=world_size)
