"""Input checks for the RNN-T losses: one-line ValueErrors that name the argument and what was expected.

They run every training step, so each builds boolean "bad" flags on the tensors' device and reads
them back in a single host sync (:func:`raise_first`); the slow path that formats details only
runs once a check has failed. On a GPU each such sync stalls the step, so a trainer may run some steps
inside :func:`value_checks` (False): shape and type checks stay, the value checks are skipped.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

RNNT_TYPES = ("regular", "modified", "constrained")
REDUCTIONS = ("none", "mean", "sum")

# (flag that is True when the check fails, function building the message)
Check = tuple[Tensor, Callable[[], str]]


_VALUE_CHECKS = contextvars.ContextVar("todm_rnnt_value_checks", default=True)


@contextlib.contextmanager
def value_checks(enabled: bool) -> Iterator[None]:
    """Within this block, :func:`raise_first` checks values (one host sync) only if `enabled`."""
    token = _VALUE_CHECKS.set(enabled)
    try:
        yield
    finally:
        _VALUE_CHECKS.reset(token)


def raise_first(checks: list[Check]) -> None:
    """Raise ValueError for the first failed check, syncing with the device once."""
    if not checks or not _VALUE_CHECKS.get():
        return
    device = checks[0][0].device
    failed = torch.stack([flag.reshape(()).to(device) for flag, _ in checks]).tolist()
    for bad, (_, message) in zip(failed, checks):
        if bad:
            raise ValueError(message())


def check_float(name: str, x: Tensor) -> None:
    if not torch.is_tensor(x) or not x.is_floating_point():
        got = x.dtype if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"{name} must be a floating-point tensor, got {got}")


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def finite_check(name: str, x: Tensor) -> Check:
    """Fails when x holds NaN or +-inf."""
    return (
        ~torch.isfinite(x).all(),
        lambda: f"{name} contains {int(torch.isnan(x).sum())} NaN and {int(torch.isinf(x).sum())} inf values",
    )


def check_boundary(boundary: Tensor, B: int, S: int, T: int) -> None:
    """boundary: int64 (B, 4) rows [s_begin, t_begin, s_end, t_end] with 0<=s_begin<=s_end<=S, same for t."""
    raise_first(boundary_checks(boundary, B, S, T))


def boundary_checks(boundary: Tensor, B: int, S: int, T: int) -> list[Check]:
    if boundary.dtype != torch.int64 or tuple(boundary.shape) != (B, 4):
        raise ValueError(
            f"boundary must be an int64 tensor of shape ({B}, 4), got {boundary.dtype} {tuple(boundary.shape)}"
        )
    s0, t0, s1, t1 = boundary.unbind(1)
    bad = (s0 < 0) | (s0 > s1) | (s1 > S) | (t0 < 0) | (t0 > t1) | (t1 > T)
    return [
        (
            bad.any(),
            lambda: (
                f"boundary rows must satisfy 0 <= s_begin <= s_end <= S={S} and 0 <= t_begin <= t_end <= T={T}, "
                f"got {boundary[bad][0].tolist()}"
            ),
        )
    ]


def check_lattice(
    symbols: Tensor,
    num_classes: int,
    termination_symbol: int,
    T: int,
    rnnt_type: str,
    boundary: Tensor | None,
) -> None:
    """Checks shared by the get_rnnt_logprobs* builders, with one host sync.

    symbols (B, S) must hold ids in [0, C); boundary must fit the lattice; modified/constrained
    transducers emit at most one symbol per frame, so they need T >= S (k2's _validate_st_lengths).
    """
    check_choice("rnnt_type", rnnt_type, RNNT_TYPES)
    if symbols.dtype != torch.int64 or symbols.ndim != 2:
        raise ValueError(
            f"symbols must be an int64 (B, S) tensor, got {symbols.dtype} {tuple(symbols.shape)}"
        )
    if not 0 <= termination_symbol < num_classes:
        raise ValueError(f"termination_symbol must be in [0, C={num_classes}), got {termination_symbol}")
    B, S = symbols.shape
    bad_symbol = (symbols < 0) | (symbols >= num_classes)
    checks: list[Check] = [
        (
            bad_symbol.any(),
            lambda: f"symbols must hold ids in [0, C={num_classes}), got {int(symbols[bad_symbol][0])}",
        )
    ]
    if boundary is not None:
        checks += boundary_checks(boundary, B, S, T)
    if rnnt_type != "regular":
        if boundary is None and T < S:
            raise ValueError(f"rnnt_type={rnnt_type!r} requires T >= S, got T={T} and S={S}")
        if boundary is not None:
            short = boundary[:, 3] < boundary[:, 2]
            checks.append(
                (
                    short.any(),
                    lambda: (
                        f"rnnt_type={rnnt_type!r} requires T >= S for every utterance, got T={int(boundary[short][0, 3])} "
                        f"< S={int(boundary[short][0, 2])}"
                    ),
                )
            )
    raise_first(checks)


def length_checks(name: str, lens: Tensor, max_len: int, dim_name: str) -> list[Check]:
    """lens: (B,) integer lengths in [0, max_len]."""
    if lens.is_floating_point() or lens.is_complex() or lens.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor, got {lens.dtype}")
    return [
        ((lens < 0).any(), lambda: f"{name} must be >= 0, got min {int(lens.min())}"),
        (
            (lens > max_len).any(),
            lambda: f"{name} must be <= {dim_name}={max_len} (the padded size), got max {int(lens.max())}",
        ),
    ]


def target_checks(targets: Tensor, target_lens: Tensor, vocab_size: int, blank_id: int) -> list[Check]:
    """targets: (B, S) ids; inside target_lens they are non-blank in [0, V), padding any id in [0, V)."""
    if targets.dtype != torch.int64 or targets.ndim != 2:
        raise ValueError(
            f"targets must be an int64 (B, S) tensor, got {targets.dtype} {tuple(targets.shape)}"
        )
    S = targets.shape[1]
    inside = torch.arange(S, device=targets.device) < target_lens.reshape(-1, 1)
    out_of_vocab = (targets < 0) | (targets >= vocab_size)
    return [
        (
            out_of_vocab.any(),
            lambda: (
                f"targets must hold ids in [0, vocab_size={vocab_size}) (pad with blank_id={blank_id}), "
                f"got {int(targets[out_of_vocab][0])}"
            ),
        ),
        (
            ((targets == blank_id) & inside).any(),
            lambda: f"targets must not contain blank_id={blank_id} within target_lens",
        ),
    ]
