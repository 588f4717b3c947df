"""Tests for todm.distill against a float64 numpy statement of AlphaNet's alpha-divergence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from todm.distill import adaptive_alpha_divergence, alpha_divergence


def _np_softmax(x):
    x = x - x.max(-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


def _np_alpha_div(student, teacher, alpha, iw_clip=None):
    """Per-distribution clipped alpha-divergence, AlphaNet's definition with the weight min((p/q)^a, c)."""
    q = _np_softmax(np.asarray(student, dtype=np.float64))
    p = _np_softmax(np.asarray(teacher, dtype=np.float64))
    t = p / q
    c = np.inf if iw_clip is None else iw_clip
    if abs(alpha) < 1e-3:
        return -(q * np.log(np.minimum(t, c))).sum(-1)
    if abs(alpha - 1) < 1e-3:
        return (p * np.log(p / q)).sum(-1)
    return (q * (np.minimum(t**alpha, c) - 1)).sum(-1) / (alpha * (alpha - 1))


def _logits(seed, shape=(2, 5, 3, 7), scale=2.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(*shape, generator=g, dtype=dtype)


@pytest.mark.parametrize("alpha", [-1.0, -0.5, 0.0, 0.3, 0.5, 1.0, 1.5, 2.0])
@pytest.mark.parametrize("iw_clip", [None, 5.0])
def test_matches_numpy_formula(alpha, iw_clip):
    s, t = _logits(0), _logits(1)
    got = alpha_divergence(s, t, alpha, iw_clip=iw_clip, reduction="none")
    expected = _np_alpha_div(s.numpy(), t.numpy(), alpha, iw_clip)
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-10, atol=1e-12)
    total = alpha_divergence(s, t, alpha, iw_clip=iw_clip)  # default reduction: sum
    assert total.item() == pytest.approx(expected.sum(), rel=1e-10)


def test_limits_are_the_two_kl_divergences():
    s, t = _logits(2), _logits(3)
    q = _np_softmax(s.numpy())
    p = _np_softmax(t.numpy())
    kl_pq = (p * (np.log(p) - np.log(q))).sum()  # KL(teacher || student)
    kl_qp = (q * (np.log(q) - np.log(p))).sum()  # KL(student || teacher)
    assert alpha_divergence(s, t, 1.0, iw_clip=None).item() == pytest.approx(kl_pq, rel=1e-10)
    assert alpha_divergence(s, t, 0.0, iw_clip=None).item() == pytest.approx(kl_qp, rel=1e-10)
    # continuity: just outside the KL neighbourhoods the general formula approaches the same values
    assert alpha_divergence(s, t, 1e-4, iw_clip=None).item() == pytest.approx(kl_qp, rel=1e-3)
    assert alpha_divergence(s, t, 2e-3, iw_clip=None).item() == pytest.approx(kl_qp, rel=1e-2)
    assert alpha_divergence(s, t, -2e-3, iw_clip=None).item() == pytest.approx(kl_qp, rel=1e-2)
    assert alpha_divergence(s, t, 1.0 + 2e-3, iw_clip=None).item() == pytest.approx(kl_pq, rel=1e-2)
    assert alpha_divergence(s, t, 1.0 - 2e-3, iw_clip=None).item() == pytest.approx(kl_pq, rel=1e-2)


@pytest.mark.parametrize("alpha", [-1.0, 0.0, 0.5, 1.0])
def test_zero_when_equal_and_nonnegative(alpha):
    s = _logits(4)
    assert alpha_divergence(s, s.clone(), alpha).abs().item() < 1e-12
    for seed in range(5):
        per = alpha_divergence(
            _logits(10 + seed, scale=4.0), _logits(20 + seed, scale=4.0), alpha, reduction="none"
        )
        assert (per >= -1e-12).all()
        per = adaptive_alpha_divergence(_logits(10 + seed, scale=4.0), _logits(20 + seed), reduction="none")
        assert (per >= -1e-12).all()


def test_iw_clip_engages():
    # A flat student over 64 classes and a peaked teacher: p/q = 64 on the peak (clipped for a = 0 and, as
    # (p/q)^0.5 = 8, for a = 0.5) and q/p = (p/q)^-1 is astronomically large elsewhere (clipped for a = -1).
    s = torch.zeros(1, 64, dtype=torch.float64)
    t = torch.zeros(1, 64, dtype=torch.float64)
    t[0, 0] = 16.0
    for alpha in (-1.0, 0.0, 0.5):
        clipped = alpha_divergence(s, t, alpha, iw_clip=5.0).item()
        unclipped = alpha_divergence(s, t, alpha, iw_clip=None).item()
        assert clipped != pytest.approx(unclipped, rel=1e-3)
        assert clipped == pytest.approx(_np_alpha_div(s.numpy(), t.numpy(), alpha, 5.0).sum(), rel=1e-10)


@pytest.mark.parametrize("alpha", [-1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
def test_gradient_is_exact_without_clipping(alpha):
    # AlphaNet's score-function gradient equals the true gradient of D_alpha when nothing is clipped.
    s = _logits(5, shape=(3, 6)).requires_grad_(True)
    t = _logits(6, shape=(3, 6))
    alpha_divergence(s, t, alpha, iw_clip=None).backward()

    def exact(x):
        q = torch.softmax(x, -1)
        p = torch.softmax(t, -1)
        if alpha == 0.0:
            return (q * (q.log() - p.log())).sum()
        if alpha == 1.0:
            return (p * (p.log() - q.log())).sum()
        return (q * ((p / q) ** alpha - 1)).sum() / (alpha * (alpha - 1))

    x = s.detach().clone().requires_grad_(True)
    exact(x).backward()
    torch.testing.assert_close(s.grad, x.grad, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("alpha", [-1.0, 0.0, 0.5, 1.0])
def test_clipped_gradient_is_alphanets_surrogate(alpha):
    """With weights clipped, the gradient is AlphaNet's f_divergence form: autograd of the surrogate
    -sum_v q_v rho_v log q_v (q and rho held constant), rho from numpy's clipped weights."""
    s = _logits(11, shape=(4, 64), scale=4.0).requires_grad_(True)
    t = _logits(12, shape=(4, 64), scale=4.0)
    alpha_divergence(s, t, alpha, iw_clip=5.0).backward()
    q = _np_softmax(s.detach().numpy())
    ratio = _np_softmax(t.numpy()) / q
    if alpha == 0.0:
        rho = np.log(np.minimum(ratio, 5.0)) - 1
    elif alpha == 1.0:
        rho = ratio
    else:
        rho = np.minimum(ratio**alpha, 5.0) / alpha + 1 / (alpha * (alpha - 1))
    weight = ratio if alpha == 0.0 else ratio**alpha  # what the clip applies to
    assert (weight > 5.0).any() or alpha == 1.0  # the clip engages
    x = s.detach().clone().requires_grad_(True)
    (-(torch.from_numpy(q * rho) * torch.log_softmax(x, -1)).sum()).backward()
    torch.testing.assert_close(s.grad, x.grad, rtol=1e-8, atol=1e-12)


def test_far_apart_distributions_stay_finite():
    """Teacher and student so far apart that p / q overflows float32 (a trained teacher against a student
    that rules a class out): the adaptive loss and its gradient stay finite."""
    s = _logits(13, shape=(3, 5, 500), scale=40.0, dtype=torch.float32).requires_grad_(True)
    t = _logits(14, shape=(3, 5, 500), scale=40.0, dtype=torch.float32)
    assert ((torch.log_softmax(t, -1) - torch.log_softmax(s, -1)) > 89).any()  # exp() overflows there
    loss = adaptive_alpha_divergence(s, t)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(s.grad).all()


def test_teacher_gets_no_gradient():
    s = _logits(7).requires_grad_(True)
    t = _logits(8).requires_grad_(True)
    (alpha_divergence(s, t, -1.0) + adaptive_alpha_divergence(s, t)).backward()
    assert t.grad is None
    assert s.grad is not None and s.grad.abs().sum() > 0


def test_mask_excludes_padded_frames():
    s, t = _logits(9), _logits(10)  # (B=2, T=5, R=3, V=7)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    s2, t2 = s.clone(), t.clone()
    s2[0, 3:] = 100 * torch.randn(2, 3, 7, dtype=torch.float64)
    t2[0, 3:] = -50.0
    for fn in (
        lambda a, b: alpha_divergence(a, b, 0.5, mask=mask),
        lambda a, b: adaptive_alpha_divergence(a, b, mask=mask),
    ):
        assert fn(s, t).item() == fn(s2, t2).item()
    expected = _np_alpha_div(s.numpy(), t.numpy(), 0.5, 5.0)[mask.numpy()].sum()
    assert alpha_divergence(s, t, 0.5, mask=mask).item() == pytest.approx(expected, rel=1e-10)
    # mean: per valid lattice node (frames x prune_range)
    mean = alpha_divergence(s, t, 0.5, mask=mask, reduction="mean").item()
    assert mean == pytest.approx(expected / (8 * 3), rel=1e-10)
    # no gradient reaches padded positions
    sg = s.clone().requires_grad_(True)
    adaptive_alpha_divergence(sg, t, mask=mask).backward()
    assert sg.grad[0, 3:].abs().sum() == 0 and sg.grad[0, :3].abs().sum() > 0


def test_adaptive_is_max_of_the_two():
    s, t = _logits(11, scale=3.0), _logits(12, scale=3.0)
    lo = alpha_divergence(s, t, -1.0, reduction="none")
    hi = alpha_divergence(s, t, 1.0, reduction="none")
    ad = adaptive_alpha_divergence(s, t, reduction="none")
    torch.testing.assert_close(ad, torch.maximum(lo, hi), rtol=0, atol=0)
    assert (lo > hi).any() and (hi > lo).any()  # both branches are exercised
    # gradient of each node is that of the selected divergence
    sg = s.clone().requires_grad_(True)
    adaptive_alpha_divergence(sg, t).backward()
    s_lo = s.clone().requires_grad_(True)
    alpha_divergence(s_lo, t, -1.0).backward()
    s_hi = s.clone().requires_grad_(True)
    alpha_divergence(s_hi, t, 1.0).backward()
    pick = (lo > hi).unsqueeze(-1).expand_as(s)
    torch.testing.assert_close(sg.grad, torch.where(pick, s_lo.grad, s_hi.grad), rtol=1e-12, atol=1e-14)


def test_float32_and_half_inputs_and_bad_args():
    s, t = _logits(13, dtype=torch.float32), _logits(14, dtype=torch.float32)
    ref = _np_alpha_div(s.double().numpy(), t.double().numpy(), -1.0, 5.0).sum()
    assert alpha_divergence(s, t, -1.0).item() == pytest.approx(ref, rel=1e-4)
    assert alpha_divergence(s.half(), t.half(), -1.0).dtype == torch.float32
    with pytest.raises(ValueError, match="same shape"):
        alpha_divergence(s, t[..., :3], 0.5)
    with pytest.raises(ValueError, match="reduction"):
        alpha_divergence(s, t, 0.5, reduction="avg")
    with pytest.raises(ValueError, match="mask"):
        alpha_divergence(s, t, 0.5, mask=torch.ones(3, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="alpha_min"):
        adaptive_alpha_divergence(s, t, alpha_min=1.0, alpha_max=-1.0)
    with pytest.raises(ValueError, match="iw_clip"):
        alpha_divergence(s, t, 0.5, iw_clip=0.0)
