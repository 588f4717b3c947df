#!/usr/bin/env python3
"""The GPU path, checked on one GPU with no network: NCCL collectives, mixed-precision training, decoding,
and the librispeech preset's speed and memory.

Usage:
    python tools/gpu_check.py pack --out .gpu_check      # here: batches of the tiny embedded corpus + bpe.model
    python tools/gpu_check.py check --data .gpu_check --report gpu_check.md     # on the GPU machine
    python tools/gpu_check.py check --data .gpu_check --device cpu --smoke      # seconds, on any machine

`tools/gpu_check.sh` wraps both (it also packs the wheels and sdists the GPU machine lacks and builds fast_rnnt
with CUDA there). The check:
  1. a one-rank process group of the backend the trainer uses (cpu:gloo,cuda:nccl on a GPU) and the trainer's
     own collectives (stop flag, cost sums) through it;
  2. the tiny supernet trained on the packed batches for --steps sandwich steps (KD from step 50), in bf16 and
     in fp16 (GradScaler): steps/s, peak GPU memory, first and last loss, then greedy decoding of the packed
     utterances with the largest subnet (WER on those training utterances: the model must have learnt them);
  3. the librispeech preset: sandwich steps (KD on) on synthetic batches of --preset-seconds of audio in bf16:
     steps/s and peak GPU memory.
The RNN-T loss tests on CUDA (tests/test_rnnt_cuda.py) are run by gpu_check.sh beside this script.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools" / "bench"))


def pack(out: Path, fbank_dir: Path, bpe_model: Path, seconds_per_batch: float) -> None:
    """Batches (features, lengths, texts) of the tiny corpus's training part, and its BPE model."""
    import shutil

    from todm.data.bpe import load_bpe
    from todm.data.loader import filter_cuts, load_cuts, make_valid_loader, unpack_batch

    sp = load_bpe(bpe_model)
    cuts = filter_cuts(load_cuts(fbank_dir, ["train-clean-100"]), sp)
    batches = []
    for lhotse_batch in make_valid_loader(cuts, max_duration=seconds_per_batch):
        features, lens, texts, _ = unpack_batch(lhotse_batch)
        batches.append({"features": features, "feature_lens": lens, "texts": texts})
    out.mkdir(parents=True, exist_ok=True)
    torch.save(batches, out / "batches.pt")
    shutil.copy(bpe_model, out / "bpe.model")
    print(f"packed {len(batches)} batches ({sum(len(b['texts']) for b in batches)} utterances) into {out}")


def trainer_for(preset: str, device_args: list[str], exp_dir: str, extra: list[str], world_size: int = 1):
    """A Trainer of train.py's settings (its own parser) for `preset`, rank 0."""
    from train_step import load_train_script

    from todm.model import Transducer, get_preset
    from todm.train.loop import Trainer
    from todm.train.settings import TrainingSettings

    train_script = load_train_script(REPO)
    args = ["--model-config", preset, "--exp-dir", exp_dir, "--tensorboard", "false", *device_args, *extra]
    params = train_script.get_parser().parse_args(args)
    torch.manual_seed(0)
    cfg = get_preset(preset, vocab_size=500 if preset != "tiny" else 64)
    return Trainer(TrainingSettings.from_args(params), Transducer(cfg), None, rank=0, world_size=world_size)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_gib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")


def check_collectives(device: torch.device, exp_dir: str) -> str:
    """The trainer's collectives through a one-rank group of the backend it uses on this device."""
    import os

    import torch.distributed as dist
    from train_step import synthetic_batches

    from todm.data.loader import Batch
    from todm.train.loop import process_group_backend

    os.environ.update(MASTER_ADDR="localhost", MASTER_PORT="29671")
    backend = process_group_backend() if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, rank=0, world_size=1)
    try:
        # One GPU: a one-rank group, and the trainer told it has two ranks, so that it takes its multi-rank
        # branches: DDP's gradient all-reduce, the stop flag and the cost sums all go through the real backend.
        trainer = trainer_for("tiny", [], exp_dir, ["--max-train-minutes", "60"], world_size=2)
        for batch in synthetic_batches(2, 20.0, trainer.model.cfg.vocab_size, 0, Batch):
            trainer.train_step(batch)
        stop = trainer.should_stop(check_clock=True)
        macs_before = trainer.progress.train_encoder_macs
        trainer._macs_since_sync = 12345
        trainer.sync_costs()
        ok = stop is False and trainer.progress.train_encoder_macs - macs_before == 12345
        return f"{backend}: 2 DDP steps, should_stop and sync_costs all-reduced on {trainer.device}: " + (
            "ok" if ok else "WRONG"
        )
    finally:
        dist.destroy_process_group()


def train_tiny(data: Path, device: torch.device, amp: str, steps: int, exp_dir: str) -> dict:
    """Sandwich training of the tiny preset on the packed batches, then greedy decoding of them."""
    from todm.data.bpe import load_bpe
    from todm.data.loader import texts_to_batch
    from todm.decode.search import greedy_search
    from todm.decode.wer import word_error_rate
    from todm.train.loop import KindStats

    sp = load_bpe(data / "bpe.model")
    packed = torch.load(data / "batches.pt")
    batches = []
    for b in packed:
        batches.append(texts_to_batch(b["features"], b["feature_lens"], b["texts"], sp))
    amp_args = {"bf16": ["--use-bf16", "true"], "fp16": ["--use-fp16", "true"], "fp32": []}[amp]
    extra = ["--kd-start-batch", "50", "--kd-ramp-batches", "50", "--warm-step", "100", "--base-lr", "0.05"]
    trainer = trainer_for("tiny", amp_args, exp_dir, extra)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    losses = []
    synchronize(device)
    start = time.perf_counter()
    for step in range(steps):
        stats = KindStats()
        trainer.train_step(batches[step % len(batches)], stats)
        if step == 0 or step == steps - 1:
            losses.append(stats.per_frame()["largest"]["pruned"])
    synchronize(device)
    seconds = time.perf_counter() - start
    model = trainer.model.eval()
    refs, hyps = [], []
    with torch.no_grad():
        for b, p in zip(batches, packed):
            enc, enc_lens = model.forward_encoder(b.features.to(device), b.feature_lens.to(device))
            hyps += [sp.decode(t).split() for t in greedy_search(model, enc, enc_lens)]
            refs += [text.split() for text in p["texts"]]
    wer = word_error_rate(refs, hyps)["wer"]
    return {
        "amp": amp if device.type == "cuda" else "fp32 (CPU)",
        "steps_per_second": steps / seconds,
        "peak_gib": peak_memory_gib(device),
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "wer": wer,
        "utterances": len(refs),
    }


def preset_speed(preset: str, seconds: float, device: torch.device, steps: int, exp_dir: str) -> dict:
    """Sandwich steps (step 3000: KD on, warm-ups done) of `preset` on synthetic batches of `seconds`."""
    from train_step import synthetic_batches

    from todm.data.loader import Batch

    amp_args = ["--use-bf16", "true"] if device.type == "cuda" else []
    trainer = trainer_for(preset, amp_args, exp_dir, [])
    trainer.progress.batch_idx_train = 2999
    # LibriSpeech's training utterances average ~12 s.
    batches = synthetic_batches(
        steps + 2, seconds, trainer.model.cfg.vocab_size, 0, Batch, utterance_seconds=12.0
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for batch in batches:
        synchronize(device)
        start = time.perf_counter()
        trainer.train_step(batch)
        synchronize(device)
        times.append(time.perf_counter() - start)
    step_seconds = statistics.median(times[2:])
    return {
        "preset": preset,
        "seconds": seconds,
        "utterances": int(batches[0].features.size(0)),
        "steps_per_second": 1 / step_seconds,
        "peak_gib": peak_memory_gib(device),
    }


def environment(device: torch.device) -> list[str]:
    from todm.rnnt import get_backend

    backend = get_backend()
    lines = [f"torch {torch.__version__}, CUDA {torch.version.cuda}, Python {sys.version.split()[0]}"]
    if device.type == "cuda":
        lines.append(
            f"GPU: {torch.cuda.get_device_name(device)} (capability {torch.cuda.get_device_capability(device)})"
        )
    lines.append(f"RNN-T backend: {backend.name} {backend.version}, with CUDA: {backend.with_cuda}")
    return lines


def check(args) -> None:
    device = torch.device(args.device)
    report = ["# GPU check", "", *[f"- {line}" for line in environment(device)]]
    with tempfile.TemporaryDirectory() as exp_dir:
        report += ["", "## Collectives", "", "- " + check_collectives(device, exp_dir)]
        amps = ["bf16", "fp16"] if device.type == "cuda" else ["fp32"]
        report += [
            "",
            f"## Tiny supernet, {args.steps} sandwich steps on the packed batches, then greedy decoding",
            "",
            "| precision | steps/s | peak GPU GiB | pruned loss, first step | last step | WER on those utterances |",
            "|---|---|---|---|---|---|",
        ]
        for amp in amps:
            r = train_tiny(Path(args.data), device, amp, args.steps, exp_dir)
            report.append(
                f"| {r['amp']} | {r['steps_per_second']:.2f} | {r['peak_gib']:.2f} | {r['first_loss']:.3f} | "
                f"{r['last_loss']:.3f} | {r['wer']:.1f}% ({r['utterances']} utts) |"
            )
            print(report[-1], flush=True)
        preset, seconds = ("tiny", 20.0) if args.smoke else ("librispeech", args.preset_seconds)
        r = preset_speed(preset, seconds, device, 2 if args.smoke else 5, exp_dir)
        report += [
            "",
            (
                f"## {r['preset']} preset, sandwich steps (KD on) on synthetic batches of {r['seconds']:.0f} s "
                f"({r['utterances']} utterances), {'bf16' if device.type == 'cuda' else 'fp32'}"
            ),
            "",
            (
                f"- {r['steps_per_second']:.2f} steps/s (median of the timed steps), peak GPU memory "
                f"{r['peak_gib']:.1f} GiB"
            ),
        ]
    text = "\n".join(report) + "\n"
    print(text)
    if args.report:
        Path(args.report).write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="pack the tiny corpus's batches and BPE model")
    p.add_argument("--out", default=str(REPO / ".gpu_check"))
    recipe = REPO / "egs" / "librispeech" / "todm"
    p.add_argument("--fbank-dir", default=str(recipe / "data-tiny" / "fbank"))
    p.add_argument("--bpe-model", default=str(recipe / "data-tiny" / "lang_bpe_64" / "bpe.model"))
    p.add_argument("--batch-seconds", type=float, default=60.0)
    c = sub.add_parser("check", help="run the checks (on the GPU machine)")
    c.add_argument("--data", default=str(REPO / ".gpu_check"))
    c.add_argument("--device", default="cuda")
    c.add_argument("--steps", type=int, default=300)
    c.add_argument("--preset-seconds", type=float, default=600.0)
    c.add_argument("--smoke", action="store_true", help="the tiny preset instead of librispeech (CPU tests)")
    c.add_argument("--report", default="")
    args = parser.parse_args()
    if args.command == "pack":
        for path in (args.fbank_dir, args.bpe_model):
            if not Path(path).exists():
                sys.exit(
                    f"{path}: missing; run egs/librispeech/todm/run.sh --profile tiny --stop-stage 3 first"
                )
        pack(Path(args.out), Path(args.fbank_dir), Path(args.bpe_model), args.batch_seconds)
    else:
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            sys.exit("--device cuda: torch sees no GPU here (use --device cpu --smoke for a CPU run)")
        check(args)


if __name__ == "__main__":
    main()
