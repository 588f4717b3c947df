"""todm.train.curve and local/compare_training.py: logged losses read back, and where two runs part."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from conftest import RECIPE, REPO, run_local_tool
from torch.utils.tensorboard import SummaryWriter

from todm.train.curve import CURVE_FILE, first_divergence, load_training_curve, read_training_curve


def log_run(exp, values: dict[str, list[float]], steps: list[int]) -> None:
    """What Trainer.log writes: train/<name>_loss per kind and loss, train/lr, at each logged step."""
    writer = SummaryWriter(log_dir=str(exp / "tensorboard"))
    for i, step in enumerate(steps):
        for name, series in values.items():
            tag = f"train/{name}" if name == "lr" else f"train/{name}_loss"
            writer.add_scalar(tag, series[i], step)
    writer.close()


def curve_values(seed: int, n: int) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    return {
        "largest_pruned": rng.uniform(0.1, 2.0, n).tolist(),
        "smallest_kd": rng.uniform(0.0, 0.5, n).tolist(),
        "lr": rng.uniform(1e-3, 4e-2, n).tolist(),
    }


def test_curve_read_back_equals_what_was_logged(tmp_path):
    steps = list(range(25, 501, 25))
    values = curve_values(0, len(steps))
    log_run(tmp_path, values, steps)
    curve = read_training_curve(tmp_path)
    assert [p["step"] for p in curve] == steps
    for name, series in values.items():  # TensorBoard stores float32
        assert [p[name] for p in curve] == [float(np.float32(v)) for v in series]
    assert read_training_curve(tmp_path / "no-such-run") == []


def test_archived_curve_is_preferred_and_equal(tmp_path):
    steps = [25, 50, 75]
    log_run(tmp_path, curve_values(1, 3), steps)
    curve = read_training_curve(tmp_path)
    archived = tmp_path / "archive"
    archived.mkdir()
    (archived / CURVE_FILE).write_text(json.dumps(curve))
    assert load_training_curve(archived) == curve == load_training_curve(tmp_path)


def test_first_divergence_finds_the_perturbed_point():
    steps = list(range(25, 1001, 25))
    values = curve_values(2, len(steps))
    reference = [{"step": s, **{k: v[i] for k, v in values.items()}} for i, s in enumerate(steps)]
    run = [dict(p) for p in reference]
    assert first_divergence(reference, run, rtol=0.0) is None
    run[17]["smallest_kd"] *= 1 + 1e-3  # step 450
    run[30]["largest_pruned"] *= 1 + 1e-1  # a later, larger difference
    parted = first_divergence(reference, run, rtol=1e-4)
    assert (parted.step, parted.name) == (450, "smallest_kd")
    assert parted.relative == pytest.approx(1e-3, rel=1e-6)
    later = first_divergence(reference, run, rtol=1e-2)
    assert (later.step, later.name) == (775, "largest_pruned")
    assert first_divergence(reference, run, rtol=0.2) is None
    # only the common steps count; a NaN on one side parts, on both sides does not
    assert first_divergence(reference, run[:17], rtol=1e-4) is None
    nan_both = [dict(p, lr=math.nan) for p in reference[:3]]
    assert first_divergence(nan_both, [dict(p) for p in nan_both], rtol=0.0) is None
    nan_one = [dict(p) for p in reference[:3]]
    nan_one[2]["lr"] = math.nan
    assert first_divergence(reference[:3], nan_one, rtol=0.5).step == 75


def compare(*args: str) -> subprocess.CompletedProcess:
    return run_local_tool("compare_training.py", *args)


def test_compare_training_reports_the_step_where_runs_part(tmp_path):
    steps = list(range(25, 1001, 25))
    values = curve_values(3, len(steps))
    log_run(tmp_path / "a", values, steps)
    changed = {k: list(v) for k, v in values.items()}
    changed["largest_pruned"][23] += 0.05  # step 600
    log_run(tmp_path / "b", changed, steps)
    same = compare("--reference", str(tmp_path / "a"), "--exp-dir", str(tmp_path / "a"))
    assert same.returncode == 0 and "same to 0.0001 relative at all 40 common steps (25..1000)" in same.stdout
    parted = compare("--reference", str(tmp_path / "a"), "--exp-dir", str(tmp_path / "b"))
    assert parted.returncode == 0 and "parted at step 600: largest_pruned" in parted.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = compare("--reference", str(tmp_path / "a"), "--exp-dir", str(empty))
    assert bad.returncode != 0 and f"--exp-dir {empty}: no training-curve.json" in bad.stderr


def test_archive_keeps_the_training_curve(tmp_path):
    exp = tmp_path / "exp"
    log_run(exp, curve_values(4, 4), [25, 50, 75, 100])
    out = tmp_path / "archive"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "local" / "archive_results.py"),
            "--exp-dirs",
            str(exp),
            "--out",
            str(out),
        ],
        check=True,
        cwd=RECIPE,
    )
    assert json.loads((out / "exp" / CURVE_FILE).read_text()) == read_training_curve(exp)
