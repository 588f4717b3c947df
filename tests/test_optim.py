"""Tests for todm.optim: Eden against its closed form, ScaledAdam against hand-written update rules,
a least-squares problem with a known solution, clipping, scalars, and bit-identical resume."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from todm.optim import Eden, ScaledAdam, make_optimizer


def _eden_closed_form(base_lr, batch, epoch, lr_batches, lr_epochs, warmup_batches, warmup_start):
    # Eden as in the Zipformer paper, written out independently of the implementation.
    warm = 1.0 if batch >= warmup_batches else warmup_start + (1 - warmup_start) * batch / warmup_batches
    return base_lr * (1 + (batch / lr_batches) ** 2) ** -0.25 * (1 + (epoch / lr_epochs) ** 2) ** -0.25 * warm


@pytest.mark.parametrize(
    "batch,epoch", [(0, 0), (1, 0), (250, 0), (499, 1), (500, 1), (7500, 3.5), (20000, 10), (123457, 40)]
)
def test_eden_matches_closed_form(batch, epoch):
    p = torch.nn.Parameter(torch.zeros(3))
    opt = ScaledAdam([p], lr=0.045)
    sched = Eden(opt, lr_batches=7500, lr_epochs=3.5, warmup_batches=500, warmup_start=0.5)
    sched.step_epoch(epoch)
    sched.step_batch(batch)
    expected = _eden_closed_form(0.045, batch, epoch, 7500, 3.5, 500, 0.5)
    assert opt.param_groups[0]["lr"] == pytest.approx(expected, rel=1e-12)
    assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]


def test_eden_warmup_and_defaults():
    p = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.Adam([p], lr=1e-3)
    sched = Eden(opt)  # icefall zipformer: lr_batches=7500, lr_epochs=3.5, warmup 500 from 0.5
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5e-3 * 1.0)  # batch 0, epoch 0
    for _ in range(250):
        sched.step_batch()
    assert sched.batch == 250
    assert opt.param_groups[0]["lr"] == pytest.approx(_eden_closed_form(1e-3, 250, 0, 7500, 3.5, 500, 0.5))
    sched.step_epoch()
    assert sched.epoch == 1


def test_eden_state_dict_round_trip():
    p = torch.nn.Parameter(torch.zeros(3))
    opt = ScaledAdam([p], lr=0.03)
    sched = Eden(opt, lr_batches=100, lr_epochs=2)
    sched.step_epoch(3)
    sched.step_batch(777)
    state = copy.deepcopy(sched.state_dict())

    opt2 = ScaledAdam([torch.nn.Parameter(torch.zeros(3))], lr=0.03)
    sched2 = Eden(opt2, lr_batches=100, lr_epochs=2)
    sched2.load_state_dict(state)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    sched.step_batch()
    sched2.step_batch()
    assert sched2.get_last_lr() == sched.get_last_lr()


def test_eden_rejects_bad_args():
    opt = ScaledAdam([torch.nn.Parameter(torch.zeros(3))])
    with pytest.raises(ValueError, match="lr_batches"):
        Eden(opt, lr_batches=0)
    with pytest.raises(ValueError, match="warmup_start"):
        Eden(opt, warmup_start=1.5)
    with pytest.raises(TypeError):
        Eden("not an optimizer")


def _reference_scaled_adam(p0, grads, lr, betas=(0.9, 0.98), eps=1e-8, period=4, scalar_lr_scale=0.1):
    """Independent float64 re-statement of ScaledAdam's rules for one non-scalar tensor, no clipping.

    Zipformer paper, ScaledAdam: Adam step on g (second moment only), times rms(p) (refreshed every `period`
    steps), plus every `period` steps a step on the log-scale with gradient sum(p*g); momentum on the update.
    """
    b1, b2 = betas
    p = p0.clone().double()
    v = torch.zeros_like(p)
    m = torch.zeros_like(p)
    rms = p.pow(2).mean().sqrt().item()
    sg = [0.0] * period
    sv = 0.0
    for n, g in enumerate(grads):
        g = g.double()
        v = b2 * v + (1 - b2) * g * g
        bc = 1 - b2 ** (n + 1)
        vhat = v / bc if bc < 0.99 else v
        d = -lr * g / (vhat.sqrt() + eps)
        sg[n % period] = (p * g).sum().item()
        if n % period == period - 1:
            rms = p.pow(2).mean().sqrt().item()
        d = d * max(rms, 1e-5)
        if n % period == period - 1 and n > 0:
            b2p = b2**period
            sv = b2p * sv + (1 - b2p) * sum(x * x for x in sg) / period
            bc_s = 1 - b2p ** ((n + 1) // period)
            s = -lr * scalar_lr_scale * math.sqrt(bc_s) * sum(sg) / (math.sqrt(sv) + eps)
            s = min(max(s, -0.1), 0.1)
            s = min(s, (3.0 - rms) / rms)
            d = d + p * s
        m = b1 * m + (1 - b1) * d
        p = p + m
    return p


def test_scaled_adam_single_step_by_hand():
    # One step on a 2x2 tensor, by hand: v = (1 - b2) g^2 and the bias correction divides by (1 - b2), so
    # the Adam step is -lr * g / (|g| + eps); it is multiplied by rms(p0) and by (1 - b1) from momentum.
    p0 = torch.tensor([[1.0, -2.0], [3.0, 0.5]], dtype=torch.float64)
    g = torch.tensor([[0.1, -0.3], [2.0, -0.01]], dtype=torch.float64)
    p = torch.nn.Parameter(p0.clone())
    opt = ScaledAdam([p], lr=0.05, clipping_scale=None)
    p.grad = g.clone()
    opt.step()
    rms = math.sqrt((1 + 4 + 9 + 0.25) / 4)
    expected = p0 - 0.1 * 0.05 * rms * g / (g.abs() + 1e-8)
    torch.testing.assert_close(p.detach(), expected, rtol=0, atol=1e-12)


def test_scaled_adam_matches_reference_over_many_steps():
    torch.manual_seed(0)
    p0 = torch.randn(3, 5, dtype=torch.float64)
    grads = [torch.randn(3, 5, dtype=torch.float64) + 0.5 for _ in range(23)]  # biased: scale steps act
    p = torch.nn.Parameter(p0.clone())
    opt = ScaledAdam([p], lr=0.03, clipping_scale=None)
    for g in grads:
        p.grad = g.clone()
        opt.step()
    expected = _reference_scaled_adam(p0, grads, lr=0.03)
    torch.testing.assert_close(p.detach(), expected, rtol=1e-10, atol=1e-12)


def test_scaled_adam_scalar_params():
    # Scalars: Adam step with lr * scalar_lr_scale, no rms scaling, clamped to +-scalar_max.
    for shape in [(), (1,), (1, 1)]:
        p = torch.nn.Parameter(torch.full(shape, 2.0, dtype=torch.float64))
        opt = ScaledAdam([p], lr=0.1, clipping_scale=2.0)
        p.grad = torch.full(shape, 3.0, dtype=torch.float64)
        opt.step()
        # first step: -lr * scalar_lr_scale * g / (|g| + eps), times (1 - b1) from momentum
        assert p.item() == pytest.approx(2.0 - 0.1 * 0.1 * 0.1 * 3.0 / (3.0 + 1e-8), abs=1e-14)
    p = torch.nn.Parameter(torch.tensor(9.999))
    opt = ScaledAdam([p], lr=10.0, scalar_max=10.0)
    for _ in range(5):
        p.grad = torch.tensor(-1.0)
        opt.step()
    assert p.item() == 10.0


def test_a_group_updates_each_tensor_as_if_alone():
    """One group of tensors of several shapes and a scalar (updated together, with foreach calls) gives each
    exactly what an optimizer of that parameter alone gives, bit for bit (no clipping: it couples them)."""
    g = torch.Generator().manual_seed(5)
    shapes = [(3, 5), (7,), (), (2, 2, 3)]
    start = [torch.randn(s, generator=g, dtype=torch.float64) for s in shapes]
    grads = [[torch.randn(s, generator=g, dtype=torch.float64) + 0.3 for s in shapes] for _ in range(13)]
    together = [torch.nn.Parameter(x.clone()) for x in start]
    opt = ScaledAdam(together, lr=0.03, clipping_scale=None)
    for step_grads in grads:
        for p, grad in zip(together, step_grads):
            p.grad = grad.clone()
        opt.step()
    for i, x in enumerate(start):
        alone = torch.nn.Parameter(x.clone())
        opt_alone = ScaledAdam([alone], lr=0.03, clipping_scale=None)
        for step_grads in grads:
            alone.grad = step_grads[i].clone()
            opt_alone.step()
        assert torch.equal(alone.detach(), together[i].detach()), shapes[i]
    # and the tensors follow the hand-written reference
    torch.testing.assert_close(
        together[0].detach(),
        _reference_scaled_adam(start[0], [s[0] for s in grads], lr=0.03),
        rtol=1e-10,
        atol=1e-12,
    )


def test_scaled_adam_solves_least_squares():
    # min ||A w + b - y||^2 has the closed-form solution [w; b] = lstsq([A 1], y).
    torch.manual_seed(0)
    n, d = 64, 6
    a = torch.randn(n, d, dtype=torch.float64)
    y = a @ torch.randn(d, 1, dtype=torch.float64) + 0.3 + 0.1 * torch.randn(n, 1, dtype=torch.float64)
    a1 = torch.cat([a, torch.ones(n, 1, dtype=torch.float64)], dim=1)
    solution = torch.linalg.lstsq(a1, y).solution.squeeze(1)

    model = torch.nn.Linear(d, 1).double()
    opt = ScaledAdam(model.parameters(), lr=0.05)
    sched = Eden(opt, lr_batches=100, lr_epochs=1.0, warmup_batches=20)
    for step in range(3000):
        loss = (model(a) - y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step_batch(step + 1)
        if step % 300 == 0:
            sched.step_epoch(step // 300)
    got = torch.cat([model.weight.detach().squeeze(0), model.bias.detach()])
    torch.testing.assert_close(got, solution, rtol=0, atol=2e-3)


def _tiny_model(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def _train(model, opt, sched, steps, gen):
    for _ in range(steps):
        x = torch.randn(16, 4, generator=gen)
        loss = model(x).pow(2).sum() + (model[2].bias - 1.0).pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step_batch()


@pytest.mark.parametrize("name", ["scaled_adam", "adam"])
def test_state_dict_round_trip_is_bit_identical(name):
    model = _tiny_model(0)
    opt = make_optimizer(model.parameters(), name=name)
    # short periods so that the resumed part crosses size updates and clipping-threshold estimates
    if name == "scaled_adam":
        for g in opt.param_groups:
            g["clipping_update_period"] = 8
    sched = Eden(opt, lr_batches=50, lr_epochs=2, warmup_batches=10)
    gen = torch.Generator().manual_seed(1)
    _train(model, opt, sched, 45, gen)

    saved = copy.deepcopy(
        {
            "model": model.state_dict(),
            "opt": opt.state_dict(),
            "sched": sched.state_dict(),
            "gen": gen.get_state(),
        }
    )
    _train(model, opt, sched, 30, gen)

    model2 = _tiny_model(123)  # different init: everything must come from the state dicts
    model2.load_state_dict(saved["model"])
    opt2 = make_optimizer(model2.parameters(), name=name)
    sched2 = Eden(opt2, lr_batches=50, lr_epochs=2, warmup_batches=10)
    opt2.load_state_dict(saved["opt"])
    sched2.load_state_dict(saved["sched"])
    gen2 = torch.Generator()
    gen2.set_state(saved["gen"])
    _train(model2, opt2, sched2, 30, gen2)

    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b)
    assert sched.get_last_lr() == sched2.get_last_lr()


def test_clipping_kicks_in_on_huge_gradient():
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(10, 10))
    opt = ScaledAdam([p], lr=0.01, clipping_scale=2.0)
    for _ in range(30):
        p.grad = torch.randn(10, 10)
        opt.step()
        assert opt.last_clip_scale == 1.0 or opt.clipping_stats[0].threshold is not None
    stats = opt.clipping_stats[0]
    assert stats.threshold is not None and stats.threshold > 0  # estimated at steps 10 and 20
    normal_norm = stats.grad_norm

    p.grad = 1e6 * torch.randn(10, 10)
    before = p.detach().clone()
    opt.step()
    stats = opt.clipping_stats[0]
    assert stats.grad_norm > 1e5 * normal_norm
    assert stats.scale < 1e-4
    assert stats.scale == pytest.approx(stats.threshold / stats.grad_norm, rel=1e-6)
    assert opt.last_clip_scale == stats.scale
    # the clipped gradient had the threshold's norm, so the Adam state is not blown up
    rms = before.pow(2).mean().sqrt()
    assert (p.detach() - before).abs().max() < 0.1 * rms


def test_no_clipping_when_disabled_and_nonfinite_grad_dropped():
    p = torch.nn.Parameter(torch.ones(3, 3))
    opt = ScaledAdam([p], clipping_scale=None)
    for _ in range(15):
        p.grad = torch.ones(3, 3)
        opt.step()
    p.grad = torch.full((3, 3), 1e8)
    opt.step()
    assert opt.last_clip_scale == 1.0

    q = torch.nn.Parameter(torch.ones(3, 3))
    opt = ScaledAdam([q])
    for _ in range(15):
        q.grad = torch.ones(3, 3)
        opt.step()
    q.grad = torch.full((3, 3), float("inf"))
    opt.step()
    assert opt.last_clip_scale == 0.0
    assert torch.isfinite(q).all()


def test_param_without_grad_is_skipped():
    a = torch.nn.Parameter(torch.ones(2, 2))
    b = torch.nn.Parameter(torch.ones(2, 2))
    opt = ScaledAdam([a, b])
    a.grad = torch.ones(2, 2)
    opt.step()
    assert torch.equal(b.detach(), torch.ones(2, 2))
    assert not torch.equal(a.detach(), torch.ones(2, 2))
    # the group's clipping state lives with the first parameter; it may get its first gradient later
    opt = ScaledAdam([b, a])
    a.grad = torch.ones(2, 2)
    opt.step()
    b.grad = torch.ones(2, 2)
    opt.step()
    assert opt.state[b]["step"] == 1 and opt.state[a]["step"] == 2


def test_make_optimizer():
    params = [torch.nn.Parameter(torch.zeros(2, 2))]
    opt = make_optimizer(params, "scaled_adam")
    assert isinstance(opt, ScaledAdam) and opt.param_groups[0]["lr"] == 0.045
    assert opt.param_groups[0]["clipping_scale"] == 2.0
    opt = make_optimizer(params, "adam", lr=1e-3)
    assert isinstance(opt, torch.optim.Adam) and opt.param_groups[0]["lr"] == 1e-3
    with pytest.raises(ValueError, match="name"):
        make_optimizer(params, "sgd")
    with pytest.raises(ValueError, match="lr"):
        ScaledAdam(params, lr=-1.0)
