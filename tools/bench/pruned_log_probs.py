#!/usr/bin/env python3
"""The pruned loss's normalisation of the joiner logits, forward + backward: the one-function version
(`todm.rnnt.pruning.pruned_log_probs`) against autograd's composite of logsumexp, gather and select.

Usage:
    python tools/bench/pruned_log_probs.py                  # (6, 83, 5, 500): one 20 s batch, cpu_small
    python tools/bench/pruned_log_probs.py --tiny           # seconds (tests)

The logits are Gaussian with standard deviation `scale`: 1 is a freshly initialised joiner; a trained one is
peaked, so many of its log-probs fall below float32's exp range (about -87), where the composite's exp() is
slow on x86 CPUs. Times are the median of --repeat runs, 1 thread.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from todm.rnnt.pruning import pruned_log_probs


def composite(logits: torch.Tensor, kept: torch.Tensor, blank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """What autograd made of the normalisation before it was one function."""
    norm = torch.logsumexp(logits, dim=3)
    return torch.gather(logits, 3, kept).squeeze(3) - norm, logits[..., blank] - norm


def time_ms(fn, logits: torch.Tensor, kept: torch.Tensor, repeat: int) -> float:
    times = []
    for _ in range(repeat + 1):  # the first run warms up
        x = logits.detach().requires_grad_()
        start = time.perf_counter()
        px, py = fn(x, kept, 0)
        (px.sum() + py.sum()).backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shape", type=int, nargs=4, default=[6, 83, 5, 500], help="B T R V")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 10.0, 40.0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--tiny", action="store_true", help="a small shape, 2 repeats")
    args = parser.parse_args()
    if args.tiny:
        args.shape, args.repeat = [2, 10, 5, 16], 2
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    batch, frames, prune_range, vocab = args.shape
    kept = torch.randint(0, vocab, (batch, frames, prune_range, 1), generator=g)
    print(f"\nlogits {tuple(args.shape)}, forward + backward, 1 thread, median of {args.repeat}\n")
    print("| logit std | log-probs below -87 | composite (ms) | one function (ms) | ratio |")
    print("|---|---|---|---|---|")
    for scale in args.scales:
        logits = scale * torch.randn(*args.shape, generator=g)
        below = (logits.log_softmax(-1) < -87).float().mean().item()
        before = time_ms(composite, logits, kept, args.repeat)
        after = time_ms(pruned_log_probs, logits, kept, args.repeat)
        print(f"| {scale:g} | {below:.0%} | {before:.2f} | {after:.2f} | {before / after:.2f}x |")


if __name__ == "__main__":
    main()
