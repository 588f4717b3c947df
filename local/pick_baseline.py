#!/usr/bin/env python3
"""Choose a one-by-one baseline's dropout: the run of the grid with the lowest dev WER.

Usage (from egs/librispeech/todm):
    ./local/pick_baseline.py --dirs exp-baseline-phone-dropout-0.0,exp-baseline-phone-dropout-0.05 \
        --iter 3000 --out exp-baseline-phone.json

Each dir must hold decode.py's greedy wer-summary files of dev-clean and dev-other for --iter (the averaged
model ending at checkpoint-<iter>.pt). The score is the word-weighted WER over both sets (their errs files
give the word counts). Prints the chosen dir and writes --out: {"chosen", "iter", "grid": [{"dir", "dev_wer",
per-set WERs}]}, which RESULTS.md quotes.
"""

import argparse
import json
from pathlib import Path

from todm.cli import run_main
from todm.decode.wer import read_errs_file
from todm.errors import UserError
from todm.io import write_text_atomic

DEV_SETS = ("dev-clean", "dev-other")


def dev_result(run_dir: Path, iteration: int) -> dict:
    """{"dev_wer", "<set>": wer} from the greedy errs files of `run_dir` at --iter `iteration`."""
    row, errors, words = {"dir": str(run_dir)}, 0, 0
    for dev_set in DEV_SETS:
        found = sorted(
            (run_dir / "greedy_search").glob(f"errs-{dev_set}-greedy_search-iter-{iteration}-*.txt")
        )
        if not found:
            raise UserError(
                f"{run_dir}: no greedy dev result of {dev_set} at --iter {iteration} (decode it first)"
            )
        stats = read_errs_file(found[-1])
        row[dev_set] = stats["wer"]
        errors += stats["ins"] + stats["del"] + stats["sub"]
        words += stats["words"]
    row["dev_wer"] = 100.0 * errors / max(1, words)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dirs", required=True, help="comma-separated exp dirs of the grid")
    parser.add_argument("--iter", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    grid = [dev_result(Path(d), args.iter) for d in args.dirs.split(",") if d]
    if not grid:
        raise UserError("--dirs: no directories given")
    best = min(grid, key=lambda r: r["dev_wer"])  # ties: the first in --dirs order
    summary = {"chosen": best["dir"], "iter": args.iter, "grid": grid}
    write_text_atomic(Path(args.out), json.dumps(summary, indent=1) + "\n")
    print(best["dir"])


if __name__ == "__main__":
    run_main(main)
