"""Pareto fronts of the evaluated subnets (WER vs params / MACs / latency), the result files and the plot."""

from __future__ import annotations

import json
import math
from pathlib import Path

from todm.io import atomic_path, write_text_atomic
from todm.model import SubnetConfig

from .budgets import REFERENCE_SECONDS
from .runner import ProfileResult


def pareto_front(records: list[dict], x: str, y: str = "wer") -> list[dict]:
    """Records not dominated in (x, y), both minimised, sorted by x; records without x are skipped.
    A record is dominated if another is <= in both and < in one."""
    points = sorted((r for r in records if r.get(x) is not None), key=lambda r: (r[x], r[y], r["key"]))
    front: list[dict] = []
    best_y = math.inf
    for r in points:
        if r[y] < best_y:
            front.append(r)
            best_y = r[y]
    return front


def _brief(r: dict) -> dict:
    keys = ("key", "wer", "params", "macs", "latency_ms", "model_mb_fp32", "model_mb_int8", "subnet")
    return {k: r.get(k) for k in keys}


def summary(results: list[ProfileResult], records: list[dict], references: dict[str, dict]) -> dict:
    """What pareto.json holds: fronts, references and one entry per profile."""
    axes = ["params", "macs"] + (
        ["latency_ms"] if any(r.get("latency_ms") is not None for r in records) else []
    )
    profiles = {}
    for res in results:
        entry = {
            "budget": res.budget.to_dict(),
            "chosen": _brief(res.chosen),
            "pick": res.chosen.get("pick"),
            "evolution_best_wer": res.evolution.best.fitness if res.evolution.best else None,
            "evolution_evaluations": len(res.evolution.evaluated),
            "evolution_keys": [e.key for e in res.evolution.evaluated],
        }
        if res.random is not None:
            entry["random_best_wer"] = res.random.best.fitness if res.random.best else None
            entry["random_keys"] = [e.key for e in res.random.evaluated]
        profiles[res.budget.name] = entry
    return {
        "macs_per_second_reference_seconds": REFERENCE_SECONDS,
        "num_evaluated": len(records),
        "fronts": {f"wer_vs_{a}": [_brief(r) for r in pareto_front(records, a)] for a in axes},
        "references": {k: _brief(v) for k, v in references.items()},
        "profiles": profiles,
    }


def write_results(
    out_dir: str | Path, results: list[ProfileResult], records: list[dict], references: dict[str, dict]
) -> dict:
    """pareto.json, subnet-<profile>.json (SubnetConfig.from_json loads them) and pareto.png."""
    out_dir = Path(out_dir)
    data = summary(results, records, references)
    write_text_atomic(out_dir / "pareto.json", json.dumps(data, indent=1) + "\n")
    for res in results:
        subnet = SubnetConfig.from_dict(res.chosen["subnet"])
        write_text_atomic(out_dir / f"subnet-{res.budget.name}.json", subnet.to_json() + "\n")
    plot_pareto(out_dir / "pareto.png", records, results, references)
    return data


def plot_pareto(
    path: str | Path, records: list[dict], results: list[ProfileResult], references: dict[str, dict]
) -> None:
    """All candidates, the front, each profile's chosen subnet and budget line, largest/smallest marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_latency = any(r.get("latency_ms") is not None for r in records)
    axes_spec = [
        ("params", 1e-6, "deployed parameters (M)", "max_params"),
        (
            "latency_ms" if has_latency else "macs",
            1.0 if has_latency else 1e-6,
            "latency (ms per s of audio, 1 thread)" if has_latency else "encoder MACs per s of audio (M)",
            "max_latency_ms" if has_latency else "max_macs",
        ),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (key, scale, label, bound) in zip(axes, axes_spec):
        pts = [r for r in records if r.get(key) is not None]
        ax.scatter([r[key] * scale for r in pts], [r["wer"] for r in pts], s=12, c="0.7", label="evaluated")
        front = pareto_front(pts, key)
        ax.step(
            [r[key] * scale for r in front],
            [r["wer"] for r in front],
            where="post",
            c="k",
            lw=1,
            label="Pareto front",
        )
        for name, marker in (("largest", "^"), ("smallest", "v")):
            r = references.get(name)
            if r is not None and r.get(key) is not None:
                ax.scatter([r[key] * scale], [r["wer"]], marker=marker, s=70, c="k", label=f"{name} subnet")
        for i, res in enumerate(results):
            color = colors[i % len(colors)]
            c = res.chosen
            if c.get(key) is not None:
                ax.scatter(
                    [c[key] * scale],
                    [c["wer"]],
                    marker="*",
                    s=160,
                    color=color,
                    label=f"{res.budget.name} (chosen)",
                    zorder=3,
                )
            limit = res.budget.bounds().get(bound)
            if limit is not None:
                ax.axvline(limit * scale, color=color, ls="--", lw=0.8)
        wers = sorted(r["wer"] for r in pts)
        if wers and wers[-1] > max(110.0, 2.5 * wers[0]):  # untrained models: keep the front readable
            ax.set_ylim(top=max(110.0, 2.5 * wers[0]))
        ax.set_xlabel(label)
        ax.set_ylabel("greedy WER on the dev subset (%)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def format_table(results: list[ProfileResult], references: dict[str, dict]) -> str:
    """The final table (markdown) for the log."""
    lat = any(r.get("latency_ms") is not None for r in references.values())
    head = (
        "| profile | budget | WER % | 95% interval | random WER % | params | MACs/s | MB fp32/int8 |"
        + (" ms/s |" if lat else "")
        + " subnet |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]

    def row(name: str, budget: str, r: dict, rnd: str) -> str:
        cells = [
            name,
            budget,
            f"{r['wer']:.2f}",
            "[{:.2f}, {:.2f}]".format(*r["pick"]["wer_interval_95"])
            if "wer_interval_95" in r.get("pick", {})
            else "-",
            rnd,
            f"{r['params'] / 1e6:.3f}M",
            f"{r['macs'] / 1e6:.1f}M",
            f"{r['model_mb_fp32']:.2f}/{r['model_mb_int8']:.2f}",
        ]
        if lat:
            cells.append("-" if r.get("latency_ms") is None else f"{r['latency_ms']:.1f}")
        cells.append(r["key"])
        return "| " + " | ".join(cells) + " |"

    for name in ("largest", "smallest"):
        if name in references:
            lines.append(row(f"({name})", "-", references[name], "-"))
    for res in results:
        rnd = "-" if res.random is None or res.random.best is None else f"{res.random.best.fitness:.2f}"
        lines.append(row(res.budget.name, res.budget.describe(), res.chosen, rnd))
    return "\n".join(lines)
