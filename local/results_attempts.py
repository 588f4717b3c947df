"""RESULTS.md section of the recipe attempts (run.sh stage 12): does a changed recipe make TODM's claim hold?

Layout read (next to the supernet's <exp>, as run.sh writes it or local/archive_results.py keeps it):
    <exp>/gap-curve.json                the supernet's subnets every --gap-every steps (stage 11)
    <exp>-baseline-<name>.json          the baseline stage 9 chose for subnet <name> ...
    <chosen dir>/gap-curve.json         ... and its WER at the same steps (stage 11)
    <exp>-attempt-<label>/commands.txt  the attempt's train.py command (its options differ from <exp>'s)
    <exp>-attempt-<label>/gap-curve.json  the attempt's subnets at the same steps (stage 12)
    <exp>-attempt-<label>/exported/*/model_card.json  an attempt trained for the supernet's steps: its searched
                                        subnets' final decodes (greedy and beam 4), compared as the supernet's are

Every attempt is compared at the newest step its gap curve has, and at each other attempt's newest step that its
gap curve reaches (an attempt trained longer still sits beside the shorter ones), with the same averaging rule on
every side (local/gap_curve.py), so the numbers are at equal optimizer steps.
"""

from __future__ import annotations

from pathlib import Path

from results_comparison import (
    HOLDS_WITHIN,
    METHODS,
    TEST_SETS,
    baseline_gap_points,
    baseline_runs,
    commands,
    final_differences,
    final_wers,
    fmt,
    gap_points,
    machines_used,
    relative,
    relative_percent,
    train_options,
)


def changed_options(supernet: dict[str, str], attempt: dict[str, str]) -> str:
    """The attempt's options that differ from the supernet's, as a command-line fragment."""
    # its own directory; its steps are a column; a wall-time limit is a budget, not part of the recipe
    ignored = {"--exp-dir", "--max-steps", "--max-train-minutes"}
    changed = [f"{k} {v}".strip() for k, v in attempt.items() if k not in ignored and supernet.get(k) != v]
    dropped = [k for k in supernet if k not in ignored and k not in attempt]
    return " ".join(changed + [f"(no {k})" for k in dropped]) or "(same options)"


def attempt_label(exp_dir: Path, run_dir: Path) -> str:
    """The attempt's name, as given to run.sh --attempts."""
    return run_dir.name.removeprefix(f"{exp_dir.name}-attempt-")


def comparison_steps(attempt_points: dict[Path, dict[tuple[str, str, int], float]]) -> list[int]:
    """The steps the attempts are compared at: the newest step of each attempt's gap curve."""
    return sorted({max(k[2] for k in points) for points in attempt_points.values() if points})


def attempts_section(exp_dir: Path) -> list[str]:
    title = "## Attempts to make the claim hold (stage 12)"
    attempt_dirs = sorted(d for d in exp_dir.parent.glob(f"{exp_dir.name}-attempt-*") if d.is_dir())
    if not attempt_dirs:
        return [
            title,
            "",
            'Not run (run.sh stage 12: `./run.sh --stage 12 --stop-stage 12 --attempts "name:train.py options"`).',
            "",
        ]
    supernet = gap_points(exp_dir / "gap-curve.json")
    baselines = baseline_gap_points(exp_dir)
    # columns: every subnet decoded on the gap curves (the searched ones have baselines, largest/smallest not)
    attempt_points = {d: gap_points(d / "gap-curve.json") for d in attempt_dirs}
    searched = sorted({k[0] for k in supernet} | {k[0] for p in attempt_points.values() for k in p})
    reference = train_options(exp_dir)
    lines = [
        title,
        "",
        (
            "Each attempt is the supernet recipe with the options shown, trained for the steps shown; greedy WER (%) "
            "of each searched subnet at that step, then the relative difference to its one-by-one baseline at "
            "the same step (both sides decoded as in the gap curve: the averaged weights of the steps before). "
            f"An attempt holds on a test set when no subnet is more than {HOLDS_WITHIN:g}% worse than its "
            "baseline there. Before the attempts at each step, the recipe's own supernet at that step."
        ),
        "",
    ]
    if not baselines:
        lines += [
            "No baseline has been trained yet (stage 9): the attempts have nothing to be compared with.",
            "",
        ]
    for test_set in TEST_SETS:
        lines += [
            f"### {test_set}",
            "",
            "| attempt | changed options | step | "
            + " | ".join(f"{n} | rel." for n in searched)
            + " | verdict |",
            "|---|---|---|" + "---|---|" * len(searched) + "---|",
        ]
        rows, shown_recipe, compared_at = [], set(), comparison_steps(attempt_points)
        for run_dir, points in attempt_points.items():
            decoded = {k[2] for k in points if k[1] == test_set}
            label = attempt_label(exp_dir, run_dir)
            options = changed_options(reference, train_options(run_dir))
            at = [step for step in compared_at if step in decoded]
            rows += [(step, label, options, points) for step in at] or [(None, label, options, points)]
        for step, label, options, points in sorted(rows, key=lambda r: (r[0] is None, r[0] or 0, r[1])):
            if step is None:
                lines.append(
                    f"| {label} | {options} | n/a |" + " n/a | n/a |" * len(searched) + " not decoded yet |"
                )
                continue
            if step not in shown_recipe:  # the recipe's own supernet at this step, once
                shown_recipe.add(step)
                lines.append(comparison_row("recipe", "", step, supernet, baselines, searched, test_set))
            lines.append(comparison_row(label, options, step, points, baselines, searched, test_set))
        lines.append("")
    lines += final_table(exp_dir, attempt_dirs)
    lines += trained_where(exp_dir, attempt_dirs)
    lines += ["Commands:", "", "```"]
    for d in attempt_dirs:
        lines += commands(d)
    return [*lines, "```", ""]


def final_table(exp_dir: Path, attempt_dirs: list[Path]) -> list[str]:
    """The final decodes of the attempts trained for the supernet's steps, beside the recipe's own, each against
    the same finished baselines; empty when no attempt has them."""
    finished = [d for d in attempt_dirs if list((d / "exported").glob("*/model_card.json"))]
    if not finished:
        return []
    baseline_dirs = baseline_runs(exp_dir)
    columns = [(test_set, method, label) for test_set in TEST_SETS for method, label in METHODS]
    lines = [
        "### Final decodes at the supernet's steps",
        "",
        (
            "Attempts trained for as many steps as the recipe's supernet, decoded as its subnets are (the same "
            "averaged weights, greedy and beam 4) and exported; cells: WER (%) of the attempt's subnet / its "
            "baseline's, then the relative difference."
        ),
        "",
        "| run | subnet | " + " | ".join(f"{t} {label} | rel." for t, _, label in columns) + " |",
        "|---|---|" + "---|---|" * len(columns),
    ]
    for run_dir, label in [(exp_dir, "recipe"), *((d, attempt_label(exp_dir, d)) for d in finished)]:
        rows: dict[
            str, list[str]
        ] = {}  # subnet -> its cells, in the columns' order (final_wers gives them so)
        for name, _, _, wer, alone in final_wers(run_dir, baseline_dirs):
            rows.setdefault(name, []).extend([f"{fmt(wer)} / {fmt(alone)}", relative(wer, alone)])
        lines += [f"| {label} | {name} | " + " | ".join(cells) + " |" for name, cells in rows.items()]
    return [*lines, ""]


def trained_where(exp_dir: Path, attempt_dirs: list[Path]) -> list[str]:
    """The CPU kinds each compared run trained on: another kind rounds differently, and this recipe can end far
    from where the same run ends on another kind, so a comparison across kinds says so."""
    runs = [
        ("recipe", machines_used(exp_dir)),
        ("baselines", list(dict.fromkeys(m for d in baseline_runs(exp_dir) for m in machines_used(d)))),
        *((attempt_label(exp_dir, d), machines_used(d)) for d in attempt_dirs),
    ]
    kinds = {m for _, machines in runs for m in machines}
    if len(kinds) == 1 and all(machines for _, machines in runs):
        return [
            f"Every recorded training step of these runs was made on one CPU kind: {next(iter(kinds))}.",
            "",
        ]
    lead = "Where the runs compared here were trained:"
    if len(kinds) > 1:
        lead = (
            "The runs compared here were trained on different CPU kinds, which round differently; the same run "
            "can end far apart on two kinds ([reproducibility](docs/reproducibility.md)), so a difference "
            "between runs of different kinds mixes the change with the machine:"
        )
    lines = [lead, ""]
    lines += [f"- {label}: {'; '.join(machines) or 'not recorded'}" for label, machines in runs]
    return [*lines, ""]


def worst_difference(
    points: dict[tuple[str, str, int], float],
    baselines: dict[tuple[str, str, int], float],
    step: int,
    test_sets: tuple[str, ...],
) -> tuple[float, str, str] | None:
    """(relative difference %, subnet, test set) of the subnet furthest behind its baseline at `step`, over
    `test_sets`; None when no subnet has a baseline there."""
    found = [
        (relative_percent(wer, baselines[name, test_set, k]), name, test_set)
        for (name, test_set, k), wer in points.items()
        if k == step and test_set in test_sets and baselines.get((name, test_set, k))
    ]
    return max(found) if found else None


def comparison_row(
    label: str,
    options: str,
    step: int,
    points: dict[tuple[str, str, int], float],
    baselines: dict[tuple[str, str, int], float],
    searched: list[str],
    test_set: str,
) -> str:
    """One table row: each subnet's WER, its relative difference to its baseline, and the verdict."""
    cells = []
    for name in searched:
        wer, alone = points.get((name, test_set, step)), baselines.get((name, test_set, step))
        cells += [fmt(wer), relative(wer, alone)]
    worst = worst_difference(points, baselines, step, (test_set,))
    if worst is None:
        verdict = "no baseline"
    else:
        verdict = "holds" if worst[0] <= HOLDS_WITHIN else f"misses (worst {worst[0]:+.1f}%)"
    return f"| {label} | {options} | {step} | {' | '.join(cells)} | {verdict} |"


def attempts_verdict(exp_dir: Path) -> list[str]:
    """The verdict's line on the attempts: the one closest to the claim (its worst subnet on either test set
    nearest its baseline), beside the recipe's own supernet at the same step; empty before any is compared."""
    supernet = gap_points(exp_dir / "gap-curve.json")
    baselines = baseline_gap_points(exp_dir)
    reference = train_options(exp_dir)
    attempt_points = {
        run_dir: gap_points(run_dir / "gap-curve.json")
        for run_dir in sorted(exp_dir.parent.glob(f"{exp_dir.name}-attempt-*"))
    }
    finals, final_steps, baseline_dirs = [], set(), baseline_runs(exp_dir)
    for run_dir, points in attempt_points.items():
        differences = final_differences(run_dir, baseline_dirs)
        if differences:
            finals.append((max(differences, key=lambda d: d[3]), run_dir))
            final_steps |= {max(k[2] for k in points)} if points else set()
    # {step: [(worst, run dir)]}, the attempts at each comparison step; the steps the final decodes judge (greedy
    # and beam) need no greedy-only line of their own
    ranked: dict[int, list] = {}
    for step in set(comparison_steps(attempt_points)) - final_steps:
        for run_dir, points in attempt_points.items():
            worst = worst_difference(points, baselines, step, TEST_SETS)
            if worst is not None:
                ranked.setdefault(step, []).append((worst, run_dir))
    lines = []
    if finals:
        (name, test_set, method, rel), run_dir = min(finals, key=lambda f: f[0][3])
        label = attempt_label(exp_dir, run_dir)
        options = changed_options(reference, train_options(run_dir))
        head = "holds" if rel <= HOLDS_WITHIN else "does not hold"
        lines += [
            (
                f"**Recipe attempts at the supernet's steps, final decodes (greedy and beam 4): the claim {head}** "
                f"(the closest of {len(finals)}): `{label}` (`{options}`), worst {rel:+.1f}% ({name}, {test_set}, "
                f"{method})."
            ),
            "",
        ]
    for step, at_step in sorted(ranked.items()):
        (rel, name, test_set), run_dir = min(at_step, key=lambda r: r[0][0])
        label = attempt_label(exp_dir, run_dir)
        options = changed_options(reference, train_options(run_dir))
        recipe = worst_difference(supernet, baselines, step, TEST_SETS)
        against = (
            f"; the recipe's own supernet at that step: worst {recipe[0]:+.1f}% ({recipe[1]}, {recipe[2]})"
        )
        head = "holds" if rel <= HOLDS_WITHIN else "does not hold"
        # the step is in the head: an attempt's schedule may be shorter than the default run's judged above
        lines += [
            (
                f"**Recipe attempts (stage 12), at step {step:,}: the claim {head}** (the closest of "
                f"{len(at_step)} attempt{'s' if len(at_step) > 1 else ''}, greedy): `{label}` (`{options}`), "
                f"worst {rel:+.1f}% ({name}, {test_set})"
                f"{against if recipe else ''}. Every attempt is in the table at the end."
            ),
            "",
        ]
    return lines
