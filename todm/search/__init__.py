"""Evolutionary search for the best subnet of a trained supernet under each device budget (TODM Sec. 2).

space.py      SearchSpace: sample / mutate / crossover / repair / shrink_step / grow_step over subnets.
budgets.py    Budget profiles ('2.5M', '300M', '55%', YAML), Costs (params, MACs/s, model MB, latency),
              DeployedMeter (the exported files in sherpa-onnx: latency and peak memory) and
              LatencyMeter (PyTorch encoder + greedy search), one thread, median.
evolution.py  evolutionary_search (constraint-aware, seeded) and the random_search baseline.
fitness.py    WerEvaluator (greedy WER on a fixed dev subset) and JsonlStore (the resumable cache).
runner.py     Search: shared evaluation cache, one evolution per profile, chosen subnets.
pareto.py     Pareto fronts, pareto.json, subnet-<profile>.json, pareto.png, the final table.
"""

from .budgets import (
    Budget,
    BundleSize,
    Costs,
    DeployedMeter,
    LatencyMeter,
    exported_bundle_mb,
    load_profiles,
    make_budget,
    parse_quantity,
    static_costs,
)
from .evolution import EvolutionSettings, SearchResult, evolutionary_search, random_search
from .fitness import JsonlStore, WerEvaluator, select_dev_cuts
from .pareto import format_table, pareto_front, write_results
from .runner import CostTable, ProfileResult, Search, resolve_budgets
from .space import SearchSpace, subnet_key

__all__ = [
    "Budget",
    "BundleSize",
    "CostTable",
    "Costs",
    "DeployedMeter",
    "EvolutionSettings",
    "JsonlStore",
    "LatencyMeter",
    "ProfileResult",
    "Search",
    "SearchResult",
    "SearchSpace",
    "WerEvaluator",
    "evolutionary_search",
    "exported_bundle_mb",
    "format_table",
    "load_profiles",
    "make_budget",
    "pareto_front",
    "parse_quantity",
    "random_search",
    "resolve_budgets",
    "select_dev_cuts",
    "static_costs",
    "subnet_key",
    "write_results",
]
