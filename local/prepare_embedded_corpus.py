#!/usr/bin/env python3
"""Synthesize the embedded default corpus (espeak-ng, festival; flite for test-heldout) in LibriSpeech's layout.

Usage (from egs/librispeech/todm):
    ./local/prepare_embedded_corpus.py --dl-dir download --profile default --seed 42 --num-jobs 2
    ./local/prepare_embedded_corpus.py --dl-dir download --hours train-clean-100=3.0,dev-clean=0.2

Writes download/LibriSpeech/<part>/<speaker>/<chapter>/*.flac and *.trans.txt for train-clean-100, dev-clean,
dev-other, test-clean, test-other and test-heldout (test-clean's sentences read by flite, an engine no other
part uses), <part>/utt2type.txt (sentence type per utterance), SPEAKERS.TXT and CHAPTERS.TXT. Profiles: default (train 3.0 h, each dev/test part 0.2 h), tiny (CI: 2 min train, ~20
utterances per dev/test part); --hours overrides the profile per part (0 skips a part). Re-running resumes
an interrupted run and leaves complete parts alone. --festival-every 0 makes the espeak-ng-only training part
of earlier versions (the other parts do not depend on it).
"""

import argparse
import logging

from todm.cli import non_negative_int, run_main, setup_logging
from todm.data.corpus import PROFILES, parse_hours, prepare_embedded_corpus
from todm.data.speakers import FESTIVAL_EVERY


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dl-dir", required=True, help="directory that receives LibriSpeech/")
    parser.add_argument("--profile", default="default", choices=sorted(PROFILES))
    parser.add_argument("--hours", default="", help="per-part hours, e.g. train-clean-100=3.0,dev-clean=0.2")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--num-jobs", type=int, default=None, help="parallel synthesis jobs (default: nproc)")
    parser.add_argument(
        "--festival-every",
        type=non_negative_int,
        default=FESTIVAL_EVERY,
        help="every k-th training speaker is a festival voice; 0: espeak-ng only",
    )
    return parser


def main() -> None:
    args = get_parser().parse_args()
    setup_logging()
    hours = parse_hours(args.hours) if args.hours else None
    corpus = prepare_embedded_corpus(
        args.dl_dir, hours, args.profile, args.seed, args.num_jobs, args.festival_every
    )
    logging.getLogger(__name__).info("corpus ready: %s", corpus)


if __name__ == "__main__":
    run_main(main)
