"""MH-SSM encoder: Conv2d subsampling front end and a stack of elastic MH-SSM transformer blocks.

Block (pre-norm, as the MH-SSM paper's "MH-SSM transformer": the attention of a transformer block is replaced
by an MH-SSM layer; one feed-forward module per block, not macaron, to keep the CPU model cheap):
    x = x + dropout(MHSSM(LayerNorm(x)))
    x = x + dropout(W2 dropout(SiLU(W1 LayerNorm(x))))
followed by a final LayerNorm after the last kept block. Dropout rates are passed at call time so that
the trainer can scale them with the sampled subnet (TODM adaptive dropout).

Elastic widths are taken by slicing the supernet's weights (leading rows/columns) with F.linear; a layer
that a subnet drops is skipped. Every elastic tensor is sliced by leading slices along each of its dims,
which is what `Transducer.extract` relies on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from .config import LayerChoice
from .ssm import MultiHeadSSM

IntOrTensor = TypeVar("IntOrTensor", int, torch.Tensor)


def stride2_conv_size(size: IntOrTensor) -> IntOrTensor:
    """Output size along one axis of a 3x3, stride-2, unpadded convolution: (n - 1) // 2."""
    return (size - 1) // 2


def subsampled_lengths(lengths: IntOrTensor) -> IntOrTensor:
    """Output frames (or freq bins) of Conv2dSubsampling: ((T - 1) // 2 - 1) // 2 (icefall
    pruned_transducer_stateless2); ints or tensors. The one home of the subsampling formula."""
    return stride2_conv_size(stride2_conv_size(lengths))


class Conv2dSubsampling(nn.Module):
    """(N, T, feature_dim) -> (N, ((T-1)//2 - 1)//2, d_model), i.e. about 4x subsampling in time.

    Three 3x3 convolutions (stride 1 with padding, then two stride-2 without padding) with SiLU, then a
    Linear over (channels x remaining frequency bins). Channel counts as icefall's later conv_embed
    (8, 32, 128 by default there); the output length formula is icefall's pruned_transducer_stateless2.
    Needs T >= 7.
    """

    def __init__(self, feature_dim: int, d_model: int, channels: tuple[int, int, int]) -> None:
        super().__init__()
        c1, c2, c3 = channels
        self.conv = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=3, padding=1),
            nn.SiLU(),
            nn.Conv2d(c1, c2, kernel_size=3, stride=2),
            nn.SiLU(),
            nn.Conv2d(c2, c3, kernel_size=3, stride=2),
            nn.SiLU(),
        )
        freq_out = subsampled_lengths(feature_dim)
        self.out = nn.Linear(c3 * freq_out, d_model)
        # Normalise the front end's output (icefall's Conv2dSubsampling ends in a BasicNorm too): unnormalised
        # it sits at RMS ~40 and swamps the pre-norm blocks' residual updates, so every subnet looks alike.
        self.out_norm = nn.LayerNorm(d_model)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """features: (N, T, F), lengths: (N,) -> ((N, T', d_model), (N,))."""
        x = self.conv(features.unsqueeze(1))  # (N, C, T', F')
        x = self.out_norm(self.out(x.transpose(1, 2).flatten(2)))
        return x, subsampled_lengths(lengths)

    def forward_chunk(self, features: torch.Tensor) -> torch.Tensor:
        """Streaming: features (N, 1 + T, F) = the frame before a chunk, then the chunk's T frames (the first
        convolution's padding in time replaced by that real frame) -> (N, ((T - 2)//2 - 1)//2, d_model),
        the frames forward() gives for them (see todm.model.streaming)."""
        first = self.conv[0]
        x = F.conv2d(features.unsqueeze(1), first.weight, first.bias, padding=(0, first.padding[1]))
        x = self.conv[1:](x)
        return self.out_norm(self.out(x.transpose(1, 2).flatten(2)))


class FeedForward(nn.Module):
    """Linear(d, ffn) -> SiLU -> dropout -> Linear(ffn, d); elastic hidden width (leading units)."""

    def __init__(self, d_model: int, max_ffn_dim: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(d_model, max_ffn_dim)
        self.output = nn.Linear(max_ffn_dim, d_model)

    def forward(self, x: torch.Tensor, ffn_dim: int, dropout: float) -> torch.Tensor:
        """x: (N, T, d_model) -> (N, T, d_model) using the first `ffn_dim` hidden units."""
        h = F.silu(F.linear(x, self.hidden.weight[:ffn_dim], self.hidden.bias[:ffn_dim]))
        h = F.dropout(h, dropout, self.training)
        return F.linear(h, self.output.weight[:, :ffn_dim], self.output.bias)


class MHSSMBlock(nn.Module):
    """Pre-norm residual block: MH-SSM then feed-forward (see module docstring)."""

    def __init__(
        self,
        d_model: int,
        max_ffn_dim: int,
        max_heads: int,
        head_dim: int,
        state_dim: int,
        causal: bool,
        dt_min: float,
        dt_max: float,
        dt_layout: str = "bands",
    ) -> None:
        super().__init__()
        self.max_ffn_dim, self.max_heads = max_ffn_dim, max_heads
        self.norm_ssm = nn.LayerNorm(d_model)
        self.ssm = MultiHeadSSM(d_model, max_heads, head_dim, state_dim, causal, dt_min, dt_max, dt_layout)
        self.norm_ffn = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, max_ffn_dim)

    def forward(
        self, x: torch.Tensor, valid: torch.Tensor, ffn_dim: int, num_heads: int, dropout: float
    ) -> torch.Tensor:
        """x: (N, T, d_model); valid: (N, T, 1) 1.0 on real frames. Returns (N, T, d_model)."""
        x = x + F.dropout(self.ssm(self.norm_ssm(x), valid, num_heads), dropout, self.training)
        return x + F.dropout(self.ffn(self.norm_ffn(x), ffn_dim, dropout), dropout, self.training)

    def forward_chunk(
        self, x: torch.Tensor, state: torch.Tensor, ffn_dim: int, num_heads: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Streaming (inference): the next chunk x (N, L, d_model) and the layer's SSM state -> output, state."""
        y, state = self.ssm.forward_chunk(self.norm_ssm(x), state, num_heads)
        x = x + y
        return x + self.ffn(self.norm_ffn(x), ffn_dim, 0.0), state


class Encoder(nn.Module):
    """Stack of MHSSMBlocks plus a final LayerNorm; runs any subset of its layers at any allowed widths."""

    def __init__(
        self,
        d_model: int,
        ffn_dims: list[int],
        ssm_heads: list[int],
        head_dim: int,
        state_dim: int,
        causal: bool,
        dt_min: float,
        dt_max: float,
        dt_layout: str = "bands",
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            MHSSMBlock(d_model, f, h, head_dim, state_dim, causal, dt_min, dt_max, dt_layout)
            for f, h in zip(ffn_dims, ssm_heads)
        )
        self.final_norm = nn.LayerNorm(d_model)

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor, layers: list[LayerChoice] | None, dropout: float
    ) -> torch.Tensor:
        """x: (N, T, d_model), lengths: (N,); layers: kept layers with widths (None = all, full width).
        Returns (N, T, d_model)."""
        frames = torch.arange(x.size(1), device=x.device)
        valid = (frames.unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1).to(x.dtype)
        if layers is None:
            layers = [LayerChoice(i, blk.max_ffn_dim, blk.max_heads) for i, blk in enumerate(self.layers)]
        for choice in layers:
            x = self.layers[choice.index](x, valid, choice.ffn_dim, choice.ssm_heads, dropout)
        return self.final_norm(x)

    @contextlib.contextmanager
    def shared_kernel_spectra(self) -> Iterator[None]:
        """Within it, subnets run on inputs of the same length reuse each layer's SSM kernel spectrum, made once
        for all heads (MultiHeadSSM.kernel_spectrum): the members of one training step see the same batch."""
        for block in self.layers:
            block.ssm.spectrum_cache = {}
        try:
            yield
        finally:
            for block in self.layers:
                block.ssm.spectrum_cache = None

    def forward_chunk(
        self, x: torch.Tensor, states: list[torch.Tensor], layers: list[LayerChoice] | None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Streaming (inference): the next chunk x (N, L, d_model) and one SSM state per kept layer (see
        MultiHeadSSM.state_shape) -> the chunk's output (N, L, d_model) and the states after it."""
        if layers is None:
            layers = [LayerChoice(i, blk.max_ffn_dim, blk.max_heads) for i, blk in enumerate(self.layers)]
        if len(states) != len(layers):
            raise ValueError(f"{len(states)} streaming states for {len(layers)} layers")
        new_states = []
        for choice, state in zip(layers, states):
            x, state = self.layers[choice.index].forward_chunk(x, state, choice.ffn_dim, choice.ssm_heads)
            new_states.append(state)
        return self.final_norm(x), new_states
