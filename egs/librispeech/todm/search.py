#!/usr/bin/env python3
"""Evolutionary search for the best subnet of a trained supernet under each device budget.

Usage (from egs/librispeech/todm):
    ./search.py --exp-dir exp --epoch 8 --avg 1 --bpe-model data/lang_bpe_500/bpe.model \
        --budgets conf/budgets.yaml
    ./search.py --exp-dir exp --checkpoint exp/checkpoint-600.pt --max-params 2.5M --max-macs 70M
    ./search.py --exp-dir exp --epoch 8 --max-latency-ms 40 --max-model-mb 3 --model-dtype int8
    ./search.py ... --compare-random true        # also run random search with as many evaluations
    ./search.py ... --population 8 --generations 5 --mutation-prob 0.1 --crossover-prob 0.5 \
        --num-elites 4 --seed 42 --dev-sets dev-clean,dev-other --num-dev-utts 0

Without --epoch/--iter/--checkpoint the newest epoch-N.pt or checkpoint-K.pt in --exp-dir is searched.
Budgets: --max-params (deployed parameters), --max-macs (encoder MACs per second of audio, counted on a 10 s
utterance), --max-latency-ms (ms per second of audio of the dev subset's median-length utterance, median of
--latency-repeats after --latency-warmup runs at --latency-threads: by default each subnet exported, int8, and
decoded from the waveform by sherpa-onnx as it ships; --latency-runtime pytorch times the extracted PyTorch
subnet instead), --max-memory-mb (sherpa-onnx's peak memory in that run), --max-model-mb (--model-dtype fp32: 4 bytes/param; int8:
1 byte per Linear/Conv weight + 4 for the rest). Numbers take k/M/G suffixes, or 'P%' (P% of the way from the
smallest subnet to the largest). The command-line budgets form one profile (--profile-name); --budgets adds
the profiles of a YAML file (see conf/budgets.yaml). Each profile gets one chosen subnet.

Writes to --search-dir (default <exp-dir>/search): history.jsonl (every evaluated subnet: WER, params, MACs,
latency, size, generation, profile), latency.jsonl, pareto.json, pareto.png, subnet-<profile>.json
(for decode.py/export.py --subnet), log/log-search-*. Re-running continues from history.jsonl: subnets
already evaluated are not decoded again.
"""

import argparse
import json
import logging
import time
from pathlib import Path

import torch

from todm.checkpoint import checkpoint_config, load_model_state, newest_checkpoint, read_checkpoint
from todm.cli import positive_int, run_main, setup_logging, str2bool
from todm.data.bpe import load_bpe
from todm.data.loader import check_vocab, load_cuts
from todm.errors import UserError
from todm.export.bundle_eval import cut_waves
from todm.io import write_text_atomic
from todm.model import Transducer
from todm.search import (
    BundleSize,
    CostTable,
    DeployedMeter,
    EvolutionSettings,
    JsonlStore,
    LatencyMeter,
    Search,
    SearchSpace,
    WerEvaluator,
    exported_bundle_mb,
    format_table,
    load_profiles,
    make_budget,
    resolve_budgets,
    select_dev_cuts,
    write_results,
)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--exp-dir", default="exp")
    add("--search-dir", default="", help="output directory (default: <exp-dir>/search)")
    add("--checkpoint", default="", help="a checkpoint file (instead of --epoch/--iter/--avg)")
    add("--epoch", type=int, default=0, help="icefall: use epoch-N.pt (with --avg)")
    add("--iter", type=int, default=0, help="icefall: use checkpoint-K.pt (with --avg)")
    add("--avg", type=int, default=1)
    add("--use-averaged-model", type=str2bool, default=False)
    add("--bpe-model", default="data/lang_bpe_500/bpe.model")
    add("--manifest-dir", default="data/fbank")
    add("--dev-sets", default="dev-clean,dev-other")
    add(
        "--num-dev-utts",
        type=int,
        default=0,
        help="deterministic subset over the dev sets (0: all of them; fewer makes WER differences noisier)",
    )
    add("--max-duration", type=float, default=200.0, help="seconds of audio per decoding batch")
    add("--budgets", default="", help="YAML file of device profiles")
    add("--max-params", default=None)
    add("--max-macs", default=None)
    add("--max-latency-ms", default=None)
    add("--max-model-mb", default=None)
    add("--max-memory-mb", default=None, help="peak memory of the deployed runtime decoding (sherpa-onnx)")
    add("--model-dtype", default="fp32", choices=["fp32", "int8"], help="what --max-model-mb counts")
    add("--profile-name", default="cli", help="name of the profile made of the command-line budgets")
    add("--population", type=int, default=8, help="children evaluated per generation")
    add("--generations", type=int, default=5, help="generations, including the random first one")
    add("--mutation-prob", type=float, default=0.1, help="per gene (layer kept, ffn_dim, ssm_heads)")
    add("--crossover-prob", type=float, default=0.5, help="share of children made by crossover")
    add("--num-elites", type=int, default=4, help="best subnets kept as parents of the next generation")
    add("--fill-budget", type=str2bool, default=True, help="grow candidates until the budget is spent")
    add("--seed", type=int, default=42)
    add("--compare-random", type=str2bool, default=False, help="also run random search (same #evaluations)")
    add("--measure-latency", type=str2bool, default=True, help="measure latency of every evaluated subnet")
    add("--latency-warmup", type=int, default=2)
    add("--latency-repeats", type=int, default=5)
    add(
        "--latency-runtime",
        default="sherpa-onnx",
        choices=["sherpa-onnx", "pytorch"],
        help="sherpa-onnx: each subnet exported and decoded from the waveform as it ships (latency and peak "
        "memory); pytorch: the extracted subnet's encoder + greedy search (latency only)",
    )
    add("--latency-dtype", default="int8", choices=["int8", "fp32"], help="sherpa-onnx: which files run")
    add("--latency-threads", type=positive_int, default=1, help="threads of the latency measurement")
    add("--tokens", default="", help="tokens.txt for sherpa-onnx (default: next to --bpe-model)")
    add(
        "--decode-chunk-len",
        type=int,
        default=0,
        help="a causal supernet deployed as streaming models: sherpa-onnx latency and memory measured on the "
        "streaming bundle with chunks of this many feature frames (e.g. 32); 0: full-utterance bundles",
    )
    add("--num-threads", type=int, default=0, help="torch threads for WER evaluation (0: torch default)")
    return parser


def load_supernet(params) -> tuple[Transducer, str]:
    """The model to search and a description of its weights; refuses one-by-one baselines."""
    if params.checkpoint or not (params.epoch or params.iter):
        if params.checkpoint:
            path = Path(params.checkpoint)
        else:
            path = newest_checkpoint(params.exp_dir)  # by recorded steps: copies reset mtimes
            if path is None:
                raise UserError(
                    f"{params.exp_dir}: no checkpoint-K.pt or epoch-N.pt (train first, or --checkpoint)"
                )
        state = read_checkpoint(path)
        if "supernet_config" not in state or "model" not in state:
            raise UserError(f"{path}: checkpoint has no supernet (no supernet_config/model)")
        model = Transducer(checkpoint_config(state))
        use_avg = params.use_averaged_model and state.get("model_avg") is not None
        load_model_state(model, state["model_avg" if use_avg else "model"], path)
        weights = f"{path}{' (model_avg)' if use_avg else ''}"
    else:
        from todm.decode import load_averaged_model

        model, state, suffix = load_averaged_model(
            params.exp_dir, params.epoch, params.iter, params.avg, params.use_averaged_model
        )
        weights = f"{params.exp_dir}/{suffix}{'-use-averaged-model' if params.use_averaged_model else ''}"
    if state.get("fixed_subnet") is not None or state.get("baseline_of") is not None:
        raise UserError(
            f"{weights}: a one-by-one baseline (trained with --subnet), not a supernet: nothing to "
            "search; decode it directly"
        )
    if not SearchSpace(model.cfg).is_elastic():
        raise UserError(
            f"{weights}: the model has a single architecture (an extracted subnet): nothing to search"
        )
    return model.eval(), weights


def profiles_from_args(params) -> list:
    profiles = load_profiles(params.budgets) if params.budgets else []
    keys = ("max_params", "max_macs", "max_latency_ms", "max_model_mb", "max_memory_mb")
    cli = {k: getattr(params, k) for k in keys}
    if any(v is not None for v in cli.values()):
        cli["model_dtype"] = params.model_dtype
        profiles.append(make_budget(params.profile_name, cli, "command line"))
    if not profiles:
        raise UserError(
            "no budget: give --budgets FILE and/or --max-params/--max-macs/--max-latency-ms/--max-model-mb/"
            "--max-memory-mb"
        )
    names = [p.name for p in profiles]
    if len(set(names)) != len(names):
        raise UserError(f"profile names must be unique, got {names}")
    return profiles


def check_fingerprint(search_dir: Path, fingerprint: dict) -> None:
    """A search dir holds the cache of one checkpoint + dev subset; refuse to mix in another."""
    path = search_dir / "search-config.json"
    fingerprint = json.loads(json.dumps(fingerprint))  # tuples -> lists, as read back
    if path.is_file():
        old = json.loads(path.read_text())
        if old != fingerprint:
            diff = sorted(k for k in set(old) | set(fingerprint) if old.get(k) != fingerprint.get(k))
            raise UserError(
                f"{search_dir} holds a search with other settings ({', '.join(diff)}); use another "
                "--search-dir or delete it"
            )
    else:
        write_text_atomic(path, json.dumps(fingerprint, indent=1) + "\n")


def main() -> None:
    params = get_parser().parse_args()
    search_dir = Path(params.search_dir or Path(params.exp_dir) / "search")
    setup_logging(search_dir / "log" / f"log-search-{time.strftime('%Y-%m-%d-%H-%M-%S')}")
    if params.num_threads > 0:
        torch.set_num_threads(params.num_threads)
    profiles = profiles_from_args(params)
    settings = EvolutionSettings(
        population=params.population,
        generations=params.generations,
        mutation_prob=params.mutation_prob,
        crossover_prob=params.crossover_prob,
        num_elites=params.num_elites,
        fill_budget=params.fill_budget,
    )
    model, weights = load_supernet(params)
    chunk = params.decode_chunk_len
    if chunk and (chunk < 0 or chunk % 4):
        raise UserError(f"--decode-chunk-len {chunk}: expected a positive multiple of 4")
    if chunk and not model.cfg.causal:
        raise UserError(
            "--decode-chunk-len: the supernet is not causal, its subnets cannot stream (run.sh --streaming true "
            "trains a causal one)"
        )
    sp = load_bpe(params.bpe_model)
    check_vocab(sp, model.cfg.vocab_size, params.bpe_model)
    dev_sets = [s for s in params.dev_sets.split(",") if s]
    cuts = select_dev_cuts({s: load_cuts(params.manifest_dir, [s]) for s in dev_sets}, params.num_dev_utts)
    measure = params.measure_latency or any(
        p.needs_latency or {"max_latency_ms", "max_memory_mb"} & set(p.relative) for p in profiles
    )
    bounds_memory = any(p.max_memory_mb is not None or "max_memory_mb" in p.relative for p in profiles)
    if bounds_memory and params.latency_runtime == "pytorch":
        raise UserError("a --max-memory-mb budget is measured with --latency-runtime sherpa-onnx")
    check_fingerprint(
        search_dir,
        {
            "weights": weights,
            "supernet_config": model.cfg.to_dict(),
            "bpe_model": str(params.bpe_model),
            "dev_cuts": [c.id for c in cuts],
            "latency": [
                params.latency_warmup,
                params.latency_repeats,
                params.latency_threads,
                params.latency_runtime,
                params.latency_dtype,
                params.decode_chunk_len,
            ]
            if measure
            else None,
        },
    )
    evaluator = WerEvaluator(model, cuts, sp, params.max_duration)
    logging.info(
        "searching %s; dev subset: %d utterances, %.1f min, %d words from %s",
        weights,
        evaluator.num_utts,
        evaluator.seconds / 60,
        evaluator.num_words,
        ",".join(dev_sets),
    )
    meter = None
    if measure:
        by_len = sorted(cuts, key=lambda c: (c.num_frames, c.id))
        cut = by_len[len(by_len) // 2]  # the median-length utterance
        from todm.decode import unk_id_of

        warmup, repeats, threads = params.latency_warmup, params.latency_repeats, params.latency_threads
        if params.latency_runtime == "pytorch":
            features = torch.from_numpy(cut.load_features()).unsqueeze(0)
            meter = LatencyMeter(model, features, warmup, repeats, threads, unk_id_of(sp))
        else:
            tokens = Path(params.tokens or Path(params.bpe_model).with_name("tokens.txt"))
            if not tokens.is_file():
                raise UserError(
                    f"--tokens {tokens}: not found (sherpa-onnx latency needs the BPE's tokens.txt)"
                )
            (wave,), _ = cut_waves([cut])
            meter = DeployedMeter(
                model,
                wave,
                tokens,
                warmup,
                repeats,
                threads,
                params.latency_dtype == "int8",
                params.decode_chunk_len,
            )
        logging.info(
            "latency: %s (%.2f s), %s%s, %d warm-up + median of %d runs, %d thread(s)",
            cut.id,
            cut.duration,
            params.latency_runtime,
            f" ({params.latency_dtype} files)" if params.latency_runtime != "pytorch" else "",
            warmup,
            repeats,
            threads,
        )
    space = SearchSpace(model.cfg)
    logging.info("measuring the exported bundle size of the largest and smallest subnets (fp32, int8)")
    bundle = BundleSize.measure(model.cfg, params.decode_chunk_len)
    table = CostTable(
        space,
        meter,
        JsonlStore(search_dir / "latency.jsonl") if meter else None,
        bundle,
        # checks the picks of size budgets on the shipped files (those the latency meter exported, if it did)
        bundle_meter=meter.bundle_mb
        if isinstance(meter, DeployedMeter)
        else lambda subnet: exported_bundle_mb(model, subnet, params.decode_chunk_len),
        bundle_store=JsonlStore(search_dir / "bundle.jsonl"),
    )
    profiles = resolve_budgets(profiles, table)
    history = JsonlStore(search_dir / "history.jsonl")
    if len(history):
        logging.info("resuming: %d subnets already evaluated in %s", len(history.by_key), history.path)
    search = Search(space, evaluator, table, history, settings, params.seed)
    start = time.perf_counter()
    references = search.references()
    results, taken = [], {}  # taken: key -> the profile that picked it
    for budget in profiles:
        logging.info(
            "profile %s: %s; %d generations x %d",
            budget.name,
            budget.describe(),
            settings.generations,
            settings.population,
        )
        results.append(search.run_profile(budget, params.compare_random, taken))
        taken.setdefault(results[-1].chosen["key"], budget.name)
    write_results(search_dir, results, list(history.by_key.values()), references)
    elapsed = time.perf_counter() - start
    logging.info(
        "decoded %d new subnets (%d in history), %d latency measurements, %.1f min",
        search.decoded,
        len(history.by_key),
        table.measurements,
        elapsed / 60,
    )
    logging.info("results (WER: greedy search on the dev subset):\n%s", format_table(results, references))
    logging.info(
        "wrote %s/{history.jsonl,pareto.json,pareto.png,%s}",
        search_dir,
        ",".join(f"subnet-{r.budget.name}.json" for r in results),
    )


if __name__ == "__main__":
    run_main(main)
