"""Multi-head diagonal state space layer (MH-SSM) with elastic head count.

References
  * MH-SSM: Fathullah et al., "Multi-Head State Space Model for Speech Recognition", Interspeech 2023,
    arXiv 2305.12498: parallel SSM heads initialised to learn local and global dynamics, inter-head gating,
    used as a drop-in replacement for multi-head attention in a transformer block.
  * S4D: Gu, Gupta, Goel, Re, "On the Parameterization and Initialization of Diagonal State Space Models",
    NeurIPS 2022 (arXiv 2206.11893): diagonal complex A, ZOH discretisation, Vandermonde kernel, S4D-Lin init.

Layer (x: (N, T, d_model) -> (N, T, d_model)):
    u = in_proj(x)                                   (N, T, H*P): H heads of P channels
    y_c = (K_c * u_c) + D_c u_c                      per channel c, K_c the SSM convolution kernel
    y = inter_head_gate(y)                           heads (2k, 2k+1): y_2k * sigmoid(y_2k+1) and vice versa
    out = out_proj(y)

Details the paper leaves open, chosen here:
  * every channel is its own single-input single-output S4D SSM with N/2 complex modes (state size N),
    parameters per channel: log dt, log(-Re A), Im A, complex C (B fixed to 1 and folded into C), D.
  * S4D-Lin init: A_n = -1/2 + i*pi*n; C ~ CN(0, 1); D = 1.
  * per-head time scales: the log-dt range [log dt_min, log dt_max] is split into one band per head of the
    supernet; head h draws its channels' dt uniformly in band order[h], where `order` visits the extreme bands
    first (most local, most global) and then fills the gaps, so every prefix of heads (every subnet) keeps
    both local and global heads, and each gating pair holds one fast and one slow head.
  * bidirectional (non-streaming): each channel has a forward C and a backward C sharing A and dt (as S4's
    bidirectional kernels). The backward SSM sees strictly future frames (lags -1, -2, ...) so lag 0 is
    counted once (forward kernel + D). causal=True drops the backward kernel.
  * inter-head gating pairs heads (2k, 2k+1), so head counts are even; no other non-linearity in the layer.
  * elastic width: a subnet with h heads uses the first h*P channels: rows of in_proj, the SSM parameters
    and the columns of out_proj; no masks.

Two ways to apply the kernel, numerically equal (tests hold them within 1e-5):
  * FFT (training): linear convolution as rfft/irfft with n = 2T (a two-sided kernel of length 2T wraps
    lags -(T-1)..-1 into the upper half without aliasing).
  * exportable (ONNX, opset 17, legacy TorchScript exporter): the kernel is computed in-graph with real
    arithmetic (exp/cos/sin), gathered into a (C, T, T) Toeplitz matrix and applied as a batched matmul;
    O(C*T^2) time and memory, fine for utterance-level inference. Used when `exportable` is set on the module
    or during torch.onnx.export.
Both paths share the real-arithmetic kernel generator, which tests check against a complex-dtype reference
and against running the recurrence step by step.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def spread_order(num_bands: int) -> list[int]:
    """Order bands so that every prefix spans the range: extremes first, then the largest gaps.

    E.g. 8 -> [0, 7, 3, 5, 1, 2, 4, 6] (greedy farthest-point; ties go to the smaller index).
    """
    if num_bands == 1:
        return [0]
    chosen = [0, num_bands - 1]
    while len(chosen) < num_bands:
        rest = [b for b in range(num_bands) if b not in chosen]
        chosen.append(max(rest, key=lambda b: (min(abs(b - c) for c in chosen), -b)))
    return chosen


class DiagonalSSMKernel(nn.Module):
    """S4D convolution kernels for `channels` independent SISO SSMs, generated with real arithmetic.

    Channel c belongs to head c // head_dim; heads draw dt from their own band (see module docstring).
    """

    def __init__(
        self,
        num_heads: int,
        head_dim: int,
        state_dim: int,
        bidirectional: bool,
        dt_min: float,
        dt_max: float,
    ) -> None:
        super().__init__()
        channels, modes = num_heads * head_dim, state_dim // 2
        self.bidirectional = bidirectional
        log_lo, log_hi = math.log(dt_min), math.log(dt_max)
        band_width = (log_hi - log_lo) / num_heads
        log_dt = torch.empty(num_heads, head_dim)
        for head, band in enumerate(spread_order(num_heads)):
            top = log_hi - band * band_width  # band 0 = largest dt = fastest decay = most local
            log_dt[head].uniform_(top - band_width, top)
        self.log_dt = nn.Parameter(log_dt.reshape(channels))
        self.log_neg_a_real = nn.Parameter(torch.full((channels, modes), math.log(0.5)))
        self.a_imag = nn.Parameter(math.pi * torch.arange(modes, dtype=torch.float32).repeat(channels, 1))
        directions = 2 if bidirectional else 1
        # (channels, directions, 2 * modes): [real parts | imaginary parts] of C, variance 1/2 each
        self.c_coef = nn.Parameter(torch.randn(channels, directions, 2 * modes) * math.sqrt(0.5))
        self.d_skip = nn.Parameter(torch.ones(channels))

    def forward(self, length: int | torch.Tensor, channels: int) -> torch.Tensor:
        """Kernels of the first `channels` channels for lags 0..length-1.

        Returns: (channels, directions, length); direction 0 is forward (lag l >= 0: input at t - l),
        direction 1 (bidirectional only) is backward (entry l weights the input at t + 1 + l).
        """
        dt = self.log_dt[:channels].exp().unsqueeze(-1)  # (C, 1)
        a_re = -self.log_neg_a_real[:channels].exp()  # (C, M), negative: stable
        a_im = self.a_imag[:channels]
        dta_re, dta_im = a_re * dt, a_im * dt
        # ZOH input coefficient (exp(dt A) - 1) / A, complex division written out in reals
        decay1 = dta_re.exp()
        num_re, num_im = decay1 * dta_im.cos() - 1.0, decay1 * dta_im.sin()
        denom = a_re * a_re + a_im * a_im
        q_re = (num_re * a_re + num_im * a_im) / denom
        q_im = (num_im * a_re - num_re * a_im) / denom
        coef = self.c_coef[:channels]  # (C, D, 2M)
        modes = a_re.shape[-1]
        c_re, c_im = coef[..., :modes], coef[..., modes:]
        q_re, q_im = q_re.unsqueeze(1), q_im.unsqueeze(1)
        # K[l] = 2 Re(sum_m W_m exp(dtA_m l)), W = C * q; written as [W_re | -W_im] . [decay cos | decay sin]
        w = torch.cat([c_re * q_re - c_im * q_im, -(c_re * q_im + c_im * q_re)], dim=-1) * 2.0
        lags = torch.arange(length, dtype=dt.dtype, device=dt.device)
        decay = torch.exp(dta_re.unsqueeze(-1) * lags)  # (C, M, L)
        phase = dta_im.unsqueeze(-1) * lags
        basis = torch.cat([decay * phase.cos(), decay * phase.sin()], dim=1)  # (C, 2M, L)
        return torch.matmul(w, basis)  # (C, D, L)


class MultiHeadSSM(nn.Module):
    """MH-SSM layer; see the module docstring. Elastic in the number of heads (leading heads are used)."""

    def __init__(
        self,
        d_model: int,
        max_heads: int,
        head_dim: int,
        state_dim: int,
        causal: bool,
        dt_min: float = 1e-3,
        dt_max: float = 0.5,
    ) -> None:
        super().__init__()
        if max_heads % 2:
            raise ValueError(f"max_heads={max_heads} must be even (inter-head gating works on pairs)")
        self.max_heads, self.head_dim, self.causal = max_heads, head_dim, causal
        width = max_heads * head_dim
        self.in_proj = nn.Linear(d_model, width)
        self.kernel = DiagonalSSMKernel(max_heads, head_dim, state_dim, not causal, dt_min, dt_max)
        self.out_proj = nn.Linear(width, d_model)
        self.exportable = False  # True: Toeplitz-matmul path (ONNX); also used during torch.onnx.export

    def forward(
        self, x: torch.Tensor, valid: torch.Tensor | None = None, num_heads: int | None = None
    ) -> torch.Tensor:
        """x: (N, T, d_model); valid: (N, T, 1) float, 1 for real frames, 0 for padding (padding is zeroed
        before the SSM so it never leaks into real frames through the backward kernel).
        num_heads: heads to use (even, <= max_heads); None = all. Returns (N, T, d_model)."""
        heads = self.max_heads if num_heads is None else num_heads
        width = heads * self.head_dim
        u = F.linear(x, self.in_proj.weight[:width], self.in_proj.bias[:width])
        if valid is not None:
            u = u * valid
        if self.exportable or torch.onnx.is_in_onnx_export():
            y = self._apply_kernel_toeplitz(u, width)
        else:  # at least float32 even under autocast (half-precision FFTs are inaccurate or unsupported)
            with torch.autocast(u.device.type, enabled=False):
                full_precision = u if u.dtype in (torch.float32, torch.float64) else u.float()
                y = self._apply_kernel_fft(full_precision, width).to(u.dtype)
        y = y + u * self.kernel.d_skip[:width]
        y = self._inter_head_gate(y, heads)
        return F.linear(y, self.out_proj.weight[:, :width], self.out_proj.bias)

    def _apply_kernel_fft(self, u: torch.Tensor, width: int) -> torch.Tensor:
        """u: (N, T, C) -> (N, T, C), linear convolution via rfft of size 2T."""
        length = u.size(1)
        k = self.kernel(length, width)  # (C, D, T)
        if self.causal:
            full = F.pad(k[:, 0], (0, length))
        else:  # [lag 0..T-1 | lag T (zero) | lags -(T-1)..-1]
            full = torch.cat([k[:, 0], k.new_zeros(width, 1), k[:, 1, : length - 1].flip(-1)], dim=-1)
        k_hat = torch.fft.rfft(full, n=2 * length, dim=-1)  # (C, T+1)
        # Transforms along the last (time) dim of (N, C, T): contiguous rows, faster than along dim 1.
        u_hat = torch.fft.rfft(u.transpose(1, 2), n=2 * length, dim=-1)  # (N, C, T+1)
        return torch.fft.irfft(u_hat * k_hat, n=2 * length, dim=-1)[..., :length].transpose(1, 2)

    def _apply_kernel_toeplitz(self, u: torch.Tensor, width: int) -> torch.Tensor:
        """u: (N, T, C) -> (N, T, C) as y[:, t, c] = sum_s K_c(t - s) u[:, s, c]; ONNX-exportable."""
        length = u.size(1)
        k = self.kernel(length, width)  # (C, D, T)
        if self.causal:
            past = k.new_zeros(width, length - 1)
        else:
            past = k[:, 1, : length - 1].flip(-1)  # lags -(T-1)..-1
        by_lag = torch.cat([past, k[:, 0]], dim=-1)  # (C, 2T-1), entry j is lag j - (T-1)
        pos = torch.arange(length, device=u.device)
        lag_index = (pos.unsqueeze(1) - pos.unsqueeze(0) + (length - 1)).reshape(-1)
        toeplitz = by_lag.index_select(1, lag_index).reshape(width, length, length)
        return torch.matmul(toeplitz, u.permute(2, 1, 0)).permute(2, 1, 0)

    @staticmethod
    def _inter_head_gate(y: torch.Tensor, heads: int) -> torch.Tensor:
        """(N, T, heads*P): within each head pair, each head is gated by the sigmoid of the other."""
        pairs = y.unflatten(-1, (heads // 2, 2, y.size(-1) // heads))
        first, second = pairs[..., 0, :], pairs[..., 1, :]
        gated = torch.stack([first * torch.sigmoid(second), second * torch.sigmoid(first)], dim=-2)
        return gated.flatten(-3)
