#!/usr/bin/env python3
"""What one search evaluation costs: greedy-search WER decoding of the dev subset and the latency measurement,
for the largest and smallest subnet of a checkpoint (or of a randomly initialised cpu_small supernet).

Usage (from egs/librispeech/todm, after `. ./path.sh`):
    ../../../tools/bench/search_latency.py --checkpoint exp/epoch-8.pt --bpe-model data/lang_bpe_500/bpe.model
    ../../../tools/bench/search_latency.py --checkpoint /tmp/smoke/exp_a/checkpoint-4.pt \
        --bpe-model /tmp/smoke/data/lang_bpe_200/bpe.model --manifest-dir /tmp/smoke/data/fbank

Prints a markdown table: subnet, params, seconds per WER evaluation (--num-dev-utts utterances, --num-threads
threads), audio seconds decoded, latency in ms per second of audio (1 thread, median). An untrained model
emits tokens at random, so its greedy search is slower or faster than a trained one's: bench the real one.
"""

import argparse
import time

import torch

from todm.checkpoint import checkpoint_config, read_checkpoint
from todm.data.bpe import load_bpe
from todm.data.loader import load_cuts
from todm.model import largest, smallest
from todm.search import LatencyMeter, WerEvaluator, select_dev_cuts, static_costs


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--bpe-model", default="data/lang_bpe_500/bpe.model")
    parser.add_argument("--manifest-dir", default="data/fbank")
    parser.add_argument("--dev-sets", default="dev-clean,dev-other")
    parser.add_argument("--num-dev-utts", type=int, default=100)
    parser.add_argument("--num-threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="timed WER evaluations per subnet (best kept)")
    return parser


def main() -> None:
    args = get_parser().parse_args()
    torch.set_num_threads(args.num_threads)
    state = read_checkpoint(args.checkpoint)
    from todm.model import Transducer

    model = Transducer(checkpoint_config(state))
    model.load_state_dict(state["model"])
    model.eval()
    sp = load_bpe(args.bpe_model)
    sets = {s: load_cuts(args.manifest_dir, [s]) for s in args.dev_sets.split(",")}
    cuts = select_dev_cuts(sets, args.num_dev_utts)
    evaluator = WerEvaluator(model, cuts, sp)
    by_len = sorted(cuts, key=lambda c: (c.num_frames, c.id))
    cut = by_len[len(by_len) // 2]
    from todm.decode import unk_id_of

    meter = LatencyMeter(model, torch.from_numpy(cut.load_features()).unsqueeze(0), unk_id=unk_id_of(sp))
    print(
        f"dev subset: {evaluator.num_utts} utterances, {evaluator.seconds:.1f} s of audio; "
        f"latency utterance {cut.id} ({cut.duration:.2f} s); {args.num_threads} threads for WER"
    )
    print(
        "| subnet | params | WER % | s per WER evaluation | latency ms/s (1 thread) | s per latency measurement |"
    )
    print("|---|---|---|---|---|---|")
    cfg = model.cfg
    for name, subnet in (("largest", largest(cfg)), ("smallest", smallest(cfg))):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            wer = evaluator.wer(subnet)
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
        latency = meter(subnet)
        lat_s = time.perf_counter() - start
        print(
            f"| {name} {subnet.describe()} | {static_costs(cfg, subnet).params / 1e6:.2f}M | {wer:.2f} | "
            f"{min(times):.2f} | {latency:.1f} | {lat_s:.2f} |"
        )


if __name__ == "__main__":
    main()
