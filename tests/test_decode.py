"""Tests of todm.decode: greedy / modified beam search against brute force, WER against hand-computed
examples, icefall's file formats, checkpoint averaging (icefall semantics) and decode.py end to end."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from todm.checkpoint import average_with_averaged_model, checkpoint_files
from todm.decode import (
    beam_search_hypotheses,
    best_hypothesis,
    greedy_search,
    modified_beam_search,
    read_errs_file,
    read_wer_summary,
    store_transcripts,
    wer_by_type,
    word_error_rate,
    write_error_stats,
    write_wer_summary,
)
from todm.decode.loading import resolve_subnet
from todm.errors import UserError
from todm.model import SupernetConfig, Transducer, largest, smallest


def tiny_config(vocab_size: int = 6, **overrides) -> SupernetConfig:
    base = {
        "d_model": 32,
        "num_layers": 3,
        "ffn_dims": 64,
        "ssm_heads": 4,
        "ssm_head_dim": 4,
        "ssm_state_dim": 8,
        "subsampling_channels": (4, 8, 8),
        "vocab_size": vocab_size,
        "decoder_dim": 16,
        "joiner_dim": 24,
        "ffn_dim_choices": [32],
        "ssm_head_choices": [2],
        "min_layers": 2,
    }
    base.update(overrides)
    return SupernetConfig(**base)


def tiny_model(vocab_size: int = 6, seed: int = 0, blank_bias: float = -1.0) -> Transducer:
    """Random weights; the blank logit is shifted so that the searches emit symbols (not all-blank)."""
    torch.manual_seed(seed)
    model = Transducer(tiny_config(vocab_size)).eval()
    with torch.no_grad():
        model.joiner.output_linear.weight.mul_(4.0)  # peakier distributions: beams differ from greedy
        model.joiner.output_linear.bias[0] += blank_bias
    return model


def encoder_out(model: Transducer, n: int = 3, frames: int = 40, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, frames, 80, generator=g)
    lens = torch.tensor([frames - 4 * i for i in range(n)])
    with torch.no_grad():
        return model.forward_encoder(x, lens)


# ---- search ------------------------------------------------------------------------------------------
def reference_greedy(model: Transducer, enc: torch.Tensor, length: int, max_sym: int) -> list[int]:
    """icefall's single-utterance greedy_search, written independently (full joiner, no projection cache)."""
    ctx = model.cfg.context_size
    hyp = [0] * ctx
    for t in range(length):
        for _ in range(max_sym):
            dec = model.decoder(torch.tensor([hyp[-ctx:]]), need_pad=False)
            y = int(model.joiner(enc[t : t + 1], dec[:, 0]).argmax())
            if y == 0:
                break
            hyp.append(y)
    return hyp[ctx:]


@pytest.mark.parametrize("max_sym", [1, 3])
def test_batched_greedy_equals_per_utterance_reference(max_sym):
    model = tiny_model()
    enc, lens = encoder_out(model)
    with torch.no_grad():
        got = greedy_search(model, enc, lens, max_sym_per_frame=max_sym)
        want = [reference_greedy(model, enc[i], int(lens[i]), max_sym) for i in range(enc.size(0))]
    assert got == want
    assert all(len(h) > 0 for h in got)  # the fixture really emits symbols
    if max_sym == 3:
        assert any(len(h) > int(n) for h, n in zip(got, lens))  # several symbols on some frame


def test_beam_one_equals_greedy_one_symbol_per_frame():
    model = tiny_model()
    enc, lens = encoder_out(model, n=4, frames=60)
    assert modified_beam_search(model, enc, lens, beam=1) == greedy_search(model, enc, lens, 1)


def test_unk_is_treated_as_blank():
    model = tiny_model()
    enc, lens = encoder_out(model)
    plain = greedy_search(model, enc, lens)
    unk = max(set(itertools.chain(*plain)), key=lambda t: sum(h.count(t) for h in plain))
    without = greedy_search(model, enc, lens, unk_id=unk)
    assert all(unk not in h for h in without)
    assert all(unk not in h for h in modified_beam_search(model, enc, lens, beam=3, unk_id=unk))


def exhaustive_sequence_scores(model: Transducer, enc: torch.Tensor, length: int) -> dict[tuple, float]:
    """log P(y) summed over all alignments with at most one symbol per frame, by enumerating every
    per-frame choice (V^T paths): the independent reference for modified beam search."""
    ctx, vocab = model.cfg.context_size, model.cfg.vocab_size
    scores: dict[tuple, float] = {}
    for path in itertools.product(range(vocab), repeat=length):
        ys, total = [0] * ctx, 0.0
        for t, y in enumerate(path):
            dec = model.decoder(torch.tensor([ys[-ctx:]]), need_pad=False)
            total += float(model.joiner(enc[t : t + 1], dec[:, 0]).log_softmax(-1)[0, y])
            if y != 0:
                ys.append(y)
        key = tuple(ys)
        scores[key] = (
            total
            if key not in scores
            else max(scores[key], total) + math.log1p(math.exp(-abs(scores[key] - total)))
        )
    return scores


def test_modified_beam_search_against_exhaustive_search():
    model = tiny_model(vocab_size=3, blank_bias=0.0)
    frames = 4
    enc, lens = encoder_out(model, n=1, frames=4 * frames + 3)  # T' = frames
    assert int(lens[0]) == frames
    with torch.no_grad():
        exact = exhaustive_sequence_scores(model, enc[0], frames)
        # a beam as large as every label sequence prunes nothing: scores are exact
        full = beam_search_hypotheses(model, enc, lens, beam=3**frames)[0]
        assert {h.key: h.log_prob for h in full}.keys() == exact.keys()
        for h in full:
            assert abs(h.log_prob - exact[h.key]) < 1e-4
        assert abs(math.log(sum(math.exp(v) for v in exact.values()))) < 1e-4  # probabilities sum to 1
        best_exact = max(exact.values())
        for beam in (1, 2, 4):
            hyps = beam_search_hypotheses(model, enc, lens, beam=beam)[0]
            assert len(hyps) <= beam
            for h in hyps:  # a beam sums a subset of the alignments: never above the exact score
                assert h.log_prob <= exact[h.key] + 1e-5 <= best_exact + 1e-5
        chosen = best_hypothesis(full)  # length-normalised choice among exact scores, as icefall
        assert chosen.key == max(exact, key=lambda k: exact[k] / len(k))


def test_search_rejects_bad_shapes():
    model = tiny_model()
    with pytest.raises(ValueError, match="encoder_out must be"):
        greedy_search(model, torch.zeros(2, 5), torch.tensor([5, 5]))
    enc, lens = encoder_out(model, n=1)
    with pytest.raises(ValueError, match="beam"):
        modified_beam_search(model, enc, lens, beam=0)


# ---- WER and icefall files ---------------------------------------------------------------------------
def test_word_error_rate_hand_computed():
    refs = [["the", "cat", "sat", "on", "the", "mat"], ["hello", "world"], ["a"]]
    hyps = [["the", "cat", "sit", "on", "mat"], ["hello", "big", "world"], []]
    # utt 1: sat->sit (sub), the deleted; utt 2: big inserted; utt 3: a deleted -> 4 errors / 9 words
    stats = word_error_rate(refs, hyps)
    assert stats == {"errors": 4, "words": 9, "ins": 1, "del": 2, "sub": 1, "wer": pytest.approx(400 / 9)}
    assert word_error_rate([["x"]], [["x"]])["wer"] == 0.0
    assert word_error_rate([["x"]], [["y", "z", "w"]]) == {
        "errors": 3,
        "words": 1,
        "ins": 2,
        "del": 0,
        "sub": 1,
        "wer": 300.0,
    }
    with pytest.raises(ValueError):
        word_error_rate([["x"]], [])


def test_icefall_file_formats(tmp_path):
    results = [
        ("u2", ["HELLO", "WORLD"], ["HELLO", "BIG", "WORLD"]),
        ("u1", ["THE", "CAT", "SAT"], ["THE", "BAT"]),
    ]
    store_transcripts(tmp_path / "recogs.txt", results)
    lines = (tmp_path / "recogs.txt").read_text().splitlines()
    assert lines[0] == "u1:\tref=['THE', 'CAT', 'SAT']" and lines[1] == "u1:\thyp=['THE', 'BAT']"
    stats = write_error_stats(tmp_path / "errs.txt", "test", results)
    text = (tmp_path / "errs.txt").read_text()
    assert text.startswith(
        "%WER = 60.00\nErrors: 1 insertions, 1 deletions, 1 substitutions, over 5 reference "
        "words (3 correct)\n"
    )
    assert read_errs_file(tmp_path / "errs.txt") == {
        "wer": 60.0,
        "ins": 1,
        "del": 1,
        "sub": 1,
        "words": 5,
        "corr": 3,
    }
    assert "u1:\tTHE (CAT SAT->BAT)" in text  # icefall merges successive errors
    assert "u2:\tHELLO (*->BIG) WORLD" in text
    for section in ("PER-UTT DETAILS:", "SUBSTITUTIONS:", "DELETIONS:", "INSERTIONS:", "PER-WORD STATS:"):
        assert section in text
    assert stats["wer"] == pytest.approx(60.0)
    write_wer_summary(tmp_path / "wer-summary.txt", [("greedy_search", stats["wer"])])
    assert (tmp_path / "wer-summary.txt").read_text() == "settings\tWER\ngreedy_search\t60.00\n"
    assert read_wer_summary(tmp_path / "wer-summary.txt") == {"greedy_search": 60.0}


def test_wer_by_type():
    results = [("a-1-0", ["X", "Y"], ["X", "Y"]), ("b-2-0", ["Z"], ["Q"]), ("c-3-0", ["W"], ["W"])]
    rows = dict(wer_by_type(results, {"a-1": "svo", "b-2": "command"}))
    assert rows["svo"]["wer"] == 0.0 and rows["command"]["wer"] == 100.0 and rows["unknown"]["words"] == 1
    assert rows["all"]["errors"] == 1 and rows["all"]["words"] == 4


# ---- checkpoint selection ----------------------------------------------------------------------------
def fake_state(value: float, avg_value: float, steps: int) -> dict:
    return {
        "model": {"w": torch.tensor([value])},
        "model_avg": {"w": torch.tensor([avg_value], dtype=torch.float64)},
        "progress": {"batch_idx_train": steps},
    }


def test_averaged_model_is_mean_of_the_steps_in_between():
    # model at steps 10, 20, .., 60 has weight = step; model_avg_b = mean of those up to b
    mean_to = lambda b: sum(range(10, b + 1, 10)) / (b // 10)
    end, start = fake_state(60, mean_to(60), 60), fake_state(20, mean_to(20), 20)
    out = average_with_averaged_model(end, start, average_period=10)
    assert out["w"].item() == pytest.approx((30 + 40 + 50 + 60) / 4)
    assert average_with_averaged_model(end, None, 10)["w"].item() == pytest.approx(mean_to(60))
    with pytest.raises(UserError, match="no averaged steps"):
        average_with_averaged_model(start, end, 10)


def test_checkpoint_files_follow_icefall(tmp_path):
    for name in (
        "epoch-1.pt",
        "epoch-2.pt",
        "epoch-3.pt",
        "checkpoint-100.pt",
        "checkpoint-200.pt",
        "checkpoint-300.pt",
    ):
        (tmp_path / name).write_bytes(b"")
    names = lambda ps: [p.name for p in ps]
    assert names(checkpoint_files(tmp_path, 3, 0, 2, False)) == ["epoch-3.pt", "epoch-2.pt"]
    assert names(checkpoint_files(tmp_path, 3, 0, 2, True)) == ["epoch-3.pt", "epoch-1.pt"]
    assert names(checkpoint_files(tmp_path, 0, 250, 1, True)) == ["checkpoint-200.pt", "checkpoint-100.pt"]
    assert names(checkpoint_files(tmp_path, 0, 300, 3, False)) == [
        "checkpoint-300.pt",
        "checkpoint-200.pt",
        "checkpoint-100.pt",
    ]
    with pytest.raises(UserError, match="checkpoint not found"):
        checkpoint_files(tmp_path, 5, 0, 1, False)
    with pytest.raises(UserError, match="need 4"):
        checkpoint_files(tmp_path, 0, 300, 3, True)


def test_resolve_subnet(tmp_path):
    cfg = tiny_config()
    assert resolve_subnet(None, cfg) == (largest(cfg), "largest")
    assert resolve_subnet("smallest", cfg) == (smallest(cfg), "smallest")
    assert resolve_subnet(None, cfg, smallest(cfg).to_dict()) == (smallest(cfg), "fixed")
    bad = tmp_path / "wide.json"
    bad.write_text(
        '{"layers": [{"index": 0, "ffn_dim": 999, "ssm_heads": 4}, '
        '{"index": 1, "ffn_dim": 64, "ssm_heads": 4}]}'
    )
    with pytest.raises(UserError, match="does not fit the checkpoint.*ffn_dim=999"):
        resolve_subnet(str(bad), cfg)
    with pytest.raises(UserError, match="not 'largest'"):
        resolve_subnet(str(tmp_path / "missing.json"), cfg)
