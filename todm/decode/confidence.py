"""How sure a WER (or a WER difference) is: the bootstrap over utterances of Bisani & Ney, "Bootstrap estimates
for confidence intervals in ASR performance evaluation" (ICASSP 2004), with scipy.stats.bootstrap.

A resample draws utterances with replacement and takes the corpus WER of the draw (its errors over its reference
words). Two systems decoded on the same utterances are resampled as pairs, which is what lets a small difference
stand out from the spread of either WER.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95


def utterance_errors(refs: list[list[str]], hyps: list[list[str]]) -> list[int]:
    """Word errors (substitutions + deletions + insertions) of each utterance, kaldialign's alignment."""
    import kaldialign

    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    return [int(kaldialign.edit_distance(ref, hyp)["total"]) for ref, hyp in zip(refs, hyps)]


def wer_difference_interval(
    errors_a: Sequence[int],
    errors_b: Sequence[int],
    words: Sequence[int],
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> tuple[float, float, float]:
    """WER_a - WER_b in points on the same utterances (per-utterance errors of a and b, reference words), and
    the paired bootstrap's `level` percentile interval: (difference, low, high). errors_b all zero gives the
    interval of WER_a itself."""
    from scipy.stats import bootstrap

    a, b, w = (np.asarray(v, dtype=np.float64) for v in (errors_a, errors_b, words))
    if not (a.shape == b.shape == w.shape) or a.ndim != 1:
        raise ValueError(f"per-utterance lists differ in length: {a.shape}, {b.shape}, {w.shape}")
    if w.sum() <= 0:
        raise ValueError("no reference words to compute a WER on")

    def difference(a: np.ndarray, b: np.ndarray, w: np.ndarray, axis: int = -1) -> np.ndarray:
        return 100.0 * (a.sum(axis) - b.sum(axis)) / np.maximum(w.sum(axis), 1.0)

    point = float(difference(a, b, w))
    if a.size == 1:  # nothing to resample
        return point, point, point
    result = bootstrap(
        (a, b, w),
        difference,
        paired=True,
        vectorized=True,
        n_resamples=resamples,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return point, float(result.confidence_interval.low), float(result.confidence_interval.high)


def transcripts_difference(
    path_a: str | Path, path_b: str | Path, level: float = LEVEL, seed: int = 0
) -> dict[str, float]:
    """Two decodes of the same utterances (icefall recogs files, store_transcripts): {"wer_a", "wer_b",
    "difference", "low", "high"} in WER points, a - b, with the paired bootstrap's interval."""
    from .wer import read_transcripts

    a, b = read_transcripts(path_a), read_transcripts(path_b)
    if set(a) != set(b):
        raise ValueError(f"{path_a} and {path_b} decode different utterances")
    cuts = sorted(a)
    if any(a[c][0] != b[c][0] for c in cuts):
        raise ValueError(f"{path_a} and {path_b} have different references")
    refs = [a[c][0] for c in cuts]
    errors_a = utterance_errors(refs, [a[c][1] for c in cuts])
    errors_b = utterance_errors(refs, [b[c][1] for c in cuts])
    words = [len(r) for r in refs]
    difference, low, high = wer_difference_interval(errors_a, errors_b, words, level, seed=seed)
    total = max(sum(words), 1)
    return {
        "wer_a": 100.0 * sum(errors_a) / total,
        "wer_b": 100.0 * sum(errors_b) / total,
        "difference": difference,
        "low": low,
        "high": high,
    }
