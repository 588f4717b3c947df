#!/usr/bin/env python3
"""Write RESULTS.md (and docs/*.png) from an experiment directory: no number in it is typed by hand.

Usage (from egs/librispeech/todm):
    ./local/write_results.py --exp-dir exp --out ../../../RESULTS.md --docs-dir ../../../docs

Reads: the newest checkpoint (architecture, batches, training minutes), the newest log/log-train-* (last
per-subnet losses), exp/exported/*/model_card.json (params, MACs, sizes, greedy WER, RTF),
exp/modified_beam_search/wer-summary-* (beam-search WER), exp/search/{history.jsonl,subnet-*.json,pareto.png}
and exp/learning-curve.json (local/learning_curve.py); with --streaming-exp-dir, a streaming run's decodes and
cards too. Missing parts are reported as not run.
"""

import argparse
import json
import shutil
import time
from pathlib import Path

from archive_results import last_logged_losses
from results_attempts import attempts_section
from results_comparison import ablation_section, baseline_section, gap_section, newest_progress
from results_robustness import robustness_section
from results_streaming import streaming_section
from results_time_scales import time_scales_section
from results_verdict import verdict_section

from todm.cli import run_main
from todm.decode import read_wer_summary
from todm.io import write_text_atomic
from todm.machine import describe_machine, summarize_segments
from todm.model import SubnetConfig, SupernetConfig, largest, num_params, smallest


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--exp-dir", default="exp")
    parser.add_argument("--out", default="RESULTS.md")
    parser.add_argument("--docs-dir", default="docs")
    parser.add_argument("--command", default="egs/librispeech/todm/run.sh", help="the command that made exp")
    parser.add_argument(
        "--before-exp-dir",
        default=None,
        help="a run without augmentation, shown beside this one (robustness)",
    )
    parser.add_argument(
        "--streaming-exp-dir",
        default=None,
        help="a causal supernet's run (run.sh --streaming true), compared with this one (streaming section)",
    )
    return parser


def measured_on(exp_dir: Path) -> str:
    """The machine the run was measured on: recorded in its archive's progress.json, else this one."""
    archived = exp_dir / "progress.json"
    recorded = json.loads(archived.read_text()).get("machine") if archived.is_file() else None
    return recorded or describe_machine()


def training_section(exp_dir: Path) -> list[str]:
    record = newest_progress(exp_dir)
    if record is None:
        return [
            "## Supernet training",
            "",
            f"No checkpoint (nor an archived progress.json) in `{exp_dir}`.",
            "",
        ]
    cfg, progress = SupernetConfig.from_dict(record["supernet_config"]), record["progress"]
    minutes = progress["train_seconds"] / 60
    last = record.get("last_losses") if "last_losses" in record else last_logged_losses(exp_dir)
    name = record["checkpoint"]
    lines = [
        "## Supernet training",
        "",
        (
            f"- Supernet: d_model {cfg.d_model}, {cfg.num_layers} MH-SSM layers (ffn <= {max(cfg.ffn_dims)}, "
            f"<= {max(cfg.ssm_heads)} SSM heads x {cfg.ssm_head_dim}), vocab {cfg.vocab_size}; largest subnet "
            f"{num_params(cfg, largest(cfg), False) / 1e6:.2f}M deployed params, smallest "
            f"{num_params(cfg, smallest(cfg), False) / 1e6:.2f}M."
        ),
        (
            f"- Trained {minutes:.1f} min of wall time, {progress['batch_idx_train']} optimizer steps "
            f"({progress['batch_idx_train'] / max(minutes * 60, 1e-9):.2f} steps/s), epoch {progress['cur_epoch']}; "
            f"newest checkpoint `{name}`."
        ),
        f"- Last logged training losses per frame: {last or 'n/a'}",
    ]
    where = summarize_segments(progress.get("segments", []))
    return [*lines, *([f"- Trained where: {where}."] if where else []), ""]


def beam_wer(exp_dir: Path, test_set: str, subnet_name: str) -> str:
    pattern = f"wer-summary-{test_set}-beam_size_4-*-subnet-{subnet_name}.txt"
    found = sorted((exp_dir / "modified_beam_search").glob(pattern))
    return f"{next(iter(read_wer_summary(found[-1]).values())):.2f}" if found else "n/a"


def subnet_section(exp_dir: Path) -> list[str]:
    cards = sorted((exp_dir / "exported").glob("*/model_card.json"))
    if not cards:
        return ["## Subnets", "", "Not run (run.sh stages 6-7).", ""]
    rows = [
        "## Subnets: WER (%) on the embedded corpus, size, speed",
        "",
        (
            "| subnet | architecture | params | MACs/s | int8 MB | test-clean greedy | test-other greedy "
            "| test-clean beam 4 | test-other beam 4 | RTF (PyTorch greedy) "
            "| sherpa-onnx test-clean fp32 / int8 | sherpa-onnx int8 RTF | peak memory int8 |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = {"largest": 0, "smallest": 2}
    for card_path in sorted(cards, key=lambda p: (order.get(p.parent.name, 1), p.parent.name)):
        card = json.loads(card_path.read_text())
        name = card["name"]
        wer = card.get("wer") or {}
        rtf = card.get("rtf") or {}
        int8 = sum(v for k, v in card["file_bytes"].items() if k.endswith(".int8.onnx")) / 1e6

        def greedy(test_set: str, wer: dict = wer) -> str:
            return f"{wer[test_set]['greedy_search']:.2f}" if test_set in wer else "n/a"

        speed = rtf.get("test-clean", {}).get("pytorch_greedy_search")
        clean = wer.get("test-clean", {})
        sherpa = " / ".join(
            f"{clean[f'sherpa_onnx_{d}_greedy_search']:.2f}"
            if f"sherpa_onnx_{d}_greedy_search" in clean
            else "n/a"
            for d in ("fp32", "int8")
        )
        int8_rtf = rtf.get("test-clean", {}).get("sherpa_onnx_int8")
        int8_peak = (card.get("peak_memory_mb") or {}).get("sherpa_onnx_int8")
        rows.append(
            f"| {name} | {card['subnet_description']} | {card['params'] / 1e6:.2f}M | "
            f"{card['encoder_macs_per_second'] / 1e6:.1f}M | {int8:.2f} | {greedy('test-clean')} | "
            f"{greedy('test-other')} | {beam_wer(exp_dir, 'test-clean', name)} | "
            f"{beam_wer(exp_dir, 'test-other', name)} | {speed if speed is not None else 'n/a'} | {sherpa} | "
            f"{int8_rtf if int8_rtf is not None else 'n/a'} | "
            f"{f'{int8_peak:.0f} MB' if int8_peak is not None else 'n/a'} |"
        )
    return [*rows, ""]


def search_section(exp_dir: Path, docs_dir: Path) -> list[str]:
    search_dir = exp_dir / "search"
    history = search_dir / "history.jsonl"
    if not history.is_file():
        return ["## Subnet search", "", "Not run (run.sh stage 5).", ""]
    records = [json.loads(line) for line in history.read_text().splitlines() if line.strip().endswith("}")]
    lines = ["## Subnet search", "", f"{len(records)} subnets evaluated (greedy WER on the dev subset).", ""]
    pareto = search_dir / "pareto.json"
    profiles = json.loads(pareto.read_text()).get("profiles", {}) if pareto.is_file() else {}
    for path in sorted(search_dir.glob("subnet-*.json")):
        line = f"- `{path.name}`: {SubnetConfig.from_json(path.read_text()).describe()}"
        entry = profiles.get(path.stem[len("subnet-") :], {})
        pick = entry.get("pick") or {}
        if "wer_interval_95" in pick:
            low, high = pick["wer_interval_95"]
            line += (
                f"; dev WER {entry['chosen']['wer']:.2f}% (95% interval {low:.2f}-{high:.2f}, "
                f"{pick['dev_utterances']} utterances); {pick['reason']}"
            )
        lines.append(line)
    if (search_dir / "pareto.png").is_file():
        shutil.copy(search_dir / "pareto.png", docs_dir / "pareto.png")
        lines += ["", "![Pareto front](docs/pareto.png)"]
    return [*lines, ""]


def curve_section(exp_dir: Path, docs_dir: Path) -> list[str]:
    path = exp_dir / "learning-curve.json"
    if not path.is_file():
        return ["## Learning curve", "", "Not run (local/learning_curve.py).", ""]
    points = json.loads(path.read_text())
    keys = sorted({(p["minutes"], p["batch"]) for p in points})
    columns = sorted({(p["subnet"], p["set"]) for p in points})
    table = {(p["minutes"], p["subnet"], p["set"]): p["wer"] for p in points}
    lines = [
        "## Learning curve (greedy WER % of the raw weights at each checkpoint)",
        "",
        "| training minutes | batches | " + " | ".join(f"{s} {t}" for s, t in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for minutes, batch in keys:
        cells = " | ".join(f"{table[(minutes, s, t)]:.2f}" for s, t in columns)
        lines.append(f"| {minutes:.1f} | {batch} | {cells} |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for subnet, test_set in columns:
        xs = [m for m, _ in keys]
        ax.plot(xs, [table[(m, subnet, test_set)] for m in xs], marker="o", label=f"{subnet} {test_set}")
    ax.set_xlabel("supernet training (minutes, this machine)")
    ax.set_ylabel("WER (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(docs_dir / "learning-curve.png", dpi=120)
    return [*lines, "", "![Learning curve](docs/learning-curve.png)", ""]


def main() -> None:
    args = get_parser().parse_args()
    exp_dir, docs_dir = Path(args.exp_dir), Path(args.docs_dir)
    docs_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Results",
        "",
        (
            f"Generated by `local/write_results.py` from `{exp_dir}` on {time.strftime('%Y-%m-%d')}; every number "
            f"below was measured by `{args.command}` on: {measured_on(exp_dir)}."
        ),
        "Data: the embedded corpus (synthetic speech, LibriSpeech layout; see README), not LibriSpeech.",
        "",
        *training_section(exp_dir),
        *subnet_section(exp_dir),
        *robustness_section(exp_dir, Path(args.before_exp_dir) if args.before_exp_dir else None),
        *(streaming_section(exp_dir, Path(args.streaming_exp_dir)) if args.streaming_exp_dir else []),
        *search_section(exp_dir, docs_dir),
        *curve_section(exp_dir, docs_dir),
        *verdict_section(exp_dir),
        *baseline_section(exp_dir, docs_dir),
        *gap_section(exp_dir, docs_dir),
        *time_scales_section(exp_dir),
        *ablation_section(exp_dir),
        *attempts_section(exp_dir),
    ]
    write_text_atomic(args.out, "\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_main(main)
