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
        "--ops",
        "5",
    )
    assert re.search(r"matmul kernels .* at most [\d.]+x faster", out), out
    assert "| aten::" in out, out  # the operator table
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


def _tiny_checkpoint(tiny_data, exp: Path) -> Path:
    import torch

    from todm.checkpoint import save_checkpoint
    from todm.data.bpe import load_bpe
    from todm.model import Transducer, get_preset

    torch.manual_seed(0)
    vocab = load_bpe(tiny_data["bpe_model"]).get_piece_size()
    model = Transducer(get_preset("tiny", vocab_size=vocab))
    progress = {"batch_idx_train": 1, "cur_epoch": 1, "cur_batch_idx": 0}
    save_checkpoint(exp / "epoch-1.pt", model, progress=progress, average_period=100)
    return exp / "epoch-1.pt"


def test_every_other_bench_runs_in_a_tiny_mode(tiny_data, tmp_path):
    """rnnt_loss, pruned_log_probs, ssm_export, search_latency and decode each print their table on tiny
    inputs."""
    out = run(
        "tools/bench/rnnt_loss.py", *("--frames", "20", "--symbols", "5", "--batch", "2", "--vocab", "16"),
        *("--dim", "8", "--repeats", "1", "--threads", "1"),
    )  # fmt: skip
    assert re.search(r"^\|.*20.*\|", out, re.MULTILINE), out
    out = run("tools/bench/pruned_log_probs.py", "--tiny", "--scales", "1", "40")
    assert re.search(
        r"^\| std 40 \| 2x10x5x16 \| [\d.]+% \| [\d.]+ \| [\d.]+ \| [\d.]+x \|$", out, re.MULTILINE
    ), out
    checkpoint = _tiny_checkpoint(tiny_data, tmp_path / "exp")
    out = run(
        "tools/bench/pruned_log_probs.py", "--tiny", "--checkpoint", str(checkpoint),
        "--manifest-dir", str(tiny_data["fbank_dir"]), "--bpe-model", str(tiny_data["bpe_model"]),
    )  # fmt: skip
    assert re.search(r"^\| .*epoch-1.pt, dev-clean \| \d+x\d+x5x\d+ \|", out, re.MULTILINE), out
    out = run("tools/bench/ssm_export.py", "--preset", "tiny", "--seconds", "1", "--repeat", "1")
    assert "| 1 s |" in out and "toeplitz" in out.lower(), out
    common = ("--bpe-model", str(tiny_data["bpe_model"]), "--manifest-dir", str(tiny_data["fbank_dir"]))
    out = run(
        "tools/bench/search_latency.py", "--checkpoint", str(checkpoint), *common, "--dev-sets", "dev-clean",
        *("--num-dev-utts", "3", "--num-threads", "1", "--repeats", "1"),
    )  # fmt: skip
    assert "largest" in out and "smallest" in out, out
    out = run(
        "tools/bench/decode.py", *("--exp-dir", str(tmp_path / "exp"), "--epoch", "1", "--avg", "1"),
        *("--use-averaged-model", "false", "--tokens", str(tiny_data["bpe_model"].parent / "tokens.txt")),
        *("--manifest-dir", str(tiny_data["fbank_dir"]), "--test-set", "dev-clean", "--max-utterances", "2"),
    )  # fmt: skip
    assert "sherpa" in out.lower() and "onnxruntime" in out.lower(), out


def test_step_toggle_bench_times_a_feature_on_and_off():
    out = run("tools/bench/step_toggle.py", "--feature", "shared-spectra", "--tiny", "--pairs", "2")
    row = re.search(r"^\| shared-spectra \| ([\d.]+) \| ([\d.]+) \| ([-+\d.]+) ms", out, re.MULTILINE)
    assert row, out
    assert float(row[1]) > 0 and float(row[2]) > 0
