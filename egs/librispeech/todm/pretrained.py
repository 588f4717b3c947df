#!/usr/bin/env python3
"""Transcribe sound files with an exported subnet's standalone PyTorch model (icefall's pretrained.py).

The model is export.py's `model.pt` (todm.export.load_standalone: its own config, no supernet needed); the
features are the training front end's (lhotse's KaldifeatFbank, or Fbank without kaldifeat); the search is
todm's greedy_search / modified_beam_search. sherpa_onnx_pretrained.py and onnx_pretrained.py run the same
bundle's ONNX files instead.

Usage (from egs/librispeech/todm):
    ./pretrained.py --checkpoint exp/exported/smallest/model.pt a.wav b.flac
    ./pretrained.py --checkpoint exp/exported/smallest/model.pt --decoding-method modified_beam_search a.wav
    ./pretrained.py --checkpoint exp/exported/smallest/model.pt --tokens data/lang_bpe_500/tokens.txt a.wav

Audio handling as sherpa_onnx_pretrained.py. Prints "<file>: <text>" per file, and the real-time factor.
"""

import argparse
import time
from pathlib import Path

import torch

from todm.cli import run_main, setup_logging
from todm.data.features import SAMPLE_RATE, make_lhotse_extractor
from todm.decode import decode_features
from todm.errors import UserError
from todm.export import read_tokens, read_wave, tokens_to_text
from todm.export.standalone import load_standalone
from todm.export.transcribe import add_transcribe_arguments, report_transcripts


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--checkpoint", required=True, help="export.py's standalone model.pt")
    add("--tokens", default=None, help="tokens.txt (default: the one next to --checkpoint)")
    add_transcribe_arguments(parser)
    return parser


@torch.no_grad()
def main() -> None:
    params = get_parser().parse_args()
    setup_logging()
    torch.set_num_threads(params.num_threads)
    checkpoint = Path(params.checkpoint)
    if not checkpoint.is_file():
        raise UserError(f"--checkpoint {checkpoint}: no such file (export.py writes <out-dir>/model.pt)")
    tokens_path = Path(params.tokens) if params.tokens else checkpoint.with_name("tokens.txt")
    pieces = read_tokens(tokens_path)
    model = load_standalone(checkpoint).eval()
    if len(pieces) != model.cfg.vocab_size:
        raise UserError(
            f"--tokens {tokens_path}: {len(pieces)} tokens but the model's vocab_size is {model.cfg.vocab_size}"
        )
    unk = pieces.index("<unk>") if "<unk>" in pieces else None  # read as blank, as icefall and sherpa-onnx
    extractor = make_lhotse_extractor()
    waves = [read_wave(f) for f in params.sound_files]
    start, texts = time.perf_counter(), []
    for wave in waves:
        features = torch.from_numpy(extractor.extract(wave, SAMPLE_RATE)).unsqueeze(0)
        lens = torch.tensor([features.size(1)])
        (hyp,) = decode_features(
            model, None, features, lens, params.decoding_method, params.beam_size, unk_id=unk
        )
        texts.append(tokens_to_text(hyp, pieces))
    report_transcripts(params.sound_files, texts, waves, time.perf_counter() - start)


if __name__ == "__main__":
    run_main(main)
