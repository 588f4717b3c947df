#!/usr/bin/env python3
"""Compute 80-dim Kaldi fbank (lilcom storage) for the manifests of each part.

Usage (from egs/librispeech/todm):
    ./local/compute_fbank.py --manifest-dir data/manifests --output-dir data/fbank \
        --parts train-clean-100,dev-clean,dev-other,test-clean,test-other --num-jobs 2 [--perturb-speed true] \
        [--reverb-fraction 0.5 --rir-dir download/rirs]

Writes data/fbank/librispeech_cuts_<part>.jsonl.gz and librispeech_feats_<part>.lca (icefall's names).
Train parts get the augmented copies asked for: speed 0.9/1.1, reverberant copies (IDs ending in _rvb) of a
fraction of the cuts with impulse responses from --rir-dir.
The feature options live in todm/data/features.py (shared with the deployment front end).
"""

import argparse

from todm.cli import run_main, setup_logging, str2bool
from todm.data.fbank import compute_fbank


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--manifest-dir", required=True)
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--parts", default="train-clean-100,dev-clean,dev-other,test-clean,test-other")
    parser.add_argument("--num-jobs", type=int, default=1)
    parser.add_argument(
        "--perturb-speed", type=str2bool, default=False, help="add 0.9/1.1 copies of train parts"
    )
    parser.add_argument(
        "--reverb-fraction",
        type=float,
        default=0.0,
        help="add reverberant copies of this fraction of train cuts",
    )
    parser.add_argument(
        "--rir-dir", default=None, help="impulse responses (*.wav, *.flac) for --reverb-fraction"
    )
    parser.add_argument("--seed", type=int, default=42)
    return parser


def main() -> None:
    args = get_parser().parse_args()
    setup_logging()
    parts = [p for p in args.parts.split(",") if p]
    compute_fbank(
        args.manifest_dir,
        args.output_dir,
        parts,
        num_jobs=args.num_jobs,
        perturb_speed=args.perturb_speed,
        reverb_fraction=args.reverb_fraction,
        rir_dir=args.rir_dir,
        seed=args.seed,
    )


if __name__ == "__main__":
    run_main(main)
