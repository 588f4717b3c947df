"""icefall-style checkpoints: epoch-N.pt / checkpoint-K.pt, written atomically, found, checked on load and
averaged. The one home of checkpoint files: train, decode, search, export and run.sh
(`local/checkpoints.py`) all read them through this module.

A checkpoint is a dict with icefall's keys ("model", "model_avg", "optimizer", "scheduler", "sampler",
plus the training counters at the top level, e.g. "batch_idx_train", as icefall's averaging tools read them) and
ours: "supernet_config" (the architecture, checked on load), "rng" (python/numpy/torch generator states, for
bit-identical resume) and "todm_format".

Which weights to decode follows icefall's decode.py (k2-fsa/icefall, egs/librispeech/ASR/
pruned_transducer_stateless7/decode.py) and icefall/checkpoint.py:
  * without --use-averaged-model: the plain average of A checkpoints, epoch-(E-A+1).pt .. epoch-E.pt, or
    the A newest checkpoint-K.pt with K <= --iter;
  * with --use-averaged-model: icefall's average_checkpoints_with_averaged_model. The trainer keeps
    model_avg_b = mean of the weights at steps p, 2p, .., kp (k = b // p, p = average period), so the
    average over the steps between the start checkpoint (epoch E-A, or the (A+1)-th newest checkpoint-K)
    and the end one (epoch E, or the newest) is (k_end * avg_end - k_start * avg_start) / (k_end - k_start).
    E - A = 0 (no start checkpoint) uses epoch-E's model_avg alone (the average since step 0).
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import asdict, dataclass, field, fields
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
    # Where the steps were trained: one {"machine", "first_step", "last_step", "seconds"} per run of train.py
    # (todm.machine); a resume on another machine adds its own stretch.
    segments: list[dict] = field(default_factory=list)


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


# What a training run carries from step to step: two checkpoints equal in these are at the same point of the same run.
TRAINING_STATE = (
    "model",
    "model_avg",
    "optimizer",
    "scheduler",
    "sampler",
    "kd_teacher",
    "rng",
    "batch_idx_train",
)


def _equal(a: object, b: object) -> bool:
    if torch.is_tensor(a) or torch.is_tensor(b):
        return torch.is_tensor(a) and torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(map(_equal, a, b))
    return type(a) is type(b) and a == b


def same_training_state(a: dict, b: dict) -> bool:
    """Whether two checkpoints hold the same weights, averaged weights, optimizer, schedule, data position, KD
    teacher, random state and step, to the bit (their recorded cost and machine may differ)."""
    return all(_equal(a.get(key), b.get(key)) for key in TRAINING_STATE)


def checkpoint_config(state: dict) -> SupernetConfig:
    return SupernetConfig.from_dict(state["supernet_config"])


def check_architecture(state: dict, cfg: SupernetConfig, path: str | Path) -> None:
    """Refuse a checkpoint whose supernet differs from `cfg`, naming the first differing field."""
    # through the config class, so that a field added since the checkpoint was written reads as its default
    saved, wanted = SupernetConfig.from_dict(state["supernet_config"]).to_dict(), cfg.to_dict()
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


def checkpoint_iteration(path: str | Path) -> int:
    """K of checkpoint-K.pt (-1 for any other name)."""
    m = re.fullmatch(r"checkpoint-(\d+)\.pt", Path(path).name)
    return int(m.group(1)) if m else -1


def find_checkpoints(exp_dir: str | Path) -> list[Path]:
    """checkpoint-K.pt files, newest (largest K) first."""
    found = [p for p in Path(exp_dir).glob("checkpoint-*.pt") if checkpoint_iteration(p) >= 0]
    return sorted(found, key=checkpoint_iteration, reverse=True)


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


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, for every floating-point parameter and buffer (the others are
    copied): a mean teacher's weights, updated after each optimizer step."""
    pairs = [(e, m) for e, m in zip(ema.state_dict().values(), model.state_dict().values())]
    floats = [(e, m) for e, m in pairs if e.is_floating_point()]
    if floats:
        torch._foreach_lerp_([e for e, _ in floats], [m for _, m in floats], 1.0 - decay)
    for e, m in pairs:
        if not e.is_floating_point():
            e.copy_(m)


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


def checkpoint_files(
    exp_dir: str | Path, epoch: int, iteration: int, avg: int, use_averaged_model: bool
) -> list[Path]:
    """The checkpoints icefall would read, newest first (with an averaged model: [end, start])."""
    exp_dir = Path(exp_dir)
    if avg < 1:
        raise UserError(f"--avg {avg}: must be >= 1")
    if iteration > 0:
        found = [p for p in find_checkpoints(exp_dir) if checkpoint_iteration(p) <= iteration]
        need = avg + 1 if use_averaged_model else avg
        if len(found) < need:
            raise UserError(
                f"--iter {iteration} --avg {avg}: need {need} checkpoint-K.pt with K <= {iteration} "
                f"in {exp_dir}, found {len(found)}"
            )
        paths = found[:need]
        return [paths[0], paths[-1]] if use_averaged_model else paths
    if epoch < 1:
        raise UserError(f"--epoch {epoch}: must be >= 1 (or use --iter)")
    if use_averaged_model:
        if epoch - avg < 0:
            raise UserError(
                f"--epoch {epoch} --avg {avg}: --avg may be at most --epoch with --use-averaged-model"
            )
        names = [f"epoch-{epoch}.pt"] + ([f"epoch-{epoch - avg}.pt"] if epoch - avg >= 1 else [])
    else:
        if epoch - avg + 1 < 1:
            raise UserError(f"--epoch {epoch} --avg {avg}: --avg may be at most --epoch")
        names = [f"epoch-{e}.pt" for e in range(epoch, epoch - avg, -1)]
    paths = [exp_dir / n for n in names]
    for p in paths:
        if not p.is_file():
            raise UserError(f"{p}: checkpoint not found (check --exp-dir, --epoch and --avg)")
    return paths


def _steps(state: dict) -> int:
    return int(checkpoint_progress(state).get("batch_idx_train", 0))


def average_with_averaged_model(end: dict, start: dict | None, average_period: int) -> dict:
    """icefall's average_checkpoints_with_averaged_model on our checkpoint dicts (see module docstring)."""
    for state, name in ((end, "end"), (start, "start")):
        if state is not None and state.get("model_avg") is None:
            raise UserError(f"the {name} checkpoint has no model_avg: decode with --use-averaged-model false")
    k_end = _steps(end) // average_period
    k_start = 0 if start is None else _steps(start) // average_period
    if k_end <= k_start:
        raise UserError(
            f"--use-averaged-model: no averaged steps between the checkpoints (steps "
            f"{_steps(start) if start else 0} and {_steps(end)}, average period {average_period})"
        )
    w_end, w_start = k_end / (k_end - k_start), -k_start / (k_end - k_start)
    ref = end["model"]
    out = {}
    for name, value in end["model_avg"].items():
        if value.is_floating_point():
            mixed = value.to(torch.float64) * w_end
            if start is not None and k_start > 0:
                mixed = mixed + start["model_avg"][name].to(torch.float64) * w_start
            out[name] = mixed.to(ref[name].dtype)
        else:
            out[name] = value.clone()
    return out


def load_averaged_model(
    exp_dir: str | Path,
    epoch: int = 0,
    iteration: int = 0,
    avg: int = 1,
    use_averaged_model: bool = False,
    average_period: int = 100,
) -> tuple[Transducer, dict, str]:
    """(model in eval mode, the newest checkpoint dict, icefall suffix) for the icefall selection flags."""
    paths = checkpoint_files(exp_dir, epoch, iteration, avg, use_averaged_model)
    states = [read_checkpoint(p) for p in paths]
    cfg = checkpoint_config(states[0])
    for p, s in zip(paths[1:], states[1:]):
        if s["supernet_config"] != states[0]["supernet_config"]:
            raise UserError(f"{p}: another architecture than {paths[0]}; cannot average them")
    if use_averaged_model:
        period = int(states[0].get("average_period", average_period))
        weights = average_with_averaged_model(states[0], states[1] if len(states) > 1 else None, period)
    else:
        weights = average_state_dicts([s["model"] for s in states])
    logging.info(
        "averaged %s%s", ", ".join(p.name for p in paths), " (model_avg)" if use_averaged_model else ""
    )
    model = Transducer(cfg)
    load_model_state(model, weights, paths[0])
    suffix = f"iter-{iteration}-avg-{avg}" if iteration > 0 else f"epoch-{epoch}-avg-{avg}"
    return model.eval(), states[0], suffix
