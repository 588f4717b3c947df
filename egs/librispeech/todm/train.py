#!/usr/bin/env python3
"""Train the TODM supernet (sandwich rule + in-place alpha-divergence KD + adaptive dropout + ScaledAdam),
or, with --subnet, one architecture of the supernet as its own model (the one-by-one baseline).

Usage (from egs/librispeech/todm):
    ./train.py --exp-dir exp --bpe-model data/lang_bpe_500/bpe.model --manifest-dir data/fbank \
        --model-config cpu_small --num-epochs 8 --max-duration 40
    ./train.py --world-size 2 ...                  # 2 DDP processes (gloo on CPU, nccl on GPU)
    torchrun --nproc-per-node 2 ./train.py ...     # the same under torchrun
    ./train.py --start-batch 600 ...               # resume from exp/checkpoint-600.pt
    ./train.py --start-epoch 3 ...                 # resume from exp/epoch-2.pt
    ./train.py --subnet exp/search/subnet-mid.json --dropout-max 0.05 --exp-dir exp-baseline-mid ...

--subnet builds the standalone model of that architecture (Transducer(extract_config(supernet, subnet))): its
own initialisation, parameters and optimizer state, one dropout rate (--dropout-max), no KD. Its checkpoints
record the architecture (baseline_of), so decode.py and export.py take the same --subnet JSON as for the
supernet's subnet.

Without --start-epoch/--start-batch, a re-run resumes from the newest checkpoint in --exp-dir.
Writes exp/epoch-N.pt, exp/checkpoint-K.pt, exp/log/log-train-*, exp/tensorboard/.
"""

import argparse
import dataclasses
import json
import logging
import os
import time
from pathlib import Path

import torch
import torch.multiprocessing as mp

from todm.checkpoint import newest_checkpoint, seed_everything
from todm.cli import die_with_parent, run_main, setup_logging, str2bool
from todm.data.bpe import load_bpe
from todm.data.loader import check_vocab, filter_cuts, load_noise_cuts, load_training_cuts, make_train_loader
from todm.errors import UserError
from todm.model import (
    SubnetConfig,
    SupernetConfig,
    Transducer,
    extract_config,
    get_preset,
    largest,
    num_params,
    read_subnet_file,
    smallest,
)
from todm.train.loop import Trainer, init_distributed
from todm.train.settings import TrainingSettings


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--exp-dir", default="exp")
    add("--bpe-model", default="data/lang_bpe_500/bpe.model")
    add("--manifest-dir", default="data/fbank", help="directory with librispeech_cuts_<part>.jsonl.gz")
    add(
        "--train-parts",
        default="train-clean-100",
        help="comma-separated training parts, e.g. train-clean-100,train-clean-360,train-other-500 (960 h)",
    )
    add("--model-config", default="cpu_small", help="preset name (cpu_small, librispeech) or a JSON file")
    add("--causal", type=str2bool, default=False, help="streaming (causal) encoder")
    add("--world-size", type=int, default=1)
    add("--master-port", type=int, default=12354)
    add("--num-threads", type=int, default=0, help="torch threads per process (0: cores / world size)")
    add("--num-epochs", type=int, default=8)
    add("--start-epoch", type=int, default=1)
    add("--start-batch", type=int, default=0)
    add(
        "--max-train-minutes", type=float, default=0, help="stop (with a checkpoint) after this much training"
    )
    add("--max-steps", type=int, default=0, help="stop after this many optimizer steps (0: no limit)")
    add("--max-duration", type=float, default=40.0, help="seconds of audio per batch")
    add("--optimizer", default="scaled_adam", choices=["scaled_adam", "adam"])
    add("--base-lr", type=float, default=None, help="default: 0.045 (ScaledAdam), 2e-3 (Adam)")
    add("--ssm-lr-scale", type=float, default=0.02, help="lr of the SSM kernel parameters, relative")
    add("--lr-batches", type=float, default=7500)
    add("--lr-epochs", type=float, default=3.5)
    add("--warmup-batches", type=float, default=500)
    add("--context-size", type=int, default=2)
    add("--prune-range", type=int, default=5)
    add("--lm-scale", type=float, default=0.25)
    add("--am-scale", type=float, default=0.0)
    add("--simple-loss-scale", type=float, default=0.5)
    add("--warm-step", type=int, default=500, help="batches of icefall's simple/pruned loss warm-up")
    add("--use-ctc", type=str2bool, default=True, help="CTC helper head (training only)")
    add("--ctc-loss-scale", type=float, default=0.2)
    add("--sandwich", type=str2bool, default=True, help="largest + smallest + random subnets each step")
    add("--num-random-subnets", type=int, default=2)
    add(
        "--largest-only-batches",
        type=int,
        default=0,
        help="sandwich runs: train only the largest subnet for this many batches first",
    )
    add("--use-kd", type=str2bool, default=True, help="in-place alpha-divergence KD from the largest subnet")
    add("--kd-scale", type=float, default=0.2)
    add("--kd-start-batch", type=int, default=500)
    add("--kd-ramp-batches", type=int, default=500)
    add("--alpha-min", type=float, default=-1.0)
    add("--alpha-max", type=float, default=1.0)
    add(
        "--student-label-scale",
        type=float,
        default=1.0,
        help="weight of the students' own transducer + CTC losses once KD is on (0: KD alone, as AlphaNet)",
    )
    add(
        "--kd-teacher-decay",
        type=float,
        default=0.0,
        help="0: the step's largest subnet teaches in place; e.g. 0.999: an EMA of the weights (its largest "
        "subnet, without dropout) teaches, updated with this decay after every step",
    )
    add("--adaptive-dropout", type=str2bool, default=True)
    add("--dropout-min", type=float, default=0.0)
    add("--dropout-max", type=float, default=0.1)
    add("--spec-augment", type=str2bool, default=True)
    add(
        "--noise-cuts",
        default="",
        help="mix noise from these cuts (with fbank) into training cuts, e.g. data/fbank/musan_cuts.jsonl.gz",
    )
    add("--noise-prob", type=float, default=0.5, help="fraction of training cuts that get noise")
    add("--noise-snr", default="10,20", help="SNR range in dB of the mixed noise (icefall's MUSAN: 10,20)")
    add(
        "--use-fp16",
        type=str2bool,
        default=False,
        help="autocast + GradScaler (GPU only; CPU trains in fp32)",
    )
    add("--use-bf16", type=str2bool, default=False, help="bf16 autocast (GPU only; CPU trains in fp32)")
    add(
        "--torch-compile",
        type=str2bool,
        default=False,
        help="torch.compile the KD loss (one-time compile of ~30 s; on CPU a sandwich step ~10%% faster)",
    )
    add(
        "--subnet",
        default=None,
        help="train this architecture (JSON) as a standalone model with dropout --dropout-max: a baseline",
    )
    add("--seed", type=int, default=42)
    add("--save-every-n", type=int, default=500)
    add("--keep-last-k", type=int, default=5)
    add("--average-period", type=int, default=100)
    add("--log-interval", type=int, default=25)
    add("--tensorboard", type=str2bool, default=True)
    return parser


def build_config(params) -> SupernetConfig:
    """The supernet config: a preset, or a JSON file; vocab_size always from the BPE model."""
    sp = load_bpe(params.bpe_model)
    if Path(params.model_config).suffix == ".json":
        path = Path(params.model_config)
        if not path.is_file():
            raise UserError(f"--model-config {path}: file not found")
        cfg = read_model_config(path, sp.get_piece_size())
    else:
        try:
            cfg = get_preset(params.model_config, vocab_size=sp.get_piece_size(), causal=params.causal)
        except ValueError as exc:
            raise UserError(f"--model-config {params.model_config}: {exc} (or a JSON file)") from None
    if cfg.context_size != params.context_size:
        cfg.context_size = params.context_size
    check_vocab(sp, cfg.vocab_size, params.bpe_model)
    return cfg


def read_model_config(path: Path, vocab_size: int) -> SupernetConfig:
    """A supernet JSON: every field of SupernetConfig but vocab_size (the BPE model's), or {"preset": name}
    plus the fields that differ from that preset. A partial file would otherwise fill the rest silently."""
    try:
        given = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"--model-config {path}: not valid JSON ({exc})") from None
    if not isinstance(given, dict):
        raise UserError(f"--model-config {path}: expected a JSON object of SupernetConfig fields")
    fields = {f.name for f in dataclasses.fields(SupernetConfig)}
    unknown = sorted(set(given) - fields - {"preset"})
    if unknown:
        raise UserError(
            f"--model-config {path}: unknown field(s) {unknown}; SupernetConfig has {sorted(fields)}"
        )
    base: dict = {}
    if "preset" in given:
        try:
            base = get_preset(given.pop("preset"), vocab_size=vocab_size).to_dict()
        except (KeyError, ValueError) as exc:
            raise UserError(f"--model-config {path}: {exc}") from None
    missing = sorted(fields - set(base) - set(given) - {"vocab_size"})
    if missing:
        raise UserError(
            f'--model-config {path}: missing field(s) {missing} (give every field, or "preset": a preset '
            "name plus the fields that differ)"
        )
    try:
        return SupernetConfig.from_dict({**base, **given, "vocab_size": vocab_size})
    except (TypeError, ValueError) as exc:
        raise UserError(f"--model-config {path}: {exc}") from None


def read_subnet(path: str, cfg: SupernetConfig) -> SubnetConfig:
    """A subnet JSON file, checked against the supernet (error names the field)."""
    subnet = read_subnet_file(path)
    try:
        subnet.validate(cfg)
    except ValueError as exc:
        raise UserError(f"--subnet {path}: {exc}") from None
    return subnet


def resume_path(params) -> Path | None:
    exp_dir = Path(params.exp_dir)
    if params.start_batch > 0:
        return exp_dir / f"checkpoint-{params.start_batch}.pt"
    if params.start_epoch > 1:
        return exp_dir / f"epoch-{params.start_epoch - 1}.pt"
    return newest_checkpoint(exp_dir)


def run(rank: int, world_size: int, params) -> None:
    if world_size > 1:
        die_with_parent()
    setup_logging(Path(params.exp_dir) / "log" / f"log-train-{time.strftime('%Y-%m-%d-%H-%M-%S')}-{rank}")
    init_distributed(rank, world_size, params.master_port)
    threads = params.num_threads or max(1, (os.cpu_count() or 1) // world_size)
    torch.set_num_threads(threads)
    seed_everything(params.seed)
    cfg = build_config(params)
    baseline_of = read_subnet(params.subnet, cfg) if params.subnet else None
    fixed_subnet = None
    logging.info(
        "supernet: largest %.2fM params, smallest %.2fM (vocab %d); %d process(es) x %d threads",
        num_params(cfg, largest(cfg)) / 1e6,
        num_params(cfg, smallest(cfg)) / 1e6,
        cfg.vocab_size,
        world_size,
        threads,
    )
    if baseline_of is not None:  # the architecture as its own model
        logging.info(
            "one-by-one baseline: %s as a standalone model (%.2fM params), dropout %.3f",
            baseline_of.describe(),
            num_params(cfg, baseline_of) / 1e6,
            params.dropout_max,
        )
        cfg = extract_config(cfg, baseline_of)
        fixed_subnet = largest(cfg)
    sp = load_bpe(params.bpe_model)
    settings = TrainingSettings.from_args(params, fixed_subnet, baseline_of)
    parts = [part for part in params.train_parts.split(",") if part]
    # the parts name the cut stream: a checkpoint of the warm-up part restores all but its sampler
    trainer = Trainer(settings, Transducer(cfg), sp, rank, world_size, train_data=",".join(parts))
    cuts = filter_cuts(load_training_cuts(params.manifest_dir, parts, params.seed), sp)
    hours_per_epoch = sum(c.duration for c in cuts) / 3600
    noise = load_noise_cuts(params.noise_cuts) if params.noise_cuts else None
    loader = make_train_loader(
        cuts,
        params.max_duration,
        world_size,
        rank,
        params.seed,
        params.spec_augment,
        noise_cuts=noise,
        noise_snr=parse_snr_range(params.noise_snr),
        noise_prob=params.noise_prob,
    )
    path = resume_path(params)
    if path is not None:
        trainer.resume(path, loader.sampler)
    trainer.train(loader, hours_per_epoch)


def check_options(params) -> None:
    """Options whose wrong values would fail deep inside lhotse or torch (or silently) otherwise."""
    if params.max_duration <= 0:
        raise UserError(f"--max-duration {params.max_duration}: must be > 0 (seconds of audio per batch)")
    if params.world_size < 1:
        raise UserError(f"--world-size {params.world_size}: must be >= 1 (processes)")
    if params.max_steps < 0 or params.max_train_minutes < 0:
        raise UserError("--max-steps and --max-train-minutes must be >= 0 (0: no limit)")
    if not 0.0 <= params.noise_prob <= 1.0:
        raise UserError(f"--noise-prob {params.noise_prob}: expected a probability in [0, 1]")
    for option in ("save_every_n", "log_interval", "average_period"):
        if getattr(params, option) < 1:
            raise UserError(
                f"--{option.replace('_', '-')} {getattr(params, option)}: must be >= 1 (optimizer steps)"
            )
    if params.num_random_subnets < 0:
        raise UserError(f"--num-random-subnets {params.num_random_subnets}: must be >= 0")
    if not 0.0 <= params.dropout_min <= params.dropout_max < 1.0:
        raise UserError(
            f"--dropout-min {params.dropout_min} --dropout-max {params.dropout_max}: "
            "expected 0 <= min <= max < 1"
        )
    if params.student_label_scale < 0:
        raise UserError(f"--student-label-scale {params.student_label_scale}: must be >= 0")
    if not 0.0 <= params.kd_teacher_decay < 1.0:
        raise UserError(
            f"--kd-teacher-decay {params.kd_teacher_decay}: expected 0 (off) or a decay in (0, 1)"
        )
    if params.alpha_min > params.alpha_max:
        raise UserError(f"--alpha-min {params.alpha_min} is above --alpha-max {params.alpha_max}")
    parse_snr_range(params.noise_snr)


def parse_snr_range(spec: str) -> tuple[float, float]:
    """'10,20' -> (10.0, 20.0); one number is a fixed SNR."""
    try:
        values = [float(v) for v in spec.split(",")]
    except ValueError:
        values = []
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or values[0] > values[1]:
        raise UserError(f"--noise-snr '{spec}': expected 'low,high' in dB (low <= high), e.g. 10,20")
    return values[0], values[1]


def main() -> None:
    params = get_parser().parse_args()
    check_options(params)
    Path(params.exp_dir).mkdir(parents=True, exist_ok=True)
    cfg = build_config(params)  # user errors surface here, before any process is spawned
    if params.subnet:
        read_subnet(params.subnet, cfg)
    if "LOCAL_RANK" in os.environ:  # started by torchrun
        run(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), params)
    elif params.world_size > 1:
        mp.spawn(run, args=(params.world_size, params), nprocs=params.world_size, join=True)
    else:
        run(0, 1, params)


if __name__ == "__main__":
    run_main(main)
