#!/usr/bin/env python3
"""Train a sentencepiece BPE (unigram) model on the training transcripts, icefall-style.

Usage (from egs/librispeech/todm):
    ./local/train_bpe_model.py --manifest-dir data/manifests --train-parts train-clean-100 \
        --lang-dir data/lang_bpe_500 --vocab-size 500

Writes <lang-dir>/{transcript_words.txt,bpe.model,tokens.txt}; tokens.txt has <blk>=0, <sos/eos>=1, <unk>=2.
"""

import argparse
from pathlib import Path

from todm.cli import run_main, setup_logging
from todm.data.bpe import train_bpe, write_transcript
from todm.data.manifests import manifest_paths


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--manifest-dir", required=True)
    parser.add_argument("--train-parts", default="train-clean-100")
    parser.add_argument("--lang-dir", required=True)
    parser.add_argument("--vocab-size", type=int, default=500)
    return parser


def main() -> None:
    args = get_parser().parse_args()
    setup_logging()
    lang_dir = Path(args.lang_dir)
    sups = [manifest_paths(args.manifest_dir, p)[1] for p in args.train_parts.split(",") if p]
    transcript = lang_dir / "transcript_words.txt"
    write_transcript(sups, transcript)
    train_bpe(transcript, lang_dir, args.vocab_size)


if __name__ == "__main__":
    run_main(main)
