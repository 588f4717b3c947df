#!/usr/bin/env python3
"""Transcribe sound files with an exported subnet through sherpa-onnx (the deployment runtime).

sherpa_onnx.OfflineRecognizer.from_transducer computes its own kaldi-native-fbank features and runs its own
greedy / modified beam search over encoder.onnx, decoder.onnx and joiner.onnx (see export.py).

Usage (from egs/librispeech/todm):
    ./sherpa_onnx_pretrained.py --model-dir exp/exported/smallest a.wav b.flac
    ./sherpa_onnx_pretrained.py --model-dir exp/exported/smallest --int8 true --num-threads 1 a.wav
    ./sherpa_onnx_pretrained.py --model-dir exp/exported/smallest --decoding-method modified_beam_search --beam-size 4 a.wav

Audio: any format soundfile reads; several channels are averaged, other sample rates are resampled to
16 kHz (both with a warning); empty files or files shorter than 0.08 s are an error.
Prints "<file>: <text>" per file, and the real-time factor.
"""

import argparse
import time

from todm.cli import run_main, setup_logging
from todm.export import read_wave, sherpa_decode, sherpa_recognizer
from todm.export.runtime import stream_tail_seconds
from todm.export.transcribe import add_bundle_arguments, add_transcribe_arguments, report_transcripts


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_bundle_arguments(parser)
    add_transcribe_arguments(parser)
    return parser


def main() -> None:
    params = get_parser().parse_args()
    setup_logging()
    waves = [read_wave(f) for f in params.sound_files]
    recognizer = sherpa_recognizer(
        params.model_dir, params.int8, params.decoding_method, params.beam_size, params.num_threads
    )
    start = time.perf_counter()
    # a streaming bundle gets silence after each file, so that its last chunk is decoded
    results = sherpa_decode(
        recognizer, waves, tail_seconds=stream_tail_seconds(params.model_dir, params.int8)
    )
    elapsed = time.perf_counter() - start
    report_transcripts(params.sound_files, [text for text, _ in results], waves, elapsed)


if __name__ == "__main__":
    run_main(main)
