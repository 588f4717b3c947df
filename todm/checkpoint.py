"""icefall-style checkpoints: epoch-N.pt / checkpoint-K.pt, written atomically, checked on load.

A checkpoint is a dict with icefall's keys ("model", "model_avg", "optimizer", "scheduler", "sampler",
plus the training counters at the top level, e.g. "batch_idx_train", as icefall's averaging tools read them) and
ours: "supernet_config" (the architecture, checked on load), "rng" (python/numpy/torch generator states, for
bit-identical resume) and "todm_format".
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from todm.errors import UserError
from todm.io import atomic_path
from todm.model import SupernetConfig, Transducer

FORMAT = "todm-checkpoint-1"


@dataclass
class Progress:
    """Counters saved in every checkpoint (icefall's names)."""

    batch_idx_train: int = 0
    cur_epoch: int = 1
    cur_batch_idx: int = 0  # batches done in the current epoch
    train_seconds: float = 0.0  # wall time spent training, summed over resumed runs
    # Training cost (supernet vs one-by-one baselines), summed over ranks and resumed runs: CPU time
    # of the training processes, and encoder forward multiply-adds of every trained subnet on every
    # utterance (todm.model.cost.macs, the deployed-graph count).
    train_cpu_seconds: float = 0.0
    train_encoder_macs: float = 0.0


def checkpoint_progress(state: dict) -> dict:
    """The training counters of a checkpoint (top-level keys; earlier versions kept them under "progress")."""
    if isinstance(state.get("progress"), dict):
        return dict(state["progress"])
    return {f.name: state[f.name] for f in fields(Progress) if f.name in state}


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (lhotse's SpecAugment draws from python's `random`)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """This process's random-number state (python's for SpecAugment, numpy's, torch's for dropout)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, model: Transducer, model_avg: nn.Module | None = None, **extra) -> None:
    """Atomically write `model` (+ averaged model, optimizer, scheduler, sampler, counters in `extra`)."""
    state = {
        "todm_format": FORMAT,
        "supernet_config": model.cfg.to_dict(),
        "model": model.state_dict(),
        "model_avg": None if model_avg is None else model_avg.state_dict(),
        "rng": rng_state(),
    }
    for key, value in extra.items():
        if key == "progress":  # icefall keeps its counters at the top level
            state.update(asdict(value) if isinstance(value, Progress) else value)
            continue
        state[key] = value.state_dict() if hasattr(value, "state_dict") else value
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    logging.info("saved %s", path)


def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint dict on CPU; a missing, corrupt or foreign file is a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a truncated/corrupt file
        raise UserError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("todm_format") != FORMAT:
        raise UserError(f"{path}: not a todm checkpoint (no '{FORMAT}' marker)")
    return state


def checkpoint_config(state: dict) -> SupernetConfig:
    return SupernetConfig.from_dict(state["supernet_config"])


def check_architecture(state: dict, cfg: SupernetConfig, path: str | Path) -> None:
    """Refuse a checkpoint whose supernet differs from `cfg`, naming the first differing field."""
    saved, wanted = state["supernet_config"], cfg.to_dict()
    for key in wanted:
        if saved.get(key) != wanted[key]:
            raise UserError(
                f"{path}: checkpoint of another architecture ({key}={saved.get(key)!r}, expected {wanted[key]!r})"
            )


def load_model_state(model: nn.Module, state_dict: dict, path: str | Path) -> None:
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise UserError(f"{path}: weights do not fit the model ({first})") from None


def find_checkpoints(exp_dir: str | Path) -> list[Path]:
    """checkpoint-K.pt files, newest (largest K) first."""
    found = [
        (int(m.group(1)), p)
        for p in Path(exp_dir).glob("checkpoint-*.pt")
        if (m := re.fullmatch(r"checkpoint-(\d+)\.pt", p.name))
    ]
    return [p for _, p in sorted(found, reverse=True)]


def remove_old_checkpoints(exp_dir: str | Path, keep_last_k: int) -> None:
    """Keep the newest `keep_last_k` checkpoint-K.pt (icefall's --keep-last-k)."""
    if keep_last_k <= 0:
        return
    for path in find_checkpoints(exp_dir)[keep_last_k:]:
        path.unlink(missing_ok=True)


@torch.no_grad()
def update_averaged_model(model_avg: nn.Module, model: nn.Module, average_period: int, step: int) -> None:
    """icefall's running average of the weights over all steps so far (kept in float64)."""
    weight_cur = average_period / step
    for avg, cur in zip(model_avg.state_dict().values(), model.state_dict().values()):
        if avg.is_floating_point():
            avg.mul_(1 - weight_cur).add_(cur.to(device=avg.device, dtype=avg.dtype), alpha=weight_cur)


def average_state_dicts(states: list[dict]) -> dict:
    """Element-wise mean of model state dicts (icefall's --epoch E --avg A)."""
    avg = {
        k: v.clone().to(torch.float64) if v.is_floating_point() else v.clone() for k, v in states[0].items()
    }
    for state in states[1:]:
        for k, v in state.items():
            if v.is_floating_point():
                avg[k] += v.to(torch.float64)
    return {
        k: (v / len(states)).to(states[0][k].dtype) if v.is_floating_point() else v for k, v in avg.items()
    }


def newest_checkpoint(exp_dir: str | Path) -> Path | None:
    """The checkpoint with the most optimizer steps recorded in it (never by mtime: copies reset mtimes).

    Steps grow with K in checkpoint-K.pt and with N in epoch-N.pt, so only the last of each is read."""
    exp_dir = Path(exp_dir)
    candidates = find_checkpoints(exp_dir)[:1]
    epochs = [
        (int(m.group(1)), p)
        for p in exp_dir.glob("epoch-*.pt")
        if (m := re.fullmatch(r"epoch-(\d+)\.pt", p.name))
    ]
    if epochs:
        candidates.append(max(epochs)[1])
    steps = {
        path: checkpoint_progress(read_checkpoint(path)).get("batch_idx_train", 0) for path in candidates
    }
    return (
        max(candidates, key=lambda path: (steps[path], path.name.startswith("checkpoint")))
        if candidates
        else None
    )
