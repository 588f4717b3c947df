"""RESULTS.md's verdict on TODM's two claims, from the numbers of the baseline and gap sections.

Claim 1: every searched subnet is at least as accurate as the same architecture trained alone (relative WER
difference at most HOLDS_WITHIN %), at equal optimizer steps, on test-clean and test-other. Judged on the final
decodes (greedy and beam 4) where a baseline has finished, else on the newest step both gap curves share (greedy).
Claim 2: the one supernet run costs fewer CPU-seconds than training the compared architectures one by one
(dropout grids included); judged once every baseline has finished.
"""

from __future__ import annotations

from pathlib import Path

from results_attempts import attempts_verdict
from results_comparison import (
    HOLDS_WITHIN,
    baseline_progress,
    baseline_runs,
    chosen_baselines,
    final_differences,
    gap_points,
    relative_percent,
    run_cost,
)


def gap_differences(exp_dir: Path) -> tuple[int | None, list[tuple[str, str, str, float]]]:
    """(step, [(subnet, test set, "greedy", relative difference %)]) at the newest step that the supernet's gap
    curve and every chosen baseline's share, so all architectures are judged at one step; (None, []) if none."""
    supernet = gap_points(exp_dir / "gap-curve.json")
    curves = [gap_points(run_dir / "gap-curve.json") for run_dir in chosen_baselines(exp_dir).values()]
    curves = [curve for curve in curves if curve]
    shared = {step for (_, _, step) in supernet}
    for curve in curves:
        shared &= {step for (_, _, step) in curve}
    if not curves or not shared:
        return None, []
    step = max(shared)
    found = []
    for curve in curves:
        for (name, test_set, k), wer in sorted(curve.items()):
            if k == step and (name, test_set, k) in supernet and wer:
                found.append((name, test_set, "greedy", relative_percent(supernet[name, test_set, k], wer)))
    return step, found


def accuracy_verdict(exp_dir: Path) -> str:
    done, wanted = baseline_progress(exp_dir)
    differences, where = (
        final_differences(exp_dir, baseline_runs(exp_dir)),
        "the final decodes (greedy and beam 4)",
    )
    final = done == wanted and bool(differences)
    if not final:
        step, differences = gap_differences(exp_dir)
        where = f"step {step:,} of the gap curves (greedy)" if step else ""
    if not differences:
        return "**Claim 1, as accurate as trained alone: not measured yet** (no baseline decoded; stage 9)."
    measured = len({d[0] for d in differences})
    worst = max(differences, key=lambda d: d[3])
    best = min(differences, key=lambda d: d[3])
    scope = f"{measured} of {wanted} searched architectures, at {where}"
    head = "holds" if worst[3] <= HOLDS_WITHIN else "does not hold"
    if not final:  # some baselines still training: what the curves say up to now
        head += " so far"
    return (
        f"**Claim 1, as accurate as trained alone: {head}** ({scope}): the relative WER difference, supernet's "
        f"subnet vs its baseline, is at worst {worst[3]:+.1f}% ({worst[0]}, {worst[1]}, {worst[2]}) and at best "
        f"{best[3]:+.1f}% ({best[0]}, {best[1]}, {best[2]}); it holds when none is above +{HOLDS_WITHIN:g}%."
    )


def cost_verdict(exp_dir: Path) -> str:
    done, wanted = baseline_progress(exp_dir)
    supernet, costs = run_cost(exp_dir), [run_cost(d) for d in baseline_runs(exp_dir)]
    if done < wanted or supernet is None or not costs or None in costs:
        return (
            f"**Claim 2, cheaper than one by one: not measured yet** ({done} of {wanted} baselines finished)."
        )
    total = sum(c.cpu_seconds for c in costs)
    ratio = supernet.cpu_seconds / total if total else float("nan")
    head = "holds" if ratio < 1 else "does not hold"
    return (
        f"**Claim 2, cheaper than one by one: {head}**: the supernet run cost {supernet.cpu_seconds:,.0f} "
        f"CPU-seconds, {ratio:.2f}x the {total:,.0f} of its {len(costs)} baseline runs (dropout grids included)."
    )


def verdict_section(exp_dir: Path) -> list[str]:
    if not (exp_dir / "search").is_dir():
        return []
    return [
        "## Verdict on TODM's claims",
        "",
        accuracy_verdict(exp_dir),
        "",
        cost_verdict(exp_dir),
        "",
        *attempts_verdict(exp_dir),
    ]
