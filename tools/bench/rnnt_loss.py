#!/usr/bin/env python3
"""Full vs pruned RNN-T loss: wall time and peak memory of forward+backward, as a markdown table.

Usage:
  .venv/bin/python tools/bench/rnnt_loss.py            # B=8, T in {100,250,500}, S in {25,50,100}
  .venv/bin/python tools/bench/rnnt_loss.py --quick    # T in {100,250}, S in {25,50}
  .venv/bin/python tools/bench/rnnt_loss.py --threads 2 --repeats 3 --batch 8 --vocab 500 --dim 512

Methods (same joiner: encoder_proj/decoder_proj Linear(dim, dim), tanh, Linear(dim, vocab)):
  full:   joiner on all (t, s) pairs -> (B, T, S+1, V) logits -> todm.rnnt.rnnt_loss
  pruned: todm.rnnt.pruned_rnnt_loss (smoothed simple loss + prune ranges + pruned joiner + pruned loss)
Time: median of --repeats runs of forward+backward after one warm-up run.
Peak memory: each (method, config) runs in a fresh subprocess; peak = ru_maxrss after the first
forward+backward minus the resident set size just before it (after inputs and modules exist). The
CPU allocator serves torch tensors from malloc/mmap, so this counts every live tensor, autograd
buffers included, at their high-water mark.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="T in {100, 250}, S in {25, 50}")
    p.add_argument("--frames", type=int, nargs="+", default=[100, 250, 500], help="T values")
    p.add_argument("--symbols", type=int, nargs="+", default=[25, 50, 100], help="S values")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--vocab", type=int, default=500)
    p.add_argument("--dim", type=int, default=512, help="encoder, decoder and joiner dim")
    p.add_argument("--prune-range", type=int, default=5)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--worker", choices=["full", "pruned"], help=argparse.SUPPRESS)
    p.add_argument("--T", type=int, help=argparse.SUPPRESS)
    p.add_argument("--S", type=int, help=argparse.SUPPRESS)
    return p


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def run_worker(args: argparse.Namespace) -> dict:
    """One (method, T, S) in this process: returns median seconds and peak MiB."""
    import torch
    from torch import nn

    from todm.rnnt import get_backend, pruned_rnnt_loss, rnnt_loss

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    B, T, S, V, D = args.batch, args.T, args.S, args.vocab, args.dim

    class Joiner(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder_proj, self.decoder_proj = nn.Linear(D, D), nn.Linear(D, D)
            self.output_linear = nn.Linear(D, V)

        def forward(self, enc, dec, project_input=True):
            if project_input:
                enc, dec = self.encoder_proj(enc), self.decoder_proj(dec)
            return self.output_linear(torch.tanh(enc + dec))

    joiner, am_proj, lm_proj = Joiner(), nn.Linear(D, V), nn.Linear(D, V)
    modules = [joiner, am_proj, lm_proj]

    def make_inputs(T: int, S: int) -> tuple:
        enc = torch.randn(B, T, D, requires_grad=True)
        dec = torch.randn(B, S + 1, D, requires_grad=True)
        targets = torch.randint(1, V, (B, S))
        boundary = torch.zeros(B, 4, dtype=torch.int64)
        boundary[:, 2], boundary[:, 3] = S, T
        return enc, dec, targets, boundary

    def step(enc, dec, targets, boundary):
        for p in [enc, dec, *(q for m in modules for q in m.parameters())]:
            p.grad = None
        if args.worker == "full":
            logits = joiner(enc.unsqueeze(2), dec.unsqueeze(1))  # (B, T, S+1, V)
            loss = rnnt_loss(logits, targets, 0, boundary=boundary, reduction="sum")
        else:
            out = pruned_rnnt_loss(
                enc,
                boundary[:, 3],
                dec,
                targets,
                boundary[:, 2],
                joiner,
                am_proj,
                lm_proj,
                prune_range=args.prune_range,
            )
            loss = 0.5 * out.simple_loss + out.pruned_loss
        loss.backward()

    # A tiny warm-up first, so lazy one-off allocations (thread pools, kernels) are in the baseline.
    step(*make_inputs(8, 2))
    inputs = make_inputs(T, S)
    before = _rss_kib()
    step(*inputs)
    peak_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step(*inputs)
        times.append(time.perf_counter() - start)
    return {
        "seconds": statistics.median(times),
        "peak_mib": peak_mib,
        "backend": get_backend().name,
        "backend_version": get_backend().version,
    }


def _measure(args: argparse.Namespace, method: str, T: int, S: int) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        method,
        "--T",
        str(T),
        "--S",
        str(S),
        "--batch",
        str(args.batch),
        "--vocab",
        str(args.vocab),
        "--dim",
        str(args.dim),
        "--prune-range",
        str(args.prune_range),
        "--threads",
        str(args.threads),
        "--repeats",
        str(args.repeats),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    args = get_parser().parse_args()
    if args.worker:
        print(json.dumps(run_worker(args)))
        return
    frames, symbols = ([100, 250], [25, 50]) if args.quick else (args.frames, args.symbols)
    rows, backend = [], None
    for T in frames:
        for S in symbols:
            full, pruned = _measure(args, "full", T, S), _measure(args, "pruned", T, S)
            backend = f"{pruned['backend']} {pruned['backend_version']}"
            rows.append(
                f"| {T} | {S} | {full['seconds']:.3f} | {pruned['seconds']:.3f} | "
                f"{full['seconds'] / pruned['seconds']:.1f}x | {full['peak_mib']:.0f} | {pruned['peak_mib']:.0f} | "
                f"{full['peak_mib'] / max(pruned['peak_mib'], 1e-3):.1f}x |"
            )
            print(rows[-1], file=sys.stderr, flush=True)
    import torch

    print(
        f"B={args.batch}, V={args.vocab}, dim={args.dim}, prune_range={args.prune_range}, "
        f"torch.set_num_threads({args.threads}), median of {args.repeats} runs after 1 warm-up; "
        f"backend {backend}; torch {torch.__version__}; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs\n"
    )
    print("| T | S | full s | pruned s | speed-up | full peak MiB | pruned peak MiB | memory ratio |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
