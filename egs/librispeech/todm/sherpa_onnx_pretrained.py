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
import logging
import time

from todm.cli import positive_int, run_main, setup_logging, str2bool
from todm.data.features import SAMPLE_RATE
from todm.export import read_wave, sherpa_decode, sherpa_recognizer

log = logging.getLogger(__name__)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--model-dir", required=True, help="export.py output: encoder/decoder/joiner(.int8).onnx, tokens.txt")
    add("--int8", type=str2bool, default=False, help="use the *.int8.onnx files")
    add("--decoding-method", default="greedy_search", choices=["greedy_search", "modified_beam_search"])
    add(
        "--beam-size",
        type=positive_int,
        default=4,
        help="modified_beam_search: sherpa-onnx's max_active_paths",
    )
    add("--num-threads", type=int, default=1)
    add("sound_files", nargs="+", help="audio files to transcribe")
    return parser


def main() -> None:
    params = get_parser().parse_args()
    setup_logging()
    waves = [read_wave(f) for f in params.sound_files]
    recognizer = sherpa_recognizer(
        params.model_dir, params.int8, params.decoding_method, params.beam_size, params.num_threads
    )
    start = time.perf_counter()
    results = sherpa_decode(recognizer, waves)
    elapsed = time.perf_counter() - start
    for path, (text, _) in zip(params.sound_files, results):
        print(f"{path}: {text}")
    audio = sum(len(w) for w in waves) / SAMPLE_RATE
    log.info("%d files, %.2f s of audio in %.3f s: RTF %.4f", len(waves), audio, elapsed, elapsed / audio)


if __name__ == "__main__":
    run_main(main)
