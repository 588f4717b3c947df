"""Bootstrap intervals of WER differences against the exact bootstrap distribution, enumerated."""

import itertools

import numpy as np
import pytest

from todm.decode.confidence import utterance_errors, wer_difference_interval
from todm.decode.wer import word_error_rate


def test_interval_matches_the_enumerated_bootstrap_distribution():
    errors_a, errors_b, words = [3, 0, 2, 5, 1, 4], [1, 0, 3, 2, 1, 1], [7, 5, 6, 9, 4, 8]
    a, b, w = (np.asarray(v, dtype=float) for v in (errors_a, errors_b, words))
    draws = np.array(list(itertools.product(range(6), repeat=6)))  # every resample, equally likely
    exact = 100 * (a[draws].sum(1) - b[draws].sum(1)) / w[draws].sum(1)
    point, low, high = wer_difference_interval(errors_a, errors_b, words, resamples=20000, seed=1)
    assert point == pytest.approx(100 * (a.sum() - b.sum()) / w.sum())
    tol = 0.006  # Monte Carlo error of a 2.5% quantile from 20,000 resamples is about 0.001
    assert np.mean(exact < low) <= 0.025 + tol and np.mean(exact <= low) >= 0.025 - tol
    assert np.mean(exact > high) <= 0.025 + tol and np.mean(exact >= high) >= 0.025 - tol
    assert low < point < high


def test_identical_systems_and_one_system():
    errors, words = [2, 0, 1, 3], [6, 4, 5, 7]
    assert wer_difference_interval(errors, errors, words) == (0.0, 0.0, 0.0)
    point, low, high = wer_difference_interval(errors, [0] * 4, words, seed=3)
    assert point == pytest.approx(100 * 6 / 22) and low < point < high
    with pytest.raises(ValueError, match="differ in length"):
        wer_difference_interval([1, 2], [1], [3, 3])


def test_utterance_errors_add_up_to_the_corpus_wer():
    refs = [["a", "b", "c"], ["d"], ["e", "f"]]
    hyps = [["a", "x", "c", "y"], [], ["e", "f"]]
    per_utt = utterance_errors(refs, hyps)
    assert per_utt == [2, 1, 0]
    assert sum(per_utt) == word_error_rate(refs, hyps)["errors"]


def test_transcripts_difference_pairs_the_same_utterances(tmp_path):
    from todm.decode.confidence import transcripts_difference
    from todm.decode.wer import store_transcripts

    refs = {f"u{i}": ["a", "b", "c", "d"] for i in range(30)}
    a = [(c, r, r[:3]) for c, r in refs.items()]  # one deletion each: 25%
    b = [(c, r, r if i % 2 else r[:2]) for i, (c, r) in enumerate(refs.items())]  # 0 or 2 errors: 25%
    store_transcripts(tmp_path / "a.txt", a)
    store_transcripts(tmp_path / "b.txt", b)
    got = transcripts_difference(tmp_path / "a.txt", tmp_path / "b.txt")
    assert got["wer_a"] == pytest.approx(25.0) and got["wer_b"] == pytest.approx(25.0)
    assert got["difference"] == pytest.approx(0.0) and got["low"] < 0 < got["high"]
    store_transcripts(tmp_path / "c.txt", a[:-1])
    with pytest.raises(ValueError, match="different utterances"):
        transcripts_difference(tmp_path / "a.txt", tmp_path / "c.txt")
