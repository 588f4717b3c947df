"""RESULTS.md's robustness section: how much worse each subnet is on test-other and test-heldout than on test-clean.

test-heldout is test-clean's sentences read by an engine training never hears (flite), so heldout/clean isolates
the voice; test-other adds noise, reverberation and faster speech. The targets are at most 2x each. With
`before_dir` (an archived run without the augmentation and the extra voices, same training budget), the two
runs are shown side by side.
"""

from pathlib import Path

from results_comparison import train_options, warmup_steps

from todm.decode import read_wer_summary

SETS = ("test-clean", "test-other", "test-heldout")
TARGET_RATIO = 2.0


def decoded_wer(exp_dir: Path, test_set: str, subnet: str, beam: bool = False) -> float | None:
    """Greedy (or beam 4) WER of `subnet` on `test_set` from exp_dir's newest decode.py summary, or None."""
    method, key = ("modified_beam_search", "beam_size_4") if beam else ("greedy_search", "greedy_search")
    found = sorted((exp_dir / method).glob(f"wer-summary-{test_set}-{key}-*-subnet-{subnet}.txt"))
    return next(iter(read_wer_summary(found[-1]).values())) if found else None


def subnet_names(exp_dir: Path) -> list[str]:
    names = {
        p.name.rsplit("-subnet-", 1)[1][: -len(".txt")]
        for p in (exp_dir / "greedy_search").glob("wer-summary-*")
    }
    order = {"largest": 0, "smallest": 2}
    return sorted(names, key=lambda n: (order.get(n, 1), n))


def _cells(exp_dir: Path, subnet: str) -> list[str]:
    wer = {s: decoded_wer(exp_dir, s, subnet) for s in SETS}
    cells = [f"{wer[s]:.2f}" if wer[s] is not None else "n/a" for s in SETS]
    for s in SETS[1:]:
        if wer[s] is None or not wer["test-clean"]:
            cells.append("n/a")
        else:
            ratio = wer[s] / wer["test-clean"]
            cells.append(f"{ratio:.2f}x" + ("" if ratio <= TARGET_RATIO else " (miss)"))
    return cells


def recipe_label(exp_dir: Path) -> str:
    """What the run's main train.py command (the last in commands.txt) mixed in, and its warm-up, if any."""
    options = train_options(exp_dir)
    if not options:
        return "n/a"
    label = "noise mixed in" if options.get("--noise-cuts") else "no noise (SpecAugment only)"
    warm = warmup_steps(exp_dir)
    return f"{label}, {warm:,} warm-up steps on clean speech" if warm else label


def largest_subnet_verdict(exp_dir: Path, before_dir: Path | None = None) -> str:
    """The targets on the largest subnet, each met or missed and by how much, from the decoded numbers."""
    wer = {s: decoded_wer(exp_dir, s, "largest") for s in SETS}
    clean = wer["test-clean"]
    if not clean:
        return ""
    parts = []
    for name in SETS[1:]:
        if wer[name] is None:
            continue
        ratio = wer[name] / clean
        verdict = (
            "met"
            if ratio <= TARGET_RATIO
            else f"missed by {ratio - TARGET_RATIO:.2f}x: it would need at most "
            f"{TARGET_RATIO * clean:.2f}% at this test-clean WER"
        )
        parts.append(f"{name}/test-clean {ratio:.2f}x (target at most {TARGET_RATIO:.0f}x: {verdict})")
    before = decoded_wer(before_dir, "test-clean", "largest") if before_dir else None
    if before is not None:
        change = clean - before
        verdict = "met" if change <= 0 else f"missed by {change:.2f} WER points"
        parts.append(f"test-clean {clean:.2f}% against {before:.2f}% before (target no worse: {verdict})")
    return "Largest subnet: " + "; ".join(parts) + "." if parts else ""


def robustness_section(exp_dir: Path, before_dir: Path | None = None) -> list[str]:
    if not (exp_dir / "greedy_search").is_dir():
        return []
    header = "| test-clean | test-other | test-heldout | other/clean | heldout/clean |"
    lines = [
        "## Robustness: noisy and unseen-voice speech (greedy WER %)",
        "",
        "test-heldout is test-clean's sentences read by flite, a speech engine no training part uses; test-other adds",
        f"noise, reverberation and faster speech. Target: both ratios at most {TARGET_RATIO:.0f}x.",
        "",
    ]
    runs = [exp_dir] + ([before_dir] if before_dir else [])
    lines += ["| run | training | subnet " + header, "|---|---|---|---|---|---|---|---|"]
    for directory in runs:
        for subnet in subnet_names(directory):
            cells = " | ".join(_cells(directory, subnet))
            lines.append(
                f"| `{directory.parent.name}/{directory.name}` | {recipe_label(directory)} | {subnet} | {cells} |"
            )
    verdict = largest_subnet_verdict(exp_dir, before_dir)
    return [*lines, "", *([verdict, ""] if verdict else [])]
