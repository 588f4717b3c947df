"""The machine a run is trained or measured on, in one line.

Training runs resume across machines (a crash, a session's end, another node): each checkpoint records the
machine of every stretch of steps, so a results page can say where its numbers came from. The same seed
trains bit-identically only on the same CPU kind (docs/reproducibility.md), so the line names what tells CPU
kinds apart: the x86 family/model and the vector kernels torch picked.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def describe_machine() -> str:
    """CPU model (and x86 family/model, which tell CPU generations apart where the model name does not),
    cores, OS, torch, the vector kernels torch picked (AVX2, AVX512 round differently) and the GPU if one
    is used."""
    info: dict[str, str] = {}
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []:
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    cpu = info.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in info and "model" in info:
        cpu += f" (family {info['cpu family']} model {info['model']})"
    line = (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}, torch {torch.__version__}"
        f" ({torch.backends.cpu.get_cpu_capability()} kernels)"
    )
    if torch.cuda.is_available():
        line += f", GPU {torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
    return line


def summarize_segments(segments: list[dict]) -> str:
    """Where a run's steps were trained, consecutive stretches on one machine merged: "steps 0-1500 on A
    (15.2 min); 1500-9000 on B (150.0 min)". Empty when nothing is recorded."""
    merged: list[dict] = []
    for segment in segments:
        if merged and merged[-1]["machine"] == segment["machine"]:
            merged[-1] = {
                **merged[-1],
                "last_step": segment["last_step"],
                "seconds": merged[-1]["seconds"] + segment["seconds"],
            }
        else:
            merged.append(dict(segment))
    parts = [
        f"{s['first_step']}-{s['last_step']} on {s['machine']} ({s['seconds'] / 60:.1f} min)" for s in merged
    ]
    if not parts:
        return ""
    before = "" if merged[0]["first_step"] == 0 else f"steps before {merged[0]['first_step']}: not recorded; "
    return before + "steps " + "; ".join(parts)
