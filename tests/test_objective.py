"""A training step's losses and gradients against a direct composition of the parts, member by member.

The step objective shares work between the members of a sandwich step (front end, decoder, each layer's
SSM kernel spectrum and the teacher's log-probs once per step, one student log_softmax per KD term); the
reference below recomputes everything for every member and builds the adaptive alpha-divergence from two
plain alpha-divergences, so any shortcut that changes the math shows up as a difference in a loss or a gradient.
"""

import pytest
import torch
import torch.nn.functional as F

from todm.checkpoint import update_ema
from todm.data.loader import Batch
from todm.distill import alpha_divergence
from todm.model import Transducer, get_preset
from todm.rnnt import pruned_rnnt_loss
from todm.train.loop import may_leave_parameters_unused
from todm.train.objective import LossSettings, StepObjective, ctc_loss
from todm.train.sandwich import step_subnets


def make_batch(vocab: int, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    lens = torch.tensor([160, 151, 137])
    tokens = torch.tensor([12, 9, 11])
    targets = torch.randint(1, vocab, (3, 12), generator=g)
    for i, t in enumerate(tokens.tolist()):
        targets[i, t:] = 0
    return Batch(torch.randn(3, 160, 80, generator=g), lens, targets, tokens)


def reference_step(
    model: Transducer, batch: Batch, members, s: LossSettings, teacher_model: Transducer | None = None
) -> list[torch.Tensor]:
    """Per member: its own front end, decoder and losses; adaptive KD as a per-node max of two divergences.
    The teacher is the first member, or teacher_model's first-member subnet (eval mode, no dropout)."""
    blank = model.cfg.blank_id
    teacher_logits = teacher_ranges = None
    if teacher_model is not None:
        with torch.no_grad():
            t = teacher_model.eval()
            enc, lens = t.forward_encoder(batch.features, batch.feature_lens, members[0].subnet, 0.0)
            dec = t.decoder(F.pad(batch.targets, (1, 0), value=blank))
            rnnt = pruned_rnnt_loss(
                enc, lens, dec, batch.targets, batch.target_lens, t.joiner, t.simple_am_proj,
                t.simple_lm_proj, blank, s.prune_range, s.am_scale, s.lm_scale,
            )  # fmt: skip
        external = (rnnt.logits, rnnt.ranges)
    totals = []
    for i, member in enumerate(members):
        if teacher_model is not None:
            teacher_logits, teacher_ranges = external if i > 0 else (None, None)
        enc, lens = model.forward_encoder(batch.features, batch.feature_lens, member.subnet, member.dropout)
        dec = model.decoder(F.pad(batch.targets, (1, 0), value=blank))
        rnnt = pruned_rnnt_loss(
            enc, lens, dec, batch.targets, batch.target_lens, model.joiner, model.simple_am_proj,
            model.simple_lm_proj, blank, s.prune_range, s.am_scale, s.lm_scale, ranges=teacher_ranges,
        )  # fmt: skip
        total = s.simple_scale * rnnt.simple_loss + s.pruned_scale * rnnt.pruned_loss
        logits = model.ctc_output(enc)
        total = total + s.ctc_scale * ctc_loss(logits, lens, batch.targets, batch.target_lens, blank)
        if i > 0:  # a student: its label losses at their own scale
            total = s.student_label_scale * total
        if teacher_logits is None and teacher_model is None:
            teacher_logits, teacher_ranges = rnnt.logits.detach(), rnnt.ranges
        elif i > 0:
            lo = alpha_divergence(
                rnnt.logits, teacher_logits, s.alpha_min, iw_clip=s.iw_clip, reduction="none"
            )
            hi = alpha_divergence(
                rnnt.logits, teacher_logits, s.alpha_max, iw_clip=s.iw_clip, reduction="none"
            )
            frames = torch.arange(enc.size(1)).view(1, -1, 1) < lens.view(-1, 1, 1)
            inside = frames & (teacher_ranges <= batch.target_lens.view(-1, 1, 1))
            kd = torch.where(inside, torch.where(lo > hi, lo, hi), torch.zeros_like(lo)).sum()
            total = total + s.kd_scale * kd
        totals.append(total)
    return totals


def grads(model: Transducer) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize(
    "step, compile_kd, student_label_scale",
    [(3, False, 1.0), (1000, False, 1.0), (1000, True, 1.0), (1000, False, 0.0), (1000, False, 0.4)],
)
def test_step_losses_and_gradients_equal_the_member_by_member_reference(
    step, compile_kd, student_label_scale
):
    torch.manual_seed(0)
    cfg = get_preset("tiny", vocab_size=40)
    model = Transducer(cfg).train()
    batch = make_batch(cfg.vocab_size)
    largest_only = 5
    members = step_subnets(cfg, step, 11, 2, True, 0.0, 0.1, True, largest_only_steps=largest_only)
    assert len(members) == (1 if step <= largest_only else 4)
    settings = LossSettings(0.5, 1.0, 0.2, 0.3, lm_scale=0.25, student_label_scale=student_label_scale)

    torch.manual_seed(1)  # the same dropout masks on both sides
    out = StepObjective(model, compile_kd)(batch, members, settings)
    out.total.backward()
    fast = grads(model)
    model.zero_grad(set_to_none=True)

    torch.manual_seed(1)
    reference = reference_step(model, batch, members, settings)
    sum(reference).backward()
    slow = grads(model)

    assert len(out.members) == len(reference)
    for got, want in zip(out.members, reference):
        assert float(got.total.detach()) == pytest.approx(float(want.detach()), rel=1e-5)
    assert fast.keys() == slow.keys()
    for name in fast:  # float noise is relative to a gradient's scale (cancellations in the conv weights)
        scale = float(slow[name].abs().max())
        torch.testing.assert_close(fast[name], slow[name], rtol=1e-4, atol=max(1e-6, 1e-5 * scale), msg=name)


@pytest.mark.parametrize("perturb", [0.0, 0.05])
def test_a_separate_teacher_model_teaches_the_students_not_the_first_member(perturb):
    """An EMA teacher: the objective against the reference with the teacher's own forward. A copy of the
    model (perturb 0) with every member at dropout 0 must give exactly the in-place teacher's step."""
    torch.manual_seed(0)
    cfg = get_preset("tiny", vocab_size=40)
    model = Transducer(cfg).train()
    teacher = Transducer(cfg)
    teacher.load_state_dict(model.state_dict())
    with torch.no_grad():
        for p in teacher.parameters():
            p.add_(perturb * torch.randn_like(p))
    teacher.eval().requires_grad_(False)
    batch = make_batch(cfg.vocab_size)
    members = step_subnets(cfg, 1000, 11, 2, True, 0.0, 0.0 if perturb == 0 else 0.1, True)
    settings = LossSettings(0.5, 1.0, 0.2, 0.3, lm_scale=0.25, student_label_scale=0.5)

    torch.manual_seed(1)
    out = StepObjective(model)(batch, members, settings, teacher)
    out.total.backward()
    fast = grads(model)
    model.zero_grad(set_to_none=True)
    assert all(p.grad is None for p in teacher.parameters())
    assert float(out.members[0].kd) == 0.0 and all(float(m.kd) > 0 for m in out.members[1:])

    torch.manual_seed(1)
    reference = reference_step(model, batch, members, settings, teacher)
    sum(reference).backward()
    slow = grads(model)
    model.zero_grad(set_to_none=True)
    for got, want in zip(out.members, reference):
        assert float(got.total.detach()) == pytest.approx(float(want.detach()), rel=1e-5)
    for name in fast:
        scale = float(slow[name].abs().max())
        torch.testing.assert_close(fast[name], slow[name], rtol=1e-4, atol=max(1e-6, 1e-5 * scale), msg=name)

    if perturb == 0:
        in_place = StepObjective(model)(batch, members, settings)
        for got, want in zip(out.members, in_place.members):
            assert float(got.total.detach()) == pytest.approx(float(want.total.detach()), rel=1e-5)


def test_ema_update_is_the_weighted_average_and_copies_integer_buffers():
    torch.manual_seed(0)
    cfg = get_preset("tiny", vocab_size=40)
    model, ema = Transducer(cfg), Transducer(cfg)
    before = {k: v.clone() for k, v in ema.state_dict().items()}
    update_ema(ema, model, 0.9)
    for name, value in ema.state_dict().items():
        current = model.state_dict()[name]
        want = 0.9 * before[name] + 0.1 * current if value.is_floating_point() else current
        torch.testing.assert_close(value, want, rtol=1e-6, atol=1e-7, msg=name)


def test_ddp_unused_parameter_search_only_where_a_step_can_skip_parameters(tmp_path):
    """A sandwich (or largest-only) step reaches every parameter; a one-subnet step does not."""
    from conftest import load_recipe_script

    from todm.train.settings import TrainingSettings

    parser = load_recipe_script("train").get_parser()

    def settings_of(*args: str, fixed_subnet=None) -> TrainingSettings:
        return TrainingSettings.from_args(parser.parse_args(list(args)), fixed_subnet)

    torch.manual_seed(0)
    cfg = get_preset("tiny", vocab_size=40)
    model = Transducer(cfg).train()
    batch = make_batch(cfg.vocab_size)
    settings = LossSettings(0.5, 1.0, 0.2, 0.3)
    for step, fixed in ((1, None), (1000, None), (1000, "smallest")):
        subnet = step_subnets(cfg, 1, 0, 2, True, 0.0, 0.1, True)[1].subnet if fixed else None
        members = step_subnets(cfg, step, 3, 2, True, 0.0, 0.1, True, subnet, largest_only_steps=5)
        params = settings_of(fixed_subnet=subnet)
        model.zero_grad(set_to_none=True)
        StepObjective(model)(batch, members, settings).total.backward()
        unused = [n for n, p in model.named_parameters() if p.grad is None]
        assert may_leave_parameters_unused(params, model) == bool(unused), (step, fixed, unused)
    no_ctc, random_only = settings_of("--use-ctc", "false"), settings_of("--sandwich", "false")
    assert may_leave_parameters_unused(no_ctc, model) and may_leave_parameters_unused(random_only, model)


def test_compiled_kd_falls_back_to_eager_when_the_compiler_fails(caplog):
    """A compiler that fails on this machine (as inductor's C++ build does under torch's scalar kernels) leaves
    the KD loss running eagerly, with the same value, and says so once."""
    from todm.distill import adaptive_alpha_divergence
    from todm.train.objective import compiled_or_eager

    def failing_backend(graph, example_inputs):
        raise RuntimeError("C++ compile error")

    g = torch.Generator().manual_seed(3)
    student, teacher = torch.randn(2, 4, 3, 10, generator=g), torch.randn(2, 4, 3, 10, generator=g)
    kd = compiled_or_eager(adaptive_alpha_divergence, backend=failing_backend)
    with caplog.at_level("WARNING"):
        first, second = kd(student, teacher), kd(student, teacher)
    assert torch.equal(first, adaptive_alpha_divergence(student, teacher)) and torch.equal(first, second)
    assert sum("running it eagerly" in r.message for r in caplog.records) == 1
