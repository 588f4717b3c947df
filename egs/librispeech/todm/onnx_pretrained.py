#!/usr/bin/env python3
"""Transcribe sound files with an exported subnet in onnxruntime directly (no sherpa-onnx).

Features: kaldi-native-fbank with the training options (todm.data.features.knf_fbank); search: todm's
greedy_search / modified_beam_search running the three ONNX sessions (icefall's onnx_pretrained.py does
the same with its own loop). Useful to check an export without sherpa-onnx, and to debug it.

Usage (from egs/librispeech/todm):
    ./onnx_pretrained.py --model-dir exp/exported/smallest a.wav b.flac
    ./onnx_pretrained.py --model-dir exp/exported/smallest --int8 true a.wav
    ./onnx_pretrained.py --model-dir exp/exported/smallest --decoding-method modified_beam_search --beam-size 4 a.wav

Audio handling as sherpa_onnx_pretrained.py. Prints "<file>: <text>" per file, and the real-time factor.
"""

import argparse
import logging
import time

from todm.cli import positive_int, run_main, setup_logging, str2bool
from todm.data.features import SAMPLE_RATE
from todm.export import OnnxTransducer, read_wave, tokens_to_text

log = logging.getLogger(__name__)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--model-dir", required=True, help="export.py output: encoder/decoder/joiner(.int8).onnx, tokens.txt")
    add("--int8", type=str2bool, default=False, help="use the *.int8.onnx files")
    add("--decoding-method", default="greedy_search", choices=["greedy_search", "modified_beam_search"])
    add("--beam-size", type=positive_int, default=4)
    add("--max-sym-per-frame", type=int, default=1)
    add("--num-threads", type=int, default=1)
    add("sound_files", nargs="+", help="audio files to transcribe")
    return parser


def main() -> None:
    params = get_parser().parse_args()
    setup_logging()
    waves = [read_wave(f) for f in params.sound_files]
    model = OnnxTransducer(params.model_dir, params.int8, params.num_threads)
    start = time.perf_counter()
    hyps = [
        model.decode_samples([w], params.decoding_method, params.beam_size, params.max_sym_per_frame)[0]
        for w in waves
    ]
    elapsed = time.perf_counter() - start
    for path, tokens in zip(params.sound_files, hyps):
        print(f"{path}: {tokens_to_text(tokens, model.pieces)}")
    audio = sum(len(w) for w in waves) / SAMPLE_RATE
    log.info("%d files, %.2f s of audio in %.3f s: RTF %.4f", len(waves), audio, elapsed, elapsed / audio)


if __name__ == "__main__":
    run_main(main)
