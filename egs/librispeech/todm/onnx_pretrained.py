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
import time

from todm.cli import positive_int, run_main, setup_logging
from todm.export import open_onnx_transducer, read_wave, tokens_to_text
from todm.export.transcribe import add_bundle_arguments, add_transcribe_arguments, report_transcripts


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_bundle_arguments(parser)
    parser.add_argument("--max-sym-per-frame", type=positive_int, default=1)
    add_transcribe_arguments(parser)
    return parser


def main() -> None:
    params = get_parser().parse_args()
    setup_logging()
    waves = [read_wave(f) for f in params.sound_files]
    model = open_onnx_transducer(params.model_dir, params.int8, params.num_threads)
    start = time.perf_counter()
    hyps = [
        model.decode_samples([w], params.decoding_method, params.beam_size, params.max_sym_per_frame)[0]
        for w in waves
    ]
    elapsed = time.perf_counter() - start
    texts = [tokens_to_text(tokens, model.pieces) for tokens in hyps]
    report_transcripts(params.sound_files, texts, waves, elapsed)


if __name__ == "__main__":
    run_main(main)
