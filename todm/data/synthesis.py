"""Synthesize one utterance: espeak-ng, festival or flite -> sox (16 kHz mono 16-bit, pitch shift for festival
and flite, optional reverb) -> numpy noise -> FLAC.

The "other" parts (dev-other, test-other) are harder, as LibriSpeech's are, through three documented
degradations: a faster speaking rate (chosen per speaker, see corpus.py), sox `reverb` (a room with a
random reverberance and size) and additive pink (1/f) noise at a moderate SNR, seeded per utterance.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from todm.data.speakers import ESPEAK, FESTIVAL, FLITE, Speaker

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Degradation:
    """Acoustic degradation of an "other" utterance."""

    reverberance: float  # sox reverb's reverberance, percent
    room_scale: float  # sox reverb's room size, percent
    snr_db: float  # additive pink noise, relative to the speech power


def _run(cmd: list[str], stdin: bytes, output: Path | None = None) -> bytes:
    """Run `cmd`; return its stdout, or the contents of `output` when the command writes a file."""
    proc = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    err = proc.stderr.decode(errors="replace").strip()
    result = proc.stdout if output is None else (output.read_bytes() if output.is_file() else b"")
    # espeak-ng and festival exit 0 on some failures but say so on stderr.
    if proc.returncode != 0 or err.startswith("Error") or not result:
        why = err.splitlines()[-1] if err else "no output"
        raise RuntimeError(f"command failed (exit {proc.returncode}): {shlex.join(cmd)}: {why}")
    return result


def engine_wav(text: str, speaker: Speaker) -> bytes:
    """`text` spoken by `speaker`'s engine, as WAV bytes (the engine's own sample rate)."""
    if speaker.engine == ESPEAK:
        # On stdin: the transcript is exactly what is said.
        cmd = ["espeak-ng", "-v", speaker.espeak_voice, "-s", str(speaker.rate), "-p", str(speaker.pitch)]
        return _run([*cmd, "--stdout"], text.encode())
    stretch = f"{speaker.duration_stretch:.3f}"
    # festival and flite write a valid WAV only to a named file (festival's to a pipe says 0 bytes of data).
    with tempfile.TemporaryDirectory(prefix="todm-tts-") as tmp:
        out = Path(tmp) / "utt.wav"
        if speaker.engine == FESTIVAL:
            cmd = ["text2wave", "-eval", f"(voice_{speaker.voice})"]
            cmd += ["-eval", f"(Parameter.set 'Duration_Stretch {stretch})", "-o", str(out)]
            return _run(cmd, text.encode(), output=out)
        if speaker.engine == FLITE:
            cmd = ["flite", "-voice", speaker.voice, "--setf", f"duration_stretch={stretch}"]
            return _run([*cmd, "-t", text, "-o", str(out)], b"", output=out)
    raise ValueError(f"unknown speech engine '{speaker.engine}'")


def speech_to_samples(text: str, speaker: Speaker, degradation: Degradation | None = None) -> np.ndarray:
    """Speak `text`; return int16 samples at 16 kHz."""
    wav = engine_wav(text, speaker)
    # -R: repeatable (fixed seeds inside sox); -D: no dither, so clean audio is noise-free and deterministic.
    sox = ["sox", "-R", "-D", "-t", "wav", "-", "-t", "raw", "-e", "signed-integer", "-b", "16"]
    sox += ["-r", str(SAMPLE_RATE), "-c", "1", "-"]
    if speaker.pitch_shift_cents:
        sox += ["pitch", str(speaker.pitch_shift_cents)]
    if degradation is not None:
        sox += ["reverb", f"{degradation.reverberance:.0f}", "50", f"{degradation.room_scale:.0f}"]
    return np.frombuffer(_run(sox, wav), dtype=np.int16)


def pink_noise(num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-power 1/f noise (white noise shaped in the frequency domain)."""
    spectrum = np.fft.rfft(rng.standard_normal(num_samples))
    freqs = np.arange(len(spectrum), dtype=np.float64)
    freqs[0] = 1.0
    noise = np.fft.irfft(spectrum / np.sqrt(freqs), n=num_samples)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def speech_power(x: np.ndarray, frame: int = 400) -> float:
    """Mean power of the active frames (within 30 dB of the loudest frame), so pauses do not dilute it."""
    n = len(x) // frame
    if n == 0:
        return float(np.mean(x**2))
    energies = np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)
    return float(np.mean(energies[energies >= energies.max() * 1e-3]))


def add_noise(samples: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add pink noise at `snr_db` to int16 `samples`; rescale only if the sum would clip."""
    x = samples.astype(np.float64) / 32768.0
    noise = pink_noise(len(x), rng) * np.sqrt(speech_power(x) / 10 ** (snr_db / 10))
    y = x + noise
    peak = np.max(np.abs(y))
    if peak > 0.99:
        y *= 0.99 / peak
    return np.round(y * 32767).astype(np.int16)


def synthesize(
    text: str,
    speaker: Speaker,
    out_path: str | Path,
    degradation: Degradation | None = None,
    noise_seed: int = 0,
) -> float:
    """Write `text` spoken by `speaker` to `out_path` (16 kHz mono 16-bit FLAC); return the duration (s).

    The file appears atomically (temp file + os.replace), so an interrupted run never leaves a truncated
    `.flac`; the temp name does not end in `.flac`, so no corpus reader mistakes it for an utterance.
    """
    out_path = Path(out_path)
    samples = speech_to_samples(text, speaker, degradation)
    if len(samples) == 0 or not np.any(samples):
        raise RuntimeError(f"{speaker.engine} produced silent audio for {out_path.name}: '{text}'")
    if degradation is not None:
        samples = add_noise(samples, degradation.snr_db, np.random.default_rng(noise_seed))
    write_flac_atomic(out_path, samples)
    return len(samples) / SAMPLE_RATE


def write_flac_atomic(path: Path, samples: np.ndarray) -> None:
    """16 kHz 16-bit FLAC through a temp file + os.replace; the temp name (.<name>.<pid>.tmp) does not end in
    .flac, so no reader mistakes a half-written file for audio, and a re-run removes it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        sf.write(tmp, samples, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
