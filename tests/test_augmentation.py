"""Augmentation data and its use: noise clips, simulated impulse responses, reverberant copies, CutMix."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import load_recipe_script

from todm.data.noise import coloured_noise, make_clip, make_noise_corpus
from todm.data.rir import make_rirs, rir_recordings, simulate_rir
from todm.errors import UserError

SR = 16000


def _spectral_slope(x: np.ndarray) -> float:
    """Least-squares slope of log power against log frequency, 100 Hz - 4 kHz, Welch-averaged."""
    frames = x[: len(x) // 1024 * 1024].reshape(-1, 1024) * np.hanning(1024)
    power = np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0)
    freqs = np.fft.rfftfreq(1024, 1 / SR)
    band = (freqs >= 100) & (freqs <= 4000)
    return float(np.polyfit(np.log(freqs[band]), np.log(power[band]), 1)[0])


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_coloured_noise_has_the_asked_spectral_slope(beta: float) -> None:
    x = coloured_noise(SR * 20, beta, np.random.default_rng(0))
    assert abs(np.mean(x**2) - 1) < 1e-6
    assert _spectral_slope(x) == pytest.approx(-beta, abs=0.1)


def test_hum_is_mains_and_its_harmonics() -> None:
    x = make_clip("hum", SR * 4, np.random.default_rng(1), [])
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    peak = freqs[np.argmax(spectrum)]
    mains = 50.0 if np.isclose(peak % 50, 0, atol=0.5) else 60.0
    assert np.isclose(peak % mains, 0, atol=0.5) and peak < 8 * mains
    ratio = (freqs / mains) % 1
    harmonic_bins = (np.minimum(ratio, 1 - ratio) < 0.01) & (freqs > 0) & (freqs < 8 * mains)
    assert spectrum[harmonic_bins].sum() > 0.9 * spectrum.sum()


def test_noise_corpus_is_deterministic_resumable_and_babble_is_speech(tmp_path: Path) -> None:
    speech = tmp_path / "speech"
    speech.mkdir()
    t = np.arange(SR * 2) / SR
    for i in range(4):  # "talkers": tones of their own pitch
        sf.write(speech / f"s{i}.flac", 0.3 * np.sin(2 * np.pi * (150 + 50 * i) * t), SR)
    first = make_noise_corpus(tmp_path / "a", speech, clips_per_kind=2, seed=5)
    files = sorted(p.relative_to(first) for p in first.rglob("*.flac"))
    assert len(files) == 10 and {p.parts[0] for p in files} == {
        "babble",
        "coloured",
        "hum",
        "clicks",
        "tones",
    }
    second = make_noise_corpus(tmp_path / "b", speech, clips_per_kind=2, seed=5)

    def digest(root: Path) -> dict:
        return {p: hashlib.sha256((root / p).read_bytes()).hexdigest() for p in files}

    assert digest(first) == digest(second)
    victim = first / files[3]
    before = digest(first)
    victim.unlink()
    make_noise_corpus(first, speech, clips_per_kind=2, seed=5)
    assert digest(first) == before
    babble, rate = sf.read(first / "babble" / "babble-0000.flac")
    assert rate == SR and len(babble) == 10 * SR
    # Babble is the sum of the talkers: its spectrum peaks on their pitches.
    freqs = np.fft.rfftfreq(len(babble), 1 / SR)
    top = freqs[np.argsort(np.abs(np.fft.rfft(babble)))[-3:]]
    assert all(min(abs(f - p) for p in (150, 200, 250, 300)) < 1 for f in top)
    no_babble = make_noise_corpus(tmp_path / "c", None, clips_per_kind=1, seed=5)
    assert not (no_babble / "babble").exists() and len(list(no_babble.rglob("*.flac"))) == 4


def _schroeder_rt60(h: np.ndarray) -> float:
    """RT60 from the Schroeder backward-integrated decay, extrapolated from -5 .. -25 dB (T20)."""
    energy = np.cumsum(h[::-1] ** 2)[::-1]
    decay_db = 10 * np.log10(energy / energy[0] + 1e-20)
    return (np.argmax(decay_db <= -25) - np.argmax(decay_db <= -5)) / SR * 3


def test_simulated_rooms_decay_as_designed() -> None:
    designed, measured = [], []
    for seed in range(5):
        rir, rt60 = simulate_rir(np.random.default_rng(seed))
        designed.append(rt60)
        measured.append(_schroeder_rt60(rir))
        assert np.max(np.abs(rir)) == pytest.approx(0.9)
    ratios = np.array(measured) / np.array(designed)
    assert np.all((ratios > 0.6) & (ratios < 1.5)), ratios
    assert np.corrcoef(designed, measured)[0, 1] > 0.8


def test_reverberant_copies_are_the_convolution_with_the_chosen_rir(tmp_path: Path) -> None:
    from lhotse import CutSet, Recording, SupervisionSegment
    from lhotse.cut import MonoCut

    from todm.data.fbank import cut_seed, reverberant_copies

    rng = np.random.default_rng(0)
    cuts = []
    for i in range(12):
        path = tmp_path / f"u{i}.flac"
        sf.write(path, 0.1 * rng.standard_normal(SR), SR, subtype="PCM_16")
        rec = Recording.from_file(path, recording_id=f"u{i}")
        sup = SupervisionSegment(f"u{i}", f"u{i}", 0, rec.duration, text="HELLO")
        cuts.append(MonoCut(f"u{i}", 0, rec.duration, 0, recording=rec, supervisions=[sup]))
    cuts = CutSet.from_cuts(cuts)
    rirs = rir_recordings(make_rirs(tmp_path / "rirs", count=3, seed=1))
    copies = reverberant_copies(cuts, 0.5, rirs, seed=9)
    again = reverberant_copies(cuts, 0.5, rirs, seed=9)
    assert [c.id for c in copies] == [c.id for c in again]
    assert 2 <= len(copies) <= 10 and all(c.id.endswith("_rvb") for c in copies)
    assert [c.id for c in copies] == [f"{c.id}_rvb" for c in cuts if cut_seed(9, c.id) < 0.5 * 2**32]
    for copy in list(copies)[:2]:
        original = cuts[copy.id[: -len("_rvb")]].load_audio()[0]
        rir = rirs[cut_seed(10, copy.id[: -len("_rvb")]) % len(rirs)].load_audio()[0]
        # Independent reference: numpy's convolution, aligned on the direct path, at the original's power.
        wet = np.convolve(original, rir)[np.argmax(rir) : np.argmax(rir) + len(original)]
        wet *= np.sqrt(np.mean(original**2) / np.mean(wet**2))
        np.testing.assert_allclose(copy.load_audio()[0], wet, atol=2e-4)


def test_rir_dir_errors_name_the_directory(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=f"--rir-dir {tmp_path}: no .wav or .flac"):
        rir_recordings(tmp_path)
    sf.write(tmp_path / "r.wav", np.zeros(800), 8000)
    with pytest.raises(UserError, match="not 16000 Hz"):
        rir_recordings(tmp_path)


def test_noise_mixing_depends_only_on_the_batch(tiny_data, tmp_path: Path) -> None:
    """A resumed run sees the same noisy batches: each batch's mixing is independent of the ones before."""
    from lhotse import CutSet

    from todm.data.loader import BatchSeededCutMix, load_cuts, load_noise_cuts
    from todm.data.noise import compute_noise_fbank, noise_recordings

    make_noise_corpus(tmp_path / "noise", None, clips_per_kind=1, seed=3)
    compute_noise_fbank(noise_recordings(tmp_path / "noise"), tmp_path / "noise_cuts.jsonl.gz")
    noise = load_noise_cuts(tmp_path / "noise_cuts.jsonl.gz")
    assert len(noise) == 4
    cuts = list(load_cuts(tiny_data["fbank_dir"], ["train-clean-100"]))
    batch_a, batch_b = CutSet.from_cuts(cuts[:4]), CutSet.from_cuts(cuts[4:8])

    def features(mix, batch) -> list[np.ndarray]:
        return [c.load_features() for c in mix(batch)]

    fresh = features(BatchSeededCutMix(noise, (10, 20), 1.0, seed=1), batch_b)
    used = BatchSeededCutMix(noise, (10, 20), 1.0, seed=1)
    features(used, batch_a)
    after = features(used, batch_b)
    for x, y, clean in zip(fresh, after, batch_b):
        np.testing.assert_array_equal(x, y)
        assert x.shape == clean.load_features().shape
        assert np.abs(x - clean.load_features()).mean() > 0.01  # noise was mixed in (p = 1)
    other_seed = features(BatchSeededCutMix(noise, (10, 20), 1.0, seed=2), batch_b)
    assert any(not np.array_equal(x, y) for x, y in zip(fresh, other_seed))
    # Louder noise (lower SNR) moves the features further from the clean ones.
    quiet = features(BatchSeededCutMix(noise, (30, 30), 1.0, seed=1), batch_b)
    loud = features(BatchSeededCutMix(noise, (0, 0), 1.0, seed=1), batch_b)
    for q, lo, clean in zip(quiet, loud, batch_b):
        ref = clean.load_features()
        assert np.abs(lo - ref).mean() > np.abs(q - ref).mean()


def test_noise_options_are_checked(tmp_path: Path) -> None:
    from todm.data.loader import load_noise_cuts

    with pytest.raises(UserError, match="--noise-cuts .*no such file"):
        load_noise_cuts(tmp_path / "missing.jsonl.gz")
    train = load_recipe_script("train")
    assert train.parse_snr_range("10,20") == (10.0, 20.0) and train.parse_snr_range("5") == (5.0, 5.0)
    for bad in ("20,10", "a,b", "1,2,3", ""):
        with pytest.raises(UserError, match="--noise-snr"):
            train.parse_snr_range(bad)


def test_musan_layout_gives_icefall_style_noise_windows(tmp_path: Path) -> None:
    """--musan-dir: lhotse's prepare_musan reads music/ and noise/ (not speech/), cut into 10 s windows."""
    from todm.data.noise import compute_noise_fbank, musan_recordings

    rng = np.random.default_rng(0)
    musan = tmp_path / "musan"
    for part, source, name, seconds in (
        ("music", "fma", "music-fma-0000", 12.0),  # windows of 10 s and 2 s: the 2 s one is dropped
        ("noise", "free-sound", "noise-free-sound-0000", 7.0),
        ("speech", "librivox", "speech-librivox-0000", 3.0),  # icefall leaves speech out
    ):
        (musan / part / source).mkdir(parents=True)
        sf.write(musan / part / source / f"{name}.wav", 0.1 * rng.standard_normal(int(seconds * SR)), SR)
    (musan / "music" / "fma" / "ANNOTATIONS").write_text("music-fma-0000 classical N someone\n")
    recordings = musan_recordings(musan)
    assert sorted(r.id for r in recordings) == ["music-fma-0000", "noise-free-sound-0000"]
    cuts = compute_noise_fbank(recordings, tmp_path / "fbank" / "musan_cuts.jsonl.gz")
    assert sorted(round(c.duration, 2) for c in cuts) == [7.0, 10.0]
    assert cuts[0].load_features().shape[1] == 80
    (musan / "noise").rename(tmp_path / "elsewhere")
    with pytest.raises(UserError, match="--musan-dir .*expected MUSAN's music/ and noise/"):
        musan_recordings(musan)
