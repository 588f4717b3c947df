"""Training fbank (lhotse Fbank / KaldifeatFbank) equals the deployment front end (kaldi-native-fbank)."""

import numpy as np
import pytest

from todm.data.features import (
    NUM_MEL_BINS,
    SAMPLE_RATE,
    kaldifeat_available,
    knf_fbank,
    make_lhotse_extractor,
)


def speech_like_signal(seconds: float = 1.3, seed: int = 0) -> np.ndarray:
    """A chirp with harmonics, an envelope and noise: energy in every mel band, float in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 120 + 80 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 30))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    signal = 0.2 * envelope * voiced + 0.01 * rng.standard_normal(t.size)
    return (signal / np.abs(signal).max() * 0.8).astype(np.float32)


@pytest.mark.parametrize("use_kaldifeat", [False, True])
def test_training_fbank_matches_kaldi_native_fbank(use_kaldifeat):
    if use_kaldifeat and not kaldifeat_available():
        pytest.skip("kaldifeat is not installed (tools/install.sh builds it)")
    samples = speech_like_signal()
    train = make_lhotse_extractor(use_kaldifeat=use_kaldifeat).extract(samples, SAMPLE_RATE)
    device = knf_fbank(samples)
    expected_frames = (samples.size + 80) // 160  # kaldi, snip_edges=False: round(samples / shift)
    assert train.shape == device.shape == (expected_frames, NUM_MEL_BINS)
    assert np.abs(train - device).max() <= 1e-3


def test_knf_rejects_other_sample_rates():
    with pytest.raises(ValueError, match="8000"):
        knf_fbank(np.zeros(8000, dtype=np.float32), sample_rate=8000)
