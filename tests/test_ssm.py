"""Tests of the MH-SSM layer against independent references (complex-dtype kernel, step-by-step recurrence)."""

from __future__ import annotations

import math

import pytest
import torch

from todm.model import Transducer, get_preset
from todm.model.config import LayerChoice
from todm.model.ssm import DiagonalSSMKernel, MultiHeadSSM, head_dt_bands, spread_order


def _complex_kernel(kern: DiagonalSSMKernel, length: int, channels: int) -> torch.Tensor:
    """S4D Vandermonde kernel with complex128 arithmetic: K[l] = 2 Re(C (e^{dtA} - 1)/A e^{dtA l})."""
    k = kern.double()
    dt = k.log_dt[:channels].exp()[:, None]
    a = torch.complex(-k.log_neg_a_real[:channels].exp(), k.a_imag[:channels])
    modes = a.shape[-1]
    coef = k.c_coef[:channels]
    c = torch.complex(coef[..., :modes], coef[..., modes:])  # (C, D, M)
    dta = (dt * a)[:, None]
    w = c * (dta.exp() - 1) / a[:, None]
    lags = torch.arange(length, dtype=torch.float64)
    return 2 * (w[..., None] * torch.exp(dta[..., None] * lags)).sum(-2).real  # (C, D, L)


def _recurrent_mhssm(layer: MultiHeadSSM, x: torch.Tensor, heads: int) -> torch.Tensor:
    """The MH-SSM layer computed by running each diagonal SSM step by step (complex128, ZOH)."""
    layer = layer.double()
    width = heads * layer.head_dim
    u = torch.nn.functional.linear(x, layer.in_proj.weight[:width], layer.in_proj.bias[:width])
    k = layer.kernel
    modes = k.a_imag.shape[-1]
    dt = k.log_dt[:width].exp()[:, None]
    a = torch.complex(-k.log_neg_a_real[:width].exp(), k.a_imag[:width])
    a_bar, b_bar = (dt * a).exp(), ((dt * a).exp() - 1) / a
    coef = k.c_coef[:width]
    c = torch.complex(coef[..., :modes], coef[..., modes:])
    n, t_len, _ = u.shape
    y = u * k.d_skip[:width]
    state = torch.zeros(n, width, modes, dtype=torch.complex128)
    for t in range(t_len):  # forward: state_t = A_bar state_{t-1} + B_bar u_t
        state = a_bar * state + b_bar * u[:, t, :, None]
        y[:, t] += 2 * (c[:, 0] * state).sum(-1).real
    if not layer.causal:  # backward: strictly future frames, state_t = A_bar state_{t+1} + B_bar u_{t+1}
        state = torch.zeros_like(state)
        for t in range(t_len - 2, -1, -1):
            state = a_bar * state + b_bar * u[:, t + 1, :, None]
            y[:, t] += 2 * (c[:, 1] * state).sum(-1).real
    pairs = y.unflatten(-1, (heads // 2, 2, layer.head_dim))
    g0, g1 = pairs[..., 0, :], pairs[..., 1, :]
    gated = torch.stack([g0 * torch.sigmoid(g1), g1 * torch.sigmoid(g0)], -2).flatten(-3)
    return torch.nn.functional.linear(gated, layer.out_proj.weight[:, :width], layer.out_proj.bias)


def test_spread_order_prefixes_span_local_and_global():
    assert spread_order(1) == [0]
    for bands in (2, 4, 6, 8, 16):
        order = spread_order(bands)
        assert sorted(order) == list(range(bands))
        assert order[:2] == [0, bands - 1]


def test_head_time_scales_are_banded():
    kern = DiagonalSSMKernel(
        num_heads=4, head_dim=8, state_dim=8, bidirectional=True, dt_min=1e-3, dt_max=0.5
    )
    dt = kern.log_dt.detach().exp().reshape(4, 8)
    assert dt[0].min() > dt[1].max()  # head 0 local (large dt), head 1 global (small dt)
    assert dt.min() >= 1e-3 * (1 - 1e-6) and dt.max() <= 0.5 * (1 + 1e-6)


def test_halves_layout_draws_any_leading_heads_as_a_standalone_layer_does():
    log_range = math.log(0.5 / 1e-3)
    for heads in (2, 4, 6):
        # the first `heads` heads of an 8-head layer: the same bands as a `heads`-head layer's own
        assert head_dt_bands(8, log_range, "halves")[:heads] == head_dt_bands(heads, log_range, "halves")
    # the per-head bands are narrower in the bigger layer: its leading heads are not what a small layer draws
    assert head_dt_bands(8, log_range, "bands")[:2] != head_dt_bands(2, log_range, "bands")
    assert head_dt_bands(2, log_range, "bands") == head_dt_bands(2, log_range, "halves")
    torch.manual_seed(0)
    kern = DiagonalSSMKernel(8, 16, 8, True, 1e-3, 0.5, dt_layout="halves")
    log_dt = kern.log_dt.detach().reshape(8, 16)
    middle = math.log(1e-3) + log_range / 2
    assert (log_dt[0::2] >= middle).all() and (log_dt[1::2] <= middle).all()  # pairs: one local, one global
    assert log_dt.min() >= math.log(1e-3) - 1e-6 and log_dt.max() <= math.log(0.5) + 1e-6
    # the two leading heads leave no stretch of the range uncovered wider than a 16-way split's band
    values = log_dt[:2].flatten().sort().values
    assert (values[1:] - values[:-1]).max() < log_range / 16 * 3
    with pytest.raises(ValueError, match="dt layout 'thirds'"):
        head_dt_bands(6, log_range, "thirds")


@pytest.mark.parametrize("bidirectional", [True, False])
def test_real_arithmetic_kernel_matches_complex_reference(bidirectional):
    torch.manual_seed(0)
    kern = DiagonalSSMKernel(4, 6, 16, bidirectional, 1e-3, 0.5)
    with torch.no_grad():
        kern.c_coef.normal_()
        kern.a_imag.add_(torch.randn_like(kern.a_imag))
        ref = _complex_kernel(kern, 200, 18)
        assert (kern(200, 18) - ref).abs().max() < 1e-10  # float64 after .double()
        got32 = kern.float()(200, 18)
    assert got32.dtype == torch.float32
    assert (got32.double() - ref).abs().max() < 1e-5


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("heads", [2, 6])
def test_layer_matches_step_by_step_recurrence(causal, heads):
    torch.manual_seed(1)
    layer = MultiHeadSSM(d_model=12, max_heads=6, head_dim=3, state_dim=8, causal=causal)
    x = torch.randn(2, 37, 12, dtype=torch.float64)
    with torch.no_grad():
        ref = _recurrent_mhssm(layer, x, heads)
        fft = layer(x, num_heads=heads)
        layer.exportable = True
        toeplitz = layer(x, num_heads=heads)
    assert (fft - ref).abs().max() < 1e-9
    assert (toeplitz - ref).abs().max() < 1e-9


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("length", [1, 2, 9, 150])
def test_fft_and_exportable_paths_agree_float32(causal, length):
    torch.manual_seed(2)
    layer = MultiHeadSSM(d_model=32, max_heads=8, head_dim=8, state_dim=32, causal=causal)
    x = torch.randn(3, length, 32)
    with torch.no_grad():
        for heads in (2, 8):
            fft = layer(x, num_heads=heads)
            layer.exportable = True
            toeplitz = layer(x, num_heads=heads)
            layer.exportable = False
            assert (fft - toeplitz).abs().max() <= 1e-5


def test_padding_does_not_leak_into_real_frames():
    torch.manual_seed(3)
    layer = MultiHeadSSM(d_model=16, max_heads=4, head_dim=4, state_dim=8, causal=False)
    x = torch.randn(2, 30, 16)
    x[1, 20:] = 100.0  # garbage in the padding of utterance 1
    valid = (torch.arange(30)[None, :] < torch.tensor([30, 20])[:, None]).unsqueeze(-1).float()
    with torch.no_grad():
        batched = layer(x, valid)
        alone = layer(x[1:, :20])
    assert (batched[1, :20] - alone[0]).abs().max() < 1e-5


def test_odd_head_count_rejected():
    with pytest.raises(ValueError, match="max_heads=3"):
        MultiHeadSSM(d_model=8, max_heads=3, head_dim=2, state_dim=4, causal=False)


@pytest.mark.parametrize("causal", [False, True])
def test_shared_kernel_spectra_equal_each_widths_own_kernel(causal):
    """Subnets of one step share each layer's spectrum (leading rows): outputs and gradients are unchanged."""
    torch.manual_seed(0)
    model = Transducer(get_preset("tiny", vocab_size=20, causal=causal))
    encoder = model.encoder
    x, lens = torch.randn(2, 37, encoder.final_norm.normalized_shape[0]), torch.tensor([37, 30])
    narrow = [LayerChoice(i, b.max_ffn_dim, 2) for i, b in enumerate(encoder.layers)]  # 2 heads each

    def run() -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
        model.zero_grad(set_to_none=True)
        outs = [encoder(x, lens, None, 0.0), encoder(x, lens, narrow, 0.0)]
        sum(o.square().sum() for o in outs).backward()
        return outs, {n: p.grad.clone() for n, p in encoder.named_parameters() if p.grad is not None}

    alone, alone_grads = run()
    with encoder.shared_kernel_spectra():
        shared, shared_grads = run()
        assert all(len(block.ssm.spectrum_cache) == 1 for block in encoder.layers)
    assert all(block.ssm.spectrum_cache is None for block in encoder.layers)
    for a, b in zip(alone, shared):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    assert alone_grads.keys() == shared_grads.keys()
    for name in alone_grads:
        torch.testing.assert_close(alone_grads[name], shared_grads[name], rtol=1e-5, atol=1e-6, msg=name)
