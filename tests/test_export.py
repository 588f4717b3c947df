"""Tests of todm.export and the deployment scripts on a tiny model trained here in ~15 s.

The fixture trains a tiny supernet on a toy task that it learns quickly: every BPE token is a tone of its
own frequency (silence in between), so the model reaches a low WER and int8-vs-fp32 comparisons mean
something (a random model's decisions sit on near-ties, and its outputs carry no accuracy to compare).
PyTorch, onnxruntime and sherpa-onnx greedy search must give the same tokens; int8 must stay within 1%
absolute WER of fp32.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from todm.checkpoint import save_checkpoint, update_averaged_model
from todm.data.bpe import load_bpe, train_bpe, vocabulary_fingerprint
from todm.data.features import knf_fbank
from todm.decode import greedy_search, modified_beam_search, read_errs_file, read_wer_summary, word_error_rate
from todm.errors import UserError
from todm.export import (
    OnnxTransducer,
    load_standalone,
    model_files,
    read_meta_data,
    read_tokens,
    read_wave,
    sherpa_decode,
    sherpa_recognizer,
    tokens_to_text,
)
from todm.model import SupernetConfig, Transducer, largest, smallest
from todm.rnnt import rnnt_loss

pytest.importorskip("sherpa_onnx")
REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "egs" / "librispeech" / "todm"
WORDS = ["AB", "BAD", "CAB", "DAD", "A", "CD", "BC"]  # the BPE is trained on these
SPOKEN = ["AB", "BC", "A", "DAD"]  # one BPE piece each: short utterances, quick to learn
TYPES = ["svo", "command"]
FLOAT_TOL = 1e-4  # max |difference| of encoder outputs / logits, PyTorch vs onnxruntime fp32


def sentence(rng: random.Random, words: list[str] = SPOKEN) -> str:
    return " ".join(rng.choice(words) for _ in range(rng.randint(2, 4)))


def tone_wave(token_ids: list[int], rng: np.random.RandomState) -> np.ndarray:
    """Token k -> 0.12-0.2 s of a sine at 300 * 1.45^(k-3) Hz, silence between tokens."""
    parts = [np.zeros(int(16000 * rng.uniform(0.05, 0.15)))]
    for k in token_ids:
        n = int(16000 * rng.uniform(0.12, 0.2))
        parts += [
            0.3 * np.sin(2 * np.pi * 300 * 1.45 ** (k - 3) * np.arange(n) / 16000),
            np.zeros(int(16000 * rng.uniform(0.05, 0.12))),
        ]
    wave = np.concatenate(parts)
    return (wave + 0.003 * rng.randn(wave.size)).astype(np.float32)


def make_set(sp, count: int, seed: int) -> list[tuple[str, np.ndarray]]:
    rng, nrng = random.Random(seed), np.random.RandomState(seed)
    texts = [sentence(rng) for _ in range(count)]
    return [(t, tone_wave(sp.encode(t), nrng)) for t in texts]


def train_tiny(sp, steps: int = 500, causal: bool = False) -> tuple[Transducer, Transducer, Transducer]:
    """Full RNN-T loss on the largest subnet, Adam; returns (model, model_avg, model at half way)."""
    torch.manual_seed(0)
    cfg = SupernetConfig(
        d_model=32,
        num_layers=3,
        ffn_dims=64,
        ssm_heads=4,
        ssm_head_dim=4,
        ssm_state_dim=8,
        subsampling_channels=(4, 8, 8),
        vocab_size=sp.get_piece_size(),
        decoder_dim=16,
        joiner_dim=24,
        ffn_dim_choices=[32],
        ssm_head_choices=[2],
        min_layers=2,
        dropout=0.0,
        causal=causal,
    )
    model = Transducer(cfg)
    model_avg = Transducer(cfg).to(torch.float64)
    model_avg.load_state_dict(model.state_dict())
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    batches = []
    for b in range(16):
        items = make_set(sp, 8, 1000 + b)
        feats = [torch.from_numpy(knf_fbank(w)) for _, w in items]
        ys = [sp.encode(t) for t, _ in items]
        y = torch.zeros(len(ys), max(map(len, ys)), dtype=torch.int64)
        for i, t in enumerate(ys):
            y[i, : len(t)] = torch.tensor(t)
        batches.append(
            (
                torch.nn.utils.rnn.pad_sequence(feats, batch_first=True, padding_value=-23.0),
                torch.tensor([f.size(0) for f in feats]),
                y,
                torch.tensor([len(t) for t in ys]),
            )
        )
    half = None
    for step in range(1, steps + 1):
        x, lens, y, ylens = batches[step % len(batches)]
        enc, enc_lens = model.forward_encoder(x, lens, largest(cfg))
        dec = model.decoder(torch.cat([torch.zeros(len(y), 1, dtype=torch.int64), y], 1))
        boundary = torch.stack([torch.zeros_like(ylens), torch.zeros_like(ylens), ylens, enc_lens], 1)
        loss = rnnt_loss(model.joiner(enc[:, :, None], dec[:, None]), y, 0, boundary)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 0:
            update_averaged_model(model_avg, model, 10, step)
        if step == steps // 2:
            half = Transducer(cfg)
            half.load_state_dict(model.state_dict())
    return model.eval(), model_avg, half


def build_recipe(root: Path, causal: bool = False, export_args: tuple[str, ...] = ()) -> Path:
    """A recipe dir: data/lang_bpe (12 tokens), data/other_bpe (10), corpus/test-clean wavs + utt2type,
    data/fbank cuts, exp/epoch-{1,2}.pt (a causal supernet if `causal`), and exp/exported/largest from
    export.py (with `export_args`)."""
    from lhotse import CutSet, LilcomChunkyWriter, Recording, RecordingSet, SupervisionSegment, SupervisionSet

    from todm.data.features import make_lhotse_extractor

    rng = random.Random(0)
    (root / "text.txt").write_text("\n".join(sentence(rng, WORDS) for _ in range(200)) + "\n")
    train_bpe(root / "text.txt", root / "data" / "lang_bpe", 12)
    train_bpe(root / "text.txt", root / "data" / "other_bpe", 10)
    sp = load_bpe(root / "data" / "lang_bpe" / "bpe.model")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # deterministic and friendly to a shared machine
    try:
        model, model_avg, half = train_tiny(sp, causal=causal)
    finally:
        torch.set_num_threads(threads)
    save_checkpoint(
        root / "exp" / "epoch-1.pt", half, model_avg, progress={"batch_idx_train": 250}, average_period=10
    )
    save_checkpoint(
        root / "exp" / "epoch-2.pt", model, model_avg, progress={"batch_idx_train": 500}, average_period=10
    )
    corpus = root / "corpus" / "test-clean"
    corpus.mkdir(parents=True)
    recordings, sups, types = [], [], []
    for i, (text, wave) in enumerate(make_set(sp, 3, 7)):
        utt = f"1-2-{i:04d}"
        sf.write(corpus / f"{utt}.wav", wave, 16000, subtype="PCM_16")
        recordings.append(Recording.from_file(corpus / f"{utt}.wav", recording_id=utt))
        sups.append(SupervisionSegment(utt, utt, 0.0, recordings[-1].duration, text=text))
        types.append(f"{utt} {TYPES[i % 2]}")
    (corpus / "utt2type.txt").write_text("\n".join(types) + "\n")
    (root / "data" / "fbank").mkdir(parents=True)
    cuts = CutSet.from_manifests(RecordingSet.from_recordings(recordings), SupervisionSet.from_segments(sups))
    cuts = cuts.compute_and_store_features(
        make_lhotse_extractor(), root / "data" / "fbank" / "feats", storage_type=LilcomChunkyWriter
    )
    cuts.to_file(root / "data" / "fbank" / "librispeech_cuts_test-clean.jsonl.gz")
    out = run_script(
        "export.py",
        "--exp-dir",
        "exp",
        "--epoch",
        "2",
        "--avg",
        "1",
        "--use-averaged-model",
        "false",
        "--tokens",
        "data/lang_bpe/tokens.txt",
        "--decode-sets",
        "test-clean",
        "--manifest-dir",
        "data/fbank",
        *export_args,
        cwd=root,
    )
    assert out.returncode == 0, out.stderr
    return root


@pytest.fixture(scope="module")
def tiny_recipe(tmp_path_factory) -> Path:
    return build_recipe(tmp_path_factory.mktemp("recipe"))


def run_script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(RECIPE / name), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def exported(tiny_recipe) -> Path:
    return tiny_recipe / "exp" / "exported" / "largest"


@pytest.fixture(scope="module")
def heldout(tiny_recipe) -> list[tuple[str, np.ndarray]]:
    return make_set(load_bpe(tiny_recipe / "data" / "lang_bpe" / "bpe.model"), 40, 99)


def torch_greedy(model: Transducer, waves: list[np.ndarray], unk_id: int) -> list[list[int]]:
    out = []
    for w in waves:  # one at a time, as sherpa-onnx is fed below (no padding effects)
        x = torch.from_numpy(knf_fbank(w))[None]
        with torch.no_grad():
            enc, lens = model.forward_encoder(x, torch.tensor([x.size(1)]))
        out += greedy_search(model, enc, lens, 1, unk_id)
    return out


def wer_of(texts: list[str], hyps: list[str]) -> float:
    return word_error_rate([t.split() for t in texts], [h.split() for h in hyps])["wer"]


def test_export_directory(exported):
    for name in (
        "model.pt",
        "encoder.onnx",
        "decoder.onnx",
        "joiner.onnx",
        "tokens.txt",
        "encoder.int8.onnx",
        "decoder.int8.onnx",
        "joiner.int8.onnx",
        "subnet.json",
        "model_card.json",
    ):
        assert (exported / name).is_file(), name
    assert read_meta_data(exported / "decoder.onnx") == {"vocab_size": "12", "context_size": "2"}
    assert read_meta_data(exported / "decoder.int8.onnx")["vocab_size"] == "12"
    assert read_meta_data(exported / "encoder.onnx")["model_type"] == "todm_mhssm_transducer"
    card = json.loads((exported / "model_card.json").read_text())
    model = load_standalone(exported / "model.pt")
    assert card["params"] == sum(
        p.numel() for n, p in model.named_parameters() if not n.startswith("simple_")
    )
    assert card["encoder_macs_per_second"] > 0 and card["file_bytes"]["encoder.int8.onnx"] > 0
    assert (
        card["wer"]["test-clean"]["greedy_search"] < 50
        and card["rtf"]["test-clean"]["pytorch_greedy_search"] > 0
    )
    assert card["streaming"] is False and set(card["peak_memory_mb"]) == {
        "sherpa_onnx_fp32",
        "sherpa_onnx_int8",
    }


def test_model_card_gives_sherpa_onnx_wer_of_the_fp32_and_int8_files(tiny_recipe, exported):
    """The card's sherpa-onnx WERs are those of decoding the set's audio with each file set in this process."""
    from lhotse import load_manifest

    from todm.export.bundle_eval import cut_waves

    card = json.loads((exported / "model_card.json").read_text())
    cuts = load_manifest(tiny_recipe / "data" / "fbank" / "librispeech_cuts_test-clean.jsonl.gz")
    cwd = os.getcwd()
    os.chdir(tiny_recipe)  # the manifest's audio paths are relative to the recipe directory
    try:
        waves, refs = cut_waves(cuts)
    finally:
        os.chdir(cwd)
    for int8, key in ((False, "sherpa_onnx_fp32"), (True, "sherpa_onnx_int8")):
        texts = [text for text, _ in sherpa_decode(sherpa_recognizer(exported, int8), waves)]
        expected = word_error_rate(refs, [t.split() for t in texts])["wer"]
        assert card["wer"]["test-clean"][f"{key}_greedy_search"] == pytest.approx(expected, abs=0.006)
        assert card["rtf"]["test-clean"][key] > 0 and card["peak_memory_mb"][key] > 0


def test_standalone_equals_supernet_subnet(tiny_recipe, exported):
    state = torch.load(tiny_recipe / "exp" / "epoch-2.pt", weights_only=False)
    supernet = Transducer(SupernetConfig.from_dict(state["supernet_config"]))
    supernet.load_state_dict(state["model"])
    supernet.eval()
    model = load_standalone(exported / "model.pt")
    x, lens = torch.randn(2, 90, 80), torch.tensor([90, 71])
    with torch.no_grad():
        a, a_lens = supernet.forward_encoder(x, lens, largest(supernet.cfg))
        b, b_lens = model.forward_encoder(x, lens)
    assert torch.equal(a_lens, b_lens) and (a - b).abs().max() < 1e-6


def test_pytorch_onnxruntime_sherpa_give_the_same_tokens(exported, heldout):
    texts, waves = [t for t, _ in heldout], [w for _, w in heldout]
    model = load_standalone(exported / "model.pt")
    ort_model = OnnxTransducer(exported)
    x = torch.from_numpy(knf_fbank(waves[0]))[None]
    with torch.no_grad():
        enc, _ = model.forward_encoder(x, torch.tensor([x.size(1)]))
        enc = model.joiner.encoder_proj(enc)
    ort_enc, _ = ort_model.run_encoder(x, torch.tensor([x.size(1)]))
    assert (enc - ort_enc).abs().max() < FLOAT_TOL
    pt = torch_greedy(model, waves, ort_model.unk_id)
    ort = [ort_model.decode_samples([w])[0] for w in waves]
    sherpa = [ids for _, ids in sherpa_decode(sherpa_recognizer(exported), waves, ort_model.pieces)]
    assert pt == ort == sherpa
    hyps = [tokens_to_text(h, ort_model.pieces) for h in pt]
    assert wer_of(texts, hyps) < 25  # the tiny model really recognizes the toy task
    batched = ort_model.decode_samples(waves[:5])  # padded batch: same tokens
    assert batched == ort[:5]


def test_int8_wer_within_one_percent_of_fp32(exported, heldout):
    texts, waves = [t for t, _ in heldout], [w for _, w in heldout]
    fp32 = OnnxTransducer(exported)
    int8 = OnnxTransducer(exported, int8=True)
    wer32 = wer_of(texts, [tokens_to_text(h, fp32.pieces) for h in fp32.decode_samples(waves)])
    wer8 = wer_of(texts, [tokens_to_text(h, int8.pieces) for h in int8.decode_samples(waves)])
    sherpa8 = wer_of(texts, [t for t, _ in sherpa_decode(sherpa_recognizer(exported, int8=True), waves)])
    print(
        f"\nheld-out WER ({sum(len(t.split()) for t in texts)} words): fp32 {wer32:.2f}%, "
        f"int8 {wer8:.2f}%, sherpa-onnx int8 {sherpa8:.2f}%"
    )
    assert abs(wer8 - wer32) <= 1.0 and abs(sherpa8 - wer32) <= 1.0


def test_beam_sizes(exported, heldout):
    texts, waves = [t for t, _ in heldout], [w for _, w in heldout]
    model = OnnxTransducer(exported)
    greedy = model.decode_samples(waves)
    wers, beam4 = {}, None
    for beam in (1, 4, 8):
        hyps = model.decode_samples(waves, "modified_beam_search", beam)
        if beam == 1:
            assert hyps == greedy
        beam4 = hyps if beam == 4 else beam4
        wers[beam] = wer_of(texts, [tokens_to_text(h, model.pieces) for h in hyps])
    sherpa = sherpa_decode(
        sherpa_recognizer(exported, method="modified_beam_search", beam_size=4), waves, model.pieces
    )
    assert [ids for _, ids in sherpa] == beam4  # sherpa-onnx's own modified beam search agrees with ours
    print(
        "\nheld-out WER by beam: "
        + ", ".join(f"beam {b}: {w:.2f}%" for b, w in wers.items())
        + f"; sherpa-onnx beam 4: {wer_of(texts, [t for t, _ in sherpa]):.2f}%"
    )
    assert wers[4] <= wers[1] + 5.0


def test_decode_script_end_to_end(tiny_recipe):
    common = [
        "--exp-dir",
        "exp",
        "--bpe-model",
        "data/lang_bpe/bpe.model",
        "--manifest-dir",
        "data/fbank",
        "--test-sets",
        "test-clean",
        "--corpus-dir",
        "corpus",
        "--num-threads",
        "1",
    ]
    out = run_script(
        "decode.py",
        *common,
        "--epoch",
        "2",
        "--avg",
        "1",
        "--use-averaged-model",
        "true",
        "--subnet",
        "smallest",
        "--decoding-method",
        "modified_beam_search",
        "--beam-size",
        "2",
        cwd=tiny_recipe,
    )
    assert out.returncode == 0, out.stderr
    suffix = "epoch-2-avg-1-beam-2-use-averaged-model-subnet-smallest"
    res = tiny_recipe / "exp" / "modified_beam_search"
    errs = read_errs_file(res / f"errs-test-clean-beam_size_2-{suffix}.txt")
    assert errs["words"] > 0
    assert (
        read_wer_summary(res / f"wer-summary-test-clean-beam_size_2-{suffix}.txt")["beam_size_2"]
        == errs["wer"]
    )
    assert (res / f"recogs-test-clean-beam_size_2-{suffix}.txt").read_text().count("ref=") == 3
    assert "| svo |" in (res / f"wer-by-type-test-clean-beam_size_2-{suffix}.txt").read_text()
    assert "RTF" in out.stderr
    out = run_script("decode.py", *common, "--model-path", "exp/exported/largest/model.pt", cwd=tiny_recipe)
    assert out.returncode == 0, out.stderr
    bad = run_script(
        "decode.py", *common, "--epoch", "2", "--bpe-model", "data/other_bpe/bpe.model", cwd=tiny_recipe
    )
    assert bad.returncode == 1 and "tokens but the model's vocab_size" in bad.stderr
    missing = run_script("decode.py", *common, "--epoch", "7", cwd=tiny_recipe)
    assert missing.returncode == 1 and "epoch-7.pt" in missing.stderr and "Traceback" not in missing.stderr


def test_pretrained_scripts_and_bad_audio(tiny_recipe, exported):
    wavs = sorted((tiny_recipe / "corpus" / "test-clean").glob("*.wav"))
    wave, _ = sf.read(wavs[0], dtype="float32")
    sf.write(tiny_recipe / "stereo.wav", np.stack([wave, wave], 1), 16000)
    sf.write(tiny_recipe / "rate8k.wav", wave[::2], 8000)
    sf.write(tiny_recipe / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    assert np.allclose(read_wave(tiny_recipe / "stereo.wav"), read_wave(wavs[0]), atol=1e-4)  # downmix
    assert abs(read_wave(tiny_recipe / "rate8k.wav").size - wave.size) <= 2  # resampled to 16 kHz
    with pytest.raises(UserError, match="empty"):
        read_wave(tiny_recipe / "empty.wav")
    files = [str(wavs[0]), str(wavs[1]), "stereo.wav"]
    a = run_script("sherpa_onnx_pretrained.py", "--model-dir", str(exported), *files, cwd=tiny_recipe)
    b = run_script("onnx_pretrained.py", "--model-dir", str(exported), *files, cwd=tiny_recipe)
    c = run_script("pretrained.py", "--checkpoint", str(exported / "model.pt"), *files, cwd=tiny_recipe)
    assert a.returncode == 0 and b.returncode == 0 and c.returncode == 0, a.stderr + b.stderr + c.stderr
    assert a.stdout == b.stdout and len(a.stdout.splitlines()) == 3 and "channels" in a.stderr
    assert c.stdout == a.stdout  # the PyTorch model with the training front end: the same words
    for script, model in (("sherpa_onnx_pretrained.py", "--model-dir"), ("pretrained.py", "--checkpoint")):
        path = exported if script != "pretrained.py" else exported / "model.pt"
        empty = run_script(script, model, str(path), "empty.wav", cwd=tiny_recipe)
        assert empty.returncode == 1 and "empty" in empty.stderr and "Traceback" not in empty.stderr


def test_export_errors(tiny_recipe, exported, tmp_path):
    with pytest.raises(UserError, match="missing"):
        model_files(tmp_path)
    for name in ("encoder.onnx", "decoder.onnx", "joiner.onnx"):
        (tmp_path / name).write_bytes((exported / name).read_bytes())
    with pytest.raises(UserError, match="tokens.txt: missing"):
        OnnxTransducer(tmp_path)
    (tmp_path / "wide.json").write_text(
        '{"layers": [{"index": 0, "ffn_dim": 999, "ssm_heads": 4}, '
        '{"index": 1, "ffn_dim": 64, "ssm_heads": 4}]}'
    )
    common = ["--exp-dir", "exp", "--epoch", "2", "--use-averaged-model", "false", "--onnx", "false"]
    bad = run_script(
        "export.py",
        *common,
        "--tokens",
        "data/lang_bpe/tokens.txt",
        "--subnet",
        str(tmp_path / "wide.json"),
        "--out-dir",
        str(tmp_path / "x"),
        cwd=tiny_recipe,
    )
    assert bad.returncode == 1 and "ffn_dim=999" in bad.stderr
    bad = run_script(
        "export.py",
        *common,
        "--tokens",
        "data/other_bpe/tokens.txt",
        "--out-dir",
        str(tmp_path / "y"),
        cwd=tiny_recipe,
    )
    assert bad.returncode == 1 and "10 tokens but the checkpoint's vocab_size is 12" in bad.stderr
    small = run_script(
        "export.py",
        *common,
        "--tokens",
        "data/lang_bpe/tokens.txt",
        "--subnet",
        "smallest",
        "--out-dir",
        str(tmp_path / "small"),
        cwd=tiny_recipe,
    )
    assert small.returncode == 0, small.stderr
    model = load_standalone(tmp_path / "small" / "model.pt")
    assert model.cfg.num_layers == len(smallest(model.cfg).layers) == 2
    with pytest.raises(UserError, match="not a todm standalone model"):
        load_standalone(tiny_recipe / "exp" / "epoch-2.pt")
    x = torch.from_numpy(knf_fbank(read_wave(min((tiny_recipe / "corpus").rglob("*.wav")))))[None]
    with torch.no_grad():
        enc, lens = model.forward_encoder(x, torch.tensor([x.size(1)]))
    assert modified_beam_search(model, enc, lens, beam=1) == greedy_search(model, enc, lens)


def test_sherpa_refuses_a_tokens_txt_of_another_vocabulary(exported, tmp_path):
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(exported, bundle)
    card = json.loads((bundle / "model_card.json").read_text())
    pieces = read_tokens(bundle / "tokens.txt")
    assert card["decoding"]["vocabulary"] == vocabulary_fingerprint(pieces)
    sherpa_recognizer(bundle)  # its own tokens: fine
    swapped = [pieces[0], *pieces[1:][::-1]]  # same size, other pieces (blank stays 0)
    (bundle / "tokens.txt").write_text("".join(f"{p} {i}\n" for i, p in enumerate(swapped)))
    with pytest.raises(UserError, match="tokens.txt: not the vocabulary the model was exported with"):
        sherpa_recognizer(bundle)
    (bundle / "tokens.txt").write_text("".join(f"{p} {i}\n" for i, p in enumerate(pieces[:-1])))
    with pytest.raises(
        UserError, match=f"tokens.txt: {len(pieces) - 1} tokens, but the model was exported with"
    ):
        sherpa_recognizer(bundle)
