"""Which weights to decode: icefall's --epoch/--iter/--avg/--use-averaged-model, and which subnet.

Checkpoint selection follows icefall's decode.py (k2-fsa/icefall, egs/librispeech/ASR/
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

import argparse
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from todm.cli import str2bool
from todm.errors import UserError
from todm.model import SubnetConfig, SupernetConfig, Transducer, largest, smallest
from todm.train.checkpoint import (
    average_state_dicts,
    checkpoint_config,
    checkpoint_progress,
    load_model_state,
    read_checkpoint,
)

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A model ready to decode, the subnet to run (None = the whole model) and how it was chosen."""

    model: Transducer
    subnet: SubnetConfig | None
    subnet_name: str
    suffix: str  # icefall-style description of the weights, e.g. "epoch-8-avg-2-use-averaged-model"
    vocabulary: str | None = None  # the training BPE model's fingerprint (todm.data.bpe), when recorded


def add_checkpoint_arguments(parser: argparse.ArgumentParser) -> None:
    """icefall's checkpoint-selection flags, shared by decode.py, export.py and the decode benchmark."""
    add = parser.add_argument
    add("--exp-dir", default="exp")
    add("--epoch", type=int, default=8, help="decode epoch-<epoch>.pt (with --avg: epochs before it too)")
    add(
        "--iter",
        type=int,
        default=0,
        help="> 0: use checkpoint-K.pt files with K <= --iter instead of epochs",
    )
    add("--avg", type=int, default=1, help="number of checkpoints to average")
    add(
        "--use-averaged-model",
        type=str2bool,
        default=True,
        help="average with the running model_avg of the start and end checkpoints (icefall)",
    )
    add(
        "--average-period",
        type=int,
        default=100,
        help="train.py's --average-period (used when the checkpoint does not store it)",
    )


def checkpoint_files(
    exp_dir: str | Path, epoch: int, iteration: int, avg: int, use_averaged_model: bool
) -> list[Path]:
    """The checkpoints icefall would read, newest first (with an averaged model: [end, start])."""
    exp_dir = Path(exp_dir)
    if avg < 1:
        raise UserError(f"--avg {avg}: must be >= 1")
    if iteration > 0:
        found = sorted(
            (
                (int(m.group(1)), p)
                for p in exp_dir.glob("checkpoint-*.pt")
                if (m := re.fullmatch(r"checkpoint-(\d+)\.pt", p.name)) and int(m.group(1)) <= iteration
            ),
            reverse=True,
        )
        need = avg + 1 if use_averaged_model else avg
        if len(found) < need:
            raise UserError(
                f"--iter {iteration} --avg {avg}: need {need} checkpoint-K.pt with K <= {iteration} "
                f"in {exp_dir}, found {len(found)}"
            )
        paths = [p for _, p in found[:need]]
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
    log.info("averaged %s%s", ", ".join(p.name for p in paths), " (model_avg)" if use_averaged_model else "")
    model = Transducer(cfg)
    load_model_state(model, weights, paths[0])
    suffix = f"iter-{iteration}-avg-{avg}" if iteration > 0 else f"epoch-{epoch}-avg-{avg}"
    return model.eval(), states[0], suffix


def resolve_subnet(
    spec: str | None, cfg: SupernetConfig, fixed_subnet: dict | None = None, baseline_of: dict | None = None
) -> tuple[SubnetConfig, str]:
    """--subnet value -> (subnet, name). None: the checkpoint's fixed subnet (a one-by-one baseline) if it
    has one, else the largest. 'largest' / 'smallest' / a JSON file (name = its file stem).

    A standalone baseline's checkpoint (`baseline_of`: the supernet architecture it is) takes the same JSON
    as the supernet's subnet and then runs its whole model, so both sides decode and export alike."""
    if baseline_of is not None and spec not in (None, "largest", "smallest"):
        wanted = read_subnet_file(spec)
        if wanted != SubnetConfig.from_dict(baseline_of):
            raise UserError(
                f"--subnet {spec}: this checkpoint is the standalone baseline of another architecture "
                f"({SubnetConfig.from_dict(baseline_of).describe()})"
            )
        return largest(cfg), Path(spec).stem
    if spec is None:
        if fixed_subnet is not None:
            return SubnetConfig.from_dict(fixed_subnet), "fixed"
        spec = "largest"
    if spec in ("largest", "smallest"):
        return (largest(cfg) if spec == "largest" else smallest(cfg)), spec
    subnet = read_subnet_file(spec)
    try:
        subnet.validate(cfg)
    except ValueError as exc:
        raise UserError(f"--subnet {spec} does not fit the checkpoint's supernet: {exc}") from None
    return subnet, Path(spec).stem


def read_subnet_file(spec: str) -> SubnetConfig:
    """A subnet JSON file (search.py writes them); errors name the file."""
    path = Path(spec)
    if not path.is_file():
        raise UserError(f"--subnet {spec}: not 'largest', 'smallest' or an existing JSON file")
    try:
        return SubnetConfig.from_json(path.read_text())
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"--subnet {spec}: not a subnet config ({exc})") from None


def load_model_for_decoding(params) -> LoadedModel:
    """From icefall-style params (exp_dir, epoch, iter, avg, use_averaged_model, subnet, model_path):
    a standalone export (--model-path) or the (averaged) supernet with its subnet."""
    if getattr(params, "model_path", None):
        from todm.export.standalone import load_standalone

        model = load_standalone(params.model_path).eval()
        return LoadedModel(
            model, None, f"standalone-{Path(params.model_path).stem}", f"model-{Path(params.model_path).stem}"
        )
    model, state, suffix = load_averaged_model(
        params.exp_dir,
        params.epoch,
        params.iter,
        params.avg,
        params.use_averaged_model,
        getattr(params, "average_period", 100),
    )
    subnet, name = resolve_subnet(
        params.subnet, model.cfg, state.get("fixed_subnet"), state.get("baseline_of")
    )
    return LoadedModel(model, subnet, name, suffix, state.get("vocabulary"))
