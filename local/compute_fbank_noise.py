#!/usr/bin/env python3
"""Fbank of the noise that training mixes in (CutMix): MUSAN's music and noise, or the embedded noise clips.

Usage (from egs/librispeech/todm):
    ./local/compute_fbank_noise.py --musan-dir /data/musan --out data/fbank/musan_cuts.jsonl.gz
    ./local/compute_fbank_noise.py --noise-dir download/noise --out data/fbank/noise_cuts.jsonl.gz

As icefall's compute_fbank_musan.py: recordings cut into 10 s windows, windows of 5 s or less dropped,
features stored next to the cuts (lilcom). Skips the work when --out exists.
"""

import argparse
import logging
from pathlib import Path

import torch

from todm.cli import run_main, setup_logging
from todm.data.noise import compute_noise_fbank, musan_recordings, noise_recordings
from todm.errors import UserError


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--musan-dir", default="", help="MUSAN (music/, noise/ inside)")
    parser.add_argument("--noise-dir", default="", help="embedded noise clips (local/prepare_noise.py)")
    parser.add_argument(
        "--out", required=True, help="cut manifest to write, e.g. data/fbank/musan_cuts.jsonl.gz"
    )
    parser.add_argument("--num-jobs", type=int, default=1)
    return parser


def main() -> None:
    args = get_parser().parse_args()
    setup_logging()
    if bool(args.musan_dir) == bool(args.noise_dir):
        raise UserError("give exactly one of --musan-dir and --noise-dir")
    if Path(args.out).is_file():
        logging.info("%s exists, skipping", args.out)
        return
    recordings = musan_recordings(args.musan_dir) if args.musan_dir else noise_recordings(args.noise_dir)
    torch.set_num_threads(1)  # feature workers are processes
    compute_noise_fbank(recordings, args.out, args.num_jobs)


if __name__ == "__main__":
    run_main(main)
