"""Tests for todm.dropout.adaptive_dropout."""

from __future__ import annotations

import pytest

from todm.dropout import adaptive_dropout


def test_endpoints_and_midpoint():
    assert adaptive_dropout(10e6, 10e6, 2e6, 0.05, 0.2) == pytest.approx(0.2)
    assert adaptive_dropout(2e6, 10e6, 2e6, 0.05, 0.2) == pytest.approx(0.05)
    assert adaptive_dropout(6e6, 10e6, 2e6, 0.05, 0.2) == pytest.approx(0.125)


def test_monotonic_and_clamped():
    sizes = [0, 1e6, 2e6, 3e6, 5e6, 8e6, 10e6, 12e6]
    rates = [adaptive_dropout(n, 10e6, 2e6, 0.0, 0.3) for n in sizes]
    assert rates == sorted(rates)
    assert rates[0] == rates[1] == rates[2] == 0.0  # at/below the smallest
    assert rates[-1] == rates[-2] == pytest.approx(0.3)  # at/above the largest


def test_degenerate_space_gives_max():
    assert adaptive_dropout(5.0, 5.0, 5.0, 0.1, 0.2) == 0.2


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"subnet_params": -1}, "subnet_params"),
        ({"largest_params": float("nan")}, "largest_params"),
        ({"smallest_params": -3}, "smallest_params"),
        ({"dropout_min": -0.1}, "dropout_min"),
        ({"dropout_max": 1.0}, "dropout_max"),
        ({"dropout_min": 0.3, "dropout_max": 0.2}, "dropout_min"),
        ({"smallest_params": 20.0, "largest_params": 10.0}, "smallest_params"),
    ],
)
def test_invalid_args_name_the_argument(kwargs, name):
    args = {"subnet_params": 5.0, "largest_params": 10.0, "smallest_params": 1.0, "dropout_min": 0.0}
    args["dropout_max"] = 0.2
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        adaptive_dropout(**args)
