#!/usr/bin/env python3
"""Start an ablation or attempt (run.sh stages 10 and 12) from the checkpoints of a run already trained (the
supernet, or an earlier arm) for the steps on which none of the arm's own differing options can act, instead of
training those steps again.

Usage (from egs/librispeech/todm, as run.sh calls it before each of an arm's two train.py commands):
    ./local/shared_steps.py --source exp [--source exp-attempt-x ...] --steps 1500 -- <the arm's warm-up options>
    ./local/shared_steps.py --continue --source ... -- <the arm's main options>

The warm-up (without --continue): copies <source>/checkpoint-<steps>.pt and the checkpoints before it, of the first
source that fits, into the arm's --exp-dir when
  * the arm has no checkpoint yet,
  * the source's own warm-up command (the first train.py line of <source>/commands.txt with that --max-steps)
    parses, with train.py's parser, to the arm's settings once --exp-dir, --max-train-minutes and the options that
    cannot act on those steps are left out: on a largest-only warm-up (both runs' --largest-only-batches cover it)
    those that act only on steps with several subnets (todm.train.settings.SANDWICH_ONLY_OPTIONS); on a sandwich
    warm-up the KD options (KD_ONLY_OPTIONS and --kd-start-batch) when KD is off through it in both runs,
  * that checkpoint recorded exactly <steps> optimizer steps (the warm-up ran to its end).

After the warm-up (--continue, e.g. an arm whose KD starts at step 4,500 after one without KD): copies the source's
checkpoints after the arm's newest one, up to the last step K (at most the arm's --max-steps) through which the
arm's options cannot differ in effect from the source's, when
  * the arm's newest checkpoint holds the same weights, averaged weights, optimizer state and step as the source's
    checkpoint of that step (the two runs are at the same point; a fresh arm counts as step 0),
  * every train.py line of the source on the arm's --train-parts parses to the arm's settings once --exp-dir,
    --max-train-minutes, --max-steps and the options that cannot act through step K are left out (as above),
  * the source's checkpoint-K.pt recorded exactly K optimizer steps.

Either copy is what the arm would have trained itself, to the bit on the same CPU kind; it carries the source's
recorded cost and machine for those steps. A note is appended to the arm's commands.txt. Otherwise nothing is
copied and the arm trains the steps itself. Prints one line saying which.
"""

import argparse
import importlib.util
import shlex
import shutil
from pathlib import Path

from todm.checkpoint import (
    checkpoint_iteration,
    checkpoint_progress,
    find_checkpoints,
    newest_checkpoint,
    read_checkpoint,
    same_training_state,
)
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


def differing_options(theirs: dict, arm: dict, ignored: set[str]) -> list[str]:
    return [f"--{k.replace('_', '-')}" for k in sorted(arm) if k not in ignored and arm[k] != theirs.get(k)]


def train_parser(train_py: Path) -> argparse.ArgumentParser:
    if not train_py.is_file():
        raise UserError(f"--train-py {train_py}: not found (run from egs/librispeech/todm)")
    spec = importlib.util.spec_from_file_location("recipe_train", train_py)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_parser()


def train_commands(source: Path) -> list[list[str]]:
    """The options of every train.py line the source logged in its commands.txt, in order."""
    commands = source / "commands.txt"
    lines = commands.read_text().splitlines() if commands.is_file() else []
    # split only train.py lines: a note or another tool's line need not be shell-quoted
    return [shlex.split(line)[1:] for line in lines if line.split(" ", 1)[0].endswith("train.py")]


def source_warmup_command(source: Path, steps: int) -> list[str] | None:
    """The options of the source's warm-up train.py command, or None when it logged none."""
    for words in train_commands(source):
        if "--max-steps" in words[:-1] and words[words.index("--max-steps") + 1] == str(steps):
            return words
    return None


def recorded_steps(checkpoint: Path) -> str:
    """Empty when `checkpoint` exists and recorded as many optimizer steps as its name says; else why not."""
    if not checkpoint.is_file():
        return f"{checkpoint} is gone"
    recorded = checkpoint_progress(read_checkpoint(checkpoint)).get("batch_idx_train")
    steps = checkpoint_iteration(checkpoint)
    return "" if recorded == steps else f"{checkpoint} recorded {recorded} steps, not {steps}"


def why_not_shared(source: Path, steps: int, arm: dict, parser: argparse.ArgumentParser) -> str:
    """Empty when the arm (its parsed train.py settings) may start from the source's warm-up checkpoint; else the
    reason it may not."""
    if find_checkpoints(arm["exp_dir"]) or list(Path(arm["exp_dir"]).glob("epoch-*.pt")):
        return f"{arm['exp_dir']} has checkpoints already"
    logged = source_warmup_command(source, steps)
    if logged is None:
        return f"{source}/commands.txt has no warm-up command of {steps} steps"
    theirs = vars(parser.parse_args(logged))
    differ = differing_options(theirs, arm, ignored_options(theirs, arm, steps))
    if differ:
        return "options that act on the warm-up differ: " + ", ".join(differ)
    return recorded_steps(source / f"checkpoint-{steps}.pt")


def shared_through(source: Path, arm: dict, parser: argparse.ArgumentParser) -> tuple[int, int, str]:
    """(J, K, ""): the arm, now at step J, may take the source's checkpoints after J up to K; else (J, 0, why not)."""
    arm_dir = Path(arm["exp_dir"])
    arm_checkpoint = newest_checkpoint(arm_dir) if arm_dir.is_dir() else None
    arm_state = read_checkpoint(arm_checkpoint) if arm_checkpoint else None  # read once: also compared below
    start = checkpoint_progress(arm_state)["batch_idx_train"] if arm_state else 0
    logged = []
    for words in train_commands(source):
        theirs, unknown = parser.parse_known_args(words)
        if unknown:
            return start, 0, f"{source}/commands.txt: options train.py no longer has: {' '.join(unknown)}"
        if theirs.train_parts == arm["train_parts"]:
            logged.append(vars(theirs))
    if not logged:
        return (
            start,
            0,
            f"{source}/commands.txt has no train.py command on --train-parts {arm['train_parts']}",
        )
    limit = arm["max_steps"] if arm["max_steps"] > 0 else float("inf")
    candidates = [p for p in find_checkpoints(source) if start < checkpoint_iteration(p) <= limit]
    why = f"no checkpoint after step {start}" + ("" if limit == float("inf") else f" up to step {limit}")
    through = 0
    for checkpoint in candidates:  # newest first: the longest shared stretch
        steps = checkpoint_iteration(checkpoint)
        differ = sorted(  # --max-steps only says where a run stops
            {
                o
                for theirs in logged
                for o in differing_options(theirs, arm, ignored_options(theirs, arm, steps))
            }
            - {"--max-steps"}
        )
        why = (
            f"options that act by step {steps} differ: " + ", ".join(differ)
            if differ
            else recorded_steps(checkpoint)
        )
        if not why:
            through = steps
            break
    if not through:
        return start, 0, why
    if start:  # the arm got to step J the way the source did: the same state there, to the bit
        theirs = source / f"checkpoint-{start}.pt"
        if not theirs.is_file():
            return start, 0, f"{source} has no checkpoint-{start}.pt to compare the arm's step {start} with"
        if not same_training_state(arm_state, read_checkpoint(theirs)):
            return start, 0, f"{arm_checkpoint} differs from {theirs}"
    return start, through, ""


def copy_checkpoints(source: Path, arm_dir: Path, after: int, through: int) -> list[str]:
    """Copy the source's checkpoint-K.pt for after < K <= through, oldest first (an interrupted copy leaves a run
    that resumes); every one, not only the last: the gap curve decodes those steps too, each averaged with the
    checkpoint before it."""
    names = [p.name for p in reversed(find_checkpoints(source)) if after < checkpoint_iteration(p) <= through]
    arm_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        with atomic_path(arm_dir / name) as tmp:
            shutil.copyfile(source / name, tmp)
    return names


def note(arm_dir: Path, names: list[str], source: Path, what: str) -> None:
    with open(arm_dir / "commands.txt", "a") as f:  # not a train.py line: the options of the arm stay its own
        f.write(
            f"# {what} shared: {', '.join(names)} copied from {source} (its options differ only where those "
            "steps cannot see them)\n"
        )


def share_warmup(sources: list[Path], steps: int, arm: dict, parser: argparse.ArgumentParser) -> None:
    arm_dir, reasons = Path(arm["exp_dir"]), []
    for source in sources:
        reason = why_not_shared(source, steps, arm, parser)
        if not reason:
            break
        reasons.append(reason if len(sources) == 1 else f"{source}: {reason}")
    else:
        print(f"{arm_dir}: trains its own warm-up ({'; '.join(reasons)})")
        return
    note(arm_dir, copy_checkpoints(source, arm_dir, 0, steps), source, "warm-up")
    print(f"{arm_dir}: starts from {source}/checkpoint-{steps}.pt (the same warm-up)")


def share_continuation(sources: list[Path], arm: dict, parser: argparse.ArgumentParser) -> None:
    arm_dir, reasons, best = Path(arm["exp_dir"]), [], None
    for source in sources:
        start, through, reason = shared_through(source, arm, parser)
        if reason:
            reasons.append(reason if len(sources) == 1 else f"{source}: {reason}")
        elif best is None or through > best[2]:
            best = source, start, through
    if best is None:
        print(f"{arm_dir}: trains its steps itself ({'; '.join(reasons)})")
        return
    source, start, through = best
    note(arm_dir, copy_checkpoints(source, arm_dir, start, through), source, f"steps {start + 1}-{through}")
    print(
        f"{arm_dir}: continues from {source}/checkpoint-{through}.pt (the same steps {start + 1}-{through})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--source",
        action="append",
        required=True,
        help="an exp dir whose steps the arm may share (the supernet's, an earlier arm's); repeat to try several: "
        "the warm-up comes from the first that fits, a continuation from the one that shares the most steps",
    )
    parser.add_argument(
        "--steps", type=int, default=0, help="the warm-up's optimizer steps (without --continue)"
    )
    parser.add_argument(
        "--continue",
        dest="after_warmup",
        action="store_true",
        help="share the steps after the warm-up: the options after -- are the arm's main train.py command",
    )
    parser.add_argument("--train-py", default="train.py")
    parser.add_argument("arm_options", nargs=argparse.REMAINDER, help="-- then the arm's train.py options")
    args = parser.parse_args()
    if not args.after_warmup and args.steps <= 0:
        raise UserError(f"--steps {args.steps}: expected the warm-up's optimizer steps (a positive number)")
    options = args.arm_options[1:] if args.arm_options[:1] == ["--"] else args.arm_options
    train = train_parser(Path(args.train_py))
    arm, sources = vars(train.parse_args(options)), [Path(s) for s in args.source]
    if args.after_warmup:
        share_continuation(sources, arm, train)
    else:
        share_warmup(sources, args.steps, arm, train)


if __name__ == "__main__":
    run_main(main)
