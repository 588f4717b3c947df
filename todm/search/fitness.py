"""Fitness of a subnet = greedy-search WER on a fixed dev subset, and the on-disk cache of evaluations.

`WerEvaluator(model, cuts, sp).wer(subnet)` decodes the dev subset with the supernet restricted to `subnet`
(Transducer.forward_encoder(..., subnet), the same weights `extract` would copy) using
todm.decode's greedy search (decode_features, <unk> treated as blank like decode.py) and scores it with
todm.decode.word_error_rate (imported when first used); `score(subnet)` (what the search calls) also gives each
utterance's errors, so that two subnets' WERs can be compared with a paired bootstrap
(todm.decode.confidence). The features are loaded once and kept in memory, so an evaluation costs only the
forward passes.

`JsonlStore` is the append-only cache behind history.jsonl and latency.jsonl: one JSON object per line, each
written with one write + flush + fsync, so an interrupted run leaves at most one truncated last line, which
the next run drops with a warning before appending.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import torch

from todm.io import write_text_atomic
from todm.model import SubnetConfig, Transducer

logger = logging.getLogger(__name__)


def select_dev_cuts(cut_sets: dict[str, object], num_utts: int, seed: int = 0) -> list:
    """A deterministic subset of `num_utts` cuts spread over the dev sets (split evenly; the first sets get
    the remainder). Within a set: sort by cut id, shuffle with a fixed seed, take the first n, so the subset
    mixes speakers instead of taking one speaker's first utterances. num_utts <= 0: all cuts."""
    import random

    names = list(cut_sets)
    chosen = []
    for k, name in enumerate(names):
        cuts = sorted(cut_sets[name], key=lambda c: c.id)
        random.Random(f"{seed}-{name}").shuffle(cuts)
        if num_utts > 0:
            n = num_utts // len(names) + (1 if k < num_utts % len(names) else 0)
            cuts = cuts[:n]
        chosen.extend(cuts)
    return chosen


class WerEvaluator:
    """WER (%) of greedy search with a subnet of `model` on `cuts` (a list or CutSet with fbank features)."""

    def __init__(self, model: Transducer, cuts: Iterable, sp, max_duration: float = 200.0) -> None:
        from lhotse import CutSet

        from todm.data.loader import make_valid_loader, unpack_batch

        self.model, self.sp = model.eval(), sp
        cuts = cuts if isinstance(cuts, CutSet) else CutSet.from_cuts(list(cuts))
        self.batches: list[tuple[torch.Tensor, torch.Tensor, list[list[str]]]] = []
        self.num_utts, self.num_words, self.seconds = 0, 0, 0.0
        self.utterance_words: list[int] = []  # reference words of each utterance, in decoding order
        for batch in make_valid_loader(cuts, max_duration):
            features, lens, texts, _ = unpack_batch(batch)
            refs = [text.split() for text in texts]
            self.batches.append((features, lens, refs))
            self.utterance_words.extend(len(r) for r in refs)
            self.num_utts += features.size(0)
            self.num_words += sum(len(r) for r in refs)
            self.seconds += float(lens.sum()) / 100
        if not self.batches:
            raise ValueError("WerEvaluator: no dev utterances to decode")

    @torch.no_grad()
    def hypotheses(self, subnet: SubnetConfig) -> tuple[list[list[str]], list[list[str]]]:
        from todm.decode import decode_features, unk_id_of

        refs, hyps = [], []
        unk = unk_id_of(self.sp)
        for features, lens, batch_refs in self.batches:
            for tokens in decode_features(self.model, subnet, features, lens, "greedy_search", unk_id=unk):
                hyps.append(self.sp.decode(tokens).split())
            refs.extend(batch_refs)
        return refs, hyps

    def wer(self, subnet: SubnetConfig) -> float:
        from todm.decode import word_error_rate

        refs, hyps = self.hypotheses(subnet)
        return float(word_error_rate(refs, hyps)["wer"])

    def score(self, subnet: SubnetConfig) -> tuple[float, list[int]]:
        """(WER %, word errors of each utterance in the order of `utterance_words`)."""
        from todm.decode import word_error_rate
        from todm.decode.confidence import utterance_errors

        refs, hyps = self.hypotheses(subnet)
        return float(word_error_rate(refs, hyps)["wer"]), utterance_errors(refs, hyps)

    __call__ = score


class JsonlStore:
    """Records keyed by record["key"], kept in a JSON-lines file; the first record of a key wins."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.records: list[dict] = []
        self.by_key: dict[str, dict] = {}
        if self.path.is_file():
            self._load()

    def _load(self) -> None:
        text = self.path.read_text()
        lines = text.split("\n")
        tail = lines.pop()  # "" when the file ends with a newline
        good = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                self._add(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ValueError(
                    f"{self.path}:{n}: corrupt line (not the last one); fix or delete the file"
                ) from None
            good.append(line)
        if tail.strip():
            try:
                self._add(json.loads(tail))
                good.append(tail)
            except (json.JSONDecodeError, KeyError, TypeError):
                logger.warning(
                    "%s: ignoring a truncated last line (%d chars) from an interrupted run",
                    self.path,
                    len(tail),
                )
        if tail:  # drop the broken tail or add the missing newline, so appends start on a fresh line
            write_text_atomic(self.path, "".join(line + "\n" for line in good))

    def _add(self, record: dict) -> None:
        key = record["key"]
        self.records.append(record)
        self.by_key.setdefault(key, record)

    def __contains__(self, key: str) -> bool:
        return key in self.by_key

    def __len__(self) -> int:
        return len(self.records)

    def get(self, key: str) -> dict | None:
        return self.by_key.get(key)

    def append(self, record: dict) -> None:
        """Write one line atomically enough for resume: one write call, flushed and fsynced."""
        line = json.dumps(record, sort_keys=True) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self._add(record)
