"""Decode waves with a bundle in sherpa-onnx, in a process of its own: run as a script, it imports numpy and
sherpa_onnx only (not torch), so the growth of its peak RSS is what the recognizer itself needs.

    python sherpa_worker.py <waves.npz> <encoder> <decoder> <joiner> <tokens> <num_threads> <method> <beam>

Prints one line "RESULT {json}": texts (one per wave, in the npz's order), decode seconds (model time, without
reading audio; "each": per wave) and peak_mb: the process's peak resident memory while it builds the recognizer and decodes, less
its resident memory just before (Linux: the peak is reset there through /proc/self/clear_refs).
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
    waves_path, encoder, decoder, joiner, tokens, threads, method, beam = sys.argv[1:9]
    with np.load(waves_path) as data:
        waves = [data[f"w{i}"] for i in range(len(data.files))]
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) restarts from the current RSS
    before = memory_kb("VmRSS")
    recognizer = sherpa_onnx.OfflineRecognizer.from_transducer(
        encoder=encoder,
        decoder=decoder,
        joiner=joiner,
        tokens=tokens,
        num_threads=int(threads),
        sample_rate=16000,
        feature_dim=80,
        decoding_method=method,
        max_active_paths=int(beam),
        modeling_unit="bpe",
    )
    texts, seconds = [], []
    for wave in waves:
        start = time.perf_counter()
        stream = recognizer.create_stream()
        stream.accept_waveform(16000, wave)
        recognizer.decode_stream(stream)
        seconds.append(time.perf_counter() - start)
        texts.append(stream.result.text.strip())
    peak_mb = (memory_kb("VmHWM") - before) / 1024
    print(
        "RESULT " + json.dumps({"texts": texts, "seconds": sum(seconds), "each": seconds, "peak_mb": peak_mb})
    )


if __name__ == "__main__":
    main()
