"""Decode waves with a bundle in sherpa-onnx, in a process of its own: run as a script, it imports numpy and
sherpa_onnx only (not torch), so the growth of its peak RSS is what the recognizer itself needs.

    python sherpa_worker.py <waves.npz> <encoder> <decoder> <joiner> <tokens> <num_threads> <method> <beam> \
        <streaming: 0|1> <tail seconds>

Prints one line "RESULT {json}": texts (one per wave, in the npz's order), decode seconds (model time, without
reading audio; "each": per wave) and peak_mb: the process's peak resident memory while it builds the recognizer
and decodes, less its resident memory just before (Linux: the peak is reset there through /proc/self/clear_refs).
A streaming bundle runs in the OnlineRecognizer, the wave then <tail seconds> of silence fed before
input_finished(), and each chunk's decode is timed too ("chunks": seconds per chunk).
Utterances are decoded one at a time, as a device transcribes them.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import sherpa_onnx


def memory_kb(field: str) -> int:
    """VmRSS (resident now) or VmHWM (peak resident) of this process, in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def main() -> None:
    waves_path, encoder, decoder, joiner, tokens, threads, method, beam, streaming, tail = sys.argv[1:11]
    with np.load(waves_path) as data:
        waves = [data[f"w{i}"] for i in range(len(data.files))]
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) restarts from the current RSS
    before = memory_kb("VmRSS")
    common = {
        "encoder": encoder,
        "decoder": decoder,
        "joiner": joiner,
        "tokens": tokens,
        "num_threads": int(threads),
        "sample_rate": 16000,
        "feature_dim": 80,
        "decoding_method": method,
        "max_active_paths": int(beam),
    }
    texts, seconds, chunks = [], [], []
    if streaming == "1":
        recognizer = sherpa_onnx.OnlineRecognizer.from_transducer(**common, model_type="lstm")
        silence = np.zeros(int(float(tail) * 16000), np.float32)
        for wave in waves:
            start = time.perf_counter()
            stream = recognizer.create_stream()
            stream.accept_waveform(16000, wave)
            stream.accept_waveform(16000, silence)
            stream.input_finished()
            while recognizer.is_ready(stream):
                chunk_start = time.perf_counter()
                recognizer.decode_stream(stream)
                chunks.append(time.perf_counter() - chunk_start)
            seconds.append(time.perf_counter() - start)
            texts.append(recognizer.get_result(stream).strip())
    else:
        recognizer = sherpa_onnx.OfflineRecognizer.from_transducer(**common, modeling_unit="bpe")
        for wave in waves:
            start = time.perf_counter()
            stream = recognizer.create_stream()
            stream.accept_waveform(16000, wave)
            recognizer.decode_stream(stream)
            seconds.append(time.perf_counter() - start)
            texts.append(stream.result.text.strip())
    peak_mb = (memory_kb("VmHWM") - before) / 1024
    print(
        "RESULT "
        + json.dumps(
            {"texts": texts, "seconds": sum(seconds), "each": seconds, "chunks": chunks, "peak_mb": peak_mb}
        )
    )


if __name__ == "__main__":
    main()
