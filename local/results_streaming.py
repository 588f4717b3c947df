"""RESULTS.md's streaming section: the subnets of a causal supernet (run.sh --streaming true), decoded chunk by
chunk, beside the full-utterance supernet's, and what their streaming bundles cost in sherpa-onnx.

Both supernets are trained by the same recipe for the same number of optimizer steps; the streaming one is
causal (its SSM layers have no backward kernel) and decodes in chunks of decode_chunk_len feature frames plus a
40 ms look-ahead, with its states carried (tests hold that decode to its full-utterance decode, token for token).
"""

import json
from pathlib import Path

from results_comparison import interval, newest_progress, relative_percent, transcripts, warmup_steps
from results_robustness import SETS, decoded_wer, subnet_names


def _pair(full: float | None, streamed: float | None, spread: str = "") -> list[str]:
    cells = [f"{v:.2f}" if v is not None else "n/a" for v in (full, streamed)]
    rel = f"{relative_percent(streamed, full):+.1f}%{spread}" if full and streamed is not None else "n/a"
    return [" / ".join(cells), rel]


def _chunking(streaming_dir: Path) -> str:
    cards = sorted((streaming_dir / "exported").glob("*/model_card.json"))
    streaming = json.loads(cards[0].read_text()).get("streaming") if cards else None
    if not streaming:
        return "chunks of 320 ms, 40 ms look-ahead"
    return f"chunks of {streaming['chunk_ms']} ms, {streaming['lookahead_ms']} ms look-ahead"


def streaming_section(full_dir: Path | None, streaming_dir: Path) -> list[str]:
    if not (streaming_dir / "greedy_search").is_dir():
        return []
    steps = [
        (record or {}).get("progress", {}).get("batch_idx_train")
        for record in (newest_progress(full_dir) if full_dir else None, newest_progress(streaming_dir))
    ]
    if steps[0] and steps[1] and steps[0] != steps[1]:
        trained = (
            f"**Not at equal training: the streaming supernet has {steps[1]:,} optimizer steps, the "
            f"full-utterance one {steps[0]:,}**; the differences below mix streaming with training length."
        )
    else:
        trained = f"Both supernets trained {steps[1]:,} optimizer steps." if steps[1] else ""
    warm = [warmup_steps(full_dir) if full_dir else 0, warmup_steps(streaming_dir)]
    if full_dir and warm[0] != warm[1]:
        trained += (
            f" **Nor with the same warm-up: the full-utterance supernet's first {warm[0]:,} steps were on clean "
            f"speech, the streaming one's first {warm[1]:,}**; the differences below include that too."
        )
    lines = [
        "## Streaming subnets (run.sh --streaming true)",
        "",
        (
            f"A causal supernet, same recipe, decoded as a stream ({_chunking(streaming_dir)}, states carried). "
            f"{trained} Cells: WER % of the full-utterance supernet's subnet / the streaming one's, and the "
            "relative difference, with its paired bootstrap 95% interval over the test utterances where both runs' "
            "transcripts are archived. Searched subnets are matched by budget name; each run searched its own "
            "architecture."
        ),
        "",
        "| subnet | decoding | " + " | ".join(f"{s} full / streaming | rel." for s in SETS) + " |",
        "|---|---|" + "---|---|" * len(SETS),
    ]
    for subnet in subnet_names(streaming_dir):
        for beam in (False, True):
            cells = []
            for test_set in SETS:
                full = decoded_wer(full_dir, test_set, subnet, beam) if full_dir else None
                method = "modified_beam_search" if beam else "greedy_search"
                spread = interval(
                    transcripts(streaming_dir, method, test_set, subnet),
                    transcripts(full_dir, method, test_set, subnet) if full_dir else None,
                )
                cells += _pair(full, decoded_wer(streaming_dir, test_set, subnet, beam), spread)
            lines.append(f"| {subnet} | {'beam 4' if beam else 'greedy'} | " + " | ".join(cells) + " |")
    pareto = streaming_dir / "search" / "pareto.json"
    if pareto.is_file():
        lines += [
            "",
            "The streaming run's search (dev WER of each pick, its 95% interval, why it was picked):",
            "",
        ]
        for name, entry in json.loads(pareto.read_text()).get("profiles", {}).items():
            pick, chosen = entry.get("pick") or {}, entry["chosen"]
            spread = "[{:.2f}, {:.2f}]".format(*pick["wer_interval_95"]) if "wer_interval_95" in pick else ""
            lines.append(
                f"- {name}: `{chosen['key']}`, {chosen['wer']:.2f}% {spread}; {pick.get('reason', '')}"
            )
    cards = sorted((streaming_dir / "exported").glob("*/model_card.json"))
    if cards:
        lines += [
            "",
            (
                "Streaming bundles in sherpa-onnx's OnlineRecognizer (1 thread, test-clean from the waveform, one "
                "utterance at a time): WER of the fp32 and int8 files, decode time of one chunk, RTF, peak memory."
            ),
            "",
            (
                "| subnet | architecture | int8 MB | WER fp32 / int8 | chunk ms int8 (median / p95) | RTF int8 "
                "| peak memory int8 |"
            ),
            "|---|---|---|---|---|---|---|",
        ]
        for path in cards:
            card = json.loads(path.read_text())
            clean = (card.get("wer") or {}).get("test-clean", {})
            speed = (card.get("rtf") or {}).get("test-clean", {})
            wer = " / ".join(
                f"{clean[k]:.2f}" if k in clean else "n/a"
                for k in ("sherpa_onnx_fp32_greedy_search", "sherpa_onnx_int8_greedy_search")
            )
            chunk = speed.get("sherpa_onnx_int8_chunk_ms")
            chunk_cell = f"{chunk['median']:.2f} / {chunk['p95']:.2f}" if chunk else "n/a"
            peak = (card.get("peak_memory_mb") or {}).get("sherpa_onnx_int8")
            int8_mb = sum(v for k, v in card["file_bytes"].items() if k.endswith(".int8.onnx")) / 1e6
            lines.append(
                f"| {card['name']} | {card['subnet_description']} | {int8_mb:.2f} | {wer} | {chunk_cell} | "
                f"{speed.get('sherpa_onnx_int8', 'n/a')} | {f'{peak:.0f} MB' if peak is not None else 'n/a'} |"
            )
    return [*lines, ""]
