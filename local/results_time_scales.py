"""RESULTS.md section: the SSM time scales a searched subnet covers in the supernet vs alone (local/time_scales.py).

Read from <exp>/time-scales.json (run.sh stage 11). Shown after the gap curve: a subnet that keeps few heads of a
layer keeps the supernet's narrow, spread-out dt bands of those heads, while the same architecture trained alone
has a few wide bands; the table says how much of the range of time scales each side leaves uncovered.
"""

from __future__ import annotations

import json
from pathlib import Path


def time_scales_section(exp_dir: Path) -> list[str]:
    path = exp_dir / "time-scales.json"
    if not path.is_file():
        return []
    entries = json.loads(path.read_text())
    lines = [
        "### Time scales the subnets' SSM heads cover",
        "",
        (
            "Each MH-SSM head draws its channels' step sizes dt from one band of the range; a layer of H heads splits "
            "it into H bands, spread so that the first heads hold the extremes (most local, most global). A subnet "
            "keeping h < H heads of a supernet layer keeps those heads' narrow bands; the same architecture trained "
            "alone splits the range into h wide bands. Widest uncovered span: the widest stretch of time scales "
            "between two neighbouring channels of the layer, in decades of dt, read from the learned weights "
            "(local/time_scales.py) at the newest step both sides have."
        ),
        "",
        "| subnet | step | layer | heads | widest uncovered span, supernet (decades) | same, baseline alone |",
        "|---|---|---|---|---|---|",
    ]
    for entry in entries:
        for layer in entry["layers"]:
            lines.append(
                f"| {entry['subnet']} | {entry['step']} | {layer['index']} | {layer['heads']} "
                f"| {layer['supernet']['widest_gap_decades']:.2f} | {layer['baseline']['widest_gap_decades']:.2f} |"
            )
    return [*lines, ""]
