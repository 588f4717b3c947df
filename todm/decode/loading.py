"""The model decode.py and export.py run: icefall's --epoch/--iter/--avg/--use-averaged-model flags (the
weights are read and averaged by todm.checkpoint), --model-path, and which subnet (--subnet).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from todm.checkpoint import load_averaged_model
from todm.cli import str2bool
from todm.errors import UserError
from todm.model import SubnetConfig, SupernetConfig, Transducer, largest, read_subnet_file, smallest


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
