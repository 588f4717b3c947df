"""What a shipped bundle does in sherpa-onnx on a test set: WER of the fp32 and the int8 files side by side,
real-time factor and peak memory, measured from the audio (sherpa-onnx's own front end and search).

Int8 that silently costs accuracy is a common complaint with on-device models, so export.py puts both WERs
in the model card. Each measurement runs in a fresh process (`sherpa_worker.py`) so that its peak memory is
its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from todm.errors import UserError

from .runtime import (
    check_bundle_tokens,
    model_files,
    read_tokens,
    stream_tail_seconds,
)

WORKER = Path(__file__).with_name("sherpa_worker.py")


def cut_waves(cuts) -> tuple[list[np.ndarray], list[list[str]]]:
    """16 kHz mono float32 audio and reference words of each cut (its first supervision's text)."""
    waves, refs = [], []
    for cut in cuts:
        audio = cut.load_audio()
        waves.append(np.ascontiguousarray(audio.mean(axis=0) if audio.ndim == 2 else audio, dtype=np.float32))
        refs.append(cut.supervisions[0].text.split())
    return waves, refs


def sherpa_transcribe(
    model_dir: str | Path,
    waves: list[np.ndarray],
    int8: bool = False,
    num_threads: int = 1,
    method: str = "greedy_search",
    beam_size: int = 4,
) -> dict:
    """{texts, seconds, each, chunks, peak_mb} of decoding `waves` one by one with the bundle in a fresh
    sherpa-onnx process (chunks: seconds per decoded chunk, streaming bundles only)."""
    files = model_files(model_dir, int8)
    check_bundle_tokens(model_dir, read_tokens(files["tokens"]))
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "waves.npz"
        np.savez(npz, **{f"w{i}": w for i, w in enumerate(waves)})
        cmd = [sys.executable, str(WORKER), str(npz)]
        cmd += [str(files[k]) for k in ("encoder", "decoder", "joiner", "tokens")]
        cmd += [str(num_threads), method, str(beam_size)]
        tail = stream_tail_seconds(model_dir, int8)  # 0.0: not a streaming bundle
        cmd += ["1" if tail else "0", str(tail)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"sherpa-onnx worker failed on {model_dir} (int8={int8}): {proc.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def evaluate_bundle(model_dir: str | Path, cuts, num_threads: int = 1, int8_too: bool = True) -> dict:
    """{"fp32": {...}, "int8": {...}}: each with greedy WER (%), RTF and peak_mb of sherpa-onnx on `cuts`;
    for a streaming bundle also chunk_ms, the decode time of one chunk (median, p95, max)."""
    from todm.decode import word_error_rate

    waves, refs = cut_waves(cuts)
    if not waves:
        raise UserError(f"{model_dir}: no utterances to evaluate the bundle on")
    audio_seconds = sum(len(w) for w in waves) / 16000
    out = {}
    for dtype in ("fp32", "int8") if int8_too else ("fp32",):
        got = sherpa_transcribe(model_dir, waves, dtype == "int8", num_threads)
        stats = word_error_rate(refs, [t.split() for t in got["texts"]])
        out[dtype] = {
            "greedy_search": round(stats["wer"], 2),
            "rtf": round(got["seconds"] / audio_seconds, 5),
            "peak_mb": round(got["peak_mb"], 1),
            "threads": num_threads,
        }
        if got["chunks"]:  # a streaming bundle: what one chunk's decode costs on the device
            chunk_ms = np.asarray(got["chunks"]) * 1000
            out[dtype]["chunk_ms"] = {
                "median": round(float(np.median(chunk_ms)), 3),
                "p95": round(float(np.percentile(chunk_ms, 95)), 3),
                "max": round(float(chunk_ms.max()), 3),
            }
    return out
