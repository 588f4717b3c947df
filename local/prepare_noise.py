#!/usr/bin/env python3
"""Make the embedded augmentation data offline: noise clips for CutMix and room impulse responses.

Usage (from egs/librispeech/todm):
    ./local/prepare_noise.py --speech-dir download/LibriSpeech/train-clean-100 \
        --noise-dir download/noise --rir-dir download/rirs [--clips-per-kind 40 --num-rirs 100]

Writes download/noise/<kind>/<kind>-NNNN.flac (babble from the training speech, coloured noise, mains hum,
clicks, music-like tones; 10 s each) and download/rirs/rir-NNNN.flac (simulated rooms, RT60 0.2-0.8 s).
Re-running keeps finished files. Users with MUSAN give run.sh --musan-dir instead of the noise clips.
"""

import argparse

from todm.cli import non_negative_int, run_main, setup_logging
from todm.data.noise import make_noise_corpus
from todm.data.rir import make_rirs


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--speech-dir", default="", help="training speech (FLAC) that babble is made of")
    parser.add_argument("--noise-dir", default="", help="where the noise clips go ('' : none)")
    parser.add_argument("--rir-dir", default="", help="where the impulse responses go ('' : none)")
    parser.add_argument("--clips-per-kind", type=non_negative_int, default=40)
    parser.add_argument("--num-rirs", type=non_negative_int, default=100)
    parser.add_argument("--seed", type=int, default=42)
    return parser


def main() -> None:
    args = get_parser().parse_args()
    setup_logging()
    if args.noise_dir:
        make_noise_corpus(args.noise_dir, args.speech_dir, args.clips_per_kind, args.seed)
    if args.rir_dir:
        make_rirs(args.rir_dir, args.num_rirs, args.seed)


if __name__ == "__main__":
    run_main(main)
