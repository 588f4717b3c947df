"""Room impulse responses for reverberation augmentation, made offline with pyroomacoustics.

lhotse's own reverberation (`reverb_rir`, i.e. `ReverbWithImpulseResponse`) can generate a random impulse
response itself, but that generator needs torchaudio, which has no build for the torch this project pins. So
the impulse responses are simulated here, once, with pyroomacoustics' image-source method (random shoebox
rooms, reverberation times 0.2-0.8 s, source and microphone at random places), written as FLAC files, and
handed to lhotse's transform as recordings. A directory of real impulse responses works the same way.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

from todm.data.synthesis import SAMPLE_RATE, write_flac_atomic
from todm.errors import UserError

logger = logging.getLogger(__name__)

RT60_RANGE = (0.2, 0.8)  # seconds: a small office ... a large hall
ROOM_RANGE = ((3.0, 10.0), (3.0, 8.0), (2.5, 4.0))  # metres: length, width, height
MARGIN = 0.5  # metres between a wall and the source or the microphone


def simulate_rir(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """One impulse response of a random room and the RT60 it was designed for."""
    import pyroomacoustics as pra

    dims = [rng.uniform(lo, hi) for lo, hi in ROOM_RANGE]
    rt60 = rng.uniform(*RT60_RANGE)
    absorption, max_order = pra.inverse_sabine(rt60, dims)
    # High orders only add the late tail's fine structure at a steep price: cap them.
    room = pra.ShoeBox(dims, fs=SAMPLE_RATE, materials=pra.Material(absorption), max_order=min(max_order, 40))
    room.add_source([rng.uniform(MARGIN, d - MARGIN) for d in dims])
    room.add_microphone([rng.uniform(MARGIN, d - MARGIN) for d in dims])
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], dtype=np.float64)
    return rir / np.max(np.abs(rir)) * 0.9, rt60


def make_rirs(out_dir: str | Path, count: int = 100, seed: int = 42) -> Path:
    """Write `count` simulated impulse responses to `<out_dir>/rir-NNNN.flac` (resumable); return out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = [i for i in range(count) if not (out_dir / f"rir-{i:04d}.flac").is_file()]
    logger.info("impulse responses %s: %d to simulate", out_dir, len(todo))
    for index in tqdm(todo, desc="rirs"):
        rir, _ = simulate_rir(np.random.default_rng(zlib.crc32(f"{seed}/rir/{index}".encode())))
        write_flac_atomic(out_dir / f"rir-{index:04d}.flac", rir)
    return out_dir


def rir_recordings(rir_dir: str | Path) -> list:
    """The impulse responses under `rir_dir` (*.wav, *.flac) as lhotse Recordings, sorted by name."""
    from lhotse import Recording

    files = sorted(p for p in Path(rir_dir).rglob("*") if p.suffix in (".wav", ".flac"))
    if not files:
        raise UserError(f"--rir-dir {rir_dir}: no .wav or .flac impulse responses in it")
    recordings = [Recording.from_file(path, recording_id=f"rir-{path.stem}") for path in files]
    wrong = [r.id for r in recordings if r.sampling_rate != SAMPLE_RATE]
    if wrong:
        raise UserError(f"--rir-dir {rir_dir}: {wrong[:3]} are not {SAMPLE_RATE} Hz")
    return recordings
