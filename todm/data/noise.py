"""Noise for CutMix augmentation: MUSAN through lhotse, or an embedded noise corpus made offline.

icefall mixes MUSAN's music and noise into training cuts (lhotse's `CutMix`, SNR 10-20 dB, half of the cuts).
MUSAN cannot be downloaded here, so the default recipe makes its own noise corpus, written as FLAC files:

    babble    3-7 utterances of the training part, summed at random levels and offsets (a crowd of talkers)
    coloured  Gaussian noise with a 1/f^beta spectrum, beta in [0, 2] (white ... brown), slowly modulated
    hum       mains hum: 50 or 60 Hz and its harmonics at random levels, with a little broadband noise
    clicks    impulsive noise: decaying bursts at random times (keyboard, crackle) over a low noise floor
    tones     music-like: random notes of harmonic tones, one to three at a time, with attack and decay

Every clip is a function of (seed, kind, index) and of the training files it borrows for babble, so a
re-run writes the same files; finished clips are kept (resumable), each is written atomically.
"""

from __future__ import annotations

import logging
import random
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from todm.data.synthesis import SAMPLE_RATE, write_flac_atomic
from todm.errors import UserError

logger = logging.getLogger(__name__)

NOISE_KINDS = ("babble", "coloured", "hum", "clicks", "tones")
CLIP_SECONDS = 10.0
# icefall's MUSAN cuts: recordings cut into 10 s windows, windows of 5 s or less dropped.
WINDOW_SECONDS, MIN_WINDOW_SECONDS = 10.0, 5.0


def clip_rng(seed: int, kind: str, index: int) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(f"{seed}/{kind}/{index}".encode()))


def coloured_noise(num_samples: int, beta: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-power Gaussian noise whose power spectrum falls as 1/f^beta."""
    spectrum = np.fft.rfft(rng.standard_normal(num_samples))
    freqs = np.arange(len(spectrum), dtype=np.float64)
    freqs[0] = 1.0
    noise = np.fft.irfft(spectrum / freqs ** (beta / 2), n=num_samples)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def _slow_envelope(num_samples: int, rng: np.random.Generator, depth: float) -> np.ndarray:
    """1 +- `depth`, varying over seconds (a passing car, a fan changing speed)."""
    knots = rng.uniform(1 - depth, 1 + depth, size=int(num_samples / SAMPLE_RATE) + 2)
    return np.interp(np.arange(num_samples) / SAMPLE_RATE, np.arange(len(knots)), knots)


def make_coloured(num_samples: int, rng: np.random.Generator) -> np.ndarray:
    noise = coloured_noise(num_samples, rng.uniform(0.0, 2.0), rng)
    return noise * _slow_envelope(num_samples, rng, 0.3)


def make_hum(num_samples: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(num_samples) / SAMPLE_RATE
    mains = rng.choice([50.0, 60.0])
    hum = np.zeros(num_samples)
    for harmonic in range(1, 8):
        level = rng.uniform(0.1, 1.0) / harmonic
        hum += level * np.sin(2 * np.pi * mains * harmonic * t + rng.uniform(0, 2 * np.pi))
    hum /= np.sqrt(np.mean(hum**2))
    return hum + 0.05 * coloured_noise(num_samples, 1.0, rng)


def make_clicks(num_samples: int, rng: np.random.Generator) -> np.ndarray:
    noise = 0.02 * coloured_noise(num_samples, 0.5, rng)
    rate = rng.uniform(2, 20)  # clicks per second
    for start in rng.integers(0, num_samples, size=rng.poisson(rate * num_samples / SAMPLE_RATE)):
        length = int(rng.uniform(0.002, 0.03) * SAMPLE_RATE)
        burst = rng.standard_normal(length) * np.exp(-np.arange(length) / (length / 4))
        end = min(num_samples, start + length)
        noise[start:end] += rng.uniform(0.3, 1.0) * burst[: end - start]
    return noise


def make_tones(num_samples: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(num_samples)
    position = 0
    while position < num_samples:
        length = int(rng.uniform(0.15, 0.8) * SAMPLE_RATE)
        t = np.arange(length) / SAMPLE_RATE
        envelope = np.minimum(1.0, t / 0.02) * np.exp(-t / rng.uniform(0.1, 0.6))
        note = np.zeros(length)
        for _ in range(rng.integers(1, 4)):  # one to three voices
            f0 = 110.0 * 2 ** (rng.integers(0, 36) / 12)  # A2 .. A5 on the equal-tempered scale
            for harmonic in range(1, 6):
                note += np.sin(2 * np.pi * f0 * harmonic * t) * rng.uniform(0.2, 1.0) / harmonic
        end = min(num_samples, position + length)
        out[position:end] += (envelope * note)[: end - position]
        position = end
    return out


def make_babble(num_samples: int, rng: np.random.Generator, speech_files: Sequence[Path]) -> np.ndarray:
    out = np.zeros(num_samples)
    for index in rng.choice(
        len(speech_files), size=min(len(speech_files), rng.integers(3, 8)), replace=False
    ):
        talker, rate = sf.read(speech_files[index], dtype="float64")
        if rate != SAMPLE_RATE:
            raise UserError(f"{speech_files[index]}: {rate} Hz, babble needs {SAMPLE_RATE} Hz speech")
        talker = np.tile(talker, int(np.ceil(num_samples / len(talker))) + 1)
        offset = rng.integers(0, len(talker) - num_samples + 1)
        talker = talker[offset : offset + num_samples]
        out += talker / (np.sqrt(np.mean(talker**2)) + 1e-12) * rng.uniform(0.5, 1.0)
    return out


def make_clip(
    kind: str, num_samples: int, rng: np.random.Generator, speech_files: Sequence[Path]
) -> np.ndarray:
    """One noise clip of `kind`, peak-normalised to a random level (CutMix sets the SNR anyway)."""
    if kind == "babble":
        clip = make_babble(num_samples, rng, speech_files)
    else:
        clip = {"coloured": make_coloured, "hum": make_hum, "clicks": make_clicks, "tones": make_tones}[kind](
            num_samples, rng
        )
    return clip / (np.max(np.abs(clip)) + 1e-12) * rng.uniform(0.3, 0.9)


def make_noise_corpus(
    out_dir: str | Path, speech_dir: str | Path | None, clips_per_kind: int = 40, seed: int = 42
) -> Path:
    """Write `clips_per_kind` clips of each kind to `<out_dir>/<kind>/<kind>-NNNN.flac`; return out_dir.

    Babble borrows the FLACs under `speech_dir` (the training part); without any, there is no babble."""
    out_dir = Path(out_dir)
    speech_files = sorted(Path(speech_dir).rglob("*.flac")) if speech_dir else []
    kinds = NOISE_KINDS if speech_files else tuple(k for k in NOISE_KINDS if k != "babble")
    if not speech_files:
        logger.warning("no training FLACs under '%s': no babble noise", speech_dir or "")
    # A random subset keeps a large training part cheap: babble needs variety, not every file.
    speech_files = random.Random(seed).sample(speech_files, min(len(speech_files), 2000))
    num_samples = int(CLIP_SECONDS * SAMPLE_RATE)
    todo = [
        (kind, index, out_dir / kind / f"{kind}-{index:04d}.flac")
        for kind in kinds
        for index in range(clips_per_kind)
    ]
    todo = [item for item in todo if not item[2].is_file()]
    logger.info("noise corpus %s: %d clips to write", out_dir, len(todo))
    for kind, index, path in tqdm(todo, desc="noise"):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_flac_atomic(path, make_clip(kind, num_samples, clip_rng(seed, kind, index), speech_files))
    return out_dir


def noise_recordings(noise_dir: str | Path):
    """lhotse RecordingSet of every clip under `noise_dir` (embedded noise)."""
    from lhotse import RecordingSet

    files = sorted(Path(noise_dir).rglob("*.flac"))
    if not files:
        raise UserError(f"{noise_dir}: no noise clips (run stage 0, or give --musan-dir)")
    return RecordingSet.from_recordings(_recording(path) for path in files)


def _recording(path: Path):
    from lhotse import Recording

    return Recording.from_file(path, recording_id=path.stem)


def musan_recordings(musan_dir: str | Path):
    """lhotse RecordingSet of MUSAN's music and noise (icefall leaves its speech part out)."""
    from lhotse import combine
    from lhotse.recipes import prepare_musan

    if not all((Path(musan_dir) / part).is_dir() for part in ("music", "noise")):
        raise UserError(f"--musan-dir {musan_dir}: expected MUSAN's music/ and noise/ inside")
    manifests = prepare_musan(musan_dir, parts=("music", "noise"))
    return combine(manifests[part]["recordings"] for part in ("music", "noise"))


def _long_enough(cut) -> bool:
    return cut.duration > MIN_WINDOW_SECONDS


def compute_noise_fbank(recordings, out_path: str | Path, num_jobs: int = 1):
    """Cut `recordings` into 10 s windows (dropping those of 5 s or less) and store their fbank, as icefall's
    compute_fbank_musan.py does; write the cuts to `out_path` atomically."""
    from lhotse import CutSet, LilcomChunkyWriter

    from todm.data.features import make_lhotse_extractor
    from todm.io import atomic_path

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    cuts = (
        CutSet.from_manifests(recordings=recordings)
        .cut_into_windows(WINDOW_SECONDS)
        .filter(_long_enough)
        .to_eager()
    )
    storage = out_path.parent / out_path.name.replace("_cuts", "_feats").replace(".jsonl.gz", "")
    cuts = cuts.compute_and_store_features(
        extractor=make_lhotse_extractor(),
        storage_path=storage,
        num_jobs=num_jobs,
        storage_type=LilcomChunkyWriter,
    )
    with atomic_path(out_path) as tmp:
        cuts.to_file(tmp)
    logger.info("wrote %s (%d cuts, %.2f h)", out_path, len(cuts), sum(c.duration for c in cuts) / 3600)
    return cuts
