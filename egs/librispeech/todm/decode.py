#!/usr/bin/env python3
"""Decode test sets with a subnet of the trained supernet (or a standalone export); icefall's result files.

Usage (from egs/librispeech/todm):
    # greedy search, largest subnet, the averaged model between epoch-6.pt and epoch-8.pt
    ./decode.py --exp-dir exp --epoch 8 --avg 2 --use-averaged-model true \
        --bpe-model data/lang_bpe_500/bpe.model --decoding-method greedy_search
    # modified beam search with a searched subnet
    ./decode.py --exp-dir exp --epoch 8 --avg 2 --subnet exp/search/subnet-small.json \
        --decoding-method modified_beam_search --beam-size 4
    # the smallest subnet, plain average of checkpoint-K.pt files with K <= 3000
    ./decode.py --exp-dir exp --iter 3000 --avg 3 --use-averaged-model false --subnet smallest
    # a standalone export (export.py)
    ./decode.py --exp-dir exp --model-path exp/exported/largest/model.pt
    # streaming: a causal supernet (run.sh --streaming true) decoded in 320 ms chunks with carried states
    ./decode.py --exp-dir exp-streaming --iter 9000 --avg 4 --decode-chunk-len 32

Writes, under <exp-dir>/<decoding-method>/ (icefall's names, key = greedy_search or beam_size_<B>):
    recogs-<set>-<key>-<suffix>.txt, errs-<set>-<key>-<suffix>.txt, wer-summary-<set>-<key>-<suffix>.txt,
    rtf-<set>-<key>-<suffix>.txt, and wer-by-type-<set>-<key>-<suffix>.txt when
    <corpus-dir>/<set>/utt2type.txt exists (the embedded corpus writes it),
with suffix e.g. epoch-8-avg-2-context-2-max-sym-per-frame-1-use-averaged-model-subnet-largest
(icefall's suffix plus the subnet name), and log/log-decode-<suffix>-<time>.
The WER and the real-time factor (model seconds / audio seconds) of each set are logged.
--subnet: largest (default; a one-by-one baseline checkpoint decodes its own fixed subnet), smallest, or
a subnet JSON file (search.py writes them).
"""

import argparse
import logging
import time
from pathlib import Path

import torch

from todm.cli import positive_int, run_main, setup_logging
from todm.data.bpe import bpe_pieces, check_same_vocabulary, load_bpe
from todm.data.loader import check_vocab, load_cuts
from todm.decode import (
    METHODS,
    add_checkpoint_arguments,
    decode_cuts,
    load_model_for_decoding,
    read_utt2type,
    store_transcripts,
    wer_by_type,
    write_error_stats,
    write_wer_by_type,
    write_wer_summary,
)
from todm.errors import UserError
from todm.io import write_text_atomic
from todm.model import num_params

log = logging.getLogger(__name__)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add_checkpoint_arguments(parser)
    add("--subnet", default=None, help="largest | smallest | subnet JSON file (default: largest)")
    add("--model-path", default=None, help="a standalone model from export.py (instead of checkpoints)")
    add("--bpe-model", default="data/lang_bpe_500/bpe.model")
    add("--manifest-dir", default="data/fbank", help="directory with librispeech_cuts_<set>.jsonl.gz")
    add("--test-sets", default="test-clean,test-other")
    add(
        "--corpus-dir",
        default="download/LibriSpeech",
        help="where <set>/utt2type.txt is looked for (optional per-sentence-type WER)",
    )
    add("--decoding-method", default="greedy_search", choices=METHODS)
    add("--beam-size", type=positive_int, default=4, help="modified_beam_search: hypotheses kept per frame")
    add("--max-sym-per-frame", type=int, default=1, help="greedy_search: symbols per frame at most")
    add("--max-duration", type=float, default=100.0, help="seconds of audio per batch")
    add(
        "--decode-chunk-len",
        type=int,
        default=0,
        help="streaming decode of a causal model: chunks of this many feature frames (multiple of 4, "
        "e.g. 32 = 320 ms) with carried states; 0: whole utterances",
    )
    add("--num-threads", type=int, default=0, help="torch threads (0: torch's default)")
    return parser


def result_names(params, subnet_name: str, weights_suffix: str) -> tuple[str, str]:
    """(key, suffix) as icefall's decode.py names its files, plus our subnet name."""
    if params.decoding_method == "modified_beam_search":
        key, suffix = f"beam_size_{params.beam_size}", f"{weights_suffix}-beam-{params.beam_size}"
    else:
        key = "greedy_search"
        suffix = (
            f"{weights_suffix}-context-{params.context_size}-max-sym-per-frame-{params.max_sym_per_frame}"
        )
    if params.use_averaged_model and not params.model_path:
        suffix += "-use-averaged-model"
    if params.decode_chunk_len:
        suffix += f"-streaming-chunk-{params.decode_chunk_len}"
    return key, f"{suffix}-subnet-{subnet_name}"


def main() -> None:
    params = get_parser().parse_args()
    if params.num_threads > 0:
        torch.set_num_threads(params.num_threads)
    res_dir = Path(params.exp_dir) / params.decoding_method
    loaded = load_model_for_decoding(params)
    params.context_size = loaded.model.cfg.context_size
    key, suffix = result_names(params, loaded.subnet_name, loaded.suffix)
    setup_logging(Path(params.exp_dir) / "log" / f"log-decode-{suffix}-{time.strftime('%Y-%m-%d-%H-%M-%S')}")
    log.info("decoding with %s", vars(params))
    sp = load_bpe(params.bpe_model)
    check_vocab(sp, loaded.model.cfg.vocab_size, params.bpe_model)
    check_same_vocabulary(bpe_pieces(sp), f"--bpe-model {params.bpe_model}", loaded.vocabulary)
    subnet = loaded.subnet
    model = loaded.model
    if subnet is not None:  # decode the extracted subnet: same outputs, less work per frame
        log.info("subnet %s: %s", loaded.subnet_name, subnet.describe())
        model, subnet = model.extract(subnet).eval(), None
    if params.decode_chunk_len and (params.decode_chunk_len < 0 or params.decode_chunk_len % 4):
        raise UserError(f"--decode-chunk-len {params.decode_chunk_len}: expected a positive multiple of 4")
    if params.decode_chunk_len and not model.cfg.causal:
        raise UserError(
            "--decode-chunk-len: this model is not causal, it cannot stream (train it with --causal true, "
            "as run.sh --streaming true does)"
        )
    log.info("model: %.2fM parameters (deployed)", num_params(model.cfg, None, False) / 1e6)
    test_sets = [s for s in params.test_sets.split(",") if s]
    for test_set in test_sets:
        cuts = load_cuts(params.manifest_dir, [test_set])
        results, timing = decode_cuts(
            model,
            subnet,
            cuts,
            sp,
            params.decoding_method,
            params.beam_size,
            params.max_sym_per_frame,
            params.max_duration,
            params.decode_chunk_len,
        )
        name = f"{test_set}-{key}-{suffix}"
        store_transcripts(res_dir / f"recogs-{name}.txt", results)
        stats = write_error_stats(res_dir / f"errs-{name}.txt", f"{test_set}-{key}", results)
        write_wer_summary(res_dir / f"wer-summary-{name}.txt", [(key, stats["wer"])])
        write_text_atomic(
            res_dir / f"rtf-{name}.txt",
            f"decode_seconds\taudio_seconds\trtf\n{timing.decode_seconds:.3f}\t"
            f"{timing.audio_seconds:.3f}\t{timing.rtf:.4f}\n",
        )
        utt2type = Path(params.corpus_dir) / test_set / "utt2type.txt"
        if utt2type.is_file():
            rows = wer_by_type(results, read_utt2type(utt2type))
            write_wer_by_type(res_dir / f"wer-by-type-{name}.txt", rows)
            log.info(
                "[%s] WER by sentence type: %s", test_set, ", ".join(f"{k} {s['wer']:.2f}%" for k, s in rows)
            )
        log.info(
            "[%s] %s: WER %.2f%% over %d words, RTF %.4f (%.1f s for %.1f s of audio)",
            test_set,
            key,
            stats["wer"],
            stats["words"],
            timing.rtf,
            timing.decode_seconds,
            timing.audio_seconds,
        )
    log.info("results in %s", res_dir)


if __name__ == "__main__":
    run_main(main)
