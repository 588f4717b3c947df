"""local/write_results.py: numbers in the experiment directory -> the same numbers in RESULTS.md."""

import json
import subprocess
import sys
from pathlib import Path

import torch
from conftest import RECIPE, REPO

from todm.checkpoint import save_checkpoint
from todm.model import Transducer, get_preset


def write_results(exp: Path, out: Path, docs: Path, *extra: str) -> str:
    subprocess.run(
        [
            sys.executable,
            str(REPO / "local" / "write_results.py"),
            *("--exp-dir", str(exp), "--out", str(out), "--docs-dir", str(docs)),
            *extra,
        ],
        check=True,
        cwd=RECIPE,
    )
    return out.read_text()


def fixture_run(exp: Path, steps: int, minutes: float, cpu_seconds: float, macs: float) -> None:
    """A checkpoint whose progress records what the run cost."""
    progress = {
        "batch_idx_train": steps,
        "cur_epoch": 1,
        "cur_batch_idx": 0,
        "train_seconds": 60 * minutes,
        "train_cpu_seconds": cpu_seconds,
        "train_encoder_macs": macs,
    }
    model = Transducer(get_preset("tiny", vocab_size=40))
    save_checkpoint(exp / f"checkpoint-{steps}.pt", model, progress=progress, average_period=100)


def fixture_card(exp: Path, name: str, layers: list, params: int, wer_clean: float, wer_other: float) -> None:
    card_dir = exp / "exported" / name
    card_dir.mkdir(parents=True)
    card = {
        "name": name,
        "subnet": {"layers": layers},
        "subnet_description": f"desc-{name}",
        "params": params,
        "encoder_macs_per_second": 5_000_000,
        "file_bytes": {"encoder.int8.onnx": 100_000},
        "wer": {"test-clean": {"greedy_search": wer_clean}, "test-other": {"greedy_search": wer_other}},
        "rtf": {"test-clean": {"pytorch_greedy_search": 0.01}},
    }
    (card_dir / "model_card.json").write_text(json.dumps(card))


def test_baseline_and_ablation_comparison_from_fixture_dirs(tmp_path):
    torch.manual_seed(0)
    watch = [{"index": 1, "ffn_dim": 48, "ssm_heads": 2}, {"index": 3, "ffn_dim": 96, "ssm_heads": 2}]
    # the same architecture trained as its own model: its layers numbered from 0
    alone = [{"index": 0, "ffn_dim": 48, "ssm_heads": 2}, {"index": 1, "ffn_dim": 96, "ssm_heads": 2}]
    exp = tmp_path / "exp"
    fixture_run(exp, 1000, 40.0, 4800.0, 3e12)
    fixture_card(exp, "subnet-watch", watch, 500_000, 12.34, 30.0)
    fixture_card(exp, "subnet-phone", watch, 500_000, 12.34, 30.0)  # two budgets chose one architecture
    (exp / "commands.txt").write_text("./train.py --exp-dir exp\n")
    greedy = exp / "greedy_search"
    greedy.mkdir()
    (greedy / "wer-summary-test-clean-greedy_search-iter-1000-subnet-largest.txt").write_text(
        "settings\tWER\ng\t20.5\n"
    )
    baseline = tmp_path / "exp-baseline-subnet-watch"
    fixture_run(baseline, 1000, 15.0, 1200.0, 1e12)
    fixture_card(baseline, "subnet-watch", alone, 500_000, 13.00, 28.0)
    (baseline / "commands.txt").write_text(
        "./train.py --subnet exp/search/subnet-watch.json --max-steps 1000\n"
    )
    # Ablations against the recipe's gap curve at their newest common step (the recipe's own run is longer).
    recipe_curve = [
        {"subnet": "largest", "set": "test-clean", "step": step, "wer": wer}
        for step, wer in ((1000, 30.0), (2000, 20.0))
    ]
    (exp / "gap-curve.json").write_text(json.dumps(recipe_curve))
    ablation = tmp_path / "exp-ablation-no-kd"
    fixture_run(ablation, 1000, 38.0, 4500.0, 3e12)
    (ablation / "gap-curve.json").write_text(
        json.dumps([{"subnet": "largest", "set": "test-clean", "step": 1000, "wer": 33.0}])
    )
    unfinished = tmp_path / "exp-ablation-adam"
    fixture_run(unfinished, 500, 19.0, 2000.0, 1e12)
    text = write_results(exp, tmp_path / "RESULTS.md", tmp_path / "docs")
    # (12.34 - 13.00) / 13.00 = -5.08%; (30 - 28) / 28 = +7.14%; no beam-search files: n/a.
    assert (
        "| subnet-watch | desc-subnet-watch | 0.50M | 5.0M | 12.34 | 13.00 | -5.1% | n/a | n/a | n/a |"
        in text
    )
    assert "| subnet-phone | desc-subnet-phone | 0.50M | 5.0M | 12.34 | 13.00 | -5.1% |" in text
    assert "| 30.00 | 28.00 | +7.1% |" in text
    assert "| supernet (`exp`) | 1000 | 40.0 | 4,800 | 3e+12 |" in text
    assert "| sum of the 1 baseline runs | 1000 | 15.0 | 1,200 | 1e+12 |" in text
    assert "cost 4.00x the CPU-seconds" in text
    assert "./train.py --subnet exp/search/subnet-watch.json --max-steps 1000" in text
    assert (tmp_path / "docs" / "todm-vs-baselines.png").stat().st_size > 0
    assert "| full recipe | 1000 | 40.0 | 30.00 |  | n/a |  |" in text
    assert "| no in-place KD (`--use-kd false`) | 1000 | 38.0 | 33.00 | +10.0% | n/a | n/a |" in text
    assert "| Adam instead of ScaledAdam (`--optimizer adam`) | n/a | 19.0 | n/a | n/a |" in text
    assert "| random subnets only (`--sandwich false`) | not run yet | n/a | n/a | n/a |" in text
    assert (
        "- no in-place KD (`--use-kd false`), at step 1,000: the technique helps here; switching it off left 1 "
        "worse of 1 WERs (largest/smallest x test-clean/test-other: +10.0% .. +10.0% relative)."
    ) in text


def test_results_table_from_fixture_experiment(tmp_path):
    exp = tmp_path / "exp"
    torch.manual_seed(0)
    model = Transducer(get_preset("tiny", vocab_size=40))
    progress = {
        "batch_idx_train": 1200,
        "cur_epoch": 4,
        "cur_batch_idx": 3,
        "train_seconds": 1800.0,
        "train_cpu_seconds": 3600.0,
        "train_encoder_macs": 2e12,
        "segments": [
            {"machine": "CPU A", "first_step": 0, "last_step": 400, "seconds": 600.0},
            {"machine": "CPU B", "first_step": 400, "last_step": 1200, "seconds": 1200.0},
        ],
    }
    save_checkpoint(exp / "checkpoint-1200.pt", model, progress=progress, average_period=100)
    (exp / "log").mkdir()
    (exp / "log" / "log-train-2026-0").write_text(
        "2026 INFO [loop.py:255] epoch 4 batch 1200 | largest: pruned 0.412 simple 0.5 | smallest: pruned 0.6 "
        "simple 0.7 | lr 4e-02 | 30.0 min, ETA 0.0 min\n"
    )
    (exp / "log" / "log-train-2026-1").write_text(
        "2026 INFO [train.py:9] rank 1 logs no losses\n"
    )  # DDP rank 1
    card_dir = exp / "exported" / "smallest"
    card_dir.mkdir(parents=True)
    card = {
        "name": "smallest",
        "subnet": {
            "layers": [
                {"index": 0, "ffn_dim": 48, "ssm_heads": 2},
                {"index": 2, "ffn_dim": 48, "ssm_heads": 2},
            ]
        },
        "subnet_description": "L2[0,2] ffn[48,48] heads[2,2]",
        "params": 123456,
        "encoder_macs_per_second": 7_654_321,
        "file_bytes": {"encoder.int8.onnx": 250_000, "model.pt": 9},
        "wer": {
            "test-clean": {
                "greedy_search": 12.34,
                "sherpa_onnx_fp32_greedy_search": 12.4,
                "sherpa_onnx_int8_greedy_search": 12.9,
            },
            "test-other": {"greedy_search": 23.45},
        },
        "rtf": {"test-clean": {"pytorch_greedy_search": 0.0123, "sherpa_onnx_int8": 0.004}},
        "peak_memory_mb": {"sherpa_onnx_int8": 21.4},
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
    text = write_results(exp, out, docs)
    assert "30.0 min of wall time, 1200 optimizer steps (0.67 steps/s)" in text
    assert "- Trained where: steps 0-400 on CPU A (10.0 min); 400-1200 on CPU B (20.0 min)." in text
    assert "largest: pruned 0.412 simple 0.5 | smallest: pruned 0.6 simple 0.7" in text
    assert (
        "| smallest | L2[0,2] ffn[48,48] heads[2,2] | 0.12M | 7.7M | 0.25 | 12.34 | 23.45 | 11.11 | n/a | 0.0123 "
        "| 12.40 / 12.90 | 0.004 | 21 MB |" in text
    )
    assert "| 10.0 | 400 | 55.50 |" in text and "| 30.0 | 1200 | 33.30 |" in text
    assert (docs / "learning-curve.png").stat().st_size > 0
    assert "Not run (run.sh stage 5)" in text
    assert "Not run (run.sh stage 9" in text and "Not run (run.sh stage 10" in text


def test_compare_curves_from_fixture_runs(tmp_path):
    for name, wer in (("old", 80.0), ("new", 40.5)):
        run = tmp_path / name
        run.mkdir()
        points = [{"minutes": 10.0, "batch": 900, "subnet": "largest", "set": "test-clean", "wer": wer}]
        (run / "learning-curve.json").write_text(json.dumps(points))
    (tmp_path / "new" / "commands.txt").write_text("./train.py --exp-dir new\n")
    out, png = tmp_path / "speed.md", tmp_path / "speed.png"
    args = ["--run", f"before={tmp_path / 'old'}", "--run", f"after={tmp_path / 'new'}"]
    script = str(REPO / "local" / "compare_curves.py")
    subprocess.run(
        [sys.executable, script, *args, "--out", str(out), "--plot", str(png)], check=True, cwd=RECIPE
    )
    text = out.read_text()
    assert "| before | 10.0 | 900 | 80.00 | n/a | n/a | n/a |" in text
    assert "| after | 10.0 | 900 | 40.50 | n/a | n/a | n/a |" in text
    assert "./train.py --exp-dir new" in text and png.stat().st_size > 0
    bad = subprocess.run(
        [sys.executable, script, "--run", "nolabel", "--out", str(out), "--plot", str(png)],
        check=False,
        cwd=RECIPE,
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "expected label=exp_dir" in bad.stderr


def test_results_from_an_archive_equal_results_from_the_experiment(tmp_path):
    """local/archive_results.py keeps what RESULTS.md needs: the page regenerates without any checkpoint."""
    watch = [{"index": 0, "ffn_dim": 48, "ssm_heads": 2}, {"index": 1, "ffn_dim": 96, "ssm_heads": 2}]
    runs = tmp_path / "runs"
    exp, baseline = runs / "exp", runs / "exp-baseline-subnet-watch-dropout-0.05"
    fixture_run(exp, 1000, 40.0, 4800.0, 3e12)
    fixture_card(exp, "subnet-watch", watch, 500_000, 12.34, 30.0)
    fixture_run(baseline, 1000, 15.0, 1200.0, 1e12)
    fixture_card(baseline, "subnet-watch", watch, 500_000, 13.00, 28.0)
    choice = runs / "exp-baseline-subnet-watch.json"
    choice.write_text(
        json.dumps({"chosen": "exp-baseline-subnet-watch-dropout-0.05", "iter": 300, "grid": []})
    )
    from_exp = write_results(exp, tmp_path / "a.md", tmp_path / "docs-a")
    archive = tmp_path / "archive"
    subprocess.run(
        [sys.executable, str(REPO / "local" / "archive_results.py"), "--out", str(archive),
         "--exp-dirs", ",".join(str(p) for p in (exp, baseline, choice))],
        check=True, cwd=RECIPE,
    )  # fmt: skip
    assert not list(archive.rglob("*.pt")) and (archive / "exp" / "progress.json").is_file()
    from_archive = write_results(archive / "exp", tmp_path / "b.md", tmp_path / "docs-b")
    drop_source = lambda text: [line for line in text.splitlines() if not line.startswith("Generated by")]
    assert drop_source(from_archive) == drop_source(from_exp)


def test_archive_of_a_new_run_drops_the_files_of_an_earlier_run_of_that_name(tmp_path):
    """A run with checkpoints replaces its archived copy; a restored dir without checkpoints only adds to it."""
    archive_script = str(REPO / "local" / "archive_results.py")
    archive = tmp_path / "archive"
    old_curve = archive / "exp" / "gap-curve.json"
    old_curve.parent.mkdir(parents=True)
    old_curve.write_text("[]")
    restored = tmp_path / "restored" / "exp"
    (restored / "search").mkdir(parents=True)
    (restored / "search" / "subnet-watch.json").write_text("{}")
    run = [sys.executable, archive_script, "--out", str(archive), "--exp-dirs"]
    subprocess.run([*run, str(restored)], check=True, cwd=RECIPE)
    assert old_curve.is_file() and (archive / "exp" / "search" / "subnet-watch.json").is_file()
    exp = tmp_path / "runs" / "exp"
    fixture_run(exp, 1000, 40.0, 4800.0, 3e12)
    fixture_card(exp, "subnet-phone", [], 500_000, 12.34, 30.0)
    subprocess.run([*run, str(exp)], check=True, cwd=RECIPE)
    kept = sorted(str(p.relative_to(archive)) for p in archive.rglob("*") if p.is_file())
    assert kept == ["exp/exported/subnet-phone/model_card.json", "exp/progress.json"]


def test_gap_section_relative_difference_per_step(tmp_path):
    exp = tmp_path / "exp"
    fixture_run(exp, 2000, 40.0, 4800.0, 3e12)
    gap = [
        {"step": 1000, "subnet": "subnet-watch", "set": "test-clean", "wer": 30.0, "words": 10},
        {"step": 2000, "subnet": "subnet-watch", "set": "test-clean", "wer": 20.0, "words": 10},
        {"step": 1000, "subnet": "largest", "set": "test-clean", "wer": 25.0, "words": 10},
    ]
    (exp / "gap-curve.json").write_text(json.dumps(gap))
    text = write_results(exp, tmp_path / "RESULTS.md", tmp_path / "docs")
    assert "No baseline has been decoded at these steps yet" in text
    baseline = tmp_path / "exp-baseline-subnet-watch-dropout-0.1"
    baseline.mkdir()
    grid = [
        {"dir": str(baseline), "dev_wer": 21.5},
        {"dir": str(baseline).replace("0.1", "0.0"), "dev_wer": 22.75},
    ]
    choice = {"chosen": str(baseline), "iter": 300, "grid": grid}
    (tmp_path / "exp-baseline-subnet-watch.json").write_text(json.dumps(choice))
    base_gap = [
        {"step": 1000, "subnet": "subnet-watch", "set": "test-clean", "wer": 24.0, "words": 10},
        {"step": 2000, "subnet": "subnet-watch", "set": "test-clean", "wer": 20.0, "words": 10},
    ]
    (baseline / "gap-curve.json").write_text(json.dumps(base_gap))
    text = write_results(exp, tmp_path / "RESULTS.md", tmp_path / "docs")
    # columns sorted by name: largest (no baseline), subnet-watch; (30 - 24) / 24 = +25.0%, 20 vs 20: +0.0%
    assert "| 1000 | 25.00 | n/a | n/a | 30.00 | 24.00 | +25.0% |" in text
    assert "| 2000 | n/a | n/a | n/a | 20.00 | 20.00 | +0.0% |" in text
    assert (tmp_path / "docs" / "todm-gap.png").stat().st_size > 0
    assert (
        "- subnet-watch, test-clean: +25.0% at step 1000, +0.0% at step 2000: the supernet's subnet gaining since "
        "step 1000, -25.00 points per 1,000 steps (-25.0 over the last 1,000 steps); the supernet's subnet at least "
        "as good from step 2000 on"
    ) in text
    assert "| subnet-watch | 300 | 0.1: 21.50, 0.0: 22.75 | 0.1 |" in text
    assert "Time scales the subnets' SSM heads cover" not in text  # local/time_scales.py not run
    side = {"heads_log10_dt": [[-1.0, -0.8, -0.5]], "widest_gap_decades": 1.234, "gap_log10_dt": [-2.0, -0.8]}
    layer = {"index": 3, "heads": 2, "supernet": side, "baseline": {**side, "widest_gap_decades": 0.1}}
    scales = [{"subnet": "subnet-watch", "step": 2000, "baseline": baseline.name, "layers": [layer]}]
    (exp / "time-scales.json").write_text(json.dumps(scales))
    text = write_results(exp, tmp_path / "RESULTS.md", tmp_path / "docs")
    assert "| subnet-watch | 2000 | 3 | 2 | 1.23 | 0.10 |" in text


def test_robustness_ratios_and_targets(tmp_path):
    from todm.decode.wer import write_wer_summary

    def run(name: str, noise: str, wers: dict) -> Path:
        exp = tmp_path / name / "exp"
        (exp / "greedy_search").mkdir(parents=True)
        (exp / "commands.txt").write_text(f"./train.py --exp-dir exp --noise-cuts {noise} --keep-last-k 0\n")
        for (subnet, test_set), wer in wers.items():
            path = (
                exp
                / "greedy_search"
                / f"wer-summary-{test_set}-greedy_search-iter-9-avg-1-subnet-{subnet}.txt"
            )
            write_wer_summary(path, [("greedy_search", wer)])
        return exp

    after = run(
        "after",
        "data/fbank/noise_cuts.jsonl.gz",
        {
            ("largest", "test-clean"): 10.0,
            ("largest", "test-other"): 19.0,
            ("largest", "test-heldout"): 25.0,
        },
    )
    before = run("before", "", {("largest", "test-clean"): 12.0, ("largest", "test-other"): 36.0})
    warmup = (
        "./train.py --exp-dir exp --train-parts train-clean-100-warmup --max-steps 1500 --keep-last-k 0\n"
    )
    (after / "commands.txt").write_text(warmup + (after / "commands.txt").read_text())
    text = write_results(after, tmp_path / "RESULTS.md", tmp_path / "docs", "--before-exp-dir", str(before))
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert rows == [
        (
            "| `after/exp` | noise mixed in, 1,500 warm-up steps on clean speech | largest | 10.00 | 19.00 | 25.00 "
            "| 1.90x | 2.50x (miss) |"
        ),
        "| `before/exp` | no noise (SpecAugment only) | largest | 12.00 | 36.00 | n/a | 3.00x (miss) | n/a |",
    ]
    assert (
        "Largest subnet: test-other/test-clean 1.90x (target at most 2x: met); test-heldout/test-clean 2.50x "
        "(target at most 2x: missed by 0.50x: it would need at most 20.00% at this test-clean WER); test-clean "
        "10.00% against 12.00% before (target no worse: met)." in text
    )
    worse = run("worse", "", {("largest", "test-clean"): 12.5})
    text = write_results(worse, tmp_path / "W.md", tmp_path / "docs", "--before-exp-dir", str(before))
    assert "test-clean 12.50% against 12.00% before (target no worse: missed by 0.50 WER points)." in text


def test_streaming_section_beside_the_full_utterance_run(tmp_path):
    from todm.decode.wer import write_wer_summary

    def run(name: str, wers: dict, suffix: str = "") -> Path:
        exp = tmp_path / name
        for (method, subnet, test_set), wer in wers.items():
            key = "greedy_search" if method == "greedy_search" else "beam_size_4"
            path = exp / method / f"wer-summary-{test_set}-{key}-iter-9-avg-1{suffix}-subnet-{subnet}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_wer_summary(path, [(key, wer)])
        return exp

    full = run("exp", {("greedy_search", "largest", "test-clean"): 20.0})
    streamed = run(
        "exp-streaming",
        {
            ("greedy_search", "largest", "test-clean"): 22.0,
            ("modified_beam_search", "largest", "test-clean"): 19.0,
        },
        "-streaming-chunk-32",
    )
    fixture_card(streamed, "largest", [], 1000, 22.0, 30.0)
    fixture_run(full, 9000, 80.0, 9600.0, 1e12)
    fixture_run(streamed, 6000, 80.0, 9600.0, 1e12)
    main_command = "./train.py --exp-dir exp --train-parts train-clean-100 --max-steps 9000\n"
    warmup_command = "./train.py --exp-dir exp --train-parts train-clean-100-warmup --max-steps 1500\n"
    (full / "commands.txt").write_text(warmup_command + main_command)
    (streamed / "commands.txt").write_text(main_command)
    card_path = streamed / "exported" / "largest" / "model_card.json"
    card = json.loads(card_path.read_text())
    card["streaming"] = {"decode_chunk_len": 32, "chunk_ms": 320, "lookahead_ms": 40}
    card["wer"]["test-clean"].update(
        {"sherpa_onnx_fp32_greedy_search": 22.5, "sherpa_onnx_int8_greedy_search": 23.0}
    )
    card["rtf"]["test-clean"].update(
        {"sherpa_onnx_int8": 0.004, "sherpa_onnx_int8_chunk_ms": {"median": 1.25, "p95": 2.5, "max": 3.0}}
    )
    card["peak_memory_mb"] = {"sherpa_onnx_int8": 21.4}
    card_path.write_text(json.dumps(card))
    from todm.decode.wer import store_transcripts

    ref = ["w1", "w2", "w3", "w4", "w5"]
    for exp, suffix, wrong in ((full, "", 1), (streamed, "-streaming-chunk-32", 2)):
        # 40 utterances: 20 with `wrong` deletions, the rest right
        rows = [(f"u{i:02d}", ref, ref[wrong:] if i < 20 else ref) for i in range(40)]
        name = f"recogs-test-clean-greedy_search-iter-9-avg-1{suffix}-subnet-largest.txt"
        store_transcripts(exp / "greedy_search" / name, rows)
    text = write_results(
        full, tmp_path / "RESULTS.md", tmp_path / "docs", "--streaming-exp-dir", str(streamed)
    )
    section = text.split("## Streaming subnets", 1)[1].split("\n## ", 1)[0]
    assert "chunks of 320 ms, 40 ms look-ahead" in section
    assert "the streaming supernet has 6,000 optimizer steps, the full-utterance one 9,000" in section
    assert (
        "the full-utterance supernet's first 1,500 steps were on clean speech, the streaming one's first 0"
        in section
    )
    rows = [line for line in section.splitlines() if line.startswith("| largest")]
    # the transcripts differ by +100% relative (20 -> 40 errors): the interval is around that
    cell = rows[0].split(" | ")[3]
    assert cell.startswith("+10.0% (95%: +")
    low, high = (float(v) for v in cell.split("(95%: ")[1].rstrip(")").split(".."))
    assert low < 100.0 < high
    assert rows[0].endswith("| n/a / n/a | n/a |")
    assert rows[1].startswith("| largest | beam 4 | n/a / 19.00 | n/a |")
    assert rows[2] == "| largest | desc-largest | 0.10 | 22.50 / 23.00 | 1.25 / 2.50 | 0.004 | 21 MB |"


def test_attempts_section_compares_each_attempt_with_the_baselines_at_its_step(tmp_path):
    exp = tmp_path / "exp"
    fixture_run(exp, 3000, 40.0, 4800.0, 3e12)
    train = "./train.py --exp-dir {} --max-steps {} --kd-scale 0.2 --use-kd true"
    # the supernet ran on a wall-time limit (0: none), the attempts without: a budget, not a recipe option
    (exp / "commands.txt").write_text(train.format("exp", 9000) + " --max-train-minutes 0\n")

    def gap(run: Path, wers: dict[str, float], step: int = 3000) -> None:
        run.mkdir(exist_ok=True)
        points = [
            {"step": step, "subnet": name, "set": "test-clean", "wer": wer, "words": 10}
            for name, wer in wers.items()
        ]
        (run / "gap-curve.json").write_text(json.dumps(points))

    gap(exp, {"largest": 19.0, "subnet-watch": 22.0})
    text = write_results(exp, tmp_path / "RESULTS.md", tmp_path / "docs")
    assert "Not run (run.sh stage 12" in text

    kd_only = tmp_path / "exp-attempt-kd-only"
    gap(kd_only, {"largest": 18.0, "subnet-watch": 20.2})
    (kd_only / "commands.txt").write_text(
        train.format("exp-attempt-kd-only", 3000) + " --student-label-scale 0\n"
    )
    late = tmp_path / "exp-attempt-late"
    gap(late, {"subnet-watch": 21.0}, step=2000)
    (late / "commands.txt").write_text("./train.py --exp-dir exp-attempt-late --kd-scale 0.5\n")
    text = write_results(exp, tmp_path / "RESULTS.md", tmp_path / "docs")
    assert "No baseline has been trained yet" in text
    assert "| kd-only | --student-label-scale 0 | 3000 | 18.00 | n/a | 20.20 | n/a | no baseline |" in text

    baseline = tmp_path / "exp-baseline-subnet-watch-dropout-0.05"
    gap(baseline, {"subnet-watch": 20.0})
    choice = {"chosen": str(baseline), "iter": 3000, "grid": [{"dir": str(baseline), "dev_wer": 30.0}]}
    (tmp_path / "exp-baseline-subnet-watch.json").write_text(json.dumps(choice))
    text = write_results(exp, tmp_path / "RESULTS.md", tmp_path / "docs")
    # at 3000: the recipe (22.0) is +10.0% from the baseline (20.0), kd-only (20.2) +1.0%: within the 1%
    assert "| recipe |  | 3000 | 19.00 | n/a | 22.00 | +10.0% | misses (worst +10.0%) |" in text
    assert "| kd-only | --student-label-scale 0 | 3000 | 18.00 | n/a | 20.20 | +1.0% | holds |" in text
    # an attempt with other options and no point at 3000 is shown at its own step, options diffed
    assert "| late | --kd-scale 0.5 (no --use-kd) | 2000 |" in text
    assert text.index("| late |") < text.index("| kd-only |")  # ordered by step
    assert "--student-label-scale 0" in text.split("Commands:")[-1]
    # an attempt trained longer is shown at its own step and at the other attempts' steps its curve reaches
    longer = tmp_path / "exp-attempt-longer"
    longer.mkdir()
    points = [(3000, 21.0), (4000, 19.5)]  # at 3000: +5.0% from the baseline's 20.0
    (longer / "gap-curve.json").write_text(
        json.dumps([{"step": k, "subnet": "subnet-watch", "set": "test-clean", "wer": w} for k, w in points])
    )
    (longer / "commands.txt").write_text(train.format("exp-attempt-longer", 4000) + " --use-kd false\n")
    text = write_results(exp, tmp_path / "RESULTS.md", tmp_path / "docs")
    assert "| longer | --use-kd false | 3000 | n/a | n/a | 21.00 | +5.0% | misses (worst +5.0%) |" in text
    assert "| longer | --use-kd false | 4000 | n/a | n/a | 19.50 | n/a | no baseline |" in text
    assert text.index("| kd-only |") < text.index("| longer | --use-kd false | 3000") < text.index("| 4000 |")
    # the verdict names the attempt closest to the claim at each step (late has no baseline at its step, nor
    # longer at 4000: not ranked)
    (exp / "search").mkdir(exist_ok=True)
    text = write_results(exp, tmp_path / "RESULTS.md", tmp_path / "docs")
    verdict = text.split("## Verdict on TODM's claims")[1].split("\n## ")[0]
    assert "at step 2,000" not in verdict and "at step 4,000" not in verdict
    assert (
        "**Recipe attempts (stage 12), at step 3,000: the claim holds** (the closest of 2 attempts, greedy): "
        "`kd-only` (`--student-label-scale 0`), worst +1.0% (subnet-watch, test-clean); the "
        "recipe's own supernet at that step: worst +10.0% (subnet-watch, test-clean)."
    ) in verdict

    # an attempt trained for the supernet's steps has final decodes: beside the recipe's, against the baseline's
    # (its layers numbered from 0: the same architecture as the supernet's layer 2)
    fixture_card(exp, "subnet-watch", [{"index": 2, "ffn_dim": 48, "ssm_heads": 2}], 500_000, 22.0, 40.0)
    fixture_card(baseline, "subnet-watch", [{"index": 0, "ffn_dim": 48, "ssm_heads": 2}], 500_000, 20.0, 40.0)
    fixture_card(kd_only, "subnet-watch", [{"index": 2, "ffn_dim": 48, "ssm_heads": 2}], 500_000, 20.1, 39.0)
    text = write_results(exp, tmp_path / "RESULTS.md", tmp_path / "docs")
    # (22 - 20) / 20 = +10.0%, (20.1 - 20) / 20 = +0.5%, (39 - 40) / 40 = -2.5%; no beam decodes: n/a
    assert (
        "| recipe | subnet-watch | 22.00 / 20.00 | +10.0% | n/a / n/a | n/a | 40.00 / 40.00 | +0.0% | n/a / n/a | n/a |"
        in text
    )
    assert (
        "| kd-only | subnet-watch | 20.10 / 20.00 | +0.5% | n/a / n/a | n/a | 39.00 / 40.00 | -2.5% | n/a / n/a | n/a |"
        in text
    )
    verdict = text.split("## Verdict on TODM's claims")[1].split("\n## ")[0]
    assert (
        "**Recipe attempts at the supernet's steps, final decodes (greedy and beam 4): the claim holds** (the "
        "closest of 1): `kd-only` (`--student-label-scale 0`), worst +0.5% (subnet-watch, test-clean, greedy)."
    ) in verdict

    # where each run trained: the recipe's checkpoint records no machine; the archived runs record theirs
    def trained_on(run: Path, *machines: str) -> None:
        segments = [{"machine": m, "first_step": 0, "last_step": 3000, "seconds": 60.0} for m in machines]
        progress = {"batch_idx_train": 3000, "cur_epoch": 1, "train_seconds": 60.0, "train_cpu_seconds": 99.0}
        progress |= {"train_encoder_macs": 1e12, "segments": segments}
        (run / "progress.json").write_text(json.dumps({"progress": progress}))

    for run in (baseline, kd_only, late, longer):
        trained_on(run, "CPU A")
    section = write_results(exp, tmp_path / "RESULTS.md", tmp_path / "docs").split("## Attempts")[1]
    assert (
        "Where the runs compared here were trained:\n\n- recipe: not recorded\n- baselines: CPU A\n"
        in section
    )
    assert "different CPU kinds" not in section
    trained_on(kd_only, "CPU A", "CPU B")  # resumed on another kind
    section = write_results(exp, tmp_path / "RESULTS.md", tmp_path / "docs").split("## Attempts")[1]
    assert "trained on different CPU kinds" in section and "- kd-only: CPU A; CPU B\n" in section
    trained_on(kd_only, "CPU A")
    model = Transducer(get_preset("tiny", vocab_size=40))
    segments = [{"machine": "CPU A", "first_step": 0, "last_step": 3000, "seconds": 60.0}]
    progress = {"batch_idx_train": 3000, "cur_epoch": 1, "cur_batch_idx": 0, "train_seconds": 2400.0}
    progress |= {"train_cpu_seconds": 4800.0}
    progress |= {"train_encoder_macs": 3e12, "segments": segments}
    save_checkpoint(exp / "checkpoint-3000.pt", model, progress=progress, average_period=100)
    section = write_results(exp, tmp_path / "RESULTS.md", tmp_path / "docs").split("## Attempts")[1]
    assert "Every recorded training step of these runs was made on one CPU kind: CPU A." in section


def test_gap_trend_reads_widening_crossing_and_missing_steps(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "local"))
    from results_comparison import gap_trend

    steps = [1000, 2000, 3000, 4000]
    base = {("w", "test-clean", k): 20.0 for k in steps}
    widening = {("w", "test-clean", k): wer for k, wer in zip(steps, (21.0, 22.0, 23.0, 24.0))}
    line = gap_trend("w", "test-clean", widening, base, steps)
    # +5% -> +20%: 15 points over 3,000 steps; the last 1,000 steps +5 points; never at or below the baseline
    assert line == (
        "- w, test-clean: +5.0% at step 1000, +20.0% at step 4000: the baseline gaining, +5.00 points per 1,000 "
        "steps (+5.0 over the last 1,000 steps); the baseline still ahead at the last step; it had not reached the "
        "baseline's step-4000 WER (20.00%) by step 4000"
    )
    # +5% -> +25% at 2000 (the widest) -> -10% at 4000: 35 points over the 2,000 steps after the widest
    closing = {("w", "test-clean", k): wer for k, wer in zip(steps, (21.0, 25.0, 20.0, 18.0))}
    assert gap_trend("w", "test-clean", closing, base, steps) == (
        "- w, test-clean: +5.0% at step 1000, +25.0% at step 2000 (the widest), -10.0% at step 4000: the "
        "supernet's subnet gaining since step 2000, -17.50 points per 1,000 steps (-10.0 over the last 1,000 "
        "steps); the supernet's subnet at least as good from step 3000 on"
    )
    # the baseline decoded to step 2000 only (20%); the supernet: 22% there, 21% at 3000, 18% at 4000, so it
    # passes 20% a third of the way from step 3000 to 4000
    early = {("w", "test-clean", k): 20.0 for k in steps[:2]}
    later = {("w", "test-clean", k): wer for k, wer in zip(steps, (25.0, 22.0, 21.0, 18.0))}
    assert gap_trend("w", "test-clean", later, early, steps).endswith(
        "the baseline still ahead at the last step; it reached the baseline's step-2000 WER (20.00%) at step "
        "~3,333 (linear between steps 3000 and 4000), 1,333 steps later"
    )
    # below the baseline at 2000, above at 3000, below again from 4000: "from step 4000 on"
    crossing = {("w", "test-clean", k): wer for k, wer in zip(steps, (22.0, 19.0, 21.0, 19.5))}
    assert gap_trend("w", "test-clean", crossing, base, steps).endswith("at least as good from step 4000 on")
    assert gap_trend("w", "test-other", crossing, base, steps) == "- w, test-other: no common step"
    one = {("w", "test-clean", 1000): 25.0}
    assert gap_trend("w", "test-clean", one, base, steps) == "- w, test-clean: +25.0% at step 1000 only"


def test_verdict_on_both_claims_from_gap_curves_then_from_finished_baselines(tmp_path):
    exp = tmp_path / "exp"
    fixture_run(exp, 3000, 40.0, 9000.0, 3e12)
    (exp / "search").mkdir()
    (exp / "search" / "subnet-watch.json").write_text('{"layers": "watch"}')
    (exp / "search" / "subnet-phone.json").write_text('{"layers": "phone"}')

    def curve(path: Path, wers: dict) -> None:
        points = [{"step": k, "subnet": n, "set": s, "wer": w, "words": 10} for (n, s, k), w in wers.items()]
        path.write_text(json.dumps(points))

    curve(
        exp / "gap-curve.json",
        {
            ("subnet-watch", "test-clean", 2000): 30.0,
            ("subnet-watch", "test-clean", 3000): 20.0,
            ("subnet-phone", "test-clean", 2000): 33.0,
            ("subnet-phone", "test-clean", 3000): 21.0,
        },
    )
    text = write_results(exp, tmp_path / "R0.md", tmp_path / "docs")
    assert "**Claim 1, as accurate as trained alone: not measured yet**" in text
    watch, phone = (
        tmp_path / "exp-baseline-subnet-watch-dropout-0.1",
        tmp_path / "exp-baseline-subnet-phone-dropout-0.0",
    )
    for name, run_dir in (("subnet-watch", watch), ("subnet-phone", phone)):
        fixture_run(run_dir, 3000, 15.0, 3000.0, 1e12)
        (tmp_path / f"exp-baseline-{name}.json").write_text(
            json.dumps({"chosen": str(run_dir), "iter": 3000, "grid": []})
        )
    curve(
        watch / "gap-curve.json",
        {("subnet-watch", "test-clean", 2000): 25.0, ("subnet-watch", "test-clean", 3000): 20.2},
    )
    curve(phone / "gap-curve.json", {("subnet-phone", "test-clean", 2000): 30.0})  # not at step 3,000 yet
    text = write_results(exp, tmp_path / "R1.md", tmp_path / "docs")
    # judged where every baseline has a point: step 2,000 (watch +20%, phone +10%)
    assert (
        "**Claim 1, as accurate as trained alone: does not hold so far** (2 of 2 searched architectures, at step "
        "2,000 of the gap curves (greedy)): the relative WER difference, supernet's subnet vs its baseline, is at "
        "worst +20.0% (subnet-watch, test-clean, greedy) and at best +10.0% (subnet-phone, test-clean, greedy)"
    ) in text
    assert "**Claim 2, cheaper than one by one: not measured yet** (0 of 2 baselines finished)." in text
    # both finished: the final decodes decide; the cost is the supernet's against every baseline run
    layers = [{"index": 0, "ffn_dim": 48, "ssm_heads": 2}]
    fixture_card(exp, "subnet-watch", layers, 500_000, 10.0, 30.0)
    fixture_card(watch, "subnet-watch", layers, 500_000, 10.0, 30.3)
    phone_layers = [{"index": 1, "ffn_dim": 96, "ssm_heads": 2}]
    fixture_card(exp, "subnet-phone", phone_layers, 600_000, 12.0, 33.0)
    fixture_card(phone, "subnet-phone", phone_layers, 600_000, 12.12, 33.0)
    text = write_results(exp, tmp_path / "R2.md", tmp_path / "docs")
    assert (
        "**Claim 1, as accurate as trained alone: holds** (2 of 2 searched architectures, at the final decodes "
        "(greedy and beam 4)): the relative WER difference, supernet's subnet vs its baseline, is at worst +0.0% "
    ) in text
    assert "at best -1.0% (subnet-watch, test-other, greedy)" in text
    # two baseline runs of 3,000 CPU-seconds each
    assert (
        "**Claim 2, cheaper than one by one: does not hold**: the supernet run cost 9,000 CPU-seconds, 1.50x "
        "the 6,000 of its 2 baseline runs" in text
    )


def test_ablation_reading_says_which_way_each_technique_acts(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "local"))
    from results_comparison import ablation_reading

    # positive: the ablation (technique off) is worse than the recipe, so the technique helps; within 1%: level
    assert ablation_reading("no KD", 3000, [2.0, 0.5, 7.25, 1.5]) == (
        "- no KD, at step 3,000: the technique helps here; switching it off left 3 worse, 1 within 1% of 4 WERs "
        "(largest/smallest x test-clean/test-other: +0.5% .. +7.2% relative)."
    )
    assert "the technique hurts here; switching it off left 2 better, 2 within 1% of 4 WERs (" in (
        ablation_reading("adam", 3000, [-9.0, 0.0, -1.0, -2.0])
    )
    assert "mixed; switching it off left 1 worse, 1 better, 1 within 1% of 3 WERs (" in (
        ablation_reading("x", 3000, [-4.0, 3.0, -1.0])
    )
    assert "no effect here; switching it off left 2 within 1% of 2 WERs (" in ablation_reading(
        "x", 3000, [-1, 1]
    )
    assert ablation_reading("x", 2000, []) == "- x: no cell shared with the full recipe at step 2,000 yet."
