#!/usr/bin/env python3
"""ms per training step: the largest subnet alone vs a full sandwich step (largest + smallest + random).

Usage:
    python tools/bench/train_step.py [--preset cpu_small] [--batch 8] [--seconds 5] [--threads 2] [--repeat 5]

A fixed synthetic batch (random fbank, random targets of a typical length) so that only model, loss
and optimizer cost is measured; median of --repeat steps after one warm-up step. Prints a markdown table.
Target (issue 4): a 4-subnet sandwich step <= 3.0x one largest-subnet step.
"""

import argparse
import statistics
import time
from types import SimpleNamespace

import torch

from todm.model import Transducer, get_preset, largest, num_params, smallest
from todm.train.loop import Trainer
from todm.train.objective import Batch


def make_params(num_random: int) -> SimpleNamespace:
    return SimpleNamespace(
        exp_dir="/tmp",
        optimizer="scaled_adam",
        base_lr=None,
        lr_batches=7500,
        lr_epochs=3.5,
        warmup_batches=500,
        seed=1,
        num_random_subnets=num_random,
        sandwich=True,
        dropout_min=0.0,
        dropout_max=0.1,
        adaptive_dropout=True,
        warm_step=500,
        ssm_lr_scale=0.02,
        use_fp16=False,
        simple_loss_scale=0.5,
        use_kd=True,
        kd_scale=0.2,
        kd_start_batch=0,
        kd_ramp_batches=0,
        use_ctc=True,
        ctc_loss_scale=0.2,
        prune_range=5,
        am_scale=0.0,
        lm_scale=0.25,
        alpha_min=-1.0,
        alpha_max=1.0,
        average_period=100,
        tensorboard=False,
        fixed_subnet=None,
    )


def time_steps(trainer: Trainer, batch: Batch, repeat: int) -> float:
    trainer.train_step(batch)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        trainer.train_step(batch)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="cpu_small")
    parser.add_argument("--vocab-size", type=int, default=500)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    frames = int(args.seconds * 100)
    batch = Batch(
        torch.randn(args.batch, frames, 80),
        torch.full((args.batch,), frames, dtype=torch.int64),
        torch.randint(1, args.vocab_size, (args.batch, args.tokens)),
        torch.full((args.batch,), args.tokens, dtype=torch.int64),
    )
    cfg = get_preset(args.preset, vocab_size=args.vocab_size)
    rows = []
    for name, num_random, fixed in (
        ("largest subnet alone", 0, True),
        ("sandwich (largest+smallest+2 random)", 2, False),
    ):
        params = make_params(num_random)
        if fixed:
            params.fixed_subnet = largest(cfg)
        trainer = Trainer(params, Transducer(cfg), sp=None)
        rows.append((name, time_steps(trainer, batch, args.repeat)))
    base = rows[0][1]
    print(
        f"\npreset {args.preset}: largest {num_params(cfg, largest(cfg)) / 1e6:.2f}M params, smallest "
        f"{num_params(cfg, smallest(cfg)) / 1e6:.2f}M; batch {args.batch} x {args.seconds:g} s, "
        f"{args.threads} threads, median of {args.repeat}\n"
    )
    print("| step | ms / step | ratio to largest |")
    print("|---|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.0f} | {ms / base:.2f}x |")


if __name__ == "__main__":
    main()
