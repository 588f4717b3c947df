"""Streaming deployment of a causal model trained here (the tone task of test_export): the sherpa-onnx online
bundle, decoded by sherpa-onnx's OnlineRecognizer, by onnxruntime chunk by chunk and by PyTorch, gives the
tokens of the model's full-utterance decode, and the recipe's scripts stream it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.test_export import build_recipe, make_set, run_script, wer_of
from todm.data.bpe import load_bpe
from todm.data.features import knf_fbank
from todm.decode import greedy_search
from todm.export import load_standalone, quantize_int8, read_meta_data, sherpa_decode, sherpa_recognizer
from todm.export.runtime import (
    STREAM_TAIL_SECONDS,
    OnnxStreamingTransducer,
    is_streaming_bundle,
    model_files,
    open_onnx_transducer,
    stream_tail_seconds,
    tokens_to_text,
)
from todm.export.streaming_export import export_streaming_onnx
from todm.model.streaming import DEFAULT_CHUNK_FRAMES, LOOKAHEAD_FRAMES, stream_encode

pytest.importorskip("sherpa_onnx")


@pytest.fixture(scope="module")
def causal_recipe(tmp_path_factory):
    return build_recipe(tmp_path_factory.mktemp("causal"), causal=True, export_args=("--streaming", "true"))


@pytest.fixture(scope="module")
def bundle(causal_recipe):
    return causal_recipe / "exp" / "exported" / "largest"


@pytest.fixture(scope="module")
def heldout(causal_recipe):
    return make_set(load_bpe(causal_recipe / "data" / "lang_bpe" / "bpe.model"), 30, 99)


def sherpa_frames(wave: np.ndarray) -> torch.Tensor:
    """The feature frames whose encoder outputs sherpa-onnx's online recognizer decodes for `wave`: it gets
    the wave and STREAM_TAIL_SECONDS of silence, and decodes chunk k (frames [32k, 32k + 36)) only once a
    frame after it exists; these frames, cut to the chunks it decoded, give the same outputs at full length."""
    tail = np.zeros(int(STREAM_TAIL_SECONDS * 16000), np.float32)
    x = torch.from_numpy(knf_fbank(np.concatenate([wave, tail])))[None]
    window = DEFAULT_CHUNK_FRAMES + LOOKAHEAD_FRAMES
    chunks = sum(1 for k in range(x.size(1)) if k * DEFAULT_CHUNK_FRAMES + window < x.size(1))
    return x[:, : chunks * DEFAULT_CHUNK_FRAMES + LOOKAHEAD_FRAMES]


def test_streaming_bundle_follows_sherpa_onnx_online_contract(bundle):
    import onnxruntime as ort

    assert is_streaming_bundle(bundle)
    meta = read_meta_data(bundle / "encoder.onnx")
    assert meta["model_type"] == "lstm" and meta["streaming"] == "true"
    assert int(meta["T"]) == DEFAULT_CHUNK_FRAMES + LOOKAHEAD_FRAMES
    assert int(meta["decode_chunk_len"]) == DEFAULT_CHUNK_FRAMES
    session = ort.InferenceSession(str(bundle / "encoder.onnx"))
    layers, h_dim, c_dim = (int(meta[k]) for k in ("num_encoder_layers", "d_model", "rnn_hidden_size"))
    assert [(i.name, i.shape) for i in session.get_inputs()] == [
        ("x", ["N", int(meta["T"]), 80]),
        ("h", [layers, "N", h_dim]),
        ("c", [layers, "N", c_dim]),
    ]
    assert [o.name for o in session.get_outputs()] == ["encoder_out", "next_h", "next_c"]
    card = json.loads((bundle / "model_card.json").read_text())
    assert card["streaming"] == {"decode_chunk_len": 32, "chunk_ms": 320, "lookahead_ms": 40}
    clean = card["wer"]["test-clean"]
    assert clean["greedy_search"] < 50 and clean["sherpa_onnx_fp32_greedy_search"] < 50
    chunk_ms = card["rtf"]["test-clean"]["sherpa_onnx_int8_chunk_ms"]
    assert 0 < chunk_ms["median"] <= chunk_ms["p95"] <= chunk_ms["max"]


def test_streams_give_the_full_utterance_tokens(bundle, heldout):
    texts, waves = [t for t, _ in heldout], [w for _, w in heldout]
    model = load_standalone(bundle / "model.pt")
    ort_model = open_onnx_transducer(bundle)
    assert isinstance(ort_model, OnnxStreamingTransducer)
    full, streamed, ort = [], [], []
    for wave in waves:
        x = sherpa_frames(wave)
        lens = torch.tensor([x.size(1)])
        with torch.no_grad():
            enc, enc_lens = model.forward_encoder(x, lens)
            full += greedy_search(model, enc, enc_lens)
            enc_s, lens_s = stream_encode(model, x, lens)
            streamed += greedy_search(model, enc_s, lens_s)
        ort += greedy_search(ort_model, *ort_model.run_encoder(x, lens))
    sherpa = [ids for _, ids in sherpa_decode(sherpa_recognizer(bundle), waves, ort_model.pieces)]
    assert full == streamed == ort == sherpa
    assert wer_of(texts, [tokens_to_text(h, ort_model.pieces) for h in full]) < 25  # it recognizes


def test_int8_streaming_bundle_in_onnxruntime_and_sherpa_onnx(bundle, heldout):
    texts, waves = [t for t, _ in heldout], [w for _, w in heldout]
    int8 = OnnxStreamingTransducer(bundle, int8=True)
    ort = [
        greedy_search(int8, *int8.run_encoder(x, torch.tensor([x.size(1)])))[0]
        for x in map(sherpa_frames, waves)
    ]
    # one stream at a time: int8's dynamic quantization scales each activation tensor by its own range, so a
    # batch of streams decodes each a little differently than alone
    recognizer = sherpa_recognizer(bundle, int8=True)
    sherpa = [sherpa_decode(recognizer, [wave], int8.pieces)[0][1] for wave in waves]
    assert ort == sherpa
    fp32 = OnnxStreamingTransducer(bundle)
    wer32 = wer_of(texts, [tokens_to_text(h, fp32.pieces) for h in fp32.decode_samples(waves)])
    wer8 = wer_of(texts, [tokens_to_text(h, int8.pieces) for h in int8.decode_samples(waves)])
    assert abs(wer8 - wer32) <= 1.0


def test_random_causal_model_streams_every_chunk_size(tmp_path):
    """A model that emits on most frames (no training): many tokens to disagree on, chunk sizes 4, 16, 64."""
    from tests.test_model import tiny_config
    from todm.export import write_tokens_txt
    from todm.model import Transducer

    torch.manual_seed(0)
    model = Transducer(tiny_config(causal=True)).eval()
    with torch.no_grad():
        model.joiner.output_linear.weight.mul_(8)
    pieces = ["<blk>"] + [("\u2581" if i % 3 == 0 else "") + f"t{i}" for i in range(1, 20)]
    rng = np.random.RandomState(0)
    waves = [(0.1 * rng.randn(int(16000 * s))).astype(np.float32) for s in (0.4, 1.3)]
    for chunk in (4, 16, 64):
        out = tmp_path / f"chunk-{chunk}"
        quantize_int8(export_streaming_onnx(model, out, chunk))
        write_tokens_txt(out / "tokens.txt", pieces)
        ort_model = OnnxStreamingTransducer(out)
        x = torch.randn(3, 77, 80)
        lens = torch.tensor([77, 40, 9])
        with torch.no_grad():
            enc, enc_lens = stream_encode(model, x, lens, chunk)
            ref = greedy_search(model, enc, enc_lens)
        got = greedy_search(ort_model, *ort_model.run_encoder(x, lens))
        assert got == ref and sum(map(len, got)) > 10
        assert model_files(out, int8=True)["encoder"].is_file()
        tail = stream_tail_seconds(out)
        assert tail == max(STREAM_TAIL_SECONDS, (chunk + LOOKAHEAD_FRAMES + 1) / 100)
        assert sherpa_decode(sherpa_recognizer(out), waves, pieces, tail)[1][1]  # sherpa-onnx runs it too


def test_decode_script_streams_a_causal_checkpoint(causal_recipe):
    common = ["--exp-dir", "exp", "--epoch", "2", "--avg", "1", "--use-averaged-model", "false"]
    common += ["--bpe-model", "data/lang_bpe/bpe.model", "--manifest-dir", "data/fbank"]
    common += ["--test-sets", "test-clean"]
    for extra in ([], ["--decode-chunk-len", "32"]):
        out = run_script("decode.py", *common, *extra, cwd=causal_recipe)
        assert out.returncode == 0, out.stderr
    recogs = list((causal_recipe / "exp" / "greedy_search").glob("recogs-test-clean-*.txt"))
    streamed = [r for r in recogs if "-streaming-chunk-32-" in r.name]
    assert len(recogs) == 2 and len(streamed) == 1
    assert recogs[0].read_text() == recogs[1].read_text()
    bad = run_script("decode.py", *common, "--decode-chunk-len", "6", cwd=causal_recipe)
    assert bad.returncode != 0 and "--decode-chunk-len 6: expected a positive multiple of 4" in bad.stderr


def test_transcribe_scripts_stream_the_bundle(causal_recipe, bundle):
    wavs = sorted(str(p) for p in (causal_recipe / "corpus" / "test-clean").glob("*.wav"))
    a = run_script("sherpa_onnx_pretrained.py", "--model-dir", str(bundle), *wavs, cwd=causal_recipe)
    b = run_script("onnx_pretrained.py", "--model-dir", str(bundle), *wavs, cwd=causal_recipe)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout and len(a.stdout.splitlines()) == len(wavs) == 3
