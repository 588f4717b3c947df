#!/usr/bin/env python3
"""Where the time of one training step goes: wall time, share and achieved FLOP/s per phase.

Usage:
    python tools/bench/profile_step.py                       # run.sh's default: cpu_small, 2 DDP x 20 s
    python tools/bench/profile_step.py --manifest-dir egs/librispeech/todm/data/fbank \
        --bpe-model egs/librispeech/todm/data/lang_bpe_500/bpe.model   # real batches (adds data loading)
    python tools/bench/profile_step.py --step 1000          # a largest-only warm-up step instead

The training settings are train.py's own parser fed run.sh's default arguments (read from run.sh, as
tools/bench/train_step.py does), so nothing is copied. Each
rank runs `--steps` sandwich steps of the configuration (after warm-up steps) with every phase timed on the
host clock; phases nest (the pruned-loss wrapper excludes its inner phases), so the shares add up to the
step. Backward is one phase: autograd runs the phases' backward functions interleaved, and DDP's gradient
all-reduce overlaps it (gloo, its own thread); the all-reduce of the same number of bytes is also timed on
its own. Matmul FLOPs (torch.utils.flop_counter's formulas) are counted per phase in a separate step, so
counting costs no timed time, and set against the measured peak of one large fp32 matmul at the same
thread count. Prints a markdown table (rank 0's phases).

Then the same steps run once more under torch.profiler, which gives the self time of the matmul kernels
(aten::mm, addmm, bmm, ...): their share of the step and their FLOP/s say how much of the step is FLOP-bound
work at the machine's matmul speed, and so the most any speed-up that keeps the step's FLOPs can give.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.flop_counter import FlopCounterMode
from train_step import PER_PROCESS_SECONDS, load_train_script, recipe_args, run_ranks, synthetic_batches

REPO = Path(__file__).resolve().parents[2]
MATMUL_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::addbmm"}


class PhaseClock:
    """Exclusive wall time (and matmul FLOPs, when counting) per named phase; phases may nest."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = collections.defaultdict(float)
        self.flops: dict[str, float] = collections.defaultdict(float)
        self.stack: list[list] = []  # [name, start of the running slice]

    @contextlib.contextmanager
    def phase(self, name: str):
        now = time.perf_counter()
        if self.stack:
            parent = self.stack[-1]
            self.seconds[parent[0]] += now - parent[1]
        self.stack.append([name, now])
        try:
            yield
        finally:
            now = time.perf_counter()
            top = self.stack.pop()
            self.seconds[top[0]] += now - top[1]
            if self.stack:
                self.stack[-1][1] = now

    def current(self) -> str:
        return self.stack[-1][0] if self.stack else "other (Python between phases)"

    def reset(self) -> None:
        self.seconds.clear()


class PhaseFlopCounter(FlopCounterMode):
    """FlopCounterMode that books each counted op on the phase running when it executes."""

    def __init__(self, clock: PhaseClock) -> None:
        super().__init__(display=False)
        self.clock = clock

    def _count_flops(self, func_packet, out, args, kwargs):
        if func_packet in self.flop_registry:
            self.clock.flops[self.clock.current()] += self.flop_registry[func_packet](
                *args, **kwargs, out_val=out
            )
        return out


def wrap(owner, attr: str, clock: PhaseClock, name) -> None:
    """Replace owner.attr by a version timed as phase `name` (a string, or a function of the call)."""
    original = getattr(owner, attr)

    @functools.wraps(original)
    def timed(*args, **kwargs):
        with clock.phase(name() if callable(name) else name):
            return original(*args, **kwargs)

    setattr(owner, attr, timed)


def instrument(trainer, clock: PhaseClock) -> None:
    """Time the phases of Trainer.train_step by wrapping the functions it calls (nothing else changes)."""
    from todm.model.ssm import MultiHeadSSM
    from todm.rnnt import transducer_loss
    from todm.train import loop, objective, settings

    model = trainer.model
    members: list = []
    original_step_subnets = settings.step_subnets  # what SandwichSettings.members calls

    def step_subnets(*args, **kwargs):
        with clock.phase("bookkeeping (subnet draw, MACs, loss stats)"):
            members[:] = original_step_subnets(*args, **kwargs)
            members.append(0)  # index of the next member's encoder forward
            return members[:-1]

    settings.step_subnets = step_subnets

    def member_name() -> str:
        index = members[-1]
        members[-1] += 1
        kind = members[index].kind if index < len(members) - 1 else "?"
        return f"encoder layers: member {index + 1} ({kind})"

    wrap(model, "forward_frontend", clock, "front end (Conv2d subsampling)")
    wrap(model, "forward_layers", clock, member_name)
    wrap(model.decoder, "forward", clock, "decoder (once per step)")
    wrap(MultiHeadSSM, "_kernel_spectrum", clock, "SSM kernel spectra (once per layer and step)")
    wrap(objective, "pruned_rnnt_loss", clock, "pruned RNN-T: validation, projections")
    for attr in ("rnnt_loss_smoothed", "get_rnnt_prune_ranges"):
        wrap(transducer_loss, attr, clock, "simple loss + prune ranges")
    for attr in ("do_rnnt_pruning", "rnnt_loss_pruned"):
        wrap(transducer_loss, attr, clock, "pruned joiner + loss")
    wrap(model.joiner, "forward", clock, "pruned joiner + loss")
    wrap(objective, "ctc_loss", clock, "CTC")
    if model.ctc_output is not None:
        wrap(model.ctc_output, "forward", clock, "CTC")
    for attr in ("lattice_mask", "teacher_log_probs"):
        wrap(objective, attr, clock, "KD (alpha-divergence)")
    # the step objective holds its KD function (compiled or not) from construction on
    step_objective = getattr(trainer.objective, "module", trainer.objective)
    wrap(step_objective, "kd_loss", clock, "KD (alpha-divergence)")
    wrap(torch.autograd, "backward", clock, "backward (DDP all-reduce overlapped)")
    wrap(trainer.optimizer, "step", clock, "optimizer (ScaledAdam) + Eden")
    wrap(trainer.scheduler, "step_batch", clock, "optimizer (ScaledAdam) + Eden")
    wrap(loop, "macs", clock, "bookkeeping (subnet draw, MACs, loss stats)")
    wrap(loop.KindStats, "add", clock, "bookkeeping (subnet draw, MACs, loss stats)")
    wrap(loop, "update_averaged_model", clock, "model averaging (every 100 steps)")


def peak_gflops() -> float:
    """fp32 GFLOP/s of a 2048^3 matmul at the current thread count (median of 5)."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    times = []
    for _ in range(5):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * 2048**3 / statistics.median(times) / 1e9


def worker(rank: int, world_size: int, args, queue) -> None:
    train_script = load_train_script(REPO)
    extra = ["--exp-dir", "/tmp/todm-profile", "--tensorboard", "false", "--model-config", args.preset]
    params = train_script.get_parser().parse_args(recipe_args(REPO) + PER_PROCESS_SECONDS + extra)
    if world_size > 1:
        os.environ.update(MASTER_ADDR="localhost", MASTER_PORT=str(args.port))
        dist.init_process_group("gloo", rank=rank, world_size=world_size)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from todm.data.loader import Batch
    from todm.model import Transducer, get_preset
    from todm.train.loop import Trainer
    from todm.train.settings import TrainingSettings

    sp, data_seconds, loader_iter = None, [], None
    if args.manifest_dir:
        from todm.data.bpe import load_bpe
        from todm.data.loader import filter_cuts, load_cuts, make_train_loader, to_batch

        sp = load_bpe(args.bpe_model)
        cuts = filter_cuts(load_cuts(args.manifest_dir, ["train-clean-100"]), sp)
        loader = make_train_loader(cuts, params.max_duration, world_size, rank, params.seed)
        loader_iter = iter(loader)
    cfg = get_preset(args.preset, vocab_size=sp.get_piece_size() if sp else 500)
    trainer = Trainer(TrainingSettings.from_args(params), Transducer(cfg), sp, rank, world_size)
    trainer.progress.batch_idx_train = args.step - 1
    fixed = synthetic_batches(args.steps + args.warmup + 1, params.max_duration, cfg.vocab_size, rank, Batch)

    def next_batch(i: int):
        if loader_iter is None:
            return fixed[i]
        start = time.perf_counter()
        batch = to_batch(next(loader_iter), sp, cfg.blank_id)
        data_seconds.append(time.perf_counter() - start)
        return batch

    for i in range(args.warmup):
        trainer.train_step(next_batch(i))
    clock = PhaseClock()
    instrument(trainer, clock)
    with PhaseFlopCounter(clock):  # one counted step, untimed
        trainer.train_step(next_batch(args.warmup))
    counted_flops = dict(clock.flops)
    clock.reset()
    data_seconds.clear()
    step_times = []
    for i in range(args.steps):
        batch = next_batch(args.warmup + 1 + i)
        start = time.perf_counter()
        with clock.phase("other (Python between phases)"):
            trainer.train_step(batch)
        step_times.append(time.perf_counter() - start)
    # taken before the profiled steps below add to the clock
    phase_seconds = {k: v / args.steps for k, v in clock.seconds.items()}
    data_mean = statistics.mean(data_seconds) if data_seconds else None
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for i in range(args.steps):
            trainer.train_step(next_batch(args.warmup + 1 + i))
    ops = prof.key_averages()
    matmul_us = sum(e.self_cpu_time_total for e in ops if e.key in MATMUL_OPS)
    top_ops = [
        (e.key, e.self_cpu_time_total / 1e3 / args.steps, e.count / args.steps)
        for e in sorted(ops, key=lambda e: -e.self_cpu_time_total)[: args.ops]
    ]
    grad_numel = sum(p.numel() for p in trainer.model.parameters())
    allreduce = []
    if world_size > 1:
        flat = torch.zeros(grad_numel)
        for _ in range(5):
            dist.barrier()
            start = time.perf_counter()
            dist.all_reduce(flat)
            allreduce.append(time.perf_counter() - start)
    peak = peak_gflops()
    if rank == 0:
        queue.put(
            {
                "seconds": phase_seconds,
                "flops": counted_flops,
                "step": statistics.median(step_times),
                "mean_step": statistics.mean(step_times),
                "data": data_mean,
                "allreduce": statistics.median(allreduce) if allreduce else None,
                "grad_mb": grad_numel * 4 / 2**20,
                "peak": peak,
                "matmul": matmul_us / 1e6 / args.steps,
                "top_ops": top_ops,
            }
        )
    if world_size > 1:
        dist.destroy_process_group()


def print_table(result: dict, args) -> None:
    seconds, flops = result["seconds"], result["flops"]
    total = sum(seconds.values())
    print(
        f"\n{args.preset}, step {args.step} ({'largest only' if args.step <= 1500 else 'sandwich'}), "
        f"{args.world_size} DDP process(es) x {args.threads} thread(s), "
        f"{'real batches' if args.manifest_dir else 'synthetic batches'} of 20 s per process; "
        f"mean of {args.steps} steps (median step {1000 * result['step']:.0f} ms, "
        f"{1 / result['mean_step']:.2f} steps/s); peak fp32 matmul {result['peak']:.0f} GFLOP/s per process\n"
    )
    print("| phase | ms / step | share | matmul GFLOP / step | GFLOP/s | of peak |")
    print("|---|---|---|---|---|---|")
    rows = []
    if result["data"] is not None:
        rows.append(("data loading + collation (lhotse, SpecAugment, BPE)", result["data"], 0.0, False))
    rows += [(name, s, flops.get(name, 0.0), True) for name, s in seconds.items()]
    rows.sort(key=lambda r: -r[1])
    for name, s, f, in_step in rows:
        rate = f / s / 1e9 if s > 0 and f > 0 else 0.0
        share = f"{100 * s / total:.1f}%" if in_step else "(before the step)"
        cells = (
            (f"{f / 1e9:.2f}", f"{rate:.1f}", f"{100 * rate / result['peak']:.0f}%") if f else ("", "", "")
        )
        print(f"| {name} | {1000 * s:.1f} | {share} | {' | '.join(cells)} |")
    all_flops = sum(flops.values())
    print(
        f"| **step** | **{1000 * total:.1f}** | 100% | {all_flops / 1e9:.2f} | {all_flops / total / 1e9:.1f} | "
        f"{100 * all_flops / total / 1e9 / result['peak']:.0f}% |"
    )
    matmul, step = result["matmul"], result["mean_step"]
    print(
        f"\nmatmul kernels (torch.profiler, {', '.join(sorted(MATMUL_OPS))}; the same steps again): "
        f"{1000 * matmul:.0f} ms of a {1000 * step:.0f} ms step ({matmul / step:.0%}), "
        f"{all_flops / matmul / 1e9:.1f} GFLOP/s = "
        f"{all_flops / matmul / 1e9 / result['peak']:.0%} of the peak; "
        f"with every other operation free, the step would be at most {step / matmul:.2f}x faster"
    )
    if result["top_ops"]:
        print("\n| operator (torch.profiler, self time) | ms / step | calls / step |\n|---|---|---|")
        for name, ms, calls in result["top_ops"]:
            print(f"| {name[:60]} | {ms:.1f} | {calls:.0f} |")
    if result["allreduce"] is not None:
        print(
            f"\nall-reduce of the {result['grad_mb']:.1f} MB of gradients on its own (gloo, median of 5): "
            f"{1000 * result['allreduce']:.1f} ms (inside the backward row, overlapped)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="cpu_small")
    parser.add_argument("--world-size", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--step", type=int, default=3000, help="optimizer step to profile (<= 1500: warm-up)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--manifest-dir", default="", help="profile real batches from these cuts")
    parser.add_argument("--bpe-model", default="")
    parser.add_argument(
        "--ops", type=int, default=0, help="also list the N operators with the most self time"
    )
    parser.add_argument("--port", type=int, default=29641)
    args = parser.parse_args()
    if args.manifest_dir and not args.bpe_model:
        sys.exit("--manifest-dir needs --bpe-model")
    print_table(run_ranks(worker, args.world_size, args), args)


if __name__ == "__main__":
    main()
