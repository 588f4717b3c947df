"""Adaptive dropout: the dropout rate of a sampled subnet grows with its size.

TODM (Shangguan et al. 2023, arXiv 2309.01947) trains subnets of very different sizes with shared weights.
One dropout rate cannot suit them all: the largest subnet over-fits without strong dropout, while the
smallest one under-fits with it. TODM therefore sets the dropout of each sampled subnet from its size
("adaptive dropout"). We use the simplest such rule, linear in the parameter count between the smallest and
the largest subnet of the search space::

    p(n) = dropout_min + (dropout_max - dropout_min) * (n - n_min) / (n_max - n_min),  clamped to the range

so the smallest subnet trains with ``dropout_min``, the largest (the supernet itself) with ``dropout_max``,
and subnets outside [n_min, n_max] get the nearer end. (The paper's full text was not available while this
was written; the linear rule is the design choice recorded here.)
"""

from __future__ import annotations

import math


def adaptive_dropout(
    subnet_params: float,
    largest_params: float,
    smallest_params: float,
    dropout_min: float,
    dropout_max: float,
) -> float:
    """Dropout rate for a subnet with ``subnet_params`` parameters (formula in the module docstring).

    Args:
      subnet_params: size of the sampled subnet (parameter count; any size measure works if consistent).
      largest_params: size of the largest subnet (gets ``dropout_max``).
      smallest_params: size of the smallest subnet (gets ``dropout_min``); must be <= largest_params.
        If both are equal every subnet gets ``dropout_max``.
      dropout_min: rate for the smallest subnet, in [0, 1).
      dropout_max: rate for the largest subnet, in [dropout_min, 1).

    Raises:
      ValueError: naming the offending argument, for negative/non-finite sizes, rates outside [0, 1),
        dropout_min > dropout_max, or smallest_params > largest_params.
    """
    for name, value in (
        ("subnet_params", subnet_params),
        ("largest_params", largest_params),
        ("smallest_params", smallest_params),
    ):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    for name, value in (("dropout_min", dropout_min), ("dropout_max", dropout_max)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must lie in [0, 1), got {value}")
    if dropout_min > dropout_max:
        raise ValueError(f"dropout_min ({dropout_min}) must be <= dropout_max ({dropout_max})")
    if smallest_params > largest_params:
        raise ValueError(f"smallest_params ({smallest_params}) must be <= largest_params ({largest_params})")
    if largest_params == smallest_params:
        return float(dropout_max)
    frac = (subnet_params - smallest_params) / (largest_params - smallest_params)
    frac = min(1.0, max(0.0, frac))
    return float(dropout_min + (dropout_max - dropout_min) * frac)
