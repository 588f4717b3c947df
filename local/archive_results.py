#!/usr/bin/env python3
"""Copy the small results of experiment directories into a folder that can be committed, so RESULTS.md can be
regenerated (and comparisons continued) after the checkpoints are gone.

Usage (from egs/librispeech/todm):
    ./local/archive_results.py --exp-dirs exp,exp-baseline-subnet-phone-dropout-0.05 --out ../../../docs/results/default

For each directory it copies, under <out>/<dir name>/: commands.txt, exported/*/model_card.json, the
wer-summary and recogs files of both decoding methods, search/{history.jsonl,pareto.json,subnet-*.json,pareto.png},
learning-curve.json, gap-curve.json and time-scales.json; it writes training-curve.json (the losses logged to TensorBoard, which
local/compare_training.py compares with another run's) and progress.json from the newest checkpoint (its
architecture, counters and costs, the list of checkpoint steps, the last logged losses), which
local/write_results.py reads where no checkpoint is left. A file in --exp-dirs (a baseline's dropout choice,
exp-baseline-<subnet>.json) is copied as it is.

A directory with checkpoints is the run itself: its copy is rebuilt from it, so files left by an earlier run of
the same name (another model's decodes, its gap curve) do not survive. A directory without checkpoints (a later
session that restored the searched subnets from the archive) only adds to and overwrites its copy.
"""

import argparse
import json
import shutil
from pathlib import Path

from todm.checkpoint import checkpoint_progress, find_checkpoints, read_checkpoint
from todm.cli import run_main
from todm.errors import UserError
from todm.io import write_text_atomic
from todm.machine import describe_machine
from todm.train.curve import CURVE_FILE, read_training_curve

PATTERNS = (
    "commands.txt",
    "exported/*/model_card.json",
    "greedy_search/wer-summary-*.txt",
    "modified_beam_search/wer-summary-*.txt",
    "greedy_search/recogs-*.txt",  # per-utterance transcripts: paired bootstrap intervals of differences
    "modified_beam_search/recogs-*.txt",
    "search/history.jsonl",
    "search/pareto.json",
    "search/subnet-*.json",
    "search/pareto.png",
    "learning-curve.json",
    "gap-curve.json",
    "time-scales.json",
)


def last_logged_losses(exp_dir: Path) -> str:
    """The last per-subnet loss line of rank 0's training logs (the other ranks' files sort after it)."""
    lines = [
        line
        for log in sorted((exp_dir / "log").glob("log-train-*"))
        for line in log.read_text().splitlines()
        if "[loop.py" in line and "| largest" in line
    ]
    return lines[-1].split("|", 1)[1].rsplit("| lr", 1)[0].strip() if lines else ""


def progress_record(exp_dir: Path) -> dict | None:
    found = find_checkpoints(exp_dir)
    if not found:
        return None
    state = read_checkpoint(found[0])
    return {
        "checkpoint": found[0].name,
        "supernet_config": state["supernet_config"],
        "progress": checkpoint_progress(state),
        "baseline_of": state.get("baseline_of"),
        "checkpoint_steps": sorted(int(p.stem.split("-")[1]) for p in found),
        "last_losses": last_logged_losses(exp_dir),
        "machine": describe_machine(),  # archived where the run was made (RESULTS.md may be written elsewhere)
    }


def archive(exp_dir: Path, out: Path) -> int:
    """Copy one directory's small results into out/<its name>; returns the number of files written."""
    if exp_dir.is_file():
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(exp_dir, out / exp_dir.name)
        return 1
    if not exp_dir.is_dir():
        raise UserError(f"--exp-dirs {exp_dir}: neither a directory nor a file")
    target = out / exp_dir.name
    record = progress_record(exp_dir)
    if record is not None and target.is_dir():
        # built beside the old copy and swapped in only when whole: a crash leaves one of the two
        final, target = target, out / f".{exp_dir.name}.new"
        shutil.rmtree(target, ignore_errors=True)
    else:
        final = target
    copied = 0
    for pattern in PATTERNS:
        for path in sorted(exp_dir.glob(pattern)):
            dest = target / path.relative_to(exp_dir)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
            copied += 1
    if record is not None:
        write_text_atomic(target / "progress.json", json.dumps(record, indent=1) + "\n")
        copied += 1
    curve = read_training_curve(exp_dir)
    if curve:
        write_text_atomic(target / CURVE_FILE, json.dumps(curve) + "\n")
        copied += 1
    if target != final:
        stale = out / f".{exp_dir.name}.old"
        shutil.rmtree(stale, ignore_errors=True)
        final.rename(stale)
        target.rename(final)
        shutil.rmtree(stale)
    return copied


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--exp-dirs", required=True, help="comma-separated experiment directories")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = Path(args.out)
    for name in [d for d in args.exp_dirs.split(",") if d]:
        print(f"{name}: {archive(Path(name), out)} files -> {out / Path(name).name}")


if __name__ == "__main__":
    run_main(main)
