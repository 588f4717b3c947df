#!/usr/bin/env python3
"""Write the warm-up part of a training part: its cuts without reverberant copies, of one engine's speakers.

Usage (from egs/librispeech/todm; run.sh stage 4 does this with --warmup-steps):
    ./local/make_warmup_part.py --manifest-dir data/fbank --part train-clean-100 \
        --speakers-txt download/LibriSpeech/SPEAKERS.TXT --engine espeak-ng

Writes <manifest-dir>/librispeech_cuts_<part>-warmup.jsonl.gz (the same features, no copies), which train.py
reads as the part <part>-warmup. Without --speakers-txt every speaker is kept (a corpus of real speech).
Skips the work when the output exists.
"""

import argparse
import logging

from lhotse import load_manifest_lazy

from todm.cli import run_main, setup_logging
from todm.data.fbank import cuts_path
from todm.data.warmup import WARMUP_SUFFIX, engine_speakers, warmup_cuts
from todm.errors import UserError
from todm.io import atomic_path


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--manifest-dir", default="data/fbank", help="where the part's cuts (with fbank) are")
    parser.add_argument("--part", required=True, help="training part, e.g. train-clean-100")
    parser.add_argument("--speakers-txt", default="", help="SPEAKERS.TXT; empty: keep every speaker")
    parser.add_argument("--engine", default="espeak-ng", help="the speakers whose name starts with this")
    return parser


def main() -> None:
    args = get_parser().parse_args()
    setup_logging()
    source = cuts_path(args.manifest_dir, args.part)
    target = cuts_path(args.manifest_dir, args.part + WARMUP_SUFFIX)
    if target.is_file():
        logging.info("%s exists, skipping", target)
        return
    if not source.is_file():
        raise UserError(f"--part {args.part}: no {source} (run.sh stage 2 makes it)")
    speakers = engine_speakers(args.speakers_txt, args.engine) if args.speakers_txt else None
    cuts = warmup_cuts(load_manifest_lazy(source), speakers).to_eager()
    if len(cuts) == 0:
        raise UserError(f"--part {args.part}: no cut left for the warm-up (speakers of '{args.engine}')")
    with atomic_path(target) as tmp:
        cuts.to_file(tmp)
    logging.info("wrote %s: %d cuts, %.2f h", target, len(cuts), sum(c.duration for c in cuts) / 3600)


if __name__ == "__main__":
    run_main(main)
