#!/usr/bin/env python3
"""What one speed-up is worth inside a training step: the same step with it on and off, in pairs, one process.

Usage:
    python tools/bench/step_toggle.py --feature shared-spectra   # each layer's SSM kernel spectrum once a step
    python tools/bench/step_toggle.py --feature compiled-kd      # the KD loss through torch.compile
    python tools/bench/step_toggle.py --feature fused-log-probs  # pruned_log_probs vs logsumexp + gather
    python tools/bench/step_toggle.py --feature compiled-kd --tiny --pairs 2   # seconds (tests)

On a shared machine whose speed drifts from second to second, timing two trees in separate processes cannot
resolve a few percent (`train_step.py`). Here one Trainer (run.sh's default arguments through train.py's own
parser, 1 process x 1 thread, the synthetic 20 s batches of train_step.py, step 3000: a sandwich step) runs
each batch twice in a row, once with the feature on and once off (the order alternating), with the same
sampled subnets (the draw is seeded by the step index) and the same dropout seed; the table gives the median and
quartiles of the paired differences of process CPU time.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch
from pruned_log_probs import composite
from train_step import (
    PER_PROCESS_SECONDS,
    REPO,
    load_train_script,
    recipe_args,
    synthetic_batches,
    tree_trainer,
)

SANDWICH_STEP = 3000


def toggles(trainer) -> dict:
    """feature name -> function(on: bool) that switches it in this trainer."""
    from todm.distill import adaptive_alpha_divergence
    from todm.model.encoder import Encoder
    from todm.rnnt import pruning

    objective = getattr(trainer.objective, "module", trainer.objective)
    compiled_kd = objective.kd_loss
    sharing = Encoder.shared_kernel_spectra

    @contextlib.contextmanager
    def not_shared(self):
        yield

    def shared_spectra(on: bool) -> None:
        Encoder.shared_kernel_spectra = sharing if on else not_shared

    def compiled(on: bool) -> None:
        if compiled_kd is adaptive_alpha_divergence:
            raise SystemExit("--feature compiled-kd: run.sh's arguments do not compile the KD loss")
        objective.kd_loss = compiled_kd if on else adaptive_alpha_divergence

    fused_log_probs = pruning.pruned_log_probs

    def fused(on: bool) -> None:  # off: the logsumexp + gather + select composite it replaced
        pruning.pruned_log_probs = fused_log_probs if on else composite

    return {"shared-spectra": shared_spectra, "compiled-kd": compiled, "fused-log-probs": fused}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--feature", required=True, choices=["shared-spectra", "compiled-kd", "fused-log-probs"]
    )
    parser.add_argument("--pairs", type=int, default=40, help="on/off pairs of steps")
    parser.add_argument("--preset", default="cpu_small")
    parser.add_argument("--tiny", action="store_true", help="tiny preset: a smoke run")
    args = parser.parse_args()
    if args.tiny:
        args.preset = "tiny"

    from todm.data.loader import Batch
    from todm.model import Transducer, get_preset

    extra = ["--exp-dir", "/tmp/todm-step-toggle", "--tensorboard", "false", "--model-config", args.preset]
    params = load_train_script(REPO).get_parser().parse_args(recipe_args(REPO) + PER_PROCESS_SECONDS + extra)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = get_preset(args.preset, vocab_size=500)
    trainer = tree_trainer(params, Transducer(cfg), None, 0, 1)
    switch = toggles(trainer)[args.feature]
    batches = synthetic_batches(16, params.max_duration, cfg.vocab_size, 0, Batch)
    trainer.progress.batch_idx_train = SANDWICH_STEP - 1
    for batch in batches[:2]:  # warm-up (and torch.compile's first call)
        trainer.train_step(batch)
    seconds: dict[bool, list[float]] = {True: [], False: []}
    for i in range(args.pairs):
        for on in (True, False) if i % 2 else (False, True):
            switch(on)
            trainer.progress.batch_idx_train = SANDWICH_STEP - 1 + i  # the same subnets for both runs
            torch.manual_seed(i)  # and the same dropout masks
            start = time.process_time()
            trainer.train_step(batches[i % len(batches)])
            seconds[on].append(time.process_time() - start)
    diffs = [(a - b) * 1e3 for a, b in zip(seconds[True], seconds[False])]
    quartiles = statistics.quantiles(diffs, n=4) if len(diffs) > 1 else diffs * 3
    on_ms, off_ms = (statistics.median(seconds[k]) * 1e3 for k in (True, False))
    print(
        f"\n{args.preset}, 1 process x 1 thread, step {SANDWICH_STEP}, {args.pairs} on/off pairs on the same "
        "batches and subnets; process CPU time\n"
    )
    print("| feature | on (ms/step) | off (ms/step) | paired difference (median) | quartiles |")
    print("|---|---|---|---|---|")
    print(
        f"| {args.feature} | {on_ms:.1f} | {off_ms:.1f} | {statistics.median(diffs):+.1f} ms "
        f"({statistics.median(diffs) / off_ms:+.1%}) | {quartiles[0]:+.1f} / {quartiles[2]:+.1f} ms |"
    )


if __name__ == "__main__":
    main()
