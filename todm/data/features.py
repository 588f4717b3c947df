"""80-dim Kaldi fbank: the one place where the feature options live, for training and deployment alike.

Training features are computed by lhotse (`KaldifeatFbank` when kaldifeat imports, else lhotse's
pure-torch `Fbank`); on device, sherpa-onnx computes them with kaldi-native-fbank (knf) from float
samples in [-1, 1]. All three read the options below, so they agree (tests/test_features.py holds
them within 1e-3). The values are lhotse's/icefall's defaults; knf's own `high_freq` default (0) differs
and must be set to -400, as sherpa-onnx does.
"""

from __future__ import annotations

import importlib.util
import logging

import numpy as np

# The single definition of the front end (dither 0: features are deterministic and match deployment).
SAMPLE_RATE = 16000
NUM_MEL_BINS = 80
FRAME_LENGTH_MS = 25.0
FRAME_SHIFT_MS = 10.0
DITHER = 0.0
SNIP_EDGES = False
LOW_FREQ = 20.0
HIGH_FREQ = -400.0
PREEMPH_COEFF = 0.97
WINDOW_TYPE = "povey"


def kaldifeat_available() -> bool:
    """True when the kaldifeat extension (built by tools/install.sh) imports."""
    return importlib.util.find_spec("kaldifeat") is not None


def make_lhotse_extractor(use_kaldifeat: bool | None = None):
    """Return lhotse's fbank extractor with our options: KaldifeatFbank if available, else Fbank."""
    from lhotse import Fbank, FbankConfig, KaldifeatFbank, KaldifeatFbankConfig
    from lhotse.features.kaldifeat import KaldifeatFrameOptions, KaldifeatMelOptions

    if use_kaldifeat is None:
        use_kaldifeat = kaldifeat_available()
    if use_kaldifeat:
        frame_opts = KaldifeatFrameOptions(
            sampling_rate=SAMPLE_RATE,
            frame_shift=FRAME_SHIFT_MS / 1000,
            frame_length=FRAME_LENGTH_MS / 1000,
            dither=DITHER,
            preemph_coeff=PREEMPH_COEFF,
            window_type=WINDOW_TYPE,
            snip_edges=SNIP_EDGES,
        )
        mel_opts = KaldifeatMelOptions(num_bins=NUM_MEL_BINS, low_freq=LOW_FREQ, high_freq=HIGH_FREQ)
        extractor = KaldifeatFbank(KaldifeatFbankConfig(frame_opts=frame_opts, mel_opts=mel_opts))
    else:
        extractor = Fbank(
            FbankConfig(
                sampling_rate=SAMPLE_RATE,
                frame_length=FRAME_LENGTH_MS / 1000,
                frame_shift=FRAME_SHIFT_MS / 1000,
                dither=DITHER,
                snip_edges=SNIP_EDGES,
                low_freq=LOW_FREQ,
                high_freq=HIGH_FREQ,
                preemph_coeff=PREEMPH_COEFF,
                window_type=WINDOW_TYPE,
                num_filters=NUM_MEL_BINS,
            )
        )
    logging.info("fbank extractor: %s", type(extractor).__name__)
    return extractor


def knf_fbank_options():
    """kaldi-native-fbank options equal to the training front end (what sherpa-onnx sets)."""
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = SAMPLE_RATE
    opts.frame_opts.frame_length_ms = FRAME_LENGTH_MS
    opts.frame_opts.frame_shift_ms = FRAME_SHIFT_MS
    opts.frame_opts.dither = DITHER
    opts.frame_opts.snip_edges = SNIP_EDGES
    opts.frame_opts.preemph_coeff = PREEMPH_COEFF
    opts.frame_opts.window_type = WINDOW_TYPE
    opts.mel_opts.num_bins = NUM_MEL_BINS
    opts.mel_opts.low_freq = LOW_FREQ
    opts.mel_opts.high_freq = HIGH_FREQ
    return opts


def knf_fbank(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Fbank of float samples in [-1, 1] with kaldi-native-fbank: (num_frames, 80) float32.

    This is the deployment front end (sherpa-onnx), also used by our onnxruntime decoding path.
    """
    import kaldi_native_fbank as knf

    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"sample_rate={sample_rate}: the front end expects {SAMPLE_RATE} Hz audio")
    fbank = knf.OnlineFbank(knf_fbank_options())
    fbank.accept_waveform(SAMPLE_RATE, np.asarray(samples, dtype=np.float32).tolist())
    fbank.input_finished()
    frames = [fbank.get_frame(i) for i in range(fbank.num_frames_ready)]
    return np.asarray(frames, dtype=np.float32).reshape(-1, NUM_MEL_BINS)
