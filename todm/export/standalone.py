"""A standalone PyTorch checkpoint of one extracted subnet: loads without the supernet.

The file holds the extracted model's own config (a `SupernetConfig` whose search space is the single
subnet, see todm.model.extract_config) and its state_dict, without the training heads (simple_am_proj,
simple_lm_proj, ctc_output): they are not needed to decode. Like icefall's export.py output
(`{"model": state_dict}`), plus the config so that nothing else is needed to rebuild it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from todm.errors import UserError
from todm.io import atomic_path
from todm.model import SupernetConfig, Transducer

FORMAT = "todm-standalone-1"
TRAINING_HEADS = ("simple_am_proj.", "simple_lm_proj.", "ctc_output.")


def save_standalone(path: str | Path, model: Transducer, source: dict | None = None) -> None:
    """Save an extracted model. `source`: provenance stored beside it (checkpoint, subnet dict, name)."""
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(TRAINING_HEADS)}
    payload = {
        "todm_format": FORMAT,
        "config": dataclasses.replace(model.cfg, use_ctc=False).to_dict(),
        "model": state,
        "source": source or {},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_standalone(path: str | Path) -> Transducer:
    """Rebuild the Transducer saved by save_standalone (eval mode, CPU)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--model-path {path}: file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 (torch raises many types for a truncated or foreign file)
        raise UserError(f"{path}: not a readable model ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("todm_format") != FORMAT:
        raise UserError(
            f"{path}: not a todm standalone model (no '{FORMAT}' marker; a training checkpoint "
            "is decoded with --epoch/--iter instead)"
        )
    model = Transducer(SupernetConfig.from_dict(payload["config"]))
    missing, unexpected = model.load_state_dict(payload["model"], strict=False)
    missing = [k for k in missing if not k.startswith(TRAINING_HEADS)]
    if missing or unexpected:
        raise UserError(
            f"{path}: weights do not fit the stored config (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]})"
        )
    return model.eval()


def standalone_source(path: str | Path) -> dict:
    """The provenance dict stored by save_standalone."""
    return torch.load(path, map_location="cpu", weights_only=False).get("source", {})
