#!/usr/bin/env python3
"""WER of subnets at every N optimizer steps of one training run: one side of the TODM gap curve.

Usage (from egs/librispeech/todm):
    # the supernet's subnets
    ./local/gap_curve.py --exp-dir exp --subnets largest,smallest,exp/search/subnet-phone.json --every 1000
    # a one-by-one baseline of one of them (its checkpoints map the same JSON to its whole model)
    ./local/gap_curve.py --exp-dir exp-baseline-subnet-phone --subnets exp/search/subnet-phone.json

At each step K (a multiple of --every with a checkpoint-K.pt) the weights decoded are icefall's averaged
model between checkpoint-(K - every) and checkpoint-K (the mean of the weights over those steps; from step 0
at K = every), the same rule on both sides, so the points are comparable. Greedy search on --test-sets.
Writes --out (default <exp-dir>/gap-curve.json):
[{"step": K, "subnet": name, "set": ..., "wer": ..., "words": ...}, ...]. Points already in --out are kept
and not decoded again, so an interrupted run continues where it stopped. local/write_results.py plots the
relative WER difference supernet vs baseline against steps.
"""

import argparse
import json
import logging
from pathlib import Path

import torch

from todm.checkpoint import (
    average_with_averaged_model,
    checkpoint_config,
    find_checkpoints,
    load_model_state,
    read_checkpoint,
)
from todm.cli import run_main, setup_logging
from todm.data.bpe import load_bpe
from todm.data.loader import load_cuts
from todm.decode import decode_cuts, word_error_rate
from todm.decode.loading import resolve_subnet
from todm.errors import UserError
from todm.io import write_text_atomic
from todm.model import Transducer


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--exp-dir", default="exp")
    parser.add_argument("--bpe-model", default="data/lang_bpe_500/bpe.model")
    parser.add_argument("--manifest-dir", default="data/fbank")
    parser.add_argument("--subnets", default="largest,smallest", help="comma-separated --subnet values")
    parser.add_argument("--every", type=int, default=1000, help="decode the checkpoints at multiples of this")
    parser.add_argument("--test-sets", default="test-clean,test-other")
    parser.add_argument("--out", default="", help="default: <exp-dir>/gap-curve.json")
    parser.add_argument("--num-threads", type=int, default=0)
    return parser


def checkpoints_at_multiples(exp_dir: Path, every: int) -> dict[int, Path]:
    """{K: checkpoint-K.pt} for the K that are multiples of `every`."""
    if every < 1:
        raise UserError(f"--every {every}: must be >= 1")
    found = {int(p.stem.split("-")[1]): p for p in find_checkpoints(exp_dir)}
    chosen = {k: p for k, p in found.items() if k % every == 0}
    if not chosen:
        raise UserError(f"--exp-dir {exp_dir}: no checkpoint-K.pt with K a multiple of {every}")
    return dict(sorted(chosen.items()))


def averaged_weights(exp_dir: Path, step: int, every: int) -> tuple[Transducer, dict]:
    """The averaged model between checkpoint-(step - every) and checkpoint-step (from step 0 at the first)."""
    end = read_checkpoint(exp_dir / f"checkpoint-{step}.pt")
    start = None
    if step - every > 0:
        start_path = exp_dir / f"checkpoint-{step - every}.pt"
        if not start_path.is_file():
            raise UserError(
                f"{start_path}: missing (needed to average the steps before checkpoint-{step}.pt)"
            )
        start = read_checkpoint(start_path)
    period = int(end.get("average_period", 100))
    model = Transducer(checkpoint_config(end))
    load_model_state(
        model, average_with_averaged_model(end, start, period), exp_dir / f"checkpoint-{step}.pt"
    )
    return model.eval(), end


def main() -> None:
    args = get_parser().parse_args()
    exp_dir = Path(args.exp_dir)
    out = Path(args.out or exp_dir / "gap-curve.json")
    setup_logging(exp_dir / "log" / "log-gap-curve")
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    sp = load_bpe(args.bpe_model)
    points = json.loads(out.read_text()) if out.is_file() else []
    done = {(p["step"], p["subnet"], p["set"]) for p in points}
    sets = {name: load_cuts(args.manifest_dir, [name]) for name in args.test_sets.split(",") if name}
    specs = [s for s in args.subnets.split(",") if s]
    if points and not find_checkpoints(exp_dir):  # decoded in an earlier session, checkpoints since removed
        logging.info(
            "%s: no checkpoints left; keeping the %d points already in %s", exp_dir, len(points), out
        )
        return
    steps = checkpoints_at_multiples(exp_dir, args.every)
    for i, step in enumerate(steps, 1):
        model = state = None
        for spec in specs:
            for set_name, cuts in sets.items():
                name = Path(spec).stem if spec.endswith(".json") else spec
                if (step, name, set_name) in done:
                    continue
                if model is None:
                    model, state = averaged_weights(exp_dir, step, args.every)
                subnet, name = resolve_subnet(
                    spec, model.cfg, state.get("fixed_subnet"), state.get("baseline_of")
                )
                results, _ = decode_cuts(model, subnet, cuts, sp)
                wer = word_error_rate([r[1] for r in results], [r[2] for r in results])
                logging.info(
                    "[%d/%d] step %d %s %s: WER %.2f%%", i, len(steps), step, name, set_name, wer["wer"]
                )
                points.append(
                    {"step": step, "subnet": name, "set": set_name, "wer": wer["wer"], "words": wer["words"]}
                )
                points.sort(key=lambda p: (p["subnet"], p["set"], p["step"]))
                write_text_atomic(out, json.dumps(points, indent=1) + "\n")
    logging.info("wrote %s (%d points)", out, len(points))


if __name__ == "__main__":
    run_main(main)
