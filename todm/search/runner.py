"""One search run: several device profiles, one shared cache of evaluations, history on disk.

WER does not depend on the budget, so every profile's evolution (and the random baseline) looks candidates
up in one history (history.jsonl) before decoding: no subnet is decoded twice, within a run or across an
interrupted one. Costs are cached too: params/MACs/size in memory (analytic), latency in latency.jsonl
(measured once per subnet, including candidates that were measured only to be rejected), so a resumed run
replays the same decisions and reaches the same point without decoding again.
A history record names the profile, method and generation that first evaluated the subnet (and, from a
WerEvaluator, each dev utterance's errors); pareto.json lists every subnet each profile's evolution (and random
search) visited.

Each profile's pick, among every evaluated subnet (from any profile or method) that satisfies its budget:
  1. the lowest dev WER (ties: fewer parameters), whose WER the paired bootstrap (todm.decode.confidence)
     then compares with the next candidates': those not worse beyond the 95% interval are as good as the data
     can tell;
  2. of those, one that no earlier profile picked, spending the most of the budget (Budget.usage): a
     toolkit that promises many models must not hand out one model twice because of noise in 1 dev WER;
  3. when every one of them is an earlier profile's pick, that same subnet, and the pick's note says why.
Without per-utterance errors (a plain WER callable) the pick is step 1's. Bundle sizes during the search are
estimates (BundleSize, a few percent low for mixed widths); under a size budget the candidates are exported and
measured, and one whose real files exceed the budget is passed over (measurements kept in bundle.jsonl).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from todm.errors import UserError
from todm.model import SubnetConfig, largest, smallest

from .budgets import Budget, BundleSize, Costs, static_costs
from .evolution import Evaluated, EvolutionSettings, SearchResult, evolutionary_search, random_search
from .fitness import JsonlStore
from .space import SearchSpace, subnet_key

logger = logging.getLogger(__name__)

MAX_ALTERNATIVES = 20  # candidates after the lowest-WER one compared with it (sorted by WER)


class CostTable:
    """Costs per subnet: analytic ones memoised, latency (and, from a deployed meter, peak memory) measured once
    and kept in `latency_store`. A meter returns the latency in ms per second of audio, or (latency, peak MB)."""

    def __init__(
        self,
        space: SearchSpace,
        latency_meter: Callable[[SubnetConfig], float | tuple[float, float | None]] | None = None,
        latency_store: JsonlStore | None = None,
        bundle_size: BundleSize | None = None,
        bundle_meter: Callable[[SubnetConfig], tuple[float, float]] | None = None,
        bundle_store: JsonlStore | None = None,
    ) -> None:
        self.space, self.meter, self.store, self.bundle_size = (
            space,
            latency_meter,
            latency_store,
            bundle_size,
        )
        self.bundle_meter, self.bundle_store = bundle_meter, bundle_store
        self._static: dict[str, Costs] = {}
        self._latency: dict[str, tuple[float, float | None]] = {}
        self._exported: dict[str, tuple[float, float]] = {}
        self.measurements = 0

    def exported_mb(self, subnet: SubnetConfig) -> tuple[float, float] | None:
        """(fp32, int8) MB of the exported files (measured once, kept in `bundle_store`); None without a meter."""
        key = subnet_key(subnet)
        if key not in self._exported:
            record = self.bundle_store.get(key) if self.bundle_store is not None else None
            if record is None:
                if self.bundle_meter is None:
                    return None
                fp32, int8 = self.bundle_meter(subnet)
                record = {"key": key, "exported_mb_fp32": fp32, "exported_mb_int8": int8}
                if self.bundle_store is not None:
                    self.bundle_store.append(record)
            self._exported[key] = (float(record["exported_mb_fp32"]), float(record["exported_mb_int8"]))
        return self._exported[key]

    @property
    def has_latency(self) -> bool:
        return self.meter is not None

    def latency(self, subnet: SubnetConfig, threads: int | None = None) -> tuple[float, float | None]:
        """(ms per second of audio, peak memory MB or None) of the measured run, at the meter's own thread
        count or at `threads` (a profile's; cached under its own key)."""
        key = subnet_key(subnet) + (f" @{threads} threads" if threads is not None else "")
        if key not in self._latency:
            record = self.store.get(key) if self.store is not None else None
            if record is None:
                if self.meter is None:
                    raise UserError(
                        "a latency or memory budget needs latency measurement (--measure-latency true)"
                    )
                measured = self.meter(subnet) if threads is None else self.meter(subnet, threads)
                latency, peak = measured if isinstance(measured, tuple) else (measured, None)
                record = {"key": key, "latency_ms": float(latency), "peak_mb": peak}
                self.measurements += 1
                if self.store is not None:
                    self.store.append(record)
            peak = record.get("peak_mb")
            self._latency[key] = (float(record["latency_ms"]), None if peak is None else float(peak))
        return self._latency[key]

    def costs(
        self, subnet: SubnetConfig, with_latency: bool | None = None, threads: int | None = None
    ) -> Costs:
        """Analytic costs, with the measured latency and peak memory (at `threads`, default the meter's)."""
        key = subnet_key(subnet)
        if key not in self._static:
            self._static[key] = static_costs(self.space.cfg, subnet, self.bundle_size)
        c = self._static[key]
        if with_latency if with_latency is not None else self.has_latency:
            c = Costs(c.params, c.macs, c.model_mb_fp32, c.model_mb_int8, *self.latency(subnet, threads))
        return c

    def budget_costs(self, subnet: SubnetConfig, budget: Budget) -> Costs:
        """The costs `budget` bounds: latency and memory measured at its threads when it bounds them."""
        return self.costs(subnet, budget.needs_latency, budget.threads if budget.needs_latency else None)

    def feasible_for(self, budget: Budget) -> Callable[[SubnetConfig], bool]:
        return lambda subnet: not budget.violations(self.budget_costs(subnet, budget))


def describe_costs(c: Costs) -> str:
    text = (
        f"{c.params / 1e6:.3f}M params, {c.macs / 1e6:.1f}M MACs/s, {c.model_mb_fp32:.2f} MB fp32 / "
        f"{c.model_mb_int8:.2f} MB int8"
    )
    text += f", {c.latency_ms:.1f} ms/s latency" if c.latency_ms is not None else ""
    return text + (f", {c.peak_mb:.1f} MB peak memory" if c.peak_mb is not None else "")


def resolve_budgets(profiles: list[Budget], table: CostTable) -> list[Budget]:
    """Resolve relative budgets and refuse any profile the smallest subnet already violates."""
    space = table.space
    resolved = []
    for budget in profiles:
        measured = budget.needs_latency or bool({"max_latency_ms", "max_memory_mb"} & set(budget.relative))
        threads = budget.threads if measured else None
        small = table.costs(smallest(space.cfg), measured, threads)
        large = table.costs(largest(space.cfg), measured, threads)
        budget = budget.resolve(small, large)
        broken = budget.violations(small)
        if broken:
            raise UserError(
                f"profile {budget.name!r} ({budget.describe()}) is below the smallest subnet "
                f"{smallest(space.cfg).describe()}: {describe_costs(small)} ({'; '.join(broken)})"
            )
        if not budget.violations(large):
            logger.warning(
                "profile %r (%s) does not constrain this supernet: the largest subnet fits (%s)",
                budget.name,
                budget.describe(),
                describe_costs(large),
            )
        resolved.append(budget)
    return resolved


@dataclass
class ProfileResult:
    budget: Budget
    evolution: SearchResult
    random: SearchResult | None
    chosen: dict  # the history record of the chosen subnet


class Search:
    """Evaluates (cached) and runs evolution / random search per profile."""

    def __init__(
        self,
        space: SearchSpace,
        wer: Callable[[SubnetConfig], float],
        table: CostTable,
        history: JsonlStore,
        settings: EvolutionSettings,
        seed: int = 42,
        progress: bool = True,
    ) -> None:
        self.space, self.wer, self.table, self.history = space, wer, table, history
        self.settings, self.seed, self.progress = settings, seed, progress
        self.decoded = 0  # evaluations actually run (cache misses)
        # reference words of each dev utterance (a WerEvaluator's), for the bootstrap of the picks
        self.utterance_words: list[int] | None = getattr(wer, "utterance_words", None)

    def evaluate(self, subnet: SubnetConfig, profile: str, method: str, generation: int) -> float:
        key = subnet_key(subnet)
        record = self.history.get(key)
        if record is None:
            start = time.perf_counter()
            got = self.wer(subnet)
            wer, errors = (float(got[0]), list(got[1])) if isinstance(got, tuple) else (float(got), None)
            seconds = time.perf_counter() - start
            self.decoded += 1
            c = self.table.costs(subnet)
            record = {
                "key": key,
                "subnet": subnet.to_dict(),
                "wer": wer,
                "params": c.params,
                "macs": c.macs,
                "model_mb_fp32": c.model_mb_fp32,
                "model_mb_int8": c.model_mb_int8,
                "latency_ms": c.latency_ms,
                "peak_mb": c.peak_mb,
                "profile": profile,
                "method": method,
                "generation": generation,
                "eval_seconds": round(seconds, 3),
            }
            if errors is not None:
                record["utt_errors"] = errors
            self.history.append(record)
        return float(record["wer"])

    def references(self) -> dict[str, dict]:
        """Evaluate the largest and smallest subnets (the ends of every front)."""
        out = {}
        for name, subnet in (("largest", largest(self.space.cfg)), ("smallest", smallest(self.space.cfg))):
            self.evaluate(subnet, "-", "reference", -1)
            out[name] = self.history.get(subnet_key(subnet))
        return out

    def _bar(self, desc: str, total: int):
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, disable=not self.progress, leave=False, dynamic_ncols=True)

    def run_profile(
        self, budget: Budget, compare_random: bool = False, taken: dict[str, str] | None = None
    ) -> ProfileResult:
        """Search for `budget`, then pick (see the module docstring); `taken`: key -> profile of earlier picks."""
        s, feasible = self.settings, self.table.feasible_for(budget)
        bar = None
        best: list[float] = []
        generation = 0  # of the candidates being evaluated (the fitness callback sees only the subnet)

        def on_evaluated(e: Evaluated, desc: str = "") -> None:
            nonlocal bar
            if bar is None:
                bar = self._bar(desc or f"{budget.name} gen {e.generation}", s.population)
            best.append(e.fitness)
            bar.update(1)
            bar.set_postfix(best_wer=f"{min(best):.2f}")

        def on_generation(done: int, top: Evaluated | None) -> None:
            nonlocal bar, generation
            generation = done + 1
            if bar is not None:
                bar.close()
                bar = None
            if top is not None:
                logger.info("%s generation %d: best WER %.2f%% %s", budget.name, done, top.fitness, top.key)

        evo = evolutionary_search(
            self.space,
            lambda sub: self.evaluate(sub, budget.name, "evolution", generation),
            feasible,
            s,
            f"{self.seed}-{budget.name}",
            on_evaluated,
            on_generation,
        )
        rnd = None
        if compare_random:
            n = len(evo.evaluated)
            best.clear()
            bar = self._bar(f"{budget.name} random", n)
            rnd = random_search(
                self.space,
                lambda sub: self.evaluate(sub, budget.name, "random", 0),
                feasible,
                n,
                f"{self.seed}-{budget.name}",
                on_evaluated=on_evaluated,
            )
            bar.close()
            bar = None
            logger.info(
                "%s: evolution best WER %.2f%%, random search best WER %.2f%% (%d evaluations each)",
                budget.name,
                evo.best.fitness,
                rnd.best.fitness,
                n,
            )
        return ProfileResult(budget, evo, rnd, self.choose(budget, taken))

    def _fits_files(self, budget: Budget, record: dict) -> dict | None:
        """The record (with its exported sizes) if its real files fit a size budget; None if they do not."""
        if budget.max_model_mb is None:
            return record
        exported = self.table.exported_mb(SubnetConfig.from_dict(record["subnet"]))
        if exported is None:
            return record
        if exported[1 if budget.model_dtype == "int8" else 0] <= budget.max_model_mb:
            return {**record, "exported_mb_fp32": exported[0], "exported_mb_int8": exported[1]}
        logger.warning(
            "%s: %s is %.3f MB %s when exported (estimated %.3f MB) > %.4g MB: passed over",
            budget.name,
            record["key"],
            exported[1 if budget.model_dtype == "int8" else 0],
            budget.model_dtype,
            record[f"model_mb_{budget.model_dtype}"],
            budget.max_model_mb,
        )
        return None

    def choose(self, budget: Budget, taken: dict[str, str] | None = None) -> dict:
        """The profile's pick (module docstring) with a "pick" note: why, its WER's 95% interval, the
        subnets the data could not tell from the lowest-WER one."""
        from todm.decode.confidence import wer_difference_interval

        taken = taken or {}
        feasible = self.table.feasible_for(budget)
        candidates = sorted(
            (r for r in self.history.by_key.values() if feasible(SubnetConfig.from_dict(r["subnet"]))),
            key=lambda r: (r["wer"], r["params"], r["key"]),
        )
        fitting = (f for f in (self._fits_files(budget, r) for r in candidates) if f is not None)
        best = next(fitting, None)
        if best is None:
            raise UserError(
                f"profile {budget.name!r}: no evaluated subnet fits {budget.describe()} once exported "
                "(the size estimate was low for all of them); loosen the budget or search longer"
            )
        words = self.utterance_words
        if not words or best.get("utt_errors") is None:
            return {**best, "pick": {"reason": "lowest dev WER within the budget"}}

        def usage(record: dict) -> float:
            return budget.usage(self.table.budget_costs(SubnetConfig.from_dict(record["subnet"]), budget))

        # the next candidates by WER that the paired bootstrap cannot tell from the best
        alike = [best]
        for record in candidates[1 : 1 + MAX_ALTERNATIVES]:
            if record.get("utt_errors") is None or record["key"] == best["key"]:
                continue
            _, low, _ = wer_difference_interval(record["utt_errors"], best["utt_errors"], words)
            if low <= 0.0:
                fits = self._fits_files(budget, record)
                if fits is not None:
                    alike.append(fits)
        free = [r for r in alike if r["key"] not in taken]
        if free:
            pick = max(free, key=lambda r: (usage(r), -r["wer"], r["key"]))
            if pick["key"] == best["key"]:
                reason = "lowest dev WER within the budget"
            else:
                reason = (
                    f"{pick['wer'] - best['wer']:+.2f} WER points from the lowest ({best['key']}"
                    + (f", profile {taken[best['key']]}'s pick" if best["key"] in taken else "")
                    + "), within the 95% interval; spends more of the budget"
                )
            if len(alike) > 1:
                reason += f" ({usage(pick):.0%} of it; {len(alike)} subnets alike on dev)"
        else:
            pick = best
            reason = (
                f"the same subnet as profile {taken[best['key']]}: every other subnet within this budget is "
                "worse on dev beyond the 95% interval"
            )
            logger.warning("%s: %s", budget.name, reason)
        zeros = [0] * len(words)
        _, low, high = wer_difference_interval(pick["utt_errors"], zeros, words)
        note = {
            "reason": reason,
            "wer_interval_95": [round(low, 2), round(high, 2)],
            "dev_utterances": len(words),
            "dev_words": int(sum(words)),
            "alike": [r["key"] for r in alike],
            "usage": round(usage(pick), 3),
        }
        logger.info(
            "%s: picked %s, dev WER %.2f%% [%.2f, %.2f]: %s",
            budget.name,
            pick["key"],
            pick["wer"],
            low,
            high,
            reason,
        )
        return {**pick, "pick": note}
