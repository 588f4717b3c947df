"""local/write_results.py: numbers in the experiment directory -> the same numbers in RESULTS.md."""

import json
import subprocess
import sys

import torch
from conftest import RECIPE, REPO

from todm.model import Transducer, get_preset
from todm.train.checkpoint import save_checkpoint


def test_results_table_from_fixture_experiment(tmp_path):
    exp = tmp_path / "exp"
    torch.manual_seed(0)
    model = Transducer(get_preset("tiny", vocab_size=40))
    progress = {"batch_idx_train": 1200, "cur_epoch": 4, "cur_batch_idx": 3, "train_seconds": 1800.0}
    save_checkpoint(exp / "checkpoint-1200.pt", model, progress=progress, average_period=100)
    (exp / "log").mkdir()
    (exp / "log" / "log-train-2026-0").write_text(
        "2026 INFO [loop.py:255] epoch 4 batch 1200 | largest: pruned 0.412 simple 0.5 | smallest: pruned 0.6 "
        "simple 0.7 | lr 4e-02 | 30.0 min, ETA 0.0 min\n"
    )
    card_dir = exp / "exported" / "smallest"
    card_dir.mkdir(parents=True)
    card = {
        "name": "smallest",
        "subnet_description": "L2[0,2] ffn[48,48] heads[2,2]",
        "params": 123456,
        "encoder_macs_per_second": 7_654_321,
        "file_bytes": {"encoder.int8.onnx": 250_000, "model.pt": 9},
        "wer": {"test-clean": {"greedy_search": 12.34}, "test-other": {"greedy_search": 23.45}},
        "rtf": {"test-clean": {"pytorch_greedy_search": 0.0123}},
    }
    (card_dir / "model_card.json").write_text(json.dumps(card))
    beam = exp / "modified_beam_search"
    beam.mkdir()
    (beam / "wer-summary-test-clean-beam_size_4-iter-1200-avg-1-subnet-smallest.txt").write_text(
        "settings\tWER\nbeam_size_4\t11.11\n"
    )
    curve = [
        {"minutes": 10.0, "batch": 400, "subnet": "largest", "set": "test-clean", "wer": 55.5},
        {"minutes": 30.0, "batch": 1200, "subnet": "largest", "set": "test-clean", "wer": 33.3},
    ]
    (exp / "learning-curve.json").write_text(json.dumps(curve))
    out, docs = tmp_path / "RESULTS.md", tmp_path / "docs"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "local" / "write_results.py"),
            "--exp-dir",
            str(exp),
            "--out",
            str(out),
            "--docs-dir",
            str(docs),
        ],
        check=True,
        cwd=RECIPE,
    )
    text = out.read_text()
    assert "30.0 min of wall time, 1200 optimizer steps (0.67 steps/s)" in text
    assert "largest: pruned 0.412 simple 0.5 | smallest: pruned 0.6 simple 0.7" in text
    assert (
        "| smallest | L2[0,2] ffn[48,48] heads[2,2] | 0.12M | 7.7M | 0.25 | 12.34 | 23.45 | 11.11 | n/a | 0.0123 |"
        in text
    )
    assert "| 10.0 | 400 | 55.50 |" in text and "| 30.0 | 1200 | 33.30 |" in text
    assert (docs / "learning-curve.png").stat().st_size > 0
    assert "Not run (run.sh stage 5)" in text
