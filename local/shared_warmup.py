#!/usr/bin/env python3
"""Start an ablation or attempt (run.sh stages 10 and 12) from the warm-up checkpoint of a run already trained (the
supernet, or an earlier attempt) when none of the arm's own differing options can act on the warm-up steps, instead
of training those steps again.

Usage (from egs/librispeech/todm, as run.sh calls it before an arm's warm-up):
    ./local/shared_warmup.py --source exp [--source exp-attempt-x ...] --steps 1500 -- <the arm's warm-up options>

Copies <source>/checkpoint-<steps>.pt and the checkpoints before it, of the first source that fits, into the
arm's --exp-dir when
  * the arm has no checkpoint yet,
  * the source's own warm-up command (the first train.py line of <source>/commands.txt with that --max-steps)
    parses, with train.py's parser, to the arm's settings once --exp-dir, --max-train-minutes and the options that
    cannot act on those steps are left out: on a largest-only warm-up (both runs' --largest-only-batches cover it)
    those that act only on steps with several subnets (todm.train.settings.SANDWICH_ONLY_OPTIONS); on a sandwich
    warm-up the KD options (KD_ONLY_OPTIONS and --kd-start-batch) when KD is off through it in both runs,
  * that checkpoint recorded exactly <steps> optimizer steps (the warm-up ran to its end).
The copy is what the arm would have trained itself, to the bit on the same CPU kind; it carries the warm-up's
recorded cost and machine. A note is appended to the arm's commands.txt. Otherwise nothing is copied and the arm
trains its own warm-up. Prints one line saying which.
"""

import argparse
import importlib.util
import shlex
import shutil
from pathlib import Path

from todm.checkpoint import checkpoint_iteration, checkpoint_progress, find_checkpoints, read_checkpoint
from todm.cli import run_main
from todm.errors import UserError
from todm.io import atomic_path
from todm.train.settings import KD_ONLY_OPTIONS, SANDWICH_ONLY_OPTIONS, kd_off_through

ALWAYS_IGNORED = {"exp_dir", "max_train_minutes"}


def ignored_options(theirs: dict, arm: dict, steps: int) -> set[str]:
    """The options that cannot have acted on the first `steps` steps of either run."""
    if theirs["largest_only_batches"] >= steps and arm["largest_only_batches"] >= steps:
        return ALWAYS_IGNORED | SANDWICH_ONLY_OPTIONS
    if kd_off_through(theirs, steps) and kd_off_through(arm, steps):
        return ALWAYS_IGNORED | KD_ONLY_OPTIONS | {"kd_start_batch"}
    return ALWAYS_IGNORED


def train_parser(train_py: Path) -> argparse.ArgumentParser:
    if not train_py.is_file():
        raise UserError(f"--train-py {train_py}: not found (run from egs/librispeech/todm)")
    spec = importlib.util.spec_from_file_location("recipe_train", train_py)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_parser()


def source_warmup_command(source: Path, steps: int) -> list[str] | None:
    """The options of the source's warm-up train.py command, or None when it logged none."""
    commands = source / "commands.txt"
    for line in commands.read_text().splitlines() if commands.is_file() else []:
        words = shlex.split(line)
        is_train = bool(words) and words[0].endswith("train.py") and "--max-steps" in words[:-1]
        if is_train and words[words.index("--max-steps") + 1] == str(steps):
            return words[1:]
    return None


def why_not_shared(source: Path, steps: int, arm: dict, parser: argparse.ArgumentParser) -> str:
    """Empty when the arm (its parsed train.py settings) may start from the source's warm-up checkpoint; else the
    reason it may not."""
    if find_checkpoints(arm["exp_dir"]) or list(Path(arm["exp_dir"]).glob("epoch-*.pt")):
        return f"{arm['exp_dir']} has checkpoints already"
    logged = source_warmup_command(source, steps)
    if logged is None:
        return f"{source}/commands.txt has no warm-up command of {steps} steps"
    theirs = vars(parser.parse_args(logged))
    ignored = ignored_options(theirs, arm, steps)
    differ = sorted(k for k in arm if k not in ignored and arm[k] != theirs.get(k))
    if differ:
        return "options that act on the warm-up differ: " + ", ".join(
            f"--{k.replace('_', '-')}" for k in differ
        )
    checkpoint = source / f"checkpoint-{steps}.pt"
    if not checkpoint.is_file():
        return f"{checkpoint} is gone"
    recorded = checkpoint_progress(read_checkpoint(checkpoint)).get("batch_idx_train")
    if recorded != steps:
        return f"{checkpoint} recorded {recorded} steps, not {steps}"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--source",
        action="append",
        required=True,
        help="an exp dir whose warm-up the arm may share (the supernet's, an earlier arm's); repeat to try several, "
        "in order",
    )
    parser.add_argument("--steps", type=int, required=True, help="the warm-up's optimizer steps")
    parser.add_argument("--train-py", default="train.py")
    parser.add_argument("arm_options", nargs=argparse.REMAINDER, help="-- then the arm's train.py options")
    args = parser.parse_args()
    options = args.arm_options[1:] if args.arm_options[:1] == ["--"] else args.arm_options
    train = train_parser(Path(args.train_py))
    arm = vars(train.parse_args(options))
    arm_dir, reasons = Path(arm["exp_dir"]), []
    for source in map(Path, args.source):
        reason = why_not_shared(source, args.steps, arm, train)
        if not reason:
            break
        reasons.append(reason if len(args.source) == 1 else f"{source}: {reason}")
    else:
        print(f"{arm_dir}: trains its own warm-up ({'; '.join(reasons)})")
        return
    arm_dir.mkdir(parents=True, exist_ok=True)
    # Every checkpoint of the warm-up, not only its last: the gap curve decodes the warm-up's steps too, each
    # averaged with the checkpoint before it. Oldest first, so an interrupted copy leaves a run that resumes.
    names = [p.name for p in reversed(find_checkpoints(source)) if checkpoint_iteration(p) <= args.steps]
    for name in names:
        with atomic_path(arm_dir / name) as tmp:
            shutil.copyfile(source / name, tmp)
    with open(arm_dir / "commands.txt", "a") as f:  # not a train.py line: the options of the arm stay its own
        f.write(
            f"# warm-up shared: {', '.join(names)} copied from {source} (its options differ only where a warm-up "
            "step cannot see them)\n"
        )
    print(f"{arm_dir}: starts from {source}/checkpoint-{args.steps}.pt (the same warm-up)")


if __name__ == "__main__":
    run_main(main)
