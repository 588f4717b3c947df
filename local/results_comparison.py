"""RESULTS.md sections that compare the supernet with other runs: one-by-one baselines and ablations.

Layout read (what run.sh stages 9 and 10 write next to the supernet's <exp>):
    <exp>-baseline-<name>/   train.py --subnet <exp>/search/<name>.json: checkpoints, commands.txt,
                             exported/<name>/model_card.json, modified_beam_search/wer-summary-*
    <exp>-ablation-<name>/   train.py with one technique off: checkpoints, commands.txt,
                             greedy_search/wer-summary-* of the largest and smallest subnets
A baseline is matched to the supernet's subnets by architecture, so two device budgets that chose the same
subnet share one baseline.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from todm.checkpoint import checkpoint_progress, find_checkpoints, read_checkpoint
from todm.decode import read_wer_summary
from todm.model import SubnetConfig

TEST_SETS = ("test-clean", "test-other")
METHODS = (("greedy_search", "greedy"), ("modified_beam_search", "beam 4"))
HOLDS_WITHIN = 1.0  # percent: the largest relative WER excess that still counts as "as accurate"


@dataclass
class RunCost:
    """What one training run cost, from its newest checkpoint."""

    steps: int
    minutes: float
    cpu_seconds: float
    encoder_macs: float


def newest_progress(exp_dir: Path) -> dict | None:
    """{"checkpoint", "supernet_config", "progress", ...} of the newest checkpoint, or of the progress.json that
    local/archive_results.py left in an archived directory; None when there is neither."""
    found = find_checkpoints(exp_dir)
    if found:
        state = read_checkpoint(found[0])
        return {
            "checkpoint": found[0].name,
            "supernet_config": state["supernet_config"],
            "progress": checkpoint_progress(state),
        }
    archived = exp_dir / "progress.json"
    return json.loads(archived.read_text()) if archived.is_file() else None


def machines_used(exp_dir: Path) -> list[str]:
    """The CPU kinds a run's recorded steps were trained on, in order of first use (empty: none recorded)."""
    record = newest_progress(exp_dir)
    segments = (record or {}).get("progress", {}).get("segments", [])
    return list(dict.fromkeys(s["machine"] for s in segments))


def run_cost(exp_dir: Path) -> RunCost | None:
    record = newest_progress(exp_dir)
    if record is None:
        return None
    progress = record["progress"]
    return RunCost(
        progress["batch_idx_train"],
        progress["train_seconds"] / 60,
        progress.get("train_cpu_seconds", 0.0),
        progress.get("train_encoder_macs", 0.0),
    )


def summary_wer(exp_dir: Path, method: str, test_set: str, subnet_name: str) -> float | None:
    """WER from decode.py's wer-summary file of this method, test set and subnet (newest if several)."""
    found = sorted((exp_dir / method).glob(f"wer-summary-{test_set}-*-subnet-{subnet_name}.txt"))
    return next(iter(read_wer_summary(found[-1]).values())) if found else None


def card_wer(card: dict, exp_dir: Path, method: str, test_set: str) -> float | None:
    """Greedy WER from the model card (export.py decodes with the exported model), beam from decode.py."""
    if method == "greedy_search":
        return (card.get("wer") or {}).get(test_set, {}).get("greedy_search")
    return summary_wer(exp_dir, method, test_set, card["name"])


def read_cards(exp_dir: Path) -> list[dict]:
    cards = []
    for path in sorted((exp_dir / "exported").glob("*/model_card.json")):
        card = json.loads(path.read_text())
        card["_exp_dir"] = exp_dir
        cards.append(card)
    return cards


def arch_key(card: dict) -> str:
    """The architecture as a model of its own: each layer's width and heads, in order. A standalone baseline numbers
    its layers from 0 (todm.model.config.extract_config), so the supernet's layer indices are not part of it."""
    layers = SubnetConfig.from_dict(card["subnet"]).layers
    return f"ffn{[lc.ffn_dim for lc in layers]} heads{[lc.ssm_heads for lc in layers]}"


def commands(exp_dir: Path) -> list[str]:
    path = exp_dir / "commands.txt"
    return [line for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def train_options(run_dir: Path) -> dict[str, str]:
    """The options of the run's last train.py command in commands.txt ({} when there is none)."""
    lines = [line for line in commands(run_dir) if "train.py" in line]
    if not lines:
        return {}
    words = shlex.split(lines[-1])
    options, i = {}, 0
    while i < len(words):
        if words[i].startswith("--"):
            has_value = i + 1 < len(words) and not words[i + 1].startswith("--")
            options[words[i]] = words[i + 1] if has_value else ""
            i += 2 if has_value else 1
        else:
            i += 1
    return options


def warmup_steps(run_dir: Path) -> int:
    """Steps of the run's warm-up command (a train.py line on a `<part>-warmup` part; run.sh's --warmup-steps), or 0."""
    for line in commands(run_dir):
        if "train.py" not in line:
            continue
        words = shlex.split(line)
        parts = words[words.index("--train-parts") + 1] if "--train-parts" in words[:-1] else ""
        if parts.endswith("-warmup") and "--max-steps" in words[:-1]:
            return int(words[words.index("--max-steps") + 1])
    return 0


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def relative_percent(wer: float, reference: float) -> float:
    """Relative WER difference in percent, (wer - reference) / reference: negative means `wer` is better."""
    return 100 * (wer - reference) / reference


def relative(supernet: float | None, baseline: float | None) -> str:
    """Relative WER difference of the supernet's subnet vs the baseline (negative: the supernet is better)."""
    if supernet is None or baseline is None or baseline == 0:
        return "n/a"
    return f"{relative_percent(supernet, baseline):+.1f}%"


def transcripts(exp_dir: Path, method: str, test_set: str, subnet_name: str) -> Path | None:
    """decode.py's recogs file of this method, test set and subnet (newest if several), or None."""
    found = sorted((exp_dir / method).glob(f"recogs-{test_set}-*-subnet-{subnet_name}.txt"))
    return found[-1] if found else None


def interval(a: Path | None, b: Path | None) -> str:
    """' (95%: lo..hi)': the paired bootstrap interval of a's WER relative to b's, in % of b's WER; '' when
    either decode's transcripts are missing (archives made before they were kept)."""
    from todm.decode.confidence import transcripts_difference

    if a is None or b is None:
        return ""
    got = transcripts_difference(a, b)
    if not got["wer_b"]:
        return ""
    low, high = (100 * got[k] / got["wer_b"] for k in ("low", "high"))
    return f" (95%: {low:+.1f}..{high:+.1f})"


def baseline_runs(exp_dir: Path) -> list[Path]:
    """Every baseline training run beside the supernet's <exp> (dropout grids included)."""
    return sorted(d for d in exp_dir.parent.glob(f"{exp_dir.name}-baseline-*") if d.is_dir())


def baseline_pairs(exp_dir: Path, baseline_dirs: list[Path]) -> list[tuple[dict, dict]]:
    """(supernet subnet's model card, its finished baseline's card), matched by architecture."""
    baselines = {arch_key(card): card for d in baseline_dirs for card in read_cards(d)}
    pairs = [(card, baselines.get(arch_key(card))) for card in read_cards(exp_dir)]
    return [(s, b) for s, b in pairs if b is not None]


def final_wers(
    run_dir: Path, baseline_dirs: list[Path]
) -> list[tuple[str, str, str, float | None, float | None]]:
    """(subnet, test set, method label, WER, its baseline's WER) of each subnet of `run_dir` (the supernet's, or a
    recipe attempt's) that has a finished baseline, per test set and decoding method, subnet by subnet."""
    return [
        (
            card["name"],
            test_set,
            label,
            card_wer(card, run_dir, method, test_set),
            card_wer(base, base["_exp_dir"], method, test_set),
        )
        for card, base in baseline_pairs(run_dir, baseline_dirs)
        for test_set in TEST_SETS
        for method, label in METHODS
    ]


def final_differences(run_dir: Path, baseline_dirs: list[Path]) -> list[tuple[str, str, str, float]]:
    """(subnet, test set, method, relative difference %) of the final decodes that both sides have."""
    return [
        (name, test_set, label, relative_percent(wer, alone))
        for name, test_set, label, wer, alone in final_wers(run_dir, baseline_dirs)
        if wer is not None and alone
    ]


def baseline_section(exp_dir: Path, docs_dir: Path) -> list[str]:
    baseline_dirs = baseline_runs(exp_dir)
    if not baseline_dirs:
        return [
            "## TODM vs one-by-one baselines",
            "",
            "Not run (run.sh stage 9: `./run.sh --stage 9 --stop-stage 9`).",
            "",
        ]
    pairs = baseline_pairs(exp_dir, baseline_dirs)
    lines = [
        "## TODM vs one-by-one baselines",
        "",
        (
            "Each subnet the search chose, extracted from the one supernet, against the same architecture trained "
            "as its own model (`train.py --subnet`: its own initialisation, parameters, optimizer state and a "
            "dropout chosen on dev) with the same data, batch size, optimizer, schedule and number of "
            "optimizer steps. The baselines' cost includes their dropout grid. Rel. = (supernet - baseline) / baseline: negative means the supernet's subnet is "
            "better. Params are deployed parameters; MACs are encoder multiply-adds per second of audio; RTF is "
            "PyTorch greedy search on test-clean. (95%: lo..hi) is the paired bootstrap interval of rel. over the "
            "test utterances (2,000 resamples): when it holds 0, the test set cannot tell the two apart."
        ),
        "",
    ]
    done, wanted = baseline_progress(exp_dir)
    if done < wanted:
        lines += [
            (
                f"**In progress:** {done} of the {wanted} searched architectures have a finished baseline (stage 9 "
                "resumes where it stopped); the tables below hold what has finished."
            ),
            "",
        ]
    for test_set in TEST_SETS:
        header = " | ".join(f"{label} TODM | {label} alone | rel." for _, label in METHODS)
        lines += [
            f"### {test_set} WER (%)",
            "",
            f"| subnet | architecture | params | MACs/s | {header} | RTF TODM | RTF alone |",
            "|---|---|---|---|" + "---|---|---|" * len(METHODS) + "---|---|",
        ]
        for sup, base in pairs:
            cells = []
            for method, _ in METHODS:
                a = card_wer(sup, exp_dir, method, test_set)
                b = card_wer(base, base["_exp_dir"], method, test_set)
                spread = interval(
                    transcripts(exp_dir, method, test_set, sup["name"]),
                    transcripts(base["_exp_dir"], method, test_set, base["name"]),
                )
                cells += [fmt(a), fmt(b), relative(a, b) + (spread if relative(a, b) != "n/a" else "")]
            rtf = [c.get("rtf", {}).get("test-clean", {}).get("pytorch_greedy_search") for c in (sup, base)]
            lines.append(
                f"| {sup['name']} | {sup['subnet_description']} | {sup['params'] / 1e6:.2f}M | "
                f"{sup['encoder_macs_per_second'] / 1e6:.1f}M | {' | '.join(cells)} | "
                f"{fmt(rtf[0], 4)} | {fmt(rtf[1], 4)} |"
            )
        lines.append("")
    lines += dropout_choice_table(exp_dir)
    lines += cost_table(exp_dir, baseline_dirs, complete=done == wanted)
    plot_vs_baselines(exp_dir, pairs, docs_dir / "todm-vs-baselines.png")
    lines += ["![TODM vs baselines](docs/todm-vs-baselines.png)", ""]
    lines += ["Commands (as run, in order):", "", "```"]
    for d in [exp_dir, *baseline_dirs]:
        lines += commands(d)
    return [*lines, "```", ""]


def dropout_choice_table(exp_dir: Path) -> list[str]:
    """How each baseline's dropout was chosen: the dev WER of every rate of the grid (local/pick_baseline.py)."""
    choices = sorted(exp_dir.parent.glob(f"{exp_dir.name}-baseline-*.json"))
    if not choices:
        return []
    lines = [
        "### Each baseline's dropout, chosen on dev",
        "",
        (
            "As an individually tuned model's would be: every rate of the grid trained for the same first steps, "
            "the lowest greedy dev WER (dev-clean + dev-other, word-weighted) continued to the full step count."
        ),
        "",
        "| subnet | steps compared | dropout: dev WER (%) | chosen |",
        "|---|---|---|---|",
    ]
    for path in choices:
        choice = json.loads(path.read_text())
        rates = ", ".join(
            f"{Path(r['dir']).name.rsplit('-dropout-', 1)[-1]}: {r['dev_wer']:.2f}" for r in choice["grid"]
        )
        chosen = Path(choice["chosen"]).name.rsplit("-dropout-", 1)[-1]
        name = path.stem.removeprefix(f"{exp_dir.name}-baseline-")
        lines.append(f"| {name} | {choice['iter']} | {rates} | {chosen} |")
    return [*lines, ""]


def baseline_progress(exp_dir: Path) -> tuple[int, int]:
    """(architectures whose chosen baseline is trained, decoded and exported; distinct searched architectures)."""
    searched = {p.read_text().strip() for p in (exp_dir / "search").glob("subnet-*.json")}
    finished = sum(1 for d in chosen_baselines(exp_dir).values() if read_cards(d))
    return finished, len(searched)


def cost_table(exp_dir: Path, baseline_dirs: list[Path], complete: bool = True) -> list[str]:
    rows = [(f"supernet (`{exp_dir.name}`)", run_cost(exp_dir))]
    rows += [(f"baseline `{d.name}`", run_cost(d)) for d in baseline_dirs]
    known = [(name, cost) for name, cost in rows if cost is not None]
    lines = [
        "### Training cost",
        "",
        (
            "CPU-seconds: CPU time of the training processes (all threads and ranks). Encoder MACs: forward "
            "multiply-adds of every trained subnet on every training utterance (deployed-graph count)."
        ),
        "",
        "| run | optimizer steps | wall minutes | CPU-seconds | encoder MACs |",
        "|---|---|---|---|---|",
    ]
    for name, cost in known:
        lines.append(
            f"| {name} | {cost.steps} | {cost.minutes:.1f} | {cost.cpu_seconds:,.0f} | {cost.encoder_macs:.3g} |"
        )
    base = [cost for name, cost in known[1:]]
    if base and known[0][0].startswith("supernet"):
        sup = known[0][1]
        total = RunCost(
            sum(c.steps for c in base),
            sum(c.minutes for c in base),
            sum(c.cpu_seconds for c in base),
            sum(c.encoder_macs for c in base),
        )
        lines.append(
            f"| sum of the {len(base)} baseline runs | {total.steps} | {total.minutes:.1f} | "
            f"{total.cpu_seconds:,.0f} | {total.encoder_macs:.3g} |"
        )
        ratio = sup.cpu_seconds / total.cpu_seconds if total.cpu_seconds else float("nan")
        if not complete:
            return [
                *lines,
                "",
                "The supernet-to-baselines cost ratio is given once every baseline has finished.",
                "",
            ]
        lines += [
            "",
            (
                f"The supernet run cost {ratio:.2f}x the CPU-seconds of its {len(base)} baseline runs (the "
                f"architectures it was compared with, trained one by one, dropout grids included), and it also "
                f"yields every other subnet of the space (the search evaluated them without any further training)."
            ),
        ]
    return [*lines, ""]


def plot_vs_baselines(exp_dir: Path, pairs: list[tuple[dict, dict]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cards = sorted(read_cards(exp_dir), key=lambda c: c["params"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, test_set in zip(axes, TEST_SETS):
        sup = [(c["params"] / 1e6, card_wer(c, exp_dir, "greedy_search", test_set)) for c in cards]
        sup = [(p, w) for p, w in sup if w is not None]
        front, best = [], float("inf")
        for p, w in sup:  # Pareto front: no smaller subnet is as accurate
            if w < best:
                front.append((p, w))
                best = w
        if sup:
            ax.plot(*zip(*sup), "o", color="tab:blue", label="TODM subnets (one supernet)")
            ax.plot(*zip(*front), "-", color="tab:blue", alpha=0.5, label="TODM Pareto front")
        for s, b in pairs:
            w = card_wer(b, b["_exp_dir"], "greedy_search", test_set)
            if w is not None:
                ax.plot(s["params"] / 1e6, w, "s", color="tab:orange")
                ax.annotate(s["name"], (s["params"] / 1e6, w), fontsize=7)
        ax.plot([], [], "s", color="tab:orange", label="same architecture trained alone")
        ax.set_title(f"{test_set}, greedy search")
        ax.set_xlabel("deployed parameters (M)")
        ax.set_ylabel("WER (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


ABLATIONS = {
    "no-kd": "no in-place KD (`--use-kd false`)",
    "fixed-dropout": "fixed dropout (`--adaptive-dropout false`)",
    "adam": "Adam instead of ScaledAdam (`--optimizer adam`)",
    "no-sandwich": "random subnets only (`--sandwich false`)",
}


def ablation_section(exp_dir: Path) -> list[str]:
    """Each ablation (stage 10) against the full recipe's supernet at the same optimizer step, both decoded on
    their gap curves (local/gap_curve.py: the same averaging on both sides)."""
    ablation_dirs = sorted(d for d in exp_dir.parent.glob(f"{exp_dir.name}-ablation-*") if d.is_dir())
    if not ablation_dirs:
        return [
            "## Ablations",
            "",
            (
                "Not run (run.sh stage 10: `./run.sh --stage 10 --stop-stage 10 [--ablation-steps N]`; four supernet "
                "trainings)."
            ),
            "",
        ]
    recipe = gap_points(exp_dir / "gap-curve.json")
    columns = [(s, t) for s in ("largest", "smallest") for t in TEST_SETS]
    lines = [
        "## Ablations (greedy WER %, one technique off, at equal optimizer steps)",
        "",
        (
            "Each ablation is the recipe with one technique switched off, trained for the steps shown and decoded "
            "on its gap curve (the averaged weights of the steps before); above it, the full recipe's supernet at "
            "the same step (its gap curve, stage 11). rel. = (ablation - recipe) / recipe: positive means the "
            "technique helps here (switching it off made the WER worse). Wall minutes: the whole run."
        ),
        "",
    ]
    if not recipe:
        lines += ["The full recipe's gap curve is not decoded yet (stage 11): its cells are n/a.", ""]
    lines += [
        "| run | step | wall minutes | " + " | ".join(f"{s} {t} | rel." for s, t in columns) + " |",
        "|---|---|---|" + "---|---|" * len(columns),
    ]
    recipe_cost, shown, readings = run_cost(exp_dir), set(), []
    for d in ablation_dirs:
        name = d.name.removeprefix(f"{exp_dir.name}-ablation-")
        points = gap_points(d / "gap-curve.json")
        steps = sorted({k[2] for k in points})
        cost = run_cost(d)
        minutes = fmt(cost.minutes, 1) if cost else "n/a"
        if not steps:
            lines.append(f"| {ABLATIONS.get(name, name)} | n/a | {minutes} |" + " n/a | n/a |" * len(columns))
            continue
        step = steps[-1]
        if step not in shown:  # the recipe at this step, once
            shown.add(step)
            whole = fmt(recipe_cost.minutes, 1) if recipe_cost and recipe_cost.steps == step else "n/a"
            cells = [cell for s, t in columns for cell in (fmt(recipe.get((s, t, step))), "")]
            lines.append(f"| full recipe | {step} | {whole} | {' | '.join(cells)} |")
        cells = [
            f"{fmt(points.get((s, t, step)))} | {relative(points.get((s, t, step)), recipe.get((s, t, step)))}"
            for s, t in columns
        ]
        lines.append(f"| {ABLATIONS.get(name, name)} | {step} | {minutes} | {' | '.join(cells)} |")
        differences = [
            relative_percent(points[s, t, step], recipe[s, t, step])
            for s, t in columns
            if points.get((s, t, step)) is not None and recipe.get((s, t, step))
        ]
        readings.append(ablation_reading(ABLATIONS.get(name, name), step, differences))
    run_names = {d.name.removeprefix(f"{exp_dir.name}-ablation-") for d in ablation_dirs}
    for name, title in ABLATIONS.items():  # the ones stage 10 has not trained yet, so none looks forgotten
        if name not in run_names:
            lines.append(f"| {title} | not run yet | n/a |" + " n/a | n/a |" * len(columns))
    if recipe_cost and shown and max(shown) < recipe_cost.steps:
        lines += [
            "",
            (
                f"The ablations ran a shorter common schedule than the supernet's {recipe_cost.steps:,} steps "
                "(`--ablation-steps`): the full recipe's row is its supernet at that step, not its final model, "
                "and what a technique does this early in training may differ from what it does by the end."
            ),
        ]
    lines += ["", *readings, "", "Commands:", "", "```"]
    for d in ablation_dirs:
        lines += commands(d)
    return [*lines, "```", ""]


def ablation_reading(title: str, step: int, differences: list[float]) -> str:
    """One line on what a technique buys, over the largest/smallest x test-set cells it has at `step`: switching it
    off made WERs worse (the technique helps), better (it hurts here), or some of each. A difference within
    HOLDS_WITHIN % either way counts as level, as it does for the claim."""
    if not differences:
        return f"- {title}: no cell shared with the full recipe at step {step:,} yet."
    worse = sum(d > HOLDS_WITHIN for d in differences)
    better = sum(d < -HOLDS_WITHIN for d in differences)
    if worse and not better:
        what = "the technique helps here"
    elif better and not worse:
        what = "the technique hurts here"
    elif worse:
        what = "mixed"
    else:
        what = "no effect here"
    counts = ", ".join(
        f"{n} {how}"
        for n, how in (
            (worse, "worse"),
            (better, "better"),
            (len(differences) - worse - better, f"within {HOLDS_WITHIN:g}%"),
        )
        if n
    )
    return (
        f"- {title}, at step {step:,}: {what}; switching it off left {counts} of {len(differences)} WERs "
        f"(largest/smallest x test-clean/test-other: {min(differences):+.1f}% .. {max(differences):+.1f}% "
        "relative)."
    )


def gap_points(path: Path) -> dict[tuple[str, str, int], float]:
    """{(subnet, set, step): greedy WER} of one gap-curve.json (local/gap_curve.py); empty when it is missing."""
    if not path.is_file():
        return {}
    return {(p["subnet"], p["set"], p["step"]): p["wer"] for p in json.loads(path.read_text())}


def chosen_baselines(exp_dir: Path) -> dict[str, Path]:
    """{subnet name: the baseline run stage 9 chose (its dropout grid's best)} from <exp>-baseline-<name>.json."""
    chosen = {}
    for path in sorted(exp_dir.parent.glob(f"{exp_dir.name}-baseline-*.json")):
        name = path.stem.removeprefix(f"{exp_dir.name}-baseline-")
        chosen[name] = path.parent / Path(json.loads(path.read_text())["chosen"]).name
    return chosen


def baseline_gap_points(exp_dir: Path) -> dict[tuple[str, str, int], float]:
    """{(subnet, set, step): greedy WER} of every chosen baseline's gap curve, together."""
    points: dict[tuple[str, str, int], float] = {}
    for run_dir in chosen_baselines(exp_dir).values():
        points.update(gap_points(run_dir / "gap-curve.json"))
    return points


def gap_section(exp_dir: Path, docs_dir: Path) -> list[str]:
    """The relative WER difference supernet subnet vs its baseline at the same optimizer steps (stage 11)."""
    title = "## The gap over training (stage 11)"
    supernet_path = exp_dir / "gap-curve.json"
    if not supernet_path.is_file():
        return [title, "", "Not run (run.sh stage 11: `./run.sh --stage 11 --stop-stage 11`).", ""]
    supernet = gap_points(supernet_path)
    baselines = baseline_gap_points(exp_dir)
    steps = sorted({k[2] for k in supernet})
    names = sorted({k[0] for k in supernet})
    lines = [
        title,
        "",
        (
            "Greedy WER (%) of each subnet from the supernet, and of its baseline where stage 9 has trained one, "
            "both decoded at the same optimizer steps with the averaged weights of the 1,000 steps before; "
            "rel. = (supernet - baseline) / baseline, negative: the supernet's subnet is better."
        ),
        "",
    ]
    for test_set in TEST_SETS:
        lines += [
            f"### {test_set}",
            "",
            "| step | " + " | ".join(f"{n} TODM | {n} alone | rel." for n in names) + " |",
            "|---|" + "---|---|---|" * len(names),
        ]
        for step in steps:
            cells = []
            for n in names:
                a, b = supernet.get((n, test_set, step)), baselines.get((n, test_set, step))
                cells += [fmt(a), fmt(b), relative(a, b)]
            lines.append(f"| {step} | {' | '.join(cells)} |")
        lines.append("")
    pairs = sorted({(n, s) for (n, s, _) in supernet if any((n, s, k) in baselines for k in steps)})
    if pairs:
        plot_gap(supernet, baselines, pairs, steps, docs_dir / "todm-gap.png")
        lines += ["![The gap over training](docs/todm-gap.png)", ""]
        lines += ["Does the gap close? (from the numbers above)", ""]
        lines += [gap_trend(n, s, supernet, baselines, steps) for n, s in pairs] + [""]
    else:
        lines += [
            "No baseline has been decoded at these steps yet (stages 9 and 11), so there is no gap to plot.",
            "",
        ]
    return lines


def gap_trend(name: str, test_set: str, supernet: dict, baselines: dict, steps: list[int]) -> str:
    """One line on a subnet's relative gap over training: its first, widest and last value, which side has been
    gaining since the widest and how fast, and from which step on the supernet's subnet was at least as good as its
    baseline (else how many steps later it reached the baseline's last WER)."""
    rel = [
        (k, relative_percent(supernet[name, test_set, k], baselines[name, test_set, k]))
        for k in steps
        if (name, test_set, k) in supernet and baselines.get((name, test_set, k))
    ]
    head = f"- {name}, {test_set}: "
    if len(rel) < 2:
        return head + (f"{rel[0][1]:+.1f}% at step {rel[0][0]} only" if rel else "no common step")
    (k0, r0), (k1, r1) = rel[0], rel[-1]
    kp, rp = max(rel, key=lambda point: point[1])  # the widest gap against the supernet (the first, on a tie)
    values = [f"{r0:+.1f}% at step {k0}"]
    if kp not in (k0, k1):
        values.append(f"{rp:+.1f}% at step {kp} (the widest)")
    values.append(f"{r1:+.1f}% at step {k1}")
    if kp == k1:  # the baseline has been pulling away: since the first step
        movement = f"the baseline gaining, {1000 * (r1 - r0) / (k1 - k0):+.2f} points per 1,000 steps"
    else:
        movement = f"the supernet's subnet gaining since step {kp}, {1000 * (r1 - rp) / (k1 - kp):+.2f} points per 1,000 steps"
    held = [k for i, (k, _) in enumerate(rel) if all(r <= 0 for _, r in rel[i:])]
    since = (
        f"the supernet's subnet at least as good from step {held[0]} on"
        if held
        else "the baseline still ahead at the last step; "
        + step_lag(name, test_set, supernet, baselines[name, test_set, k1], k1)
    )
    last = f"{r1 - rel[-2][1]:+.1f} over the last {k1 - rel[-2][0]:,} steps"
    return f"{head}{', '.join(values)}: {movement} ({last}); {since}"


def step_lag(name: str, test_set: str, supernet: dict, target: float, at_step: int) -> str:
    """How many steps later the supernet's subnet reached the baseline's WER `target` (its WER at `at_step`):
    in a steep stretch of training a relative gap can widen while the lag in steps stays the same."""
    points = sorted(
        (k, w) for (n, s, k), w in supernet.items() if (n, s) == (name, test_set) and k >= at_step
    )
    for (k0, w0), (k1, w1) in pairwise(points):
        if w0 > target >= w1:  # first crossing; linear between the two decoded steps
            step = k0 + (k1 - k0) * (w0 - target) / (w0 - w1)
            return (
                f"it reached the baseline's step-{at_step} WER ({target:.2f}%) at step ~{step:,.0f} (linear between "
                f"steps {k0} and {k1}), {step - at_step:,.0f} steps later"
            )
    return f"it had not reached the baseline's step-{at_step} WER ({target:.2f}%) by step {points[-1][0]}"


def plot_gap(supernet: dict, baselines: dict, pairs: list, steps: list[int], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, test_set in zip(axes, TEST_SETS):
        for name in sorted({n for n, s in pairs if s == test_set}):
            xs = [k for k in steps if (name, test_set, k) in baselines and (name, test_set, k) in supernet]
            ys = [relative_percent(supernet[name, test_set, k], baselines[name, test_set, k]) for k in xs]
            ax.plot(xs, ys, marker="o", label=name)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_title(f"{test_set}, greedy search")
        ax.set_xlabel("optimizer steps")
        ax.set_ylabel("relative WER difference, TODM vs alone (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
