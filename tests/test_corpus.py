"""The embedded corpus: LibriSpeech layout read by lhotse's recipe, speakers, determinism, resume, errors."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from todm.data.corpus import (
    HELD_OUT_PARTS,
    PARTS,
    PROFILES,
    parse_hours,
    plan_corpus,
    plan_fingerprint,
    prepare_embedded_corpus,
    resolve_hours,
)
from todm.data.speakers import Speaker, validate_voice
from todm.data.synthesis import Degradation, synthesize
from todm.errors import UserError

# A small held-out-only corpus for the tests that modify files (~15 utterances, well under a second).
SMALL = {part: 0.0 for part in PARTS} | {"test-clean": 0.01}


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_embedded_corpus(tmp_path_factory.mktemp("tiny"), profile="tiny", seed=7, num_jobs=2)


def _transcripts(part_dir: Path) -> dict[str, str]:
    lines = (line.split(maxsplit=1) for t in sorted(part_dir.rglob("*.trans.txt")) for line in t.open())
    return {utt: text.strip() for utt, text in lines}


def _hashes(corpus: Path) -> dict[str, str]:
    return {
        str(p.relative_to(corpus)): hashlib.sha256(p.read_bytes()).hexdigest() for p in corpus.rglob("*.flac")
    }


def test_lhotse_reads_every_part(tiny_corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from lhotse.recipes import prepare_librispeech

    with caplog.at_level(logging.WARNING):
        # test-heldout is not a LibriSpeech part name, so lhotse's "auto" would not look for it: name them all.
        manifests = prepare_librispeech(
            corpus_dir=tiny_corpus, dataset_parts=list(PARTS), output_dir=tmp_path, num_jobs=2
        )
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert sorted(manifests) == sorted(PARTS)
    for part in PARTS:
        written = _transcripts(tiny_corpus / part)
        recordings, supervisions = manifests[part]["recordings"], manifests[part]["supervisions"]
        assert len(recordings) == len(written) > 0
        for rec in recordings:
            assert rec.sampling_rate == 16000 and rec.num_channels == 1 and rec.duration > 0
        assert {s.id: s.text for s in supervisions} == written
        types = dict(line.split() for line in (tiny_corpus / part / "utt2type.txt").open())
        assert types.keys() == written.keys()
        assert (tiny_corpus / part / ".complete").is_file()
    assert (tiny_corpus / "SPEAKERS.TXT").is_file() and (tiny_corpus / "CHAPTERS.TXT").is_file()


def test_transcripts_are_librispeech_style(tiny_corpus: Path) -> None:
    for part in PARTS:
        for utt, text in _transcripts(tiny_corpus / part).items():
            assert re.fullmatch(r"[A-Z']+( [A-Z']+)*", text), (utt, text)
            assert 3 <= len(text.split()) <= 25
            speaker, chapter, number = utt.split("-")
            assert len(number) == 4
            assert (tiny_corpus / part / speaker / chapter / f"{utt}.flac").is_file()


def test_speakers_disjoint_and_test_combos_unseen() -> None:
    plan = plan_corpus(resolve_hours("default", None), seed=42)
    speakers = {part: {u.speaker for u in utts} for part, utts in plan.items()}
    ids = {part: {s.speaker_id for s in group} for part, group in speakers.items()}
    for i, a in enumerate(PARTS):
        for b in PARTS[i + 1 :]:
            assert not ids[a] & ids[b], (a, b)
    train_combos = {(s.voice, s.variant) for s in speakers["train-clean-100"]}
    for part in HELD_OUT_PARTS:
        assert not {(s.voice, s.variant) for s in speakers[part]} & train_combos, part
    assert len(ids["train-clean-100"]) >= 200  # speaker variety drives generalisation (DESIGN §6)


def test_same_seed_same_corpus_other_seed_other_text(tiny_corpus: Path, tmp_path: Path) -> None:
    again = prepare_embedded_corpus(tmp_path, profile="tiny", seed=7, num_jobs=1)
    assert _hashes(again) == _hashes(tiny_corpus)
    for part in PARTS:
        assert _transcripts(again / part) == _transcripts(tiny_corpus / part)
    texts = {
        seed: [u.text for u in plan_corpus(PROFILES["tiny"], seed)["train-clean-100"]] for seed in (7, 8)
    }
    assert texts[7] != texts[8]


def test_default_text_vocabulary_and_lengths() -> None:
    plan = plan_corpus(resolve_hours("default", None), seed=42)
    train = [u.text for u in plan["train-clean-100"]]
    words = [w for text in train for w in text.split()]
    assert len(set(words)) >= 2000
    assert all(3 <= len(u.text.split()) <= 25 for utts in plan.values() for u in utts)
    # No held-out sentence is also a training sentence.
    held_out = {u.text for part in HELD_OUT_PARTS for u in plan[part]}
    assert not held_out & set(train)
    assert {u.type for u in plan["train-clean-100"]} == {"command", "question", "date_time", "number", "svo"}


def test_unknown_voice_or_variant_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"unknown espeak variant 'xyz' \(see espeak-ng --voices=variant\)"):
        validate_voice("en", "xyz")
    with pytest.raises(ValueError, match=r"unknown espeak voice 'xx-yy'"):
        validate_voice("xx-yy", "f3")
    validate_voice("en-gb-x-rp", "f3")


def test_failed_command_is_named(tmp_path: Path) -> None:
    bad = Speaker(1, "xx-yy", "f3", 175, 50, "F")  # bypasses validation on purpose
    with pytest.raises(RuntimeError, match="espeak-ng -v xx-yy"):
        synthesize("hello there", bad, tmp_path / "a.flac")
    assert not list(tmp_path.iterdir())


def test_resume_regenerates_only_missing_files(tmp_path: Path) -> None:
    corpus = prepare_embedded_corpus(tmp_path, hours=SMALL, profile="tiny", seed=3, num_jobs=2)
    flacs = sorted(corpus.rglob("*.flac"))
    assert len(flacs) > 3
    victim = flacs[1]
    victim_hash = hashlib.sha256(victim.read_bytes()).hexdigest()
    victim.unlink()
    stale = victim.with_name(f".{victim.name}.999.tmp")  # what a killed run leaves
    stale.write_bytes(b"half")
    mtimes = {p: p.stat().st_mtime_ns for p in flacs if p != victim}
    prepare_embedded_corpus(tmp_path, hours=SMALL, profile="tiny", seed=3, num_jobs=2)
    assert hashlib.sha256(victim.read_bytes()).hexdigest() == victim_hash
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    assert not stale.exists()
    assert (corpus / "test-clean" / ".complete").is_file()


def test_refuses_other_settings_and_foreign_dirs(tmp_path: Path) -> None:
    prepare_embedded_corpus(tmp_path, hours=SMALL, profile="tiny", seed=3, num_jobs=2)
    with pytest.raises(UserError, match="other settings"):
        prepare_embedded_corpus(tmp_path, hours=SMALL, profile="tiny", seed=4, num_jobs=2)
    foreign = tmp_path / "real" / "LibriSpeech" / "test-clean" / "19"
    foreign.mkdir(parents=True)
    (foreign / "x.txt").write_text("a real corpus")
    with pytest.raises(UserError, match="not written by prepare_embedded_corpus"):
        prepare_embedded_corpus(tmp_path / "real", hours=SMALL, profile="tiny", num_jobs=1)


def test_bad_options_are_one_line_errors(tmp_path: Path) -> None:
    assert parse_hours("train-clean-100=3.0, dev-clean=0.2") == {"train-clean-100": 3.0, "dev-clean": 0.2}
    for spec in ("train-clean-100=abc", "train-clean-360=1", "dev-clean", "dev-clean=-1", ","):
        with pytest.raises(UserError, match="--hours"):
            parse_hours(spec)
    with pytest.raises(UserError, match="--profile"):
        resolve_hours("huge", None)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(UserError, match=f"--dl-dir {blocker}/sub"):
        prepare_embedded_corpus(blocker / "sub", hours=SMALL, profile="tiny")


def _noise_floor_db(x: np.ndarray, frame: int = 400) -> float:
    """Quietest-decile frame energy relative to the loudest decile: a crude SNR estimate."""
    energies = np.mean(x[: len(x) // frame * frame].reshape(-1, frame) ** 2, axis=1) + 1e-12
    return float(10 * np.log10(np.percentile(energies, 90) / np.percentile(energies, 10)))


def test_other_condition_is_degraded(tmp_path: Path) -> None:
    text = "remind me to call the old teacher at seven thirty tomorrow morning"
    clean = Speaker(1, "en-us", "m3", 165, 50, "M")
    fast = Speaker(2, "en-us", "m3", 220, 50, "M")
    synthesize(text, clean, tmp_path / "clean.flac")
    synthesize(text, fast, tmp_path / "other.flac", Degradation(40, 60, 12), noise_seed=1)
    a, sr_a = sf.read(tmp_path / "clean.flac")
    b, sr_b = sf.read(tmp_path / "other.flac")
    assert sr_a == sr_b == 16000 and a.ndim == b.ndim == 1
    assert len(b) < 0.85 * len(a)  # faster speech
    assert _noise_floor_db(b) < _noise_floor_db(a) - 15  # noise fills the pauses


def test_training_mixes_engines_and_heldout_is_an_engine_training_never_hears() -> None:
    hours = {
        "test-clean": 0.1,
        "test-other": 0.05,
        "dev-clean": 0.05,
        "train-clean-100": 0.5,
        "test-heldout": 0.1,
    }
    plan = plan_corpus(hours, seed=11)
    espeak_only = plan_corpus(hours, seed=11, festival_every=0)
    train = list(dict.fromkeys(u.speaker for u in plan["train-clean-100"]))
    assert [s.engine for s in train[4::5]] == ["festival"] * len(train[4::5])
    assert all(s.engine == "espeak-ng" for i, s in enumerate(train) if i % 5 != 4)
    assert {s.voice for s in train if s.engine == "festival"} == {"kal_diphone", "ked_diphone"}
    for part in ("test-clean", "test-other", "dev-clean"):  # held-out parts do not depend on it
        assert plan[part] == espeak_only[part]
    heldout = plan["test-heldout"]
    assert {u.speaker.engine for u in heldout} == {"flite"}
    assert sorted(u.text for u in heldout) == sorted(u.text for u in plan["test-clean"])
    assert all(u.degradation is None for u in heldout)
    engines_in_training = {u.speaker.engine for u in plan["train-clean-100"]}
    assert "flite" not in engines_in_training
    all_ids = [u.utt_id for utts in plan.values() for u in utts]
    assert len(all_ids) == len(set(all_ids))
    with pytest.raises(UserError, match="test-heldout re-speaks test-clean"):
        plan_corpus({"train-clean-100": 0.1, "test-heldout": 0.1}, seed=1)


def test_espeak_only_parts_keep_the_fingerprints_of_earlier_versions() -> None:
    # Known values: the tiny plan (seed 7) hashed by the version before festival and flite existed, so
    # corpora synthesized then are still recognised as complete.
    plan = plan_corpus(resolve_hours("tiny", None), seed=7, festival_every=0)
    assert {part: plan_fingerprint(utts)[:16] for part, utts in plan.items() if part != "test-heldout"} == {
        "test-clean": "98ac7c40432e157e",
        "test-other": "aa7c14a6ce36d94a",
        "dev-clean": "fadbddf4ad0cb38d",
        "dev-other": "9f2736e01743aa25",
        "train-clean-100": "5b5b04f1cfdf499f",
    }


def _f0(x: np.ndarray) -> float:
    """Median autocorrelation pitch (60-400 Hz) of the voiced 40 ms frames."""
    f0s = []
    for start in range(0, len(x) - 640, 640):
        frame = x[start : start + 640] - np.mean(x[start : start + 640])
        if np.mean(frame**2) < 0.1 * np.mean(x**2):
            continue
        ac = np.correlate(frame, frame, "full")[639:]
        lag = 40 + int(np.argmax(ac[40:267]))
        f0s.append(16000 / lag)
    return float(np.median(f0s))


@pytest.mark.parametrize("engine,voice", [("festival", "kal_diphone"), ("flite", "slt")])
def test_other_engines_speak_at_the_asked_rate_and_pitch(tmp_path: Path, engine: str, voice: str) -> None:
    text = "remind me to call the old teacher at seven thirty tomorrow morning"
    audio = {}
    for name, rate, pitch in (("base", 175, 50), ("fast", 230, 50), ("high", 175, 80)):
        speaker = Speaker(1, voice, "", rate, pitch, "F", engine)
        validate_voice(voice, "", engine)
        duration = synthesize(text, speaker, tmp_path / f"{name}.flac")
        audio[name], rate_hz = sf.read(tmp_path / f"{name}.flac")
        assert rate_hz == 16000 and duration == pytest.approx(len(audio[name]) / 16000)
    assert len(audio["fast"]) < 0.85 * len(audio["base"])
    # +30 pitch steps = +240 cents = x1.149 in F0.
    assert _f0(audio["high"]) / _f0(audio["base"]) == pytest.approx(2 ** (240 / 1200), rel=0.08)


def test_missing_voices_of_other_engines_are_one_line_errors() -> None:
    with pytest.raises(UserError, match="festival voice 'nope' is not installed"):
        validate_voice("nope", "", "festival")
    with pytest.raises(UserError, match="flite voice 'kal9' is not installed"):
        validate_voice("kal9", "", "flite")
