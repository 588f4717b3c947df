"""The RNN-T losses on CUDA equal the same losses on the CPU (values and gradients), and torchaudio's CUDA
RNN-T loss. Skipped on machines without a GPU or without a CUDA-built backend; tools/gpu_check.sh runs it.
"""

from __future__ import annotations

import pytest
import torch

from todm.rnnt import get_backend, pruned_rnnt_loss, rnnt_loss, rnnt_loss_pruned, rnnt_loss_smoothed
from todm.rnnt.pruning import get_rnnt_prune_ranges


def cuda_backend_or_skip() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    if not get_backend().with_cuda:
        pytest.skip(f"the RNN-T backend {get_backend().name} was built without CUDA")


def problem(seed: int, B: int = 4, T: int = 30, S: int = 8, V: int = 12):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, S + 1, V, generator=g)
    symbols = torch.randint(1, V, (B, S), generator=g)
    boundary = torch.zeros(B, 4, dtype=torch.int64)
    boundary[:, 2] = torch.tensor([S, S - 3, 1, S - 1])[:B]
    boundary[:, 3] = torch.tensor([T, T - 7, 10, T - 1])[:B]
    return logits, symbols, boundary


def on(device: str, *tensors: torch.Tensor) -> list[torch.Tensor]:
    return [t.to(device).requires_grad_(t.is_floating_point()) for t in tensors]


@pytest.mark.parametrize("rnnt_type", ["regular", "modified", "constrained"])
def test_full_loss_cuda_equals_cpu(rnnt_type):
    cuda_backend_or_skip()
    logits, symbols, boundary = problem(1)
    results = {}
    for device in ("cpu", "cuda"):
        x, s, b = on(device, logits, symbols, boundary)
        loss = rnnt_loss(x, s, 0, boundary=b, rnnt_type=rnnt_type, reduction="none")
        loss.sum().backward()
        results[device] = (loss.detach().cpu(), x.grad.cpu())
    torch.testing.assert_close(results["cuda"][0], results["cpu"][0], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(results["cuda"][1], results["cpu"][1], atol=1e-5, rtol=1e-4)


def test_smoothed_ranges_and_pruned_loss_cuda_equal_cpu():
    cuda_backend_or_skip()
    g = torch.Generator().manual_seed(2)
    B, T, S, V = 4, 30, 8, 12
    lm, am = torch.randn(B, S + 1, V, generator=g), torch.randn(B, T, V, generator=g)
    _, symbols, boundary = problem(2, B, T, S, V)
    results = {}
    for device in ("cpu", "cuda"):
        lm_d, am_d, s, b = on(device, lm, am, symbols, boundary)
        loss, (px_grad, py_grad) = rnnt_loss_smoothed(
            lm_d, am_d, s, 0, lm_only_scale=0.25, am_only_scale=0.0, boundary=b, return_grad=True
        )
        ranges = get_rnnt_prune_ranges(px_grad, py_grad, b, s_range=4)
        logits = torch.randn(B, T, 4, V, generator=torch.Generator().manual_seed(3)).to(device)
        logits.requires_grad_(True)
        pruned = rnnt_loss_pruned(logits, s, ranges, 0, boundary=b, reduction="sum")
        (loss + pruned).backward()
        results[device] = [
            t.detach().cpu() for t in (loss, ranges, pruned, am_d.grad, lm_d.grad, logits.grad)
        ]
    assert torch.equal(results["cuda"][1], results["cpu"][1])  # the same prune ranges
    for got, expected in zip(results["cuda"], results["cpu"]):
        torch.testing.assert_close(got, expected.to(got.dtype), atol=1e-4, rtol=1e-4)


def test_pruned_rnnt_loss_of_a_joiner_cuda_equals_cpu():
    cuda_backend_or_skip()
    from todm.model.transducer import Joiner

    torch.manual_seed(4)
    B, T, S, V, C = 3, 25, 6, 10, 8
    joiner, am_proj, lm_proj = Joiner(C, C, 16, V), torch.nn.Linear(C, V), torch.nn.Linear(C, V)
    enc, dec = torch.randn(B, T, C), torch.randn(B, S + 1, C)
    targets = torch.randint(1, V, (B, S))
    target_lens, enc_lens = torch.tensor([S, 3, 1]), torch.tensor([T, 20, 9])
    targets[torch.arange(S) >= target_lens.unsqueeze(1)] = 0
    results = {}
    for device in ("cpu", "cuda"):
        modules = [m.to(device) for m in (joiner, am_proj, lm_proj)]
        modules[0].zero_grad()
        e, d, t, tl, el = on(device, enc, dec, targets, target_lens, enc_lens)
        out = pruned_rnnt_loss(e, el, d, t, tl, *modules, prune_range=3, lm_scale=0.25)
        (0.5 * out.simple_loss + out.pruned_loss).backward()
        grad = modules[0].output_linear.weight.grad
        results[device] = [x.detach().cpu() for x in (out.simple_loss, out.pruned_loss, e.grad, grad)]
    for got, expected in zip(results["cuda"], results["cpu"]):
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_cuda_loss_equals_torchaudio_on_cuda():
    cuda_backend_or_skip()
    torchaudio_functional = pytest.importorskip("torchaudio.functional")
    logits, symbols, boundary = problem(5)
    x, s, b = on("cuda", logits, symbols, boundary)
    ours = rnnt_loss(x, s, 0, boundary=b, reduction="none")
    ref = torchaudio_functional.rnnt_loss(
        x, s.int(), b[:, 3].int(), b[:, 2].int(), blank=0, reduction="none", clamp=-1
    )
    torch.testing.assert_close(ours, ref, atol=1e-3, rtol=1e-4)
