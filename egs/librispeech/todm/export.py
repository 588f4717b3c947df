#!/usr/bin/env python3
"""Export one subnet of the trained supernet as a real, smaller model: PyTorch + sherpa-onnx ONNX (+ int8).

Usage (from egs/librispeech/todm):
    ./export.py --exp-dir exp --epoch 8 --avg 2 --use-averaged-model true --subnet smallest \
        --tokens data/lang_bpe_500/tokens.txt
    ./export.py --exp-dir exp --epoch 8 --avg 2 --subnet exp/search/subnet-small.json \
        --out-dir exp/exported/small --decode-sets test-clean,test-other     # fill WER/RTF in the card
    ./export.py ... --wer-summary test-clean=exp/greedy_search/wer-summary-test-clean-greedy_search-...txt
    ./export.py --exp-dir exp-streaming --iter 9000 --avg 4 --subnet smallest --streaming true  # causal supernet

Writes <out-dir> (default <exp-dir>/exported/<subnet name>):
    model.pt                       standalone PyTorch model (todm.export.load_standalone; no supernet needed)
    encoder.onnx decoder.onnx joiner.onnx tokens.txt    sherpa-onnx offline transducer, or with --streaming
                                   true a streaming one (sherpa-onnx OnlineRecognizer; docs/streaming.md)
    encoder.int8.onnx decoder.int8.onnx joiner.int8.onnx    dynamic int8 (--int8 true)
    subnet.json model_card.json    the subnet and its card (params, MACs/s, file sizes, WER, RTF)
Then transcribe wav files with ./pretrained.py (PyTorch, model.pt), ./sherpa_onnx_pretrained.py (sherpa-onnx) or
./onnx_pretrained.py (onnxruntime).
WER/RTF in the card: --decode-sets runs PyTorch greedy search on those sets (precomputed fbank from
--manifest-dir); --wer-summary copies WERs from decode.py's wer-summary files. Otherwise they are null.
"""

import argparse
import json
import logging
import shutil
from pathlib import Path

import torch

from todm.checkpoint import checkpoint_progress
from todm.cli import run_main, setup_logging, str2bool
from todm.data.bpe import check_same_vocabulary, vocabulary_fingerprint
from todm.decode import (
    add_checkpoint_arguments,
    decode_cuts,
    load_averaged_model,
    read_wer_summary,
    resolve_subnet,
)
from todm.errors import UserError
from todm.export import export_onnx, model_card, quantize_int8, read_tokens, save_standalone, write_model_card
from todm.export.streaming_export import export_streaming_onnx
from todm.io import write_text_atomic
from todm.model import num_params
from todm.model.streaming import LOOKAHEAD_FRAMES

log = logging.getLogger(__name__)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add_checkpoint_arguments(parser)
    add("--subnet", default=None, help="largest | smallest | subnet JSON file (default: largest)")
    add("--tokens", default="data/lang_bpe_500/tokens.txt", help="icefall tokens.txt of the BPE model")
    add("--out-dir", default=None, help="default: <exp-dir>/exported/<subnet name>")
    add("--int8", type=str2bool, default=True, help="also write dynamically quantized *.int8.onnx")
    add("--onnx", type=str2bool, default=True, help="write the ONNX files (false: model.pt only)")
    add("--decode-sets", default="", help="comma-separated sets to decode (greedy) for the model card")
    add(
        "--sherpa-eval",
        type=str2bool,
        default=True,
        help="with --decode-sets: also decode them from the audio with sherpa-onnx, fp32 and int8 files "
        "(WER, RTF, peak memory in the card)",
    )
    add(
        "--streaming",
        type=str2bool,
        default=False,
        help="export a streaming bundle (sherpa-onnx OnlineRecognizer): needs a causal supernet "
        "(train.py --causal true, run.sh --streaming true)",
    )
    add(
        "--decode-chunk-len",
        type=int,
        default=32,
        help="--streaming: feature frames per chunk, a multiple of 4 (32 = 320 ms)",
    )
    add("--manifest-dir", default="data/fbank")
    add("--bpe-model", default=None, help="for --decode-sets (default: bpe.model beside --tokens)")
    add("--wer-summary", default="", help="set=wer-summary-file,... copied into the model card")
    add("--max-duration", type=float, default=100.0)
    return parser


def main() -> None:
    params = get_parser().parse_args()
    model, state, weights = load_averaged_model(
        params.exp_dir,
        params.epoch,
        params.iter,
        params.avg,
        params.use_averaged_model,
        params.average_period,
    )
    subnet, name = resolve_subnet(
        params.subnet, model.cfg, state.get("fixed_subnet"), state.get("baseline_of")
    )
    out_dir = Path(params.out_dir or Path(params.exp_dir) / "exported" / name)
    setup_logging(out_dir / "log-export")
    pieces = read_tokens(params.tokens)
    if len(pieces) != model.cfg.vocab_size:
        raise UserError(
            f"--tokens {params.tokens}: {len(pieces)} tokens but the checkpoint's vocab_size is "
            f"{model.cfg.vocab_size}"
        )
    check_same_vocabulary(pieces, f"--tokens {params.tokens}", state.get("vocabulary"))
    chunk = params.decode_chunk_len if params.streaming else 0
    if params.streaming and not model.cfg.causal:
        raise UserError(
            f"--streaming true: the supernet in {params.exp_dir} is not causal (train it with --causal true, "
            "as run.sh --streaming true does)"
        )
    if params.streaming and (chunk < 4 or chunk % 4):
        raise UserError(f"--decode-chunk-len {chunk}: expected a positive multiple of 4")
    small = model.extract(subnet).eval()
    source = {
        "exp_dir": str(params.exp_dir),
        "weights": weights + ("-use-averaged-model" if params.use_averaged_model else ""),
        "subnet_name": name,
        "batch_idx_train": checkpoint_progress(state).get("batch_idx_train"),
    }
    log.info(
        "subnet %s: %s, %.2fM deployed parameters",
        name,
        subnet.describe(),
        num_params(model.cfg, subnet, False) / 1e6,
    )
    save_standalone(out_dir / "model.pt", small, {**source, "subnet": subnet.to_dict()})
    write_text_atomic(out_dir / "subnet.json", json.dumps(subnet.to_dict(), indent=2) + "\n")
    shutil.copyfile(params.tokens, out_dir / "tokens.txt")
    if params.onnx:
        meta = {"subnet": subnet.to_json(), "source": json.dumps(source)}
        if params.streaming:
            paths = export_streaming_onnx(small, out_dir, chunk, meta)
        else:
            paths = export_onnx(small, out_dir, meta)
        if params.int8:
            quantize_int8(paths)
    wer, rtf, peak = {}, {}, {}
    for item in filter(None, params.wer_summary.split(",")):
        test_set, _, path = item.partition("=")
        if not path:
            raise UserError(f"--wer-summary {item}: expected set=path")
        wer[test_set] = read_wer_summary(path)
    sets = [s for s in params.decode_sets.split(",") if s]
    if sets:
        from todm.data.bpe import load_bpe
        from todm.data.loader import load_cuts
        from todm.decode import word_error_rate
        from todm.export.bundle_eval import evaluate_bundle

        sp = load_bpe(params.bpe_model or Path(params.tokens).with_name("bpe.model"))
        for test_set in sets:
            cuts = load_cuts(params.manifest_dir, [test_set])
            results, timing = decode_cuts(
                small, None, cuts, sp, max_duration=params.max_duration, chunk_frames=chunk
            )
            stats = word_error_rate([r for _, r, _ in results], [h for _, _, h in results])
            wer[test_set] = {"greedy_search": round(stats["wer"], 2)}
            rtf[test_set] = {
                "pytorch_greedy_search": round(timing.rtf, 5),
                "threads": torch.get_num_threads(),
            }
            log.info("[%s] WER %.2f%%, PyTorch RTF %.4f", test_set, stats["wer"], timing.rtf)
            if params.onnx and params.sherpa_eval:
                for dtype, got in evaluate_bundle(out_dir, cuts, 1, params.int8).items():
                    wer[test_set][f"sherpa_onnx_{dtype}_greedy_search"] = got["greedy_search"]
                    rtf[test_set][f"sherpa_onnx_{dtype}"] = got["rtf"]
                    peak[f"sherpa_onnx_{dtype}"] = max(peak.get(f"sherpa_onnx_{dtype}", 0.0), got["peak_mb"])
                    if "chunk_ms" in got:
                        rtf[test_set][f"sherpa_onnx_{dtype}_chunk_ms"] = got["chunk_ms"]
                    log.info(
                        "[%s] sherpa-onnx %s: WER %.2f%%, RTF %.4f, peak memory %.1f MB (1 thread)",
                        test_set,
                        dtype,
                        got["greedy_search"],
                        got["rtf"],
                        got["peak_mb"],
                    )
    streaming = None
    if params.streaming:
        streaming = {"decode_chunk_len": chunk, "chunk_ms": chunk * 10, "lookahead_ms": LOOKAHEAD_FRAMES * 10}
    card = model_card(
        model.cfg, subnet, out_dir, name, source, wer, rtf, vocabulary_fingerprint(pieces), peak, streaming
    )
    write_model_card(out_dir / "model_card.json", card)
    log.info("exported %s to %s (%d files)", name, out_dir, len(card["file_bytes"]))


if __name__ == "__main__":
    run_main(main)
