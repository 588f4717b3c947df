#!/usr/bin/env python3
"""Optimizer steps per second of run.sh's default training, this tree against another, side by side.

Usage:
    python tools/bench/train_step.py                         # this tree only
    python tools/bench/train_step.py --compare 82971ef       # vs a git commit (exported with git archive)
    python tools/bench/train_step.py --compare /path/to/tree # vs another checkout
    python tools/bench/train_step.py --tiny                  # seconds: the tiny preset, 1 process (tests)

Each measurement is a fresh `python` process per tree that imports that tree's `todm` and builds the training
settings with that tree's own `train.py` parser from that tree's run.sh default arguments (cpu_small, 2 DDP processes
x 1 thread, 20 s batches per process, --largest-only-batches 1500), so nothing here copies a default. Both
phases of the default run are timed: a largest-only warm-up step (step 100) and a sandwich step (step 3000),
each on the same fixed synthetic batches for every tree, `--steps` steps after 2 warm-up steps. The trees
take turns (A B B A ...) `--repeat` times and the table gives the median. The first step's losses (summed per frame over
members and terms) of every run are printed too: equal values say both trees compute the same step.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PER_PROCESS_SECONDS = ["--max-duration", "20"]  # run.sh's 40 s per step over its 2 processes
PHASES = {"largest-only": 100, "sandwich": 3000}  # the step each phase is measured at


def synthetic_batches(
    count: int, seconds: float, vocab: int, rank: int, Batch, utterance_seconds: float = 3.3
) -> list:
    """Batches shaped like the embedded corpus's: ~3.3 s utterances (or `utterance_seconds`), ~7 BPE tokens
    per second."""
    import torch

    g = torch.Generator().manual_seed(1000 + rank)
    scale = utterance_seconds / 3.3
    batches = []
    for _ in range(count):
        n = max(1, round(seconds / utterance_seconds))
        lens = (
            torch.randint(int(290 * scale), int(340 * scale), (n,), generator=g).sort(descending=True).values
        )
        tokens = torch.randint(int(16 * scale), int(26 * scale), (n,), generator=g)
        targets = torch.randint(1, vocab, (n, int(tokens.max())), generator=g)
        for i, t in enumerate(tokens.tolist()):
            targets[i, t:] = 0
        batches.append(Batch(torch.randn(n, int(lens[0]), 80, generator=g), lens, targets, tokens))
    return batches


def recipe_args(tree: Path) -> list[str]:
    """The train.py arguments of run.sh's default profile in `tree` (its `recipe_args` for the default)."""
    run_sh = (tree / "egs/librispeech/todm/run.sh").read_text()
    found = [m for m in re.findall(r'recipe_args="([^"]*)"', run_sh) if m]
    if not found:
        raise RuntimeError(f"{tree}/egs/librispeech/todm/run.sh: no recipe_args of the default profile")
    return found[-1].split()


def worker_rank(rank: int, world_size: int, args, queue) -> None:
    """One DDP rank of a measurement: build the tree's Trainer, time --steps steps."""
    import torch
    import torch.distributed as dist

    import todm
    from todm.model import Transducer, get_preset
    from todm.train.loop import KindStats

    if not Path(todm.__file__).resolve().is_relative_to(Path(args.tree).resolve()):
        raise RuntimeError(f"imported {todm.__file__}, expected the tree {args.tree}")
    train_script = load_train_script(Path(args.tree))
    extra = ["--model-config", args.preset, "--exp-dir", args.exp_dir, "--tensorboard", "false"]
    params = train_script.get_parser().parse_args(recipe_args(Path(args.tree)) + PER_PROCESS_SECONDS + extra)
    if world_size > 1:
        os.environ.update(MASTER_ADDR="localhost", MASTER_PORT=str(args.port))
        dist.init_process_group("gloo", rank=rank, world_size=world_size)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = get_preset(args.preset, vocab_size=500)
    trainer = tree_trainer(params, Transducer(cfg), None, rank, world_size)
    trainer.progress.batch_idx_train = PHASES[args.phase] - 1
    batches = synthetic_batches(args.steps + 2, params.max_duration, cfg.vocab_size, rank, tree_batch_class())
    # The first step's losses on fixed inputs: the same in every tree that computes the same step.
    stats = KindStats()
    trainer.train_step(batches[0], stats)
    first_loss = sum(sum(v.values()) for v in stats.per_frame().values())
    trainer.train_step(batches[1])
    if world_size > 1:
        dist.barrier()
    start = time.perf_counter()
    for batch in batches[2:]:
        trainer.train_step(batch)
    if world_size > 1:
        dist.barrier()
    seconds = time.perf_counter() - start
    if rank == 0:
        queue.put({"steps_per_second": args.steps / seconds, "first_loss": first_loss})
    if world_size > 1:
        dist.destroy_process_group()


def tree_trainer(params, model, sp, rank: int, world_size: int):
    """The imported tree's Trainer from its train.py's parsed arguments: typed settings where the tree has
    them (earlier trees took the namespace itself, with a fixed_subnet attribute)."""
    from todm.train.loop import Trainer

    try:
        from todm.train.settings import TrainingSettings
    except ImportError:
        params.fixed_subnet = None
        return Trainer(params, model, sp, rank, world_size)
    return Trainer(TrainingSettings.from_args(params), model, sp, rank, world_size)


def tree_batch_class():
    """The imported tree's Batch (earlier trees kept it in the objective module)."""
    try:
        from todm.data.loader import Batch
    except ImportError:
        from todm.train.objective import Batch
    return Batch


def load_train_script(tree: Path):
    """The recipe's train.py of `tree` as a module (its get_parser builds the settings)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_train", tree / "egs/librispeech/todm/train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_ranks(fn, world_size: int, args) -> dict:
    """Run fn(rank, world_size, args, queue) on every rank (spawned when more than one); rank 0's report."""
    import torch.multiprocessing as mp

    queue = mp.get_context("spawn").Queue()
    if world_size > 1:
        mp.spawn(fn, args=(world_size, args, queue), nprocs=world_size, join=True)
    else:
        fn(0, 1, args, queue)
    return queue.get()


def worker(args) -> None:
    print("RESULT " + json.dumps(run_ranks(worker_rank, args.world_size, args)))


def measure(tree: Path, phase: str, args) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    with tempfile.TemporaryDirectory() as exp_dir:
        cmd = [
            sys.executable, str(Path(__file__).resolve()), "--worker", "--tree", str(tree), "--phase", phase,
            "--steps", str(args.steps), "--preset", args.preset, "--world-size", str(args.world_size),
            "--port", str(args.port), "--exp-dir", exp_dir,
        ]  # fmt: skip
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark of {tree} ({phase}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def export_tree(ref: str, into: Path) -> Path:
    """A directory holding `ref`: itself when it is one, else the commit exported with git archive."""
    if Path(ref).is_dir():
        return Path(ref).resolve()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], capture_output=True, check=False)
    if archive.returncode != 0:
        sys.exit(
            f"--compare {ref}: not a directory nor a commit of {REPO} ({archive.stderr.decode().strip()})"
        )
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--compare", default="", help="a git commit/ref or a directory to measure beside this tree"
    )
    parser.add_argument("--repeat", type=int, default=3, help="measurements per tree and phase (median)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    parser.add_argument("--tiny", action="store_true", help="tiny preset, 1 process, 2 steps: a smoke run")
    parser.add_argument("--preset", default="cpu_small")
    parser.add_argument("--world-size", type=int, default=2)
    parser.add_argument("--port", type=int, default=29653)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", default=str(REPO), help=argparse.SUPPRESS)
    parser.add_argument("--phase", default="sandwich", help=argparse.SUPPRESS)
    parser.add_argument("--exp-dir", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.tiny:
        args.preset, args.world_size, args.steps, args.repeat = "tiny", 1, 2, 1
    scratch = Path(tempfile.mkdtemp(prefix="todm-bench-"))
    try:
        trees = {"this tree": REPO}
        if args.compare:
            trees = {f"--compare {args.compare}": export_tree(args.compare, scratch / "ref"), **trees}
        results = {(name, phase): [] for name in trees for phase in PHASES}
        order = list(trees.items())
        for r in range(args.repeat):
            for name, tree in order if r % 2 == 0 else order[::-1]:
                for phase in PHASES:
                    results[name, phase].append(measure(tree, phase, args))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print_table(results, trees, args)


def print_table(results: dict, trees: dict, args) -> None:
    print(
        f"\n{args.preset}, {args.world_size} process(es) x 1 thread, 20 s synthetic batches per process; "
        f"median of {args.repeat} runs of {args.steps} steps, trees taking turns\n"
    )
    print("| tree | phase | steps/s (median) | runs | first-step loss |")
    print("|---|---|---|---|---|")
    median = {}
    for (name, phase), runs in results.items():
        rates = [r["steps_per_second"] for r in runs]
        median[name, phase] = statistics.median(rates)
        losses = sorted({f"{r['first_loss']:.6f}" for r in runs})
        print(
            f"| {name} | {phase} | {median[name, phase]:.3f} | {', '.join(f'{x:.3f}' for x in rates)} | "
            f"{', '.join(losses)} |"
        )
    if len(trees) == 2:
        ref, new = list(trees)
        for phase in PHASES:
            print(
                f"\n{phase}: this tree makes {median[new, phase] / median[ref, phase]:.2f}x the steps/s of {ref}"
            )


if __name__ == "__main__":
    main()
