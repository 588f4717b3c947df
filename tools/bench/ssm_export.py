#!/usr/bin/env python3
"""Peak memory and real-time factor of the exported (ONNX) encoder against utterance length: the deployed
chunked SSM (linear in T) beside the earlier (C, T', T') Toeplitz graph (quadratic).

Usage:
    python tools/bench/ssm_export.py                       # cpu_small largest subnet, 5/10/30/60 s
    python tools/bench/ssm_export.py --seconds 5,10 --repeat 5 --preset tiny

Both graphs are exported from the same (randomly initialised, seeded) weights; each (graph, length) point runs
in a fresh process (onnxruntime, 1 thread, sequential execution) so that its peak RSS (ru_maxrss) is its own:
model load + one warm-up run + --repeat timed runs on random fbank features. RTF = encoder seconds per
second of audio, median of the timed runs. The last column says how far the Toeplitz graph's output is from
the chunked one's (max abs difference, same input).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PATHS = ("chunked", "toeplitz")


def export(preset: str, path: str, out: Path) -> Path:
    import torch

    from todm.export.onnx_export import EncoderModel, _export
    from todm.model import Transducer, get_preset

    torch.manual_seed(0)
    model = Transducer(get_preset(preset, vocab_size=500)).eval()
    model.set_exportable(True)
    if path == "toeplitz":
        for module in model.modules():
            if hasattr(module, "exportable"):
                module.exportable = "toeplitz"
    target = out / f"encoder-{path}.onnx"
    x, x_lens = torch.zeros(1, 100, model.cfg.feature_dim), torch.tensor([100], dtype=torch.int64)
    dynamic = {"x": {0: "N", 1: "T"}, "x_lens": {0: "N"}, "encoder_out": {0: "N", 1: "T"}}
    _export(EncoderModel(model).eval(), (x, x_lens), target, ["x", "x_lens"], ["encoder_out", "encoder_out_lens"],
            {**dynamic, "encoder_out_lens": {0: "N"}})  # fmt: skip
    return target


def measure(model: Path, seconds: float, repeat: int, save: Path | None) -> dict:
    """In this process: load, warm up, time `repeat` runs; peak RSS of the process."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    frames = int(seconds * 100)
    x = np.random.default_rng(0).standard_normal((1, frames, 80)).astype(np.float32)
    feed = {"x": x, "x_lens": np.array([frames], dtype=np.int64)}
    out = session.run(None, feed)[0]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    if save is not None:
        np.save(save, out)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rtf": statistics.median(times) / seconds, "peak_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="cpu_small")
    parser.add_argument("--seconds", default="5,10,30,60")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)  # model seconds save
    args = parser.parse_args()
    if args.worker:
        model, seconds, save = args.worker
        print("RESULT " + json.dumps(measure(Path(model), float(seconds), args.repeat, Path(save))))
        return
    import numpy as np

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models = {path: export(args.preset, path, tmp) for path in PATHS}
        for seconds in [float(s) for s in args.seconds.split(",") if s]:
            results = {}
            for path in PATHS:
                save = tmp / f"{path}-{seconds}.npy"
                cmd = [sys.executable, __file__, "--repeat", str(args.repeat), "--worker", str(models[path]),
                       str(seconds), str(save)]  # fmt: skip
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
                results[path] = json.loads(lines[-1][7:]) if lines else {"error": proc.stderr.strip()[-200:]}
            diff = float(np.abs(np.load(tmp / f"chunked-{seconds}.npy") - np.load(tmp / f"toeplitz-{seconds}.npy")).max()) \
                if all("rtf" in r for r in results.values()) else float("nan")  # fmt: skip
            rows.append((seconds, results, diff))
            print(f"{seconds:.0f} s done", file=sys.stderr, flush=True)
    print(
        f"\n{args.preset} largest subnet, exported encoder, onnxruntime 1 thread, median of {args.repeat} runs\n"
    )
    print("| audio | chunked RTF | chunked peak RSS | Toeplitz RTF | Toeplitz peak RSS | max abs diff |")
    print("|---|---|---|---|---|---|")
    for seconds, r, diff in rows:
        cells = []
        for path in PATHS:
            got = r[path]
            cells += (
                [f"{got['rtf']:.4f}", f"{got['peak_mb']:.0f} MB"]
                if "rtf" in got
                else ["failed", got["error"]]
            )
        print(f"| {seconds:.0f} s | {' | '.join(cells)} | {diff:.1e} |")


if __name__ == "__main__":
    main()
