"""tools/gpu_check.py, the GPU machine's check, runs end to end on the CPU (so it cannot rot unseen)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_check_packs_and_runs_on_the_cpu(tiny_data, tmp_path):
    script = str(REPO / "tools" / "gpu_check.py")
    pack = [sys.executable, script, "pack", "--out", str(tmp_path / "pack"),
            "--fbank-dir", str(tiny_data["fbank_dir"]), "--bpe-model", str(tiny_data["bpe_model"])]  # fmt: skip
    subprocess.run(pack, check=True, capture_output=True, text=True)
    report = tmp_path / "report.md"
    check = [sys.executable, script, "check", "--data", str(tmp_path / "pack"), "--device", "cpu", "--smoke",
             "--steps", "3", "--report", str(report)]  # fmt: skip
    proc = subprocess.run(check, check=False, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = report.read_text()
    assert "gloo: 2 DDP steps, should_stop and sync_costs all-reduced on cpu: ok" in text
    assert "| fp32 (CPU) |" in text and "tiny preset, sandwich steps" in text
