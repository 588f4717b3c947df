#!/usr/bin/env python3
"""Decoding speed (real-time factor) of the largest and the smallest subnet on every runtime: PyTorch,
onnxruntime fp32 / int8 (todm's search) and sherpa-onnx fp32 / int8 (its own search), one thread.

Usage (from egs/librispeech/todm, or any dir with the same layout):
    ../../../tools/bench/decode.py --exp-dir exp --epoch 8 --avg 2 --tokens data/lang_bpe_500/tokens.txt
    tools/bench/decode.py --exp-dir /tmp/smoke/exp_b --iter 4 --avg 1 --use-averaged-model false \
        --tokens /tmp/smoke/data/lang_bpe_200/tokens.txt --manifest-dir /tmp/smoke/data/fbank --test-set test-clean

Every runtime starts from the waveform (kaldi-native-fbank features included), one utterance at a time,
after one warm-up utterance. RTF = seconds / seconds of audio. Also prints the WER of each row (meaningful
only for a trained checkpoint). Prints a markdown table.
"""

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch

from todm.cli import positive_int
from todm.data.features import knf_fbank
from todm.data.loader import load_cuts
from todm.decode import add_checkpoint_arguments, decode_features, load_averaged_model, word_error_rate
from todm.export import (
    OnnxTransducer,
    export_onnx,
    quantize_int8,
    read_tokens,
    sherpa_decode,
    sherpa_recognizer,
    tokens_to_text,
    write_tokens_txt,
)
from todm.model import largest, macs, num_params, smallest


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add_checkpoint_arguments(parser)
    add("--tokens", default="data/lang_bpe_500/tokens.txt")
    add("--manifest-dir", default="data/fbank")
    add("--test-set", default="test-clean")
    add("--max-utterances", type=int, default=40)
    add("--beam-size", type=positive_int, default=4)
    return parser


def timed(fn, waves: list) -> tuple[list[str], float]:
    fn(waves[:1])  # warm-up
    start = time.perf_counter()
    texts = fn(waves)
    return texts, time.perf_counter() - start


def main() -> None:
    args = get_parser().parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    model, _, _ = load_averaged_model(args.exp_dir, args.epoch, args.iter, args.avg, args.use_averaged_model)
    pieces = read_tokens(args.tokens)
    cuts = list(load_cuts(args.manifest_dir, [args.test_set]))[: args.max_utterances]
    waves = [c.load_audio()[0] for c in cuts]
    refs = [c.supervisions[0].text.split() for c in cuts]
    audio = sum(c.duration for c in cuts)
    rows = []
    for name, subnet in (("largest", largest(model.cfg)), ("smallest", smallest(model.cfg))):
        small = model.extract(subnet).eval()
        out = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
        quantize_int8(export_onnx(small, out))
        write_tokens_txt(out / "tokens.txt", pieces)
        info = (
            f"{num_params(model.cfg, subnet, False) / 1e6:.2f}M | {macs(model.cfg, subnet, 1000) / 1e7:.0f}"
        )
        for method in ("greedy_search", "modified_beam_search"):
            label = "greedy" if method == "greedy_search" else f"beam {args.beam_size}"

            def torch_run(ws, small=small, method=method):
                texts = []
                for w in ws:
                    x = torch.from_numpy(knf_fbank(w))[None]
                    ids = decode_features(
                        small,
                        None,
                        x,
                        torch.tensor([x.size(1)]),
                        method,
                        args.beam_size,
                        1,
                        pieces.index("<unk>") if "<unk>" in pieces else None,
                    )[0]
                    texts.append(tokens_to_text(ids, pieces))
                return texts

            runtimes = [("PyTorch fp32", torch_run)]
            for int8 in (False, True):
                ort_model = OnnxTransducer(out, int8, 1)
                runtimes.append(
                    (
                        f"onnxruntime {'int8' if int8 else 'fp32'}",
                        lambda ws, m=ort_model, method=method: [
                            tokens_to_text(m.decode_samples([w], method, args.beam_size)[0], pieces)
                            for w in ws
                        ],
                    )
                )
            for int8 in (False, True):
                rec = sherpa_recognizer(out, int8, method, args.beam_size, 1)
                runtimes.append(
                    (
                        f"sherpa-onnx {'int8' if int8 else 'fp32'}",
                        lambda ws, r=rec: [sherpa_decode(r, [w])[0][0] for w in ws],
                    )
                )
            for runtime, fn in runtimes:
                texts, seconds = timed(fn, waves)
                wer = word_error_rate(refs, [t.split() for t in texts])["wer"]
                rows.append(f"| {name} | {info} | {runtime} | {label} | {seconds / audio:.4f} | {wer:.1f} |")
                print(rows[-1], file=sys.stderr, flush=True)
    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, torch/ORT/"
        f"sherpa-onnx threads = 1; {len(cuts)} utterances, {audio:.1f} s of {args.test_set} audio.\n"
    )
    print("| subnet | params (deployed) | encoder MMACs / s (10 s utt.) | runtime | search | RTF | WER % |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
