"""A training run's logged scalars as data, and the first step where two runs part.

Two runs of one recipe with the same seed and data should log the same losses. When their final WERs differ, the
step where their logged losses first part says where to look (which phase, which member, before or after a
schedule's change); two final numbers say nothing about it. The Trainer logs to TensorBoard (`train/<name>`, see
`Trainer.log`); `read_training_curve` reads those events back with TensorBoard's own reader, and the archive keeps
them as `training-curve.json` so a later run can be compared with this one after its checkpoints are gone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

CURVE_FILE = "training-curve.json"
TAG_PREFIX = "train/"


def read_training_curve(exp_dir: str | Path) -> list[dict[str, float]]:
    """[{"step": s, "<name>": value, ...}] sorted by step, from <exp_dir>/tensorboard (tag train/<name>_loss
    gives <name>, e.g. largest_pruned; train/lr gives lr). [] without events. A resumed run's re-logged steps
    keep their last values (TensorBoard's reader drops the steps a restart orphaned)."""
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    events = Path(exp_dir) / "tensorboard"
    if not events.is_dir():
        return []
    reader = EventAccumulator(str(events), size_guidance={SCALARS: 0})  # 0: keep every point
    reader.Reload()
    by_step: dict[int, dict[str, float]] = {}
    for tag in reader.Tags()["scalars"]:
        if not tag.startswith(TAG_PREFIX):
            continue
        name = tag[len(TAG_PREFIX) :].removesuffix("_loss")
        for event in reader.Scalars(tag):
            by_step.setdefault(event.step, {"step": event.step})[name] = float(event.value)
    return [by_step[step] for step in sorted(by_step)]


def load_training_curve(path: str | Path) -> list[dict[str, float]]:
    """An archived run's training-curve.json, else an experiment directory's TensorBoard events."""
    archived = Path(path) / CURVE_FILE
    if archived.is_file():
        return json.loads(archived.read_text())
    return read_training_curve(path)


@dataclass(frozen=True)
class Divergence:
    """The first logged value of a run that is not its reference's (relative difference above tolerance)."""

    step: int
    name: str
    reference: float
    value: float

    @property
    def relative(self) -> float:
        return abs(self.value - self.reference) / max(abs(self.reference), 1e-12)


def first_divergence(
    reference: list[dict[str, float]], run: list[dict[str, float]], rtol: float
) -> Divergence | None:
    """The first (step, name) both curves logged whose values differ by more than `rtol` relative (a NaN on
    one side only counts as a difference); None when they agree on every common point."""
    run_by_step = {point["step"]: point for point in run}
    for point in reference:
        other = run_by_step.get(point["step"])
        if other is None:
            continue
        for name in sorted(set(point) & set(other) - {"step"}):
            a, b = point[name], other[name]
            if math.isnan(a) and math.isnan(b):
                continue
            if math.isnan(a) or math.isnan(b) or abs(a - b) > rtol * max(abs(a), 1e-12):
                return Divergence(int(point["step"]), name, a, b)
    return None


def common_steps(reference: list[dict[str, float]], run: list[dict[str, float]]) -> list[int]:
    steps = {point["step"] for point in run}
    return [int(point["step"]) for point in reference if point["step"] in steps]
