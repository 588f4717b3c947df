"""Manifests, fbank and BPE stages on a small hand-made LibriSpeech-layout corpus, plus their bad inputs."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from todm.data.bpe import load_bpe, train_bpe, write_transcript
from todm.data.fbank import compute_fbank, cuts_path
from todm.data.librispeech_check import check_part, find_librispeech_dir
from todm.data.manifests import import_kaldi_data_dir, manifest_paths, prepare_librispeech_manifests
from todm.errors import UserError

WORDS = [
    "ALPHA",
    "BRAVO",
    "CHARLIE",
    "DELTA",
    "ECHO",
    "FOXTROT",
    "GOLF",
    "HOTEL",
    "INDIA",
    "JULIET",
    "KILO",
    "LIMA",
    "MIKE",
]


def write_part(root: Path, part: str, speakers: int = 2, utts: int = 3, seed: int = 0) -> None:
    """A LibriSpeech-layout part of tone bursts with made-up transcripts."""
    rng = np.random.default_rng(seed)
    for spk in range(speakers):
        chapter_dir = root / part / str(100 + spk) / "7"
        chapter_dir.mkdir(parents=True)
        lines = []
        for utt in range(utts):
            utt_id = f"{100 + spk}-7-{utt:04d}"
            audio = 0.1 * np.sin(2 * np.pi * rng.uniform(100, 900) * np.arange(8000) / 16000)
            sf.write(chapter_dir / f"{utt_id}.flac", audio.astype(np.float32), 16000)
            lines.append(f"{utt_id} {' '.join(rng.choice(WORDS, size=4))}")
        (chapter_dir / f"{100 + spk}-7.trans.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "LibriSpeech"
    write_part(root, "train-clean-100", seed=1)
    write_part(root, "dev-clean", speakers=1, seed=2)
    return root


def test_manifests_fbank_bpe_end_to_end(corpus, tmp_path):
    from lhotse import CutSet

    manifests, fbank = tmp_path / "data/manifests", tmp_path / "data/fbank"
    parts = ["train-clean-100", "dev-clean"]
    prepare_librispeech_manifests(corpus, manifests, parts)
    compute_fbank(manifests, fbank, parts, perturb_speed=True)
    train = CutSet.from_file(cuts_path(fbank, "train-clean-100"))
    dev = CutSet.from_file(cuts_path(fbank, "dev-clean"))
    assert len(train) == 3 * 6 and len(dev) == 3  # speed perturbation only on train
    feats = dev[0].load_features()
    assert feats.shape == (50, 80) and np.isfinite(feats).all()

    lang = tmp_path / "data/lang_bpe_28"
    write_transcript([manifest_paths(manifests, "train-clean-100")[1]], lang / "transcript_words.txt")
    train_bpe(lang / "transcript_words.txt", lang, vocab_size=28)
    sp = load_bpe(lang / "bpe.model")
    tokens = (lang / "tokens.txt").read_text().split("\n")
    assert tokens[:3] == ["<blk> 0", "<sos/eos> 1", "<unk> 2"] and len(tokens) == 28 + 1
    text = "CHARLIE DELTA ECHO MIKE"
    assert sp.decode(sp.encode(text)) == text


def test_stage_skips_finished_parts(corpus, tmp_path):
    manifests = tmp_path / "m"
    prepare_librispeech_manifests(corpus, manifests, ["dev-clean"])
    rec, sup = manifest_paths(manifests, "dev-clean")
    before = (rec.stat().st_mtime_ns, sup.stat().st_mtime_ns)
    prepare_librispeech_manifests(corpus, manifests, ["dev-clean"])
    assert (rec.stat().st_mtime_ns, sup.stat().st_mtime_ns) == before


def test_missing_librispeech_dir_explains_embedded_corpus(tmp_path):
    with pytest.raises(UserError, match="no LibriSpeech/ inside.*without --dl-dir"):
        find_librispeech_dir(tmp_path)


def test_transcript_without_audio(corpus):
    next((corpus / "dev-clean").rglob("*.flac")).unlink()
    with pytest.raises(UserError, match=r"utterance '100-7-0000' has no audio file"):
        check_part(corpus / "dev-clean")


def test_audio_without_transcript(corpus):
    trans = next((corpus / "dev-clean").rglob("*.trans.txt"))
    trans.write_text("\n".join(trans.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(UserError, match=r"100-7-0002.flac: audio file has no line"):
        check_part(corpus / "dev-clean")


def test_empty_transcript(corpus):
    trans = next((corpus / "dev-clean").rglob("*.trans.txt"))
    lines = trans.read_text().splitlines()
    lines[1] = "100-7-0001 "
    trans.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"trans.txt:2: empty transcript for utterance '100-7-0001'"):
        check_part(corpus / "dev-clean")


def test_corrupt_and_empty_audio(corpus):
    flac = corpus / "dev-clean/100/7/100-7-0001.flac"
    flac.write_bytes(b"not a flac file at all")
    with pytest.raises(UserError, match=r"100-7-0001.flac: corrupt or unreadable audio"):
        check_part(corpus / "dev-clean")
    flac.write_bytes(b"")
    with pytest.raises(UserError, match=r"100-7-0001.flac: empty audio file"):
        check_part(corpus / "dev-clean")


def test_vocab_size_larger_than_text_allows(tmp_path):
    transcript = tmp_path / "t.txt"
    transcript.write_text("ALPHA BRAVO\nCHARLIE DELTA\n")
    with pytest.raises(UserError, match=r"--vocab-size 5000 does not fit the text"):
        train_bpe(transcript, tmp_path / "lang", vocab_size=5000)


def test_kaldi_data_dir_import(corpus, tmp_path):
    from lhotse import SupervisionSet

    kaldi = tmp_path / "kaldi"
    kaldi.mkdir()
    flacs = sorted((corpus / "dev-clean").rglob("*.flac"))
    ids = [f.stem for f in flacs]
    (kaldi / "wav.scp").write_text("".join(f"{i} {f}\n" for i, f in zip(ids, flacs)))
    (kaldi / "text").write_text("".join(f"{i} HELLO WORLD {n}\n" for n, i in enumerate(ids)))
    (kaldi / "utt2spk").write_text("".join(f"{i} {i.split('-')[0]}\n" for i in ids))
    import_kaldi_data_dir(kaldi, tmp_path / "m", "dev-clean")
    sups = SupervisionSet.from_file(manifest_paths(tmp_path / "m", "dev-clean")[1])
    assert sorted(s.text for s in sups) == [f"HELLO WORLD {n}" for n in range(3)]

    (kaldi / "utt2spk").unlink()
    with pytest.raises(UserError, match="missing utt2spk"):
        import_kaldi_data_dir(kaldi, tmp_path / "m2", "dev-clean")


def test_kaldi_import_rules_rate_channels_case_and_consistency(tmp_path):
    """8 kHz audio is resampled (its header, not the assumed rate, decides), stereo is refused with the file
    named, lower-case text is upper-cased, and text/utt2spk/wav.scp/segments must name the same utterances."""
    from lhotse import RecordingSet, SupervisionSet

    kaldi = tmp_path / "kaldi"
    kaldi.mkdir()
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 8000)  # 2 s at 8 kHz
    sf.write(kaldi / "a.flac", tone, 8000)
    sf.write(kaldi / "b.flac", tone[:8000], 16000)
    (kaldi / "wav.scp").write_text(f"a {kaldi / 'a.flac'}\nb {kaldi / 'b.flac'}\n")
    (kaldi / "text").write_text("a hello world\nb GOOD DAY\n")
    (kaldi / "utt2spk").write_text("a s1\nb s2\n")
    import_kaldi_data_dir(kaldi, tmp_path / "m", "dev")
    rec_path, sup_path = manifest_paths(tmp_path / "m", "dev")
    recordings = {r.id: r for r in RecordingSet.from_file(rec_path)}
    assert recordings["a"].sampling_rate == 16000 and recordings["a"].duration == 2.0
    audio = recordings["a"].load_audio()[0]
    assert audio.shape == (32000,)
    freqs = np.fft.rfftfreq(len(audio), 1 / 16000)
    assert freqs[np.argmax(np.abs(np.fft.rfft(audio)))] == pytest.approx(440, abs=1)
    assert sorted(s.text for s in SupervisionSet.from_file(sup_path)) == ["GOOD DAY", "HELLO WORLD"]

    (kaldi / "text").write_text("a HELLO\nb GOOD DAY\nc MISSING AUDIO\n")
    with pytest.raises(UserError, match=r"1 utterance\(s\) of text are not in wav.scp, e.g. \['c'\]"):
        import_kaldi_data_dir(kaldi, tmp_path / "m2", "dev")
    (kaldi / "text").write_text("a HELLO\n")
    with pytest.raises(UserError, match=r"of wav.scp are not in text, e.g. \['b'\]"):
        import_kaldi_data_dir(kaldi, tmp_path / "m3", "dev")
    (kaldi / "text").write_text("a HELLO\nb GOOD DAY\n")
    (kaldi / "segments").write_text("a a 0 1\nb zz 0 1\n")
    with pytest.raises(UserError, match="segments:2: expected '<utt> <recording in wav.scp>"):
        import_kaldi_data_dir(kaldi, tmp_path / "m4", "dev")
    (kaldi / "segments").unlink()
    sf.write(kaldi / "b.flac", np.stack([tone[:8000]] * 2, axis=1), 16000)
    with pytest.raises(UserError, match=f"{kaldi / 'b.flac'}: 2 audio channels; expected mono"):
        import_kaldi_data_dir(kaldi, tmp_path / "m5", "dev")


def test_librispeech_layout_rules_rate_and_case(corpus, tmp_path):
    import shutil

    from lhotse import RecordingSet, SupervisionSet

    part = tmp_path / "copy" / "LibriSpeech" / "dev-clean"
    shutil.copytree(corpus / "dev-clean", part)
    flac = min(part.rglob("*.flac"))
    audio, _ = sf.read(flac)
    sf.write(flac, audio[::2], 8000)  # an 8 kHz file among 16 kHz ones
    trans = next(flac.parent.glob("*.trans.txt"))
    trans.write_text(trans.read_text().lower())
    prepare_librispeech_manifests(part.parent, tmp_path / "m", ["dev-clean"])
    rec_path, sup_path = manifest_paths(tmp_path / "m", "dev-clean")
    recordings = {r.id: r for r in RecordingSet.from_file(rec_path)}
    assert {r.sampling_rate for r in recordings.values()} == {16000}
    resampled = recordings[flac.stem]
    assert abs(resampled.load_audio().shape[1] - 2 * (len(audio) // 2)) <= 2
    texts = [s.text for s in SupervisionSet.from_file(sup_path)]
    assert texts and all(t == t.upper() for t in texts)
