#!/usr/bin/env python3
"""Did a training run log the same losses as a reference run? Where did they part?

Usage (from egs/librispeech/todm):
    # this clone's run against the default run's first 2,000 steps as logged here (docs/reproducibility.md):
    # the same recipe, seed and data on the same CPU kind agree exactly
    ./local/compare_training.py --reference ../../../docs/results/reproducibility/exp-repro-seed42 --exp-dir exp \
        --rtol 0
    # two runs of one recipe with different seeds: how far apart seeds put it
    ./local/compare_training.py --reference exp-seed42 --exp-dir exp-seed43 --rtol 0.05

Each side is an experiment directory (its TensorBoard events) or an archived one (training-curve.json, written by
local/archive_results.py). Prints the logged losses of both side by side every --every steps, then the first
logged step where any value differs by more than --rtol (relative), or that none does. Exit status 0 either way;
1 only for bad input.
"""

import argparse
from pathlib import Path

from todm.cli import run_main
from todm.errors import UserError
from todm.train.curve import common_steps, first_divergence, load_training_curve

SHOWN = ("largest_pruned", "largest_ctc", "smallest_pruned", "smallest_kd", "grad_norm")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reference", required=True, help="experiment or archived directory")
    parser.add_argument("--exp-dir", required=True, help="experiment or archived directory")
    parser.add_argument("--rtol", type=float, default=1e-4, help="relative difference that counts as parting")
    parser.add_argument("--every", type=int, default=500, help="print the losses at multiples of this step")
    return parser


def main() -> None:
    args = get_parser().parse_args()
    curves = {}
    for option, path in (("--reference", args.reference), ("--exp-dir", args.exp_dir)):
        curves[option] = load_training_curve(path)
        if not curves[option]:
            raise UserError(
                f"{option} {path}: no training-curve.json and no TensorBoard events in tensorboard/"
            )
    if args.rtol < 0 or args.every < 1:
        raise UserError(f"--rtol {args.rtol} --every {args.every}: expected rtol >= 0 and every >= 1")
    reference, run = curves["--reference"], curves["--exp-dir"]
    steps = common_steps(reference, run)
    if not steps:
        raise UserError(f"--reference {args.reference} and --exp-dir {args.exp_dir} logged no common step")
    by_step = [{p["step"]: p for p in curve} for curve in (reference, run)]
    names = [n for n in SHOWN if any(n in by_step[0][s] for s in steps)]
    print("step  " + "  ".join(f"{n:>28}" for n in names))
    for step in steps:
        if step % args.every and step != steps[-1]:
            continue
        cells = []
        for name in names:
            a, b = by_step[0][step].get(name), by_step[1][step].get(name)
            cells.append(f"{'-':>28}" if a is None or b is None else f"{a:>9.4g} {b:>9.4g} {b - a:>+8.2g}")
        print(f"{step:<5} " + "  ".join(cells))
    print(f"(each cell: reference, {Path(args.exp_dir).name}, difference)")
    parted = first_divergence(reference, run, args.rtol)
    if parted is None:
        print(f"same to {args.rtol:g} relative at all {len(steps)} common steps ({steps[0]}..{steps[-1]})")
    else:
        print(
            f"parted at step {parted.step}: {parted.name} {parted.reference:.6g} vs {parted.value:.6g} "
            f"({parted.relative:.2%} relative > {args.rtol:g})"
        )


if __name__ == "__main__":
    run_main(main)
