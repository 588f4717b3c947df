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
    both local and global heads, and each gating pair holds one fast and one slow head. A subnet keeping h of
    H heads thus keeps h narrow bands, spread out with gaps between them, where a standalone h-head layer has
    h wide bands covering the range: `dt_layout="halves"` instead gives every gating pair one head drawn over
    the local half and one over the global half, so any h leading heads cover the range as an h-head layer's do
    (each head then spans half the range instead of its own band).
  * bidirectional (non-streaming): each channel has a forward C and a backward C sharing A and dt (as S4's
    bidirectional kernels). The backward SSM sees strictly future frames (lags -1, -2, ...) so lag 0 is
    counted once (forward kernel + D). causal=True drops the backward kernel.
  * inter-head gating pairs heads (2k, 2k+1), so head counts are even; no other non-linearity in the layer.
  * elastic width: a subnet with h heads uses the first h*P channels: rows of in_proj, the SSM parameters
    and the columns of out_proj; no masks.

Four ways to apply the kernel, numerically equal (tests hold them within 1e-5, and to the step-by-step
recurrence within 1e-9 in float64):
  * FFT (training): linear convolution as rfft/irfft with n = 2T (a two-sided kernel of length 2T wraps
    lags -(T-1)..-1 into the upper half without aliasing).
  * chunked (deployed: ONNX, opset 17, legacy TorchScript exporter): chunks of CHUNK_FRAMES frames, a small
    Toeplitz matrix within each, the diagonal SSM state carried between chunks by a fixed-depth scan
    (`causal_ssm_chunked`); the backward direction runs on the reversed input. O(C*T) time and memory, all
    in real arithmetic (exp/cos/sin, einsum, gather). Used when `exportable` is set or during
    torch.onnx.export.
  * streaming (`MultiHeadSSM.forward_chunk`, causal layers): the chunked path one chunk at a time, the state
    passed in and out (`causal_ssm_step`); todm.model.streaming builds the streaming encoder on it.
  * Toeplitz (`exportable = "toeplitz"`): a (C, T, T) matrix, O(C*T^2); the earlier deployed path, kept as a
    reference for tests and the export benchmark.
All share the real-arithmetic kernel generator, which tests check against a complex-dtype reference.
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


# How the heads of a layer split the log-dt range (see the module docstring):
#   bands:  one band per head, 1/H of the range each, in spread_order (the MH-SSM paper's local..global heads);
#   halves: every gating pair (2k, 2k+1) has one head on the local half and one on the global half, so a subnet's
#           first h heads are drawn exactly as a standalone h-head layer's would be.
DT_LAYOUTS = ("bands", "halves")


def head_dt_bands(num_heads: int, log_range: float, layout: str) -> list[tuple[float, float]]:
    """(distance of the band's top below log dt_max, band width) for each head, in the log-dt range."""
    if layout == "bands":
        width = log_range / num_heads
        return [(band * width, width) for band in spread_order(num_heads)]
    if layout == "halves":
        return [((head % 2) * log_range / 2, log_range / 2) for head in range(num_heads)]
    raise ValueError(f"dt layout {layout!r}: expected one of {DT_LAYOUTS}")


# The deployed (exportable) path mixes time in chunks of CHUNK_FRAMES encoder frames and carries the SSM state
# from chunk to chunk: O(T) time and memory instead of the (C, T, T) Toeplitz matrix's O(T^2).
# The S4D kernel's own parameters (time steps, poles, frequencies) carry meaning in their absolute values
# (S4D-Lin init: Im A = pi * n, log dt spread over [log 1e-3, log 0.5]). S4 trains them with a smaller
# learning rate (Gu et al. 2022), and an optimizer's RMS cap (ScaledAdam's param_max_rms = 3) would squash
# those values and the time scales with them: `Transducer.parameter_groups` puts them in a group of their own.
SSM_KERNEL_PARAMS = ("log_dt", "log_neg_a_real", "a_imag")

CHUNK_FRAMES = 32
# The chunk-to-chunk state is a scan with a fixed number of levels (no loop in the ONNX graph); level k adds the
# state 2^k chunks back, so 2^SCAN_LEVELS chunks are covered: 2^16 x 32 frames x 40 ms, about 23 hours.
SCAN_LEVELS = 16


def pole_powers(
    dta_re: torch.Tensor, dta_im: torch.Tensor, exponents: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """Real and imaginary parts of exp(dtA)^e for every mode and exponent: (C, M) poles, (P,) -> (C, M, P)."""
    decay = torch.exp(dta_re.unsqueeze(-1) * exponents)
    phase = dta_im.unsqueeze(-1) * exponents
    return decay * phase.cos(), decay * phase.sin()


def chunk_operators(
    w: torch.Tensor, dta_re: torch.Tensor, dta_im: torch.Tensor, tau: torch.Tensor
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """What a chunk of L = len(tau) frames applies, for the modes w (C, 2M) = [2 Re W | -2 Im W] and poles
    p = exp(dta_re + i dta_im) (C, M); tau = 0..L-1 as a tensor of the graph:
      * the (C, L, L) lower-triangular Toeplitz matrix of the kernel's first L lags, K[l] = 2 Re(sum_m W_m p_m^l);
      * p^(L-1-tau), re and im (C, M, L): what carries the input at frame tau to the chunk's end state;
      * 2 Re(W p^(tau+1)) and 2 Im(W p^(tau+1)) (C, M, L): how frame tau reads the state entering the chunk."""
    modes = dta_re.shape[-1]
    basis_re, basis_im = pole_powers(dta_re, dta_im, tau)  # p^tau, (C, M, L)
    w_re, w_im = w[:, :modes].unsqueeze(-1), w[:, modes:].unsqueeze(-1)
    kernel = (w_re * basis_re + w_im * basis_im).sum(1)  # K[0..L-1], (C, L)
    lag = tau.unsqueeze(1) - tau.unsqueeze(0)  # (L, L): output frame minus input frame
    toeplitz = kernel[:, lag.clamp(min=0).long()] * (lag >= 0).to(kernel.dtype)  # (C, L, L)
    to_end = pole_powers(dta_re, dta_im, tau[-1] - tau)  # p^(L-1-tau)
    q_re, q_im = pole_powers(dta_re, dta_im, tau + 1)  # p^(tau+1), (C, M, L)
    reads = (w_re * q_re + w_im * q_im, w_re * q_im - w_im * q_re)
    return toeplitz, to_end, reads


def causal_ssm_chunked(
    u: torch.Tensor, w: torch.Tensor, dta_re: torch.Tensor, dta_im: torch.Tensor
) -> torch.Tensor:
    """y_t = sum_{l >= 0} K[l] u_{t-l} per channel, in O(T), for the kernel K[l] = 2 Re(sum_m W_m p_m^l) of the
    modes w (C, 2M) = [2 Re W | -2 Im W] and poles p_m = exp(dta_re + i dta_im), (C, M); u (N, T, C).

    Within a chunk the first CHUNK_FRAMES lags act as a small Toeplitz matrix; every older input reaches the
    chunk through the diagonal state S_j = p^L S_{j-1} + sum_tau p^(L-1-tau) u_{j,tau} (L = CHUNK_FRAMES),
    which adds 2 Re(sum_m W_m p_m^(tau+1) S_{j-1,m}) at frame tau of chunk j (S4's recurrent view).
    Exportable: einsum, gather and element-wise ops, every shape derived from T. The exponent grid is taken from
    the input's shape, not a constant, so the exporter cannot fold the powers of the poles into constants larger
    than the parameters they come from (they cost microseconds to compute at run time)."""
    n, length, channels = u.shape
    chunk = CHUNK_FRAMES
    padded = (
        (length + chunk - 1) // chunk * chunk
    )  # whole chunks (zeros after the end change nothing before it)
    x = torch.cat([u, u.new_zeros(n, chunk, channels)], dim=1)[:, :padded].reshape(n, -1, chunk, channels)
    tau = torch.arange(x.size(2), dtype=dta_re.dtype, device=u.device)  # 0..L-1
    steps = tau[-1] + 1  # L, as a tensor of the graph
    toeplitz, (to_end_re, to_end_im), (out_re, out_im) = chunk_operators(w, dta_re, dta_im, tau)
    y = torch.einsum("cts,njsc->njtc", toeplitz, x)
    state_re = torch.einsum("njtc,cmt->njcm", x, to_end_re)  # each chunk's own contribution to its end state
    state_im = torch.einsum("njtc,cmt->njcm", x, to_end_im)
    chunks = torch.arange(x.size(1), device=u.device)

    def chunks_back(d: int, *ts: torch.Tensor) -> list[torch.Tensor]:  # t[:, j - d], zero for j < d
        back = chunks - d
        index, keep = back.clamp(min=0), (back >= 0).to(u.dtype).view(1, -1, 1, 1)
        return [t.index_select(1, index) * keep for t in ts]

    # Hillis-Steele scan: S_j += p^(L d) S_{j-d} for d = 1, 2, 4, ...; the powers of all levels at once
    jumps_re, jumps_im = pole_powers(dta_re, dta_im, steps * 2.0 ** tau.new_tensor(range(SCAN_LEVELS)))
    for level in range(SCAN_LEVELS):
        step_re, step_im = jumps_re[..., level], jumps_im[..., level]
        old_re, old_im = chunks_back(2**level, state_re, state_im)
        state_re, state_im = (
            state_re + step_re * old_re - step_im * old_im,
            state_im + step_re * old_im + step_im * old_re,
        )
    entering_re, entering_im = chunks_back(1, state_re, state_im)  # S_{j-1}
    y = (
        y
        + torch.einsum("njcm,cmt->njtc", entering_re, out_re)
        - torch.einsum("njcm,cmt->njtc", entering_im, out_im)
    )
    return y.reshape(n, -1, channels)[:, :length]


def causal_ssm_step(
    u: torch.Tensor, w: torch.Tensor, dta_re: torch.Tensor, dta_im: torch.Tensor, state: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One streaming chunk of the causal SSM of `causal_ssm_chunked`: u (N, L, C) the chunk's inputs, state
    (N, 2, C, M) the diagonal state S entering it ([re, im]; zeros before the first chunk). Returns y (N, L, C)
    and the state after the chunk, p^L S + sum_tau p^(L-1-tau) u_tau. Chunk by chunk, the outputs equal the
    whole utterance's (tests hold them to the FFT path); L is the chunk's own length, any size."""
    tau = torch.arange(u.size(1), dtype=dta_re.dtype, device=u.device)
    toeplitz, (to_end_re, to_end_im), (out_re, out_im) = chunk_operators(w, dta_re, dta_im, tau)
    state_re, state_im = state[:, 0], state[:, 1]
    y = (
        torch.einsum("cts,nsc->ntc", toeplitz, u)
        + torch.einsum("ncm,cmt->ntc", state_re, out_re)
        - torch.einsum("ncm,cmt->ntc", state_im, out_im)
    )
    jump_re, jump_im = pole_powers(dta_re, dta_im, (tau[-1:] + 1))  # p^L, (C, M, 1)
    jump_re, jump_im = jump_re[..., 0], jump_im[..., 0]
    next_re = torch.einsum("ntc,cmt->ncm", u, to_end_re) + jump_re * state_re - jump_im * state_im
    next_im = torch.einsum("ntc,cmt->ncm", u, to_end_im) + jump_re * state_im + jump_im * state_re
    return y, torch.stack([next_re, next_im], dim=1)


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
        dt_layout: str = "bands",
    ) -> None:
        super().__init__()
        channels, modes = num_heads * head_dim, state_dim // 2
        self.bidirectional = bidirectional
        log_lo, log_hi = math.log(dt_min), math.log(dt_max)
        log_dt = torch.empty(num_heads, head_dim)
        for head, (top, width) in enumerate(head_dt_bands(num_heads, log_hi - log_lo, dt_layout)):
            log_dt[head].uniform_(log_hi - top - width, log_hi - top)
        self.log_dt = nn.Parameter(log_dt.reshape(channels))
        self.log_neg_a_real = nn.Parameter(torch.full((channels, modes), math.log(0.5)))
        self.a_imag = nn.Parameter(math.pi * torch.arange(modes, dtype=torch.float32).repeat(channels, 1))
        directions = 2 if bidirectional else 1
        # (channels, directions, 2 * modes): [real parts | imaginary parts] of C, variance 1/2 each
        self.c_coef = nn.Parameter(torch.randn(channels, directions, 2 * modes) * math.sqrt(0.5))
        self.d_skip = nn.Parameter(torch.ones(channels))

    def modes(self, channels: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The SSM of the first `channels` channels as modes: (w, dta_re, dta_im).

        w: (channels, directions, 2M) = [2 Re W | -2 Im W] with W = C * (exp(dt A) - 1) / A; the mode's pole is
        exp(dta_re + i dta_im) (= exp(dt A)). The kernel is K[l] = 2 Re(sum_m W_m exp(dt A_m l))."""
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
        w = torch.cat([c_re * q_re - c_im * q_im, -(c_re * q_im + c_im * q_re)], dim=-1) * 2.0
        return w, dta_re, dta_im

    def forward(self, length: int | torch.Tensor, channels: int) -> torch.Tensor:
        """Kernels of the first `channels` channels for lags 0..length-1.

        Returns: (channels, directions, length); direction 0 is forward (lag l >= 0: input at t - l),
        direction 1 (bidirectional only) is backward (entry l weights the input at t + 1 + l).
        """
        w, dta_re, dta_im = self.modes(channels)
        # K[l] = 2 Re(sum_m W_m exp(dtA_m l)); written as [W_re | -W_im] . [decay cos | decay sin]
        lags = torch.arange(length, dtype=w.dtype, device=w.device)
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
        dt_layout: str = "bands",
    ) -> None:
        super().__init__()
        if max_heads % 2:
            raise ValueError(f"max_heads={max_heads} must be even (inter-head gating works on pairs)")
        self.max_heads, self.head_dim, self.causal = max_heads, head_dim, causal
        width = max_heads * head_dim
        self.in_proj = nn.Linear(d_model, width)
        self.kernel = DiagonalSSMKernel(max_heads, head_dim, state_dim, not causal, dt_min, dt_max, dt_layout)
        self.out_proj = nn.Linear(width, d_model)
        # True: the chunked path (ONNX, deployed), also used during torch.onnx.export; "toeplitz": the O(T^2) one
        self.exportable: bool | str = False
        # Kernel spectra by utterance length while subnets share them (Encoder.shared_kernel_spectra), else None
        self.spectrum_cache: dict[int, torch.Tensor] | None = None

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
        if self.exportable == "toeplitz":  # the quadratic reference (tests, benchmarks)
            y = self._apply_kernel_toeplitz(u, width)
        elif self.exportable or torch.onnx.is_in_onnx_export():
            y = self._apply_kernel_chunked(u, width)
        else:  # at least float32 even under autocast (half-precision FFTs are inaccurate or unsupported)
            with torch.autocast(u.device.type, enabled=False):
                full_precision = u if u.dtype in (torch.float32, torch.float64) else u.float()
                y = self._apply_kernel_fft(full_precision, width).to(u.dtype)
        y = y + u * self.kernel.d_skip[:width]
        y = self._inter_head_gate(y, heads)
        return F.linear(y, self.out_proj.weight[:, :width], self.out_proj.bias)

    def state_shape(self, num_heads: int | None = None) -> tuple[int, int, int]:
        """Shape of one utterance's streaming state: (2, channels, modes), [re, im] of the diagonal state."""
        heads = self.max_heads if num_heads is None else num_heads
        return (2, heads * self.head_dim, self.kernel.a_imag.shape[-1])

    def forward_chunk(
        self, x: torch.Tensor, state: torch.Tensor, num_heads: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Streaming: the next chunk x (N, L, d_model) of an utterance and the state (N, *state_shape) after
        the chunks before it -> the chunk's output (N, L, d_model) and the state after it. Causal layers only:
        a backward kernel would need frames that have not arrived."""
        if not self.causal:
            raise ValueError("streaming needs a causal MH-SSM: train the supernet with --causal true")
        heads = self.max_heads if num_heads is None else num_heads
        width = heads * self.head_dim
        u = F.linear(x, self.in_proj.weight[:width], self.in_proj.bias[:width])
        w, dta_re, dta_im = self.kernel.modes(width)
        y, state = causal_ssm_step(u, w[:, 0], dta_re, dta_im, state)
        y = self._inter_head_gate(y + u * self.kernel.d_skip[:width], heads)
        return F.linear(y, self.out_proj.weight[:, :width], self.out_proj.bias), state

    def kernel_spectrum(self, length: int, width: int) -> torch.Tensor:
        """rfft (size 2T) of the first `width` channels' kernels for T = length frames: (width, T+1) complex.

        While `spectrum_cache` is set, every channel's spectrum is made once per length and each call takes its
        leading rows: a channel's kernel depends on its own parameters only, so the rows are the same numbers,
        and the subnets of one training step (same batch, same length) pay for the kernel once per layer."""
        cache = self.spectrum_cache
        if cache is None:
            return self._kernel_spectrum(length, width)
        if length not in cache:
            cache[length] = self._kernel_spectrum(length, self.max_heads * self.head_dim)
        return cache[length][:width]

    def _kernel_spectrum(self, length: int, width: int) -> torch.Tensor:
        k = self.kernel(length, width)  # (C, D, T)
        if self.causal:
            full = F.pad(k[:, 0], (0, length))
        else:  # [lag 0..T-1 | lag T (zero) | lags -(T-1)..-1]
            full = torch.cat([k[:, 0], k.new_zeros(width, 1), k[:, 1, : length - 1].flip(-1)], dim=-1)
        return torch.fft.rfft(full, n=2 * length, dim=-1)  # (C, T+1)

    def _apply_kernel_fft(self, u: torch.Tensor, width: int) -> torch.Tensor:
        """u: (N, T, C) -> (N, T, C), linear convolution via rfft of size 2T."""
        length = u.size(1)
        k_hat = self.kernel_spectrum(length, width)
        # Transforms along the last (time) dim of (N, C, T): contiguous rows, faster than along dim 1.
        u_hat = torch.fft.rfft(u.transpose(1, 2), n=2 * length, dim=-1)  # (N, C, T+1)
        return torch.fft.irfft(u_hat * k_hat, n=2 * length, dim=-1)[..., :length].transpose(1, 2)

    def _apply_kernel_chunked(self, u: torch.Tensor, width: int) -> torch.Tensor:
        """u: (N, T, C) -> (N, T, C), the deployed path: linear in T, ONNX-exportable (causal_ssm_chunked)."""
        w, dta_re, dta_im = self.kernel.modes(width)
        if self.causal:
            return causal_ssm_chunked(u, w[:, 0], dta_re, dta_im)
        # Backward entry l weights u_{t+1+l}: the causal filter of the reversed input, one frame earlier. Both
        # directions run as one filter over 2C channels (half the nodes in the exported graph).
        both = causal_ssm_chunked(
            torch.cat([u, u.flip(1)], dim=-1),
            torch.cat([w[:, 0], w[:, 1]]),
            torch.cat([dta_re, dta_re]),
            torch.cat([dta_im, dta_im]),
        )
        future = both[..., width:]
        future = torch.cat([future.new_zeros(future.size(0), 1, width), future[:, :-1]], dim=1)
        return both[..., :width] + future.flip(1)

    def _apply_kernel_toeplitz(self, u: torch.Tensor, width: int) -> torch.Tensor:
        """u: (N, T, C) -> (N, T, C) as y[:, t, c] = sum_s K_c(t - s) u[:, s, c] with a (C, T, T) matrix: the
        earlier deployed path, O(T^2); kept as an independent reference for tests and the benchmark."""
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
