#!/usr/bin/env python3
"""WER of the largest and smallest subnet (greedy search) against minutes of supernet training.

Usage (from egs/librispeech/todm):
    ./local/learning_curve.py --exp-dir exp --bpe-model data/lang_bpe_500/bpe.model \
        --minutes 10,20,30 --test-sets test-clean,test-other

The marks are --minutes, or with --points N, N marks evenly spread over the run's training time (the last one
its newest checkpoint), so a run of any length gets a curve over all of it. For each mark it takes the checkpoint-K.pt whose recorded training time (the
checkpoint's progress.train_seconds, wall time summed over resumed runs) is closest to it, decodes its
weights (not averaged, so the points are comparable) and writes <exp-dir>/learning-curve.json:
[{"minutes": ..., "batch": K, "subnet": "largest"|"smallest", "set": ..., "wer": ...}, ...].
local/write_results.py turns it into the RESULTS.md table and docs/learning-curve.png.
"""

import argparse
import json
import logging
from pathlib import Path

import torch

from todm.checkpoint import (
    checkpoint_config,
    checkpoint_progress,
    find_checkpoints,
    load_model_state,
    read_checkpoint,
)
from todm.cli import run_main, setup_logging
from todm.data.bpe import load_bpe
from todm.data.loader import load_cuts
from todm.decode import decode_cuts, word_error_rate
from todm.errors import UserError
from todm.io import write_text_atomic
from todm.model import Transducer, largest, smallest


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--exp-dir", default="exp")
    parser.add_argument("--bpe-model", default="data/lang_bpe_500/bpe.model")
    parser.add_argument("--manifest-dir", default="data/fbank")
    parser.add_argument("--minutes", default="10,20,30", help="comma-separated training-time marks")
    parser.add_argument(
        "--points", type=int, default=0, help="N > 0: N evenly spread marks instead of --minutes"
    )
    parser.add_argument("--test-sets", default="test-clean,test-other")
    parser.add_argument("--num-threads", type=int, default=0)
    return parser


def checkpoints_by_minutes(exp_dir: Path) -> list[tuple[float, int, Path]]:
    """(training minutes, batch, path) of every checkpoint-K.pt, oldest first."""
    found = []
    for path in find_checkpoints(exp_dir):
        progress = checkpoint_progress(read_checkpoint(path))
        found.append((progress["train_seconds"] / 60, progress["batch_idx_train"], path))
    if not found:
        raise UserError(f"--exp-dir {exp_dir}: no checkpoint-K.pt files")
    return sorted(found)


def minute_marks(minutes: str, points: int, total_minutes: float) -> list[float]:
    """--minutes as numbers, or `points` marks evenly spread over (0, total_minutes]."""
    if points < 0:
        raise UserError(f"--points {points}: expected 0 (use --minutes) or a positive count")
    if points:
        return [total_minutes * (i + 1) / points for i in range(points)]
    try:
        return [float(m) for m in minutes.split(",") if m]
    except ValueError:
        raise UserError(f"--minutes {minutes}: expected comma-separated numbers of minutes") from None


def closest_checkpoints(
    available: list[tuple[float, int, Path]], marks: list[float]
) -> list[tuple[float, int, Path]]:
    """For each mark the checkpoint whose training minutes are closest; each checkpoint once, oldest first."""
    return sorted({min(available, key=lambda c: abs(c[0] - mark)) for mark in marks})


def main() -> None:
    args = get_parser().parse_args()
    exp_dir = Path(args.exp_dir)
    setup_logging(exp_dir / "log" / "log-learning-curve")
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    sp = load_bpe(args.bpe_model)
    available = checkpoints_by_minutes(exp_dir)
    chosen = closest_checkpoints(available, minute_marks(args.minutes, args.points, available[-1][0]))
    sets = {name: load_cuts(args.manifest_dir, [name]) for name in args.test_sets.split(",") if name}
    points = []
    for minutes, batch, path in chosen:
        state = read_checkpoint(path)
        model = Transducer(checkpoint_config(state))
        load_model_state(model, state["model"], path)
        for name, subnet in (("largest", largest(model.cfg)), ("smallest", smallest(model.cfg))):
            for set_name, cuts in sets.items():
                results, _ = decode_cuts(model, subnet, cuts, sp)
                wer = word_error_rate([r[1] for r in results], [r[2] for r in results])["wer"]
                logging.info("%.1f min (batch %d) %s %s: WER %.2f%%", minutes, batch, name, set_name, wer)
                points.append(
                    {
                        "minutes": round(minutes, 2),
                        "batch": batch,
                        "subnet": name,
                        "set": set_name,
                        "wer": wer,
                    }
                )
    write_text_atomic(exp_dir / "learning-curve.json", json.dumps(points, indent=1) + "\n")
    logging.info("wrote %s", exp_dir / "learning-curve.json")


if __name__ == "__main__":
    run_main(main)
