"""Streaming encoding of a causal model, chunk by chunk, equal to its full-utterance encoding.

What carries over between chunks:
  * the SSM layers' diagonal states (MultiHeadSSM.forward_chunk); feed-forward modules and LayerNorms act
    frame by frame;
  * one feature frame for the front end. Output frame j of Conv2dSubsampling reads feature frames
    4j-1 .. 4j+7 (a padded 3x3 convolution, then two unpadded 3x3 stride-2 ones), so the `chunk` frames
    [s, s + chunk) give their chunk/4 output frames from the frames [s, s + chunk + LOOKAHEAD_FRAMES) and the
    frame s-1, which the state carries (zeros before the first chunk, as the full utterance's padding).

Look-ahead: LOOKAHEAD_FRAMES = 4 feature frames (40 ms) past the chunk; latency is one chunk plus that.
At the end of an utterance the features are padded with zero frames (what the full utterance's convolution
padding reads) to whole chunks, and the encoder frames past `subsampled_lengths(T)` are dropped. A sherpa-onnx
online model (todm.export.streaming_export) runs encode_chunk as its encoder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .config import LayerChoice, SubnetConfig
from .encoder import subsampled_lengths
from .transducer import Transducer

LOOKAHEAD_FRAMES = 4
DEFAULT_CHUNK_FRAMES = 32  # 320 ms of 10 ms feature frames: 8 encoder frames per chunk


@dataclass
class StreamingState:
    """Everything an utterance's stream carries from one chunk to the next."""

    feature_cache: torch.Tensor  # (N, 1, feature_dim): the last feature frame before the next chunk
    ssm: list[torch.Tensor]  # one (N, 2, channels, modes) diagonal state per kept layer


def check_chunk_frames(chunk_frames: int) -> None:
    if chunk_frames < 4 or chunk_frames % 4:
        raise ValueError(f"chunk of {chunk_frames} feature frames: expected a positive multiple of 4")


def kept_layers(model: Transducer, subnet: SubnetConfig | None) -> list[LayerChoice]:
    """The layers a stream runs: the subnet's, or every layer at full width."""
    if subnet is not None:
        subnet.validate(model.cfg)
        return subnet.layers
    return [LayerChoice(i, blk.max_ffn_dim, blk.max_heads) for i, blk in enumerate(model.encoder.layers)]


def initial_state(model: Transducer, batch_size: int, subnet: SubnetConfig | None = None) -> StreamingState:
    """The state before the first chunk: zeros (the full utterance's convolution padding and SSM start)."""
    if not model.cfg.causal:
        raise ValueError("streaming needs a causal model: train the supernet with --causal true")
    param = next(model.parameters())
    ssm = [
        param.new_zeros(batch_size, *model.encoder.layers[c.index].ssm.state_shape(c.ssm_heads))
        for c in kept_layers(model, subnet)
    ]
    return StreamingState(param.new_zeros(batch_size, 1, model.cfg.feature_dim), ssm)


def encode_chunk(
    model: Transducer,
    features: torch.Tensor,
    state: StreamingState,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    subnet: SubnetConfig | None = None,
) -> tuple[torch.Tensor, StreamingState]:
    """features (N, chunk_frames + LOOKAHEAD_FRAMES, F): the next chunk and its look-ahead -> encoder_out
    (N, chunk_frames // 4, d_model) and the state for the chunk after it (which starts chunk_frames later)."""
    check_chunk_frames(chunk_frames)
    expected = chunk_frames + LOOKAHEAD_FRAMES
    if features.dim() != 3 or features.size(1) != expected:
        raise ValueError(f"a streaming chunk is (N, {expected}, F) features, got {tuple(features.shape)}")
    x = model.encoder_embed.forward_chunk(torch.cat([state.feature_cache, features], dim=1))
    x, ssm = model.encoder.forward_chunk(x, state.ssm, kept_layers(model, subnet))
    return x, StreamingState(features[:, chunk_frames - 1 : chunk_frames], ssm)


def run_stream(
    features: torch.Tensor,
    feature_lens: torch.Tensor,
    chunk_frames: int,
    step: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Feed utterances (N, T, F) to a stream chunk by chunk: `step` gets each window (N, chunk_frames +
    LOOKAHEAD_FRAMES, F) in order (each utterance's own frames, zeros after its end) and returns that chunk's
    (N, chunk_frames // 4, D) outputs, carrying its state itself. Returns the outputs joined, cut to the
    full-utterance length, and the lengths subsampled_lengths(feature_lens)."""
    check_chunk_frames(chunk_frames)
    if features.dim() != 3 or features.size(1) < 7:
        raise ValueError(f"features must be (N, T >= 7, F) for 4x subsampling, got {tuple(features.shape)}")
    num_out = int(subsampled_lengths(features.size(1)))
    num_chunks = max(1, -(-num_out // (chunk_frames // 4)))
    padded = num_chunks * chunk_frames + LOOKAHEAD_FRAMES
    x = torch.nn.functional.pad(features, (0, 0, 0, max(0, padded - features.size(1))))[:, :padded]
    frames = torch.arange(padded, device=features.device)
    x = x * (frames.unsqueeze(0) < feature_lens.unsqueeze(1)).unsqueeze(-1).to(x.dtype)
    window = chunk_frames + LOOKAHEAD_FRAMES
    outputs = [step(x[:, k * chunk_frames : k * chunk_frames + window]) for k in range(num_chunks)]
    return torch.cat(outputs, dim=1)[:, :num_out], subsampled_lengths(feature_lens)


@torch.no_grad()
def stream_encode(
    model: Transducer,
    features: torch.Tensor,
    feature_lens: torch.Tensor,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    subnet: SubnetConfig | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole utterances (N, T, F), each encoded chunk by chunk as its own stream would: for every
    utterance, the (encoder_out, encoder_out_len) that model.forward_encoder gives it on its own."""
    state = initial_state(model, features.size(0), subnet)

    def step(window: torch.Tensor) -> torch.Tensor:
        nonlocal state
        out, state = encode_chunk(model, window, state, chunk_frames, subnet)
        return out

    return run_stream(features, feature_lens, chunk_frames, step)
