"""todm.rnnt against an independent reference: brute-force enumeration of every alignment path.

Path conventions (k2): from lattice state (s, t) with s symbols emitted and t frames consumed,
* regular: a symbol keeps t, a blank advances t; the path ends with a blank on frame T-1;
* modified: one token per frame, a symbol also advances t; T >= S;
* constrained: modified, and emitting symbol s on frame t also pays blank from context s+1, frame t.
A symbol emitted on frame t gets delay_penalty * ((T - 1) / 2 - t) added (k2 issue #955).
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn

from todm import rnnt
from todm.rnnt import (
    do_rnnt_pruning,
    get_rnnt_prune_ranges,
    joint_mutual_information_recursion,
    mutual_information_recursion,
    pruned_rnnt_loss,
    rnnt_loss,
    rnnt_loss_pruned,
    rnnt_loss_simple,
    rnnt_loss_smoothed,
)

TYPES = ("regular", "modified", "constrained")


# ---------------------------------------------------------------- brute force reference


def _paths(logp: torch.Tensor, symbols: list, rnnt_type: str, delay_penalty: float):
    """Log-probs of all complete paths. logp: (T, S+1, V) normalized; symbols: S ids (blank = 0)."""
    T, S1, _ = logp.shape
    S = S1 - 1
    out = []

    def bonus(t):
        return delay_penalty * ((T - 1) / 2 - t)

    def walk(s, t, acc):
        if rnnt_type == "regular":
            if t == T:
                if s == S:
                    out.append(acc)
                return
            if s < S:
                walk(s + 1, t, acc + logp[t, s, symbols[s]] + bonus(t))
            walk(s, t + 1, acc + logp[t, s, 0])
        else:
            if t == T:
                if s == S:
                    out.append(acc)
                return
            if s < S:
                step = logp[t, s, symbols[s]] + bonus(t)
                if rnnt_type == "constrained":
                    step = step + logp[t, s + 1, 0]
                walk(s + 1, t + 1, acc + step)
            walk(s, t + 1, acc + logp[t, s, 0])

    walk(0, 0, torch.zeros((), dtype=logp.dtype))
    return out


def brute_force_loss(logp, symbols, rnnt_type="regular", delay_penalty=0.0):
    """-log sum over paths of exp(path log-prob); logp (T, S+1, V) already normalized."""
    paths = _paths(logp, list(symbols), rnnt_type, delay_penalty)
    return -torch.logsumexp(torch.stack(paths), dim=0)


def brute_force_batch(logits, symbols, T_lens, S_lens, rnnt_type="regular", delay_penalty=0.0, log_norm=None):
    """Per-utterance brute force on logits (B, T, S+1, V) cut to each utterance's lengths."""
    log_norm = log_norm or (lambda x: x.log_softmax(-1))
    losses = []
    for b in range(logits.shape[0]):
        T, S = int(T_lens[b]), int(S_lens[b])
        logp = log_norm(logits[b, :T, : S + 1])
        losses.append(brute_force_loss(logp, symbols[b, :S].tolist(), rnnt_type, delay_penalty))
    return torch.stack(losses)


def _boundary(S_lens, T_lens):
    b = torch.zeros(len(S_lens), 4, dtype=torch.int64)
    b[:, 2] = torch.as_tensor(S_lens)
    b[:, 3] = torch.as_tensor(T_lens)
    return b


def _problem(seed=0, B=3, T=4, S=3, V=5, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, S + 1, V, generator=g, dtype=dtype)
    symbols = torch.randint(1, V, (B, S), generator=g)
    return logits, symbols


# ---------------------------------------------------------------- full loss vs brute force


@pytest.mark.parametrize("rnnt_type", TYPES)
@pytest.mark.parametrize("delay_penalty", [0.0, 0.5])
def test_rnnt_loss_matches_brute_force(rnnt_type, delay_penalty):
    logits, symbols = _problem(seed=1)
    S_lens = [3, 2, 0] if rnnt_type == "regular" else [3, 2, 1]
    T_lens = [4, 3, 2]
    boundary = _boundary(S_lens, T_lens)
    symbols[1, 2:] = 0  # padding with blank, as icefall does
    x = logits.clone().requires_grad_()
    ours = rnnt_loss(
        x, symbols, 0, boundary=boundary, rnnt_type=rnnt_type, delay_penalty=delay_penalty, reduction="none"
    )
    y = logits.clone().requires_grad_()
    ref = brute_force_batch(y, symbols, T_lens, S_lens, rnnt_type, delay_penalty)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
    (gx,) = torch.autograd.grad(ours.sum(), x)
    (gy,) = torch.autograd.grad(ref.sum(), y)
    torch.testing.assert_close(gx, gy, atol=1e-6, rtol=0)


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_rnnt_loss_no_boundary_float32(rnnt_type):
    logits, symbols = _problem(seed=2, B=2, T=4, S=3, dtype=torch.float32)
    ours = rnnt_loss(logits, symbols, 0, rnnt_type=rnnt_type, reduction="none")
    ref = brute_force_batch(logits.double(), symbols, [4, 4], [3, 3], rnnt_type)
    torch.testing.assert_close(ours.double(), ref, atol=1e-5, rtol=0)
    for reduction, fn in (("sum", torch.sum), ("mean", torch.mean)):
        red = rnnt_loss(logits, symbols, 0, rnnt_type=rnnt_type, reduction=reduction)
        torch.testing.assert_close(red, fn(ours))


def test_blank_not_zero():
    logits, symbols = _problem(seed=3, B=1, V=5)
    symbols[:] = torch.tensor([0, 1, 2])  # blank is 4 here, 0 is an ordinary symbol
    ours = rnnt_loss(logits, symbols, termination_symbol=4, reduction="none")
    perm = [4, 1, 2, 3, 0]  # swap ids 0 and 4 so the reference's blank (0) is our blank (4)
    ref = brute_force_batch(logits[..., perm], torch.tensor([[4, 1, 2]]), [4], [3])
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)


def test_variable_lengths_equal_each_utterance_alone():
    logits, symbols = _problem(seed=4, B=4, T=9, S=5, V=7)
    S_lens, T_lens = [5, 3, 1, 4], [9, 6, 4, 7]
    batch = rnnt_loss(logits, symbols, 0, boundary=_boundary(S_lens, T_lens), reduction="none")
    for b in range(4):
        alone = rnnt_loss(
            logits[b : b + 1, : T_lens[b], : S_lens[b] + 1],
            symbols[b : b + 1, : S_lens[b]],
            0,
            reduction="none",
        )
        torch.testing.assert_close(batch[b], alone[0])


# ---------------------------------------------------------------- simple / smoothed


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_simple_loss_matches_brute_force(rnnt_type):
    g = torch.Generator().manual_seed(5)
    B, T, S, V = 2, 4, 3, 5
    am = torch.randn(B, T, V, generator=g, dtype=torch.float64, requires_grad=True)
    lm = torch.randn(B, S + 1, V, generator=g, dtype=torch.float64, requires_grad=True)
    symbols = torch.randint(1, V, (B, S), generator=g)
    boundary = _boundary([3, 2], [4, 3])
    ours = rnnt_loss_simple(lm, am, symbols, 0, boundary=boundary, rnnt_type=rnnt_type, reduction="none")
    ref = brute_force_batch(am.unsqueeze(2) + lm.unsqueeze(1), symbols, [4, 3], [3, 2], rnnt_type)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
    g_ours = torch.autograd.grad(ours.sum(), (am, lm))
    g_ref = torch.autograd.grad(ref.sum(), (am, lm))
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_smoothed_with_zero_scales_is_simple():
    g = torch.Generator().manual_seed(6)
    am, lm = torch.randn(2, 6, 5, generator=g), torch.randn(2, 4, 5, generator=g)
    symbols = torch.randint(1, 5, (2, 3), generator=g)
    simple = rnnt_loss_simple(lm, am, symbols, 0, reduction="none")
    smoothed = rnnt_loss_smoothed(lm, am, symbols, 0, lm_only_scale=0.0, am_only_scale=0.0, reduction="none")
    torch.testing.assert_close(smoothed, simple, atol=1e-5, rtol=0)


def test_lm_only_smoothing_is_lm_lattice():
    """lm_only_scale=1: the lattice scores every step with softmax(lm) of its context alone."""
    g = torch.Generator().manual_seed(7)
    T, S, V = 5, 3, 6
    am, lm = (
        torch.randn(1, T, V, generator=g, dtype=torch.float64),
        torch.randn(1, S + 1, V, generator=g, dtype=torch.float64),
    )
    symbols = torch.randint(1, V, (1, S), generator=g)
    loss = rnnt_loss_smoothed(lm, am, symbols, 0, lm_only_scale=1.0, am_only_scale=0.0, reduction="none")
    lm_logits = lm.unsqueeze(1).expand(1, T, S + 1, V)
    ref = brute_force_batch(lm_logits, symbols, [T], [S])
    torch.testing.assert_close(loss, ref, atol=1e-5, rtol=0)


# ---------------------------------------------------------------- pruned loss


def _full_ranges(B, T, S):
    return torch.arange(S + 1).expand(B, T, S + 1).contiguous()


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_pruned_with_full_range_equals_full_loss(rnnt_type):
    logits, symbols = _problem(seed=8, B=3, T=6, S=4, V=6)
    boundary = _boundary([4, 2, 3], [6, 5, 4])
    full = rnnt_loss(logits, symbols, 0, boundary=boundary, rnnt_type=rnnt_type, reduction="none")
    pruned = rnnt_loss_pruned(
        logits, symbols, _full_ranges(3, 6, 4), 0, boundary=boundary, rnnt_type=rnnt_type, reduction="none"
    )
    torch.testing.assert_close(pruned, full)


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_pruned_small_range_is_upper_bound_with_finite_grads(rnnt_type):
    g = torch.Generator().manual_seed(9)
    B, T, S, V = 2, 12, 6, 8
    am, lm = torch.randn(B, T, V, generator=g), torch.randn(B, S + 1, V, generator=g)
    logits = am.unsqueeze(2) + lm.unsqueeze(1) + 0.5 * torch.randn(B, T, S + 1, V, generator=g)
    symbols = torch.randint(1, V, (B, S), generator=g)
    boundary = _boundary([6, 4], [12, 9])
    _, (px_grad, py_grad) = rnnt_loss_simple(
        lm, am, symbols, 0, boundary=boundary, rnnt_type=rnnt_type, return_grad=True
    )
    ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range=3)
    assert ranges.shape == (B, T, 3)
    pruned_logits = torch.gather(logits, 2, ranges.unsqueeze(-1).expand(B, T, 3, V)).requires_grad_()
    pruned = rnnt_loss_pruned(
        pruned_logits, symbols, ranges, 0, boundary=boundary, rnnt_type=rnnt_type, reduction="none"
    )
    full = rnnt_loss(logits, symbols, 0, boundary=boundary, rnnt_type=rnnt_type, reduction="none")
    assert torch.all(pruned >= full - 1e-5) and torch.isfinite(pruned).all()
    (grad,) = torch.autograd.grad(pruned.sum(), pruned_logits)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize(
    "scale", [1.0, 60.0]
)  # 60: many log-probs below float32's exp range, as when trained
def test_pruned_log_probs_equal_autograd_composite(scale):
    """The pruned loss's one-function normalisation (values and gradient) against logsumexp + gather + select
    through autograd, in float64 (no floor applies there for these logits) and float32."""
    from todm.rnnt.pruning import pruned_log_probs

    g = torch.Generator().manual_seed(21)
    B, T, R, V, blank = 2, 7, 3, 11, 0
    base = scale * torch.randn(B, T, R, V, generator=g, dtype=torch.float64)
    kept = torch.randint(0, V, (B, T, R, 1), generator=g)
    grad_px, grad_py = torch.randn(2, B, T, R, generator=g, dtype=torch.float64)

    def reference(logits):
        norm = torch.logsumexp(logits, dim=3)
        return torch.gather(logits, 3, kept).squeeze(3) - norm, logits[..., blank] - norm

    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        ours_in = base.to(dtype).clone().requires_grad_()
        ref_in = base.clone().requires_grad_()
        ours, ref = pruned_log_probs(ours_in, kept, blank), reference(ref_in)
        for a, b in zip(ours, ref):
            torch.testing.assert_close(a.double(), b, atol=tol * scale, rtol=tol)
        torch.autograd.backward(ours, (grad_px.to(dtype), grad_py.to(dtype)))
        torch.autograd.backward(ref, (grad_px, grad_py))
        torch.testing.assert_close(ours_in.grad.double(), ref_in.grad, atol=tol, rtol=tol)


def test_prune_ranges_full_when_s_range_exceeds_S():
    logits, symbols = _problem(seed=10, B=2, T=5, S=3)
    _, (px_grad, py_grad) = rnnt_loss_simple(logits[:, 0], logits[:, :, 0], symbols, 0, return_grad=True)
    ranges = get_rnnt_prune_ranges(px_grad, py_grad, _boundary([3, 3], [5, 5]), s_range=10)
    assert torch.equal(ranges, _full_ranges(2, 5, 3))


def test_hat_loss_matches_brute_force():
    logits, symbols = _problem(seed=11, B=2, T=4, S=3)

    def hat_log_norm(x):
        blank = torch.nn.functional.logsigmoid(x[..., :1])
        rest = torch.nn.functional.logsigmoid(-x[..., :1]) + x[..., 1:].log_softmax(-1)
        return torch.cat((blank, rest), dim=-1)

    boundary = _boundary([3, 2], [4, 3])
    ours = rnnt_loss_pruned(
        logits, symbols, _full_ranges(2, 4, 3), 0, boundary=boundary, reduction="none", use_hat_loss=True
    )
    ref = brute_force_batch(logits, symbols, [4, 3], [3, 2], log_norm=hat_log_norm)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


def test_do_rnnt_pruning_gathers_rows():
    am, lm = torch.randn(2, 4, 3), torch.randn(2, 5, 2)
    ranges = torch.tensor([[0, 1], [1, 2], [2, 3], [3, 4]]).expand(2, 4, 2)
    am_p, lm_p = do_rnnt_pruning(am, lm, ranges)
    assert am_p.shape == (2, 4, 2, 3) and lm_p.shape == (2, 4, 2, 2)
    assert torch.equal(lm_p[1, 2, 1], lm[1, 3]) and torch.equal(am_p[0, 3, 1], am[0, 3])


# ---------------------------------------------------------------- recursion details


def test_return_grad_survives_backward():
    """fast_rnnt 1.3 scales the returned occupation grads in place during backward; we must not."""
    g = torch.Generator().manual_seed(12)
    am = torch.randn(2, 5, 4, generator=g, requires_grad=True)
    lm = torch.randn(2, 3, 4, generator=g, requires_grad=True)
    symbols = torch.randint(1, 4, (2, 2), generator=g)
    loss, (px_grad, py_grad) = rnnt_loss_simple(lm, am, symbols, 0, reduction="sum", return_grad=True)
    before = px_grad.clone(), py_grad.clone()
    (0.5 * loss).backward()
    assert torch.equal(px_grad, before[0]) and torch.equal(py_grad, before[1])


def test_joint_recursion_terms_sum_to_total():
    g = torch.Generator().manual_seed(13)
    px = [torch.randn(2, 3, 5, generator=g, dtype=torch.float64) for _ in range(3)]
    py = [torch.randn(2, 4, 4, generator=g, dtype=torch.float64) for _ in range(3)]
    terms = joint_mutual_information_recursion(px, py)
    assert terms.shape == (3, 2)
    total = mutual_information_recursion(sum(px), sum(py))
    torch.testing.assert_close(terms.sum(0), total)


def test_matches_k2_python_code_in_fast_rnnt():
    """fast_rnnt ships k2's Python layer unchanged; ours must agree with it where it runs (S_b >= 1)."""
    fast_rnnt = pytest.importorskip("fast_rnnt")
    g = torch.Generator().manual_seed(14)
    B, T, S, V = 3, 8, 4, 6
    am, lm = torch.randn(B, T, V, generator=g), torch.randn(B, S + 1, V, generator=g)
    symbols = torch.randint(1, V, (B, S), generator=g)
    boundary = _boundary([4, 2, 3], [8, 5, 6])
    for rnnt_type in TYPES:
        kw = {
            "boundary": boundary,
            "rnnt_type": rnnt_type,
            "delay_penalty": 0.2,
            "reduction": "none",
            "return_grad": True,
        }
        ours, (ox, oy) = rnnt_loss_smoothed(lm, am, symbols, 0, 0.25, 0.1, **kw)
        ref, (rx, ry) = fast_rnnt.rnnt_loss_smoothed(lm, am, symbols, 0, 0.25, 0.1, **kw)
        torch.testing.assert_close(ours, ref)
        ranges = get_rnnt_prune_ranges(ox, oy, boundary, 3)
        assert torch.equal(ranges, fast_rnnt.get_rnnt_prune_ranges(rx, ry, boundary, 3))
        logits = torch.randn(B, T, 3, V, generator=g)
        kw = {"boundary": boundary, "rnnt_type": rnnt_type, "delay_penalty": 0.2, "reduction": "none"}
        torch.testing.assert_close(
            rnnt_loss_pruned(logits, symbols, ranges, 0, **kw),
            fast_rnnt.rnnt_loss_pruned(logits, symbols, ranges, 0, **kw),
        )


def test_torchaudio_cross_check():
    try:
        import torchaudio.functional as F
    except ImportError as e:
        print(f"torchaudio cross-check skipped: {e}")
        pytest.skip(f"torchaudio is not installed ({e}); it is optional")
    logits, symbols = _problem(seed=15, B=3, T=6, S=4, dtype=torch.float32)
    S_lens, T_lens = [4, 2, 3], [6, 5, 4]
    ours = rnnt_loss(logits, symbols, 0, boundary=_boundary(S_lens, T_lens), reduction="none")
    ref = F.rnnt_loss(
        logits,
        symbols.int(),
        torch.tensor(T_lens, dtype=torch.int32),
        torch.tensor(S_lens, dtype=torch.int32),
        blank=0,
        reduction="none",
    )
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-5)


# ---------------------------------------------------------------- pruned_rnnt_loss (the model's call)


class TinyJoiner(nn.Module):
    def __init__(self, enc_dim, dec_dim, hidden, vocab):
        super().__init__()
        self.encoder_proj = nn.Linear(enc_dim, hidden)
        self.decoder_proj = nn.Linear(dec_dim, hidden)
        self.output_linear = nn.Linear(hidden, vocab)

    def forward(self, enc, dec, project_input=True):
        if project_input:
            enc, dec = self.encoder_proj(enc), self.decoder_proj(dec)
        return self.output_linear(torch.tanh(enc + dec))


def _model_inputs(seed=16, B=3, T=20, S=6, V=10, C_enc=8, C_dec=6):
    torch.manual_seed(seed)
    parts = {
        "joiner": TinyJoiner(C_enc, C_dec, 12, V),
        "simple_am_proj": nn.Linear(C_enc, V),
        "simple_lm_proj": nn.Linear(C_dec, V),
    }
    target_lens = torch.tensor([S, S - 2, 1])
    targets = torch.randint(1, V, (B, S))
    targets[torch.arange(S) >= target_lens.unsqueeze(1)] = 0
    return dict(
        encoder_out=torch.randn(B, T, C_enc, requires_grad=True),
        encoder_out_lens=torch.tensor([T, T - 5, 7]),
        decoder_out=torch.randn(B, S + 1, C_dec, requires_grad=True),
        targets=targets,
        target_lens=target_lens,
        **parts,
    )


def test_pruned_rnnt_loss_end_to_end_and_gradients():
    inputs = _model_inputs()
    out = pruned_rnnt_loss(**inputs, prune_range=3, am_scale=0.1, lm_scale=0.25)
    B, T = inputs["encoder_out"].shape[:2]
    assert out.logits.shape == (B, T, 3, 10) and out.ranges.shape == (B, T, 3)
    assert out.simple_loss.ndim == 0 and out.pruned_loss.ndim == 0
    assert torch.equal(out.boundary[:, 2], inputs["target_lens"])
    (0.5 * out.simple_loss + out.pruned_loss).backward()
    params = [inputs["encoder_out"], inputs["decoder_out"]]
    for name in ("joiner", "simple_am_proj", "simple_lm_proj"):
        params += list(inputs[name].parameters())
    for p in params:
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_pruned_rnnt_loss_without_pruning_equals_full_joiner_loss(rnnt_type):
    inputs = _model_inputs(seed=17)
    S = inputs["targets"].shape[1]
    out = pruned_rnnt_loss(**inputs, prune_range=S + 1, rnnt_type=rnnt_type, reduction="none")
    joiner = inputs["joiner"]
    full_logits = joiner(inputs["encoder_out"].unsqueeze(2), inputs["decoder_out"].unsqueeze(1))
    boundary = _boundary(inputs["target_lens"], inputs["encoder_out_lens"])
    full = rnnt_loss(
        full_logits, inputs["targets"], 0, boundary=boundary, rnnt_type=rnnt_type, reduction="none"
    )
    torch.testing.assert_close(out.pruned_loss, full, atol=1e-4, rtol=1e-5)


def test_pruned_rnnt_loss_reuses_given_ranges():
    inputs = _model_inputs(seed=18)
    teacher = pruned_rnnt_loss(**inputs, prune_range=4)
    again = pruned_rnnt_loss(**inputs, prune_range=4, ranges=teacher.ranges)
    assert again.ranges is teacher.ranges
    torch.testing.assert_close(again.pruned_loss, teacher.pruned_loss)
    torch.testing.assert_close(again.simple_loss, teacher.simple_loss)
    # A "student" (different encoder output) evaluated on the teacher's lattice.
    student_inputs = dict(inputs, encoder_out=torch.randn_like(inputs["encoder_out"]).requires_grad_())
    student = pruned_rnnt_loss(**student_inputs, ranges=teacher.ranges.clone())
    assert torch.equal(student.ranges, teacher.ranges) and student.logits.shape == teacher.logits.shape
    student.pruned_loss.backward()
    assert torch.isfinite(student_inputs["encoder_out"].grad).all()


def _bad(name):
    """Inputs broken in one way, and the message expected."""
    x = _model_inputs(seed=19)
    kw = {}
    if name == "blank_in_targets":
        x["targets"][0, 0] = 0
        msg = r"targets must not contain blank_id=0 within target_lens"
    elif name == "target_out_of_vocab":
        x["targets"][1, 0] = 10
        msg = r"targets must hold ids in \[0, vocab_size=10\)"
    elif name == "padding_out_of_vocab":
        x["targets"][2, 5] = -1
        msg = r"targets must hold ids in \[0, vocab_size=10\)"
    elif name == "encoder_lens_too_long":
        x["encoder_out_lens"][0] = 21
        msg = r"encoder_out_lens must be <= encoder_out.size\(1\)=20"
    elif name == "target_lens_too_long":
        x["target_lens"][0] = 7
        msg = r"target_lens must be <= targets.size\(1\)=6"
    elif name == "negative_lens":
        x["encoder_out_lens"][1] = -1
        msg = r"encoder_out_lens must be >= 0"
    elif name == "modified_T_less_than_S":
        x["encoder_out_lens"][0] = 5
        kw["rnnt_type"] = "modified"
        msg = r"needs encoder_out_lens >= target_lens; got 5 frames for 6 targets"
    elif name == "constrained_T_less_than_S":
        x["encoder_out_lens"][0] = 5
        kw["rnnt_type"] = "constrained"
        msg = r"rnnt_type='constrained' emits at most one symbol per frame"
    elif name == "int_encoder_out":
        x["encoder_out"] = torch.zeros(3, 20, 8, dtype=torch.int64)
        msg = r"encoder_out must be a floating-point tensor, got torch.int64"
    elif name == "nan_encoder_out":
        x["encoder_out"] = x["encoder_out"].detach().clone()
        x["encoder_out"][0, 3, 1] = float("nan")
        msg = r"encoder_out contains 1 NaN and 0 inf values"
    elif name == "inf_decoder_out":
        x["decoder_out"] = x["decoder_out"].detach().clone()
        x["decoder_out"][1, 2, 0] = float("inf")
        msg = r"decoder_out contains 0 NaN and 1 inf values"
    elif name == "prune_range_1":
        kw["prune_range"] = 1
        msg = r"prune_range must be >= 2"
    elif name == "bad_rnnt_type":
        kw["rnnt_type"] = "fast"
        msg = r"rnnt_type must be one of"
    elif name == "bad_reduction":
        kw["reduction"] = "max"
        msg = r"reduction must be one of"
    elif name == "decoder_out_wrong_length":
        x["decoder_out"] = x["decoder_out"][:, :6]
        msg = r"decoder_out must be \(B=3, S\+1=7, C_dec\)"
    elif name == "ranges_out_of_lattice":
        kw["ranges"] = torch.arange(5).expand(3, 20, 5) + 3
        msg = r"ranges\[\.\.\., 0\] must be in \[0, S\+1-R=2\]"
    else:
        raise AssertionError(name)
    return x, kw, msg


BAD_INPUTS = [
    "blank_in_targets",
    "target_out_of_vocab",
    "padding_out_of_vocab",
    "encoder_lens_too_long",
    "target_lens_too_long",
    "negative_lens",
    "modified_T_less_than_S",
    "constrained_T_less_than_S",
    "int_encoder_out",
    "nan_encoder_out",
    "inf_decoder_out",
    "prune_range_1",
    "bad_rnnt_type",
    "bad_reduction",
    "decoder_out_wrong_length",
    "ranges_out_of_lattice",
]


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_pruned_rnnt_loss_rejects_bad_input(name):
    inputs, kw, msg = _bad(name)
    with pytest.raises(ValueError, match=msg) as info:
        pruned_rnnt_loss(**inputs, **kw)
    assert "\n" not in str(info.value)


def test_k2_api_rejects_bad_input():
    logits, symbols = _problem(seed=20)
    with pytest.raises(ValueError, match=r"logits must be a floating-point tensor, got torch.int64"):
        rnnt_loss(logits.long(), symbols, 0)
    with pytest.raises(ValueError, match=r"rnnt_type='modified' requires T >= S, got T=2 and S=3"):
        rnnt_loss(logits[:, :2], symbols, 0, rnnt_type="modified")
    with pytest.raises(ValueError, match=r"boundary rows must satisfy"):
        rnnt_loss(logits, symbols, 0, boundary=_boundary([3, 3, 4], [4, 4, 4]))
    with pytest.raises(ValueError, match=r"symbols must hold ids in \[0, C=5\), got 7"):
        rnnt_loss(logits, symbols.clamp(max=4).index_fill(1, torch.tensor([0]), 7), 0)
    with pytest.raises(ValueError, match=r"reduction must be one of"):
        rnnt_loss(logits, symbols, 0, reduction="max")
    with pytest.raises(ValueError, match=r"s_range must be >= 2 for regular RNN-T"):
        get_rnnt_prune_ranges(torch.zeros(1, 0, 4), torch.zeros(1, 1, 3), _boundary([0], [3]), 1)


# ---------------------------------------------------------------- backend selection


@pytest.fixture
def fresh_backend(monkeypatch):
    from todm.rnnt import backend

    monkeypatch.setattr(backend, "_current", None)
    return backend


def test_backend_forced_by_env(fresh_backend, monkeypatch, caplog):
    pytest.importorskip("fast_rnnt")
    monkeypatch.setenv("TODM_RNNT_BACKEND", "fast_rnnt")
    with caplog.at_level("INFO", logger="todm.rnnt.backend"):
        assert rnnt.get_backend().name == "fast_rnnt"
        rnnt.get_backend()
    assert sum("using backend fast_rnnt" in r.message for r in caplog.records) == 1  # logged once
    assert rnnt.with_cuda is False or rnnt.with_cuda is True


def test_forced_unavailable_backend_error(fresh_backend, monkeypatch):
    if importlib.util.find_spec("k2") is not None:
        pytest.skip("k2 is installed here, so forcing it succeeds")
    monkeypatch.setenv("TODM_RNNT_BACKEND", "k2")
    with pytest.raises(
        rnnt.RnntBackendError, match=r"RNN-T backend 'k2' was forced but does not import"
    ) as info:
        rnnt.rnnt_loss(*_problem()[:2], 0)
    assert "tools/install.sh" in str(info.value) and "FT_CMAKE_ARGS=" in str(info.value)


def test_no_backend_error_says_how_to_install(fresh_backend, monkeypatch):
    def fail(name):
        raise ImportError(f"No module named {name!r}")

    monkeypatch.delenv("TODM_RNNT_BACKEND", raising=False)
    monkeypatch.setattr(fresh_backend, "_load", fail)
    with pytest.raises(ImportError, match=r"Neither k2 nor fast_rnnt imports") as info:
        fresh_backend.set_backend()
    text = str(info.value)
    assert "tools/install.sh" in text and "-DFETCHCONTENT_FULLY_DISCONNECTED=ON" in text


def test_unknown_backend_name(fresh_backend):
    with pytest.raises(ValueError, match=r"RNN-T backend must be one of \('k2', 'fast_rnnt'\), got 'cuda'"):
        fresh_backend.set_backend("cuda")
