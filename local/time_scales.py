#!/usr/bin/env python3
"""The time scales a searched subnet's SSM heads cover, in the supernet and in its one-by-one baseline.

Usage (from egs/librispeech/todm):
    ./local/time_scales.py --exp-dir exp --baseline-dir exp-baseline-subnet-phone-dropout-0.05 \
        --subnet exp/search/subnet-phone.json

Each MH-SSM head draws its channels' step sizes dt from one band of [dt_min, dt_max] (todm.model.ssm): a model
with H heads splits the range into H bands. A subnet with h < H heads in a supernet layer keeps the supernet's
first h heads, whose bands are narrow (1/H of the range each) and spread out (the extremes first), while the same
architecture trained alone splits the range into h wide bands. This tool reads the learned dt of both at their
newest common checkpoint step and records, per layer the subnet uses: each head's smallest / median / largest dt
(log10) and the widest stretch of time scales no channel covers (decades of dt, between two neighbouring
channels). Writes (updates the subnet's entry of) --out, default <exp-dir>/time-scales.json:
[{"subnet", "step", "baseline", "layers": [{"index", "heads", "supernet": {...}, "baseline": {...}}]}];
local/write_results.py shows it beside the gap between the subnet and its baseline.
"""

import argparse
import itertools
import json
import logging
import math
from pathlib import Path

import torch

from todm.checkpoint import (
    checkpoint_config,
    checkpoint_iteration,
    find_checkpoints,
    load_model_state,
    read_checkpoint,
)
from todm.cli import run_main, setup_logging
from todm.decode.loading import resolve_subnet
from todm.errors import UserError
from todm.io import write_text_atomic
from todm.model import Transducer


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--exp-dir", default="exp", help="the supernet's experiment directory")
    parser.add_argument("--baseline-dir", required=True, help="the subnet's one-by-one baseline (stage 9)")
    parser.add_argument(
        "--subnet", required=True, help="the searched subnet's JSON (exp/search/subnet-*.json)"
    )
    parser.add_argument("--out", default="", help="default: <exp-dir>/time-scales.json")
    return parser


def widest_gap(values: list[float]) -> tuple[float, float, float]:
    """(width, low, high) of the widest interval between two neighbouring values; needs two values or more."""
    low, high = max(itertools.pairwise(sorted(values)), key=lambda pair: pair[1] - pair[0])
    return high - low, low, high


def layer_time_scales(log_dt: torch.Tensor, heads: int, head_dim: int) -> dict:
    """The first `heads` heads' dt (natural-log parameters) -> per-head log10 spans and the widest gap."""
    log10_dt = (log_dt.detach()[: heads * head_dim] / math.log(10)).reshape(heads, head_dim)
    spans = [[round(v, 3) for v in (h.min().item(), h.median().item(), h.max().item())] for h in log10_dt]
    width, low, high = widest_gap(log10_dt.flatten().tolist())
    return {
        "heads_log10_dt": spans,
        "widest_gap_decades": round(width, 3),
        "gap_log10_dt": [round(low, 3), round(high, 3)],
    }


def kernel_log_dts(state: dict, path: Path) -> list[torch.Tensor]:
    """Each encoder layer's SSM step sizes (todm.model.ssm.DiagonalSSMKernel.log_dt) in a checkpoint's weights."""
    model = Transducer(checkpoint_config(state))
    load_model_state(model, state["model"], path)
    return [block.ssm.kernel.log_dt for block in model.encoder.layers]


def newest_common_step(exp_dir: Path, baseline_dir: Path) -> int:
    steps = [{checkpoint_iteration(p) for p in find_checkpoints(d)} for d in (exp_dir, baseline_dir)]
    common = steps[0] & steps[1]
    if not common:
        raise UserError(
            f"--exp-dir {exp_dir} and --baseline-dir {baseline_dir}: no checkpoint-K.pt at a common step"
        )
    return max(common)


def subnet_time_scales(exp_dir: Path, baseline_dir: Path, subnet_json: str) -> dict:
    step = newest_common_step(exp_dir, baseline_dir)
    supernet_path, baseline_path = exp_dir / f"checkpoint-{step}.pt", baseline_dir / f"checkpoint-{step}.pt"
    supernet, baseline = read_checkpoint(supernet_path), read_checkpoint(baseline_path)
    if baseline.get("baseline_of") is None:
        raise UserError(f"--baseline-dir {baseline_dir}: not a one-by-one baseline (train.py --subnet)")
    cfg = checkpoint_config(supernet)
    subnet, name = resolve_subnet(subnet_json, cfg)
    # the baseline is the subnet's architecture itself: its layer j is the subnet's j-th layer
    resolve_subnet(subnet_json, checkpoint_config(baseline), None, baseline["baseline_of"])
    supernet_dts, baseline_dts = (
        kernel_log_dts(supernet, supernet_path),
        kernel_log_dts(baseline, baseline_path),
    )
    layers = [
        {
            "index": choice.index,
            "heads": choice.ssm_heads,
            "supernet": layer_time_scales(supernet_dts[choice.index], choice.ssm_heads, cfg.ssm_head_dim),
            "baseline": layer_time_scales(baseline_dts[j], choice.ssm_heads, cfg.ssm_head_dim),
        }
        for j, choice in enumerate(subnet.layers)
    ]
    return {"subnet": name, "step": step, "baseline": baseline_dir.name, "layers": layers}


def main() -> None:
    args = get_parser().parse_args()
    exp_dir, baseline_dir = Path(args.exp_dir), Path(args.baseline_dir)
    out = Path(args.out or exp_dir / "time-scales.json")
    setup_logging(exp_dir / "log" / "log-time-scales")
    entries = json.loads(out.read_text()) if out.is_file() else []
    name = Path(args.subnet).stem
    if any(e["subnet"] == name for e in entries) and not (
        find_checkpoints(exp_dir) and find_checkpoints(baseline_dir)
    ):
        logging.info(
            "%s or %s: no checkpoints left; keeping %s's entry in %s", exp_dir, baseline_dir, name, out
        )
        return
    entry = subnet_time_scales(exp_dir, baseline_dir, args.subnet)
    entries = [e for e in entries if e["subnet"] != entry["subnet"]]
    entries = sorted([*entries, entry], key=lambda e: e["subnet"])
    write_text_atomic(out, json.dumps(entries, indent=1) + "\n")
    for layer in entry["layers"]:
        logging.info(
            "%s layer %d (%d heads): widest uncovered span of dt %.2f decades in the supernet, %.2f in the baseline",
            entry["subnet"], layer["index"], layer["heads"],
            layer["supernet"]["widest_gap_decades"], layer["baseline"]["widest_gap_decades"],
        )  # fmt: skip
    logging.info("wrote %s (step %d)", out, entry["step"])


if __name__ == "__main__":
    run_main(main)
