#!/usr/bin/env python3
"""Write lhotse manifests for a LibriSpeech-layout corpus or for Kaldi data directories.

Usage (from egs/librispeech/todm):
    ./local/prepare_manifests.py --corpus-dir download/LibriSpeech --manifest-dir data/manifests \
        --parts train-clean-100,dev-clean,dev-other,test-clean,test-other --num-jobs 2
    ./local/prepare_manifests.py --manifest-dir data/manifests \
        --kaldi-data-dirs train-clean-100=/path/kaldi/data/train,test-clean=/path/kaldi/data/test

Writes data/manifests/librispeech_{recordings,supervisions}_<part>.jsonl.gz (icefall's names).
"""

import argparse

from todm.cli import run_main, setup_logging
from todm.data.manifests import import_kaldi_data_dir, prepare_librispeech_manifests
from todm.errors import UserError


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus-dir", help="LibriSpeech directory holding the parts")
    parser.add_argument("--manifest-dir", required=True)
    parser.add_argument("--parts", default="train-clean-100,dev-clean,dev-other,test-clean,test-other")
    parser.add_argument("--kaldi-data-dirs", default="", help="comma-separated part=kaldi_dir pairs")
    parser.add_argument("--num-jobs", type=int, default=1)
    return parser


def main() -> None:
    args = get_parser().parse_args()
    setup_logging()
    if args.kaldi_data_dirs:
        for pair in args.kaldi_data_dirs.split(","):
            part, sep, kaldi_dir = pair.partition("=")
            if not sep or not part or not kaldi_dir:
                raise UserError(f"--kaldi-data-dirs: expected part=dir pairs, got '{pair}'")
            import_kaldi_data_dir(kaldi_dir, args.manifest_dir, part)
        return
    if not args.corpus_dir:
        raise UserError("--corpus-dir is required unless --kaldi-data-dirs is given")
    parts = [p for p in args.parts.split(",") if p]
    prepare_librispeech_manifests(args.corpus_dir, args.manifest_dir, parts, num_jobs=args.num_jobs)


if __name__ == "__main__":
    run_main(main)
