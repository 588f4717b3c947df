"""What the three transcription scripts share (pretrained.py, sherpa_onnx_pretrained.py, onnx_pretrained.py):
their search and file arguments, and the transcript + real-time-factor report."""

from __future__ import annotations

import argparse
import logging

import numpy as np

from todm.cli import positive_int, str2bool
from todm.data.features import SAMPLE_RATE

log = logging.getLogger(__name__)


def add_bundle_arguments(parser: argparse.ArgumentParser) -> None:
    """An exported bundle's ONNX files: --model-dir, --int8."""
    add = parser.add_argument
    add("--model-dir", required=True, help="export.py output: encoder/decoder/joiner(.int8).onnx, tokens.txt")
    add("--int8", type=str2bool, default=False, help="use the *.int8.onnx files")


def add_transcribe_arguments(parser: argparse.ArgumentParser) -> None:
    """The search, the thread count and the sound files."""
    add = parser.add_argument
    add("--decoding-method", default="greedy_search", choices=["greedy_search", "modified_beam_search"])
    add(
        "--beam-size",
        type=positive_int,
        default=4,
        help="modified_beam_search (sherpa-onnx: max_active_paths)",
    )
    add("--num-threads", type=positive_int, default=1)
    add("sound_files", nargs="+", help="audio files to transcribe (any format soundfile reads)")


def report_transcripts(files: list[str], texts: list[str], waves: list[np.ndarray], seconds: float) -> None:
    """Print "<file>: <text>" per file; log the real-time factor of `seconds` of model time."""
    for path, text in zip(files, texts):
        print(f"{path}: {text}")
    audio = sum(len(w) for w in waves) / SAMPLE_RATE
    log.info("%d files, %.2f s of audio in %.3f s: RTF %.4f", len(waves), audio, seconds, seconds / audio)
