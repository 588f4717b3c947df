"""Reading test audio for the deployment scripts: any soundfile format -> mono float32 at 16 kHz.

Bad input policy (documented in docs/deployment.md): several channels are averaged (downmix, with a
warning); another sample rate is resampled to 16 kHz with lhotse's torch resampler (with a warning);
an empty or unreadable file, or one shorter than the encoder's minimum (7 fbank frames, 0.08 s), is a
UserError naming the file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from todm.data.features import SAMPLE_RATE
from todm.errors import UserError

log = logging.getLogger(__name__)

MIN_SECONDS = 0.08  # 7 frames of 10 ms with snip_edges=False, and a margin


def read_wave(path: str | Path) -> np.ndarray:
    """Samples in [-1, 1], float32, mono, SAMPLE_RATE Hz: shape (num_samples,)."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (S, channels)
    except Exception as exc:  # noqa: BLE001 (soundfile and libsndfile raise several types)
        raise UserError(f"{path}: not a readable audio file ({exc})") from None
    if samples.shape[0] == 0:
        raise UserError(f"{path}: the audio is empty (0 samples)")
    if samples.shape[1] > 1:
        log.warning("%s: %d channels, averaging them to mono", path, samples.shape[1])
    mono = samples.mean(axis=1)
    if rate != SAMPLE_RATE:
        import torch
        from lhotse.augmentation.resample import Resample

        log.warning("%s: %d Hz, resampling to %d Hz", path, rate, SAMPLE_RATE)
        mono = Resample(rate, SAMPLE_RATE)(torch.from_numpy(mono).unsqueeze(0))[0].numpy()
    if mono.shape[0] < MIN_SECONDS * SAMPLE_RATE:
        raise UserError(
            f"{path}: {mono.shape[0] / SAMPLE_RATE:.3f} s of audio; at least {MIN_SECONDS} s needed"
        )
    return np.ascontiguousarray(mono, dtype=np.float32)
