"""Word error rate and icefall's result files (recogs-*, errs-*, wer-summary-*), plus a per-type WER table.

The file formats are icefall's (k2-fsa/icefall, icefall/utils.py: store_transcripts, write_error_stats;
egs/librispeech/ASR/*/decode.py: save_results), so tools that parse icefall results parse ours:
  recogs:       "<cut_id>:\\tref=['W1', 'W2']" and "<cut_id>:\\thyp=[...]" lines
  errs:         "%WER = 12.34", "Errors: I insertions, D deletions, S substitutions, over N reference words
                (C correct)", then PER-UTT DETAILS, SUBSTITUTIONS, DELETIONS, INSERTIONS, PER-WORD STATS
  wer-summary:  "settings\\tWER" then "<key>\\t<wer>"
The alignment is kaldialign's (Levenshtein, unit costs), as icefall's.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from todm.io import atomic_path

log = logging.getLogger(__name__)

ERR = "*"
Result = tuple[str, list[str], list[str]]  # (cut_id, ref_words, hyp_words)


def _align(ref: Sequence[str], hyp: Sequence[str]) -> list[tuple[str, str]]:
    import kaldialign

    return kaldialign.align(list(ref), list(hyp), ERR)


def word_error_rate(refs: list[list[str]], hyps: list[list[str]]) -> dict:
    """Corpus WER: {"errors", "words", "ins", "del", "sub", "wer"} with wer in percent (0.0 for no words)."""
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    ins = dels = subs = words = 0
    for ref, hyp in zip(refs, hyps):
        words += len(ref)
        for r, h in _align(ref, hyp):
            if r == ERR:
                ins += 1
            elif h == ERR:
                dels += 1
            elif r != h:
                subs += 1
    errors = ins + dels + subs
    return {
        "errors": errors,
        "words": words,
        "ins": ins,
        "del": dels,
        "sub": subs,
        "wer": 100.0 * errors / words if words else 0.0,
    }


def store_transcripts(path: str | Path, results: list[Result]) -> None:
    """icefall's store_transcripts (sorted by cut id, as icefall's decode.py sorts before storing)."""
    lines = []
    for cut_id, ref, hyp in sorted(results):
        lines += [f"{cut_id}:\tref={ref}", f"{cut_id}:\thyp={hyp}"]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def read_transcripts(path: str | Path) -> dict[str, tuple[list[str], list[str]]]:
    """store_transcripts' file back: {cut_id: (ref_words, hyp_words)}."""
    import ast

    out: dict[str, dict[str, list[str]]] = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        cut_id, sep, rest = line.partition(":\t")
        side, eq, words = rest.partition("=")
        if not sep or not eq or side not in ("ref", "hyp"):
            raise ValueError(f"{path}:{n}: not an icefall recogs line: {line!r}")
        out.setdefault(cut_id, {})[side] = ast.literal_eval(words)
    missing = [c for c, sides in out.items() if set(sides) != {"ref", "hyp"}]
    if missing:
        raise ValueError(f"{path}: {missing[0]} lacks its ref or hyp line")
    return {c: (sides["ref"], sides["hyp"]) for c, sides in out.items()}


def _combined_alignment(ref: list[str], hyp: list[str]) -> list[tuple[str, str]]:
    """icefall's PER-UTT DETAILS: successive errors are merged into one (ref words->hyp words) group."""
    ali = [[[r], [h]] for r, h in _align(ref, hyp)]
    for i in range(len(ali) - 1):
        if ali[i][0] != ali[i][1] and ali[i + 1][0] != ali[i + 1][1]:
            ali[i + 1] = [ali[i][0] + ali[i + 1][0], ali[i][1] + ali[i + 1][1]]
            ali[i] = [[], []]
    out = []
    for r, h in ali:
        r, h = [w for w in r if w != ERR], [w for w in h if w != ERR]
        if r or h:
            out.append((" ".join(r) if r else ERR, " ".join(h) if h else ERR))
    return out


def write_error_stats(
    path: str | Path, test_set_name: str, results: list[Result], enable_log: bool = True
) -> dict:
    """Write icefall's errs-* file for `results`; returns word_error_rate's dict."""
    subs: dict[tuple[str, str], int] = defaultdict(int)
    ins: dict[str, int] = defaultdict(int)
    dels: dict[str, int] = defaultdict(int)
    words: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])  # corr, ref_sub, hyp_sub, ins, del
    num_corr = 0
    for _, ref, hyp in results:
        for r, h in _align(ref, hyp):
            if r == ERR:
                ins[h] += 1
                words[h][3] += 1
            elif h == ERR:
                dels[r] += 1
                words[r][4] += 1
            elif r != h:
                subs[(r, h)] += 1
                words[r][1] += 1
                words[h][2] += 1
            else:
                words[r][0] += 1
                num_corr += 1
    stats = word_error_rate([r for _, r, _ in results], [h for _, _, h in results])
    if enable_log:
        log.info(
            "[%s] %%WER %.2f%% [%d / %d, %d ins, %d del, %d sub ]",
            test_set_name,
            stats["wer"],
            stats["errors"],
            stats["words"],
            stats["ins"],
            stats["del"],
            stats["sub"],
        )
    lines = [
        f"%WER = {stats['wer']:.2f}",
        (
            f"Errors: {stats['ins']} insertions, {stats['del']} deletions, {stats['sub']} substitutions, "
            f"over {stats['words']} reference words ({num_corr} correct)"
        ),
        (
            "Search below for sections starting with PER-UTT DETAILS:, SUBSTITUTIONS:, DELETIONS:, INSERTIONS:, "
            "PER-WORD STATS:"
        ),
        "",
        "PER-UTT DETAILS: corr or (ref->hyp)  ",
    ]
    for cut_id, ref, hyp in sorted(results):
        pairs = _combined_alignment(ref, hyp)
        lines.append(f"{cut_id}:\t" + " ".join(r if r == h else f"({r}->{h})" for r, h in pairs))
    lines += ["", "SUBSTITUTIONS: count ref -> hyp"]
    lines += [f"{c}   {r} -> {h}" for c, (r, h) in sorted(((v, k) for k, v in subs.items()), reverse=True)]
    lines += ["", "DELETIONS: count ref"]
    lines += [f"{c}   {r}" for c, r in sorted(((v, k) for k, v in dels.items()), reverse=True)]
    lines += ["", "INSERTIONS: count hyp"]
    lines += [f"{c}   {h}" for c, h in sorted(((v, k) for k, v in ins.items()), reverse=True)]
    lines += ["", "PER-WORD STATS: word  corr tot_errs count_in_ref count_in_hyp"]
    for _, word, (corr, ref_sub, hyp_sub, n_ins, n_del) in sorted(
        ((sum(v[1:]), k, v) for k, v in words.items()), reverse=True
    ):
        lines.append(
            f"{word}   {corr} {ref_sub + hyp_sub + n_ins + n_del} {corr + ref_sub + n_del} "
            f"{corr + hyp_sub + n_ins}"
        )
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return stats


def write_wer_summary(path: str | Path, rows: list[tuple[str, float]]) -> None:
    """icefall's wer-summary file: "settings\\tWER" then one "<key>\\t<wer>" line per setting."""
    with atomic_path(path) as tmp:
        tmp.write_text("settings\tWER\n" + "".join(f"{k}\t{v:.2f}\n" for k, v in rows))


def read_wer_summary(path: str | Path) -> dict[str, float]:
    """Parse a wer-summary file back into {key: wer}."""
    lines = Path(path).read_text().splitlines()
    if not lines or lines[0].split("\t") != ["settings", "WER"]:
        raise ValueError(f"{path}: not an icefall wer-summary file (no 'settings\\tWER' header)")
    return {k: float(v) for k, v in (line.split("\t") for line in lines[1:] if line.strip())}


ERRS_HEADER = re.compile(r"^%WER = (?P<wer>\d+\.\d\d)$")
ERRS_COUNTS = re.compile(
    r"^Errors: (?P<ins>\d+) insertions, (?P<del>\d+) deletions, (?P<sub>\d+) substitutions, "
    r"over (?P<words>\d+) reference words \((?P<corr>\d+) correct\)$"
)


def read_errs_file(path: str | Path) -> dict:
    """Parse the two header lines of an errs-* file: {"wer", "ins", "del", "sub", "words", "corr"}."""
    lines = Path(path).read_text().splitlines()
    head, counts = ERRS_HEADER.match(lines[0]), ERRS_COUNTS.match(lines[1]) if len(lines) > 1 else None
    if head is None or counts is None:
        raise ValueError(f"{path}: not an icefall errs file")
    return {"wer": float(head["wer"]), **{k: int(v) for k, v in counts.groupdict().items()}}


def read_utt2type(path: str | Path) -> dict[str, str]:
    """The embedded corpus's "<utt-id> <sentence-type>" lines."""
    out = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out[parts[0]] = parts[1]
    return out


def wer_by_type(results: list[Result], utt2type: dict[str, str]) -> list[tuple[str, dict]]:
    """WER per sentence type (utterances looked up by cut id, then by the cut id without its '-<n>'
    suffix that lhotse adds); unknown utterances go to type 'unknown'. Sorted by type, 'all' last."""
    groups: dict[str, list[Result]] = defaultdict(list)
    for res in results:
        cut_id = res[0]
        kind = utt2type.get(cut_id) or utt2type.get(cut_id.rsplit("-", 1)[0], "unknown")
        groups[kind].append(res)
    rows = [
        (k, word_error_rate([r for _, r, _ in v], [h for _, _, h in v])) for k, v in sorted(groups.items())
    ]
    rows.append(("all", word_error_rate([r for _, r, _ in results], [h for _, _, h in results])))
    return rows


def write_wer_by_type(path: str | Path, rows: list[tuple[str, dict]]) -> None:
    """Markdown table: type | utterance words | WER | ins | del | sub."""
    lines = ["| sentence type | ref words | WER (%) | ins | del | sub |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {k} | {s['words']} | {s['wer']:.2f} | {s['ins']} | {s['del']} | {s['sub']} |" for k, s in rows
    ]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
