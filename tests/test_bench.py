"""The training benchmarks run in a tiny mode, so they keep working as the trainer changes."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_train_step_bench_compares_two_trees_and_they_compute_the_same_step():
    """--compare with this tree itself: both rows measured, and their first-step losses agree."""
    out = run("tools/bench/train_step.py", "--tiny", "--compare", str(REPO))
    rows = re.findall(
        r"^\| (.+?) \| (largest-only|sandwich) \| ([\d.]+) \| [^|]+ \| ([-\d., ]+) \|$", out, re.MULTILINE
    )
    assert len(rows) == 4, out
    assert all(float(rate) > 0 for _, _, rate, _ in rows)
    for phase in ("largest-only", "sandwich"):
        losses = {loss for _, p, _, loss in rows if p == phase}
        assert len(losses) == 1, out  # the same code on the same fixed batches
    assert "x the steps/s of" in out


def test_train_step_bench_reads_the_default_recipe_from_run_sh():
    sys.path.insert(0, str(REPO / "tools" / "bench"))
    try:
        import train_step
    finally:
        sys.path.pop(0)
    args = train_step.recipe_args(REPO)
    assert "--largest-only-batches" in args and "--torch-compile" in args


def test_profile_step_prints_every_phase():
    out = run(
        "tools/bench/profile_step.py",
        "--preset",
        "tiny",
        "--world-size",
        "1",
        "--steps",
        "1",
        "--warmup",
        "1",
    )
    for phase in ("front end", "encoder layers: member 1 (largest)", "simple loss + prune ranges",
                  "pruned joiner + loss", "KD (alpha-divergence)", "CTC", "backward", "optimizer"):  # fmt: skip
        assert phase in out, out
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    shares = [
        float(r[2].strip().rstrip("%"))
        for r in rows[1:]
        if r[2].strip().endswith("%") and "step**" not in r[0]
    ]
    assert abs(sum(shares) - 100) < 1.0, out  # the phases add up to the step
