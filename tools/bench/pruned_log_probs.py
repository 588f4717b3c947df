#!/usr/bin/env python3
"""The pruned loss's normalisation of the joiner logits, forward + backward: the one-function version
(`todm.rnnt.pruning.pruned_log_probs`) against autograd's composite of logsumexp, gather and select.

Usage:
    python tools/bench/pruned_log_probs.py                  # (6, 83, 5, 500): one 20 s batch, cpu_small
    python tools/bench/pruned_log_probs.py --tiny           # seconds (tests)
    cd egs/librispeech/todm && python ../../../tools/bench/pruned_log_probs.py --checkpoint exp/checkpoint-1500.pt \
        --manifest-dir data/fbank --bpe-model data/lang_bpe_500/bpe.model   # a trained model's real logits

Synthetic logits are Gaussian with standard deviation `scale`: 1 is a freshly initialised joiner; a trained one
is peaked, so many of its log-probs fall below float32's exp range (about -87), where the composite's exp() is
slow on x86 CPUs. With --checkpoint, the logits are the largest subnet's pruned-lattice joiner output on the
first 20 s of --test-set, with the lattice's own kept symbols. Times are the median of --repeat runs, 1 thread.
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


def trained_logits(args) -> tuple[str, torch.Tensor, torch.Tensor]:
    """(label, pruned logits, kept symbols) of a checkpoint's largest subnet on real batches."""
    from todm.checkpoint import checkpoint_config, read_checkpoint
    from todm.data.bpe import load_bpe
    from todm.data.loader import load_cuts, make_valid_loader, to_batch
    from todm.model import Transducer, largest
    from todm.rnnt.pruning import _pruned_symbols
    from todm.train.objective import LossSettings, StepObjective
    from todm.train.sandwich import SampledSubnet

    state = read_checkpoint(args.checkpoint)
    model = Transducer(checkpoint_config(state)).eval()
    model.load_state_dict(state["model"])
    sp = load_bpe(args.bpe_model)
    loader = make_valid_loader(load_cuts(args.manifest_dir, [args.test_set]), max_duration=20.0)
    batch = to_batch(next(iter(loader)), sp, model.cfg.blank_id)
    settings = LossSettings(simple_scale=0.5, pruned_scale=1.0, ctc_scale=0.0, kd_scale=0.0)
    with torch.no_grad():  # the training step's own forward of the largest subnet (eval: no dropout)
        step = StepObjective(model)(batch, [SampledSubnet("largest", largest(model.cfg), 0.0)], settings)
    teacher = step.members[0].teacher
    kept = _pruned_symbols(batch.targets, teacher.ranges, model.cfg.blank_id).unsqueeze(3)
    return f"{args.checkpoint}, {args.test_set}", teacher.logits, kept


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shape", type=int, nargs=4, default=[6, 83, 5, 500], help="B T R V")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 10.0, 40.0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--tiny", action="store_true", help="a small shape, 2 repeats")
    parser.add_argument("--checkpoint", default="", help="time a trained model's logits instead")
    parser.add_argument("--manifest-dir", default="data/fbank")
    parser.add_argument("--bpe-model", default="data/lang_bpe_500/bpe.model")
    parser.add_argument("--test-set", default="dev-clean")
    args = parser.parse_args()
    if args.tiny:
        args.shape, args.repeat = [2, 10, 5, 16], 2
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    batch, frames, prune_range, vocab = args.shape
    kept = torch.randint(0, vocab, (batch, frames, prune_range, 1), generator=g)
    cases = [(f"std {scale:g}", scale * torch.randn(*args.shape, generator=g), kept) for scale in args.scales]
    if args.checkpoint:
        cases = [trained_logits(args)]
    print(f"\nforward + backward, 1 thread, median of {args.repeat}\n")
    print("| logits | shape | log-probs below -87 | composite (ms) | one function (ms) | ratio |")
    print("|---|---|---|---|---|---|")
    for label, logits, kept_symbols in cases:
        below = (logits.log_softmax(-1) < -87).float().mean().item()
        before = time_ms(composite, logits, kept_symbols, args.repeat)
        after = time_ms(pruned_log_probs, logits, kept_symbols, args.repeat)
        shape = "x".join(map(str, logits.shape))
        print(f"| {label} | {shape} | {below:.1%} | {before:.2f} | {after:.2f} | {before / after:.2f}x |")


if __name__ == "__main__":
    main()
