"""Export a causal standalone model as a sherpa-onnx streaming (online) transducer.

sherpa-onnx's OnlineRecognizer runs a few model types; its "lstm" one (sherpa-onnx/csrc/
online-lstm-transducer-model.cc) passes two 3-D state tensors through the encoder, chunk after chunk, and asks
nothing of what they hold, so the SSM encoder takes that contract (inputs and outputs are matched by position):
  encoder.onnx  x (N, T, 80), h (L, N, 80), c (L, N, S) -> encoder_out (N, chunk/4, J), next_h, next_c
                T = chunk + LOOKAHEAD_FRAMES feature frames; sherpa-onnx feeds frames [s, s + T) and moves s on by
                decode_chunk_len = chunk. encoder_out is projected by joiner.encoder_proj (as offline).
                h[0] holds the front end's feature frame before the chunk, h[1:] are unused zeros;
                c[l] is kept layer l's SSM state ([re | im] flattened, zero-padded to the widest layer's).
                Metadata: model_type=lstm, num_encoder_layers=L, T, decode_chunk_len, d_model=80 (h's width),
                rnn_hidden_size=S; the batch axis of the states is 1 (sherpa-onnx stacks streams along it).
  decoder.onnx, joiner.onnx, tokens.txt: the offline bundle's (todm.export.onnx_export).
The chunk computation is todm.model.streaming.encode_chunk; tests hold its outputs to the full-utterance
encoder's. sherpa-onnx decodes a chunk only once the frames after it have arrived and pads nothing at the end
of the input: callers append silence (todm.export.runtime.STREAM_TAIL_SECONDS).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from todm.model import Transducer
from todm.model.streaming import (
    DEFAULT_CHUNK_FRAMES,
    LOOKAHEAD_FRAMES,
    StreamingState,
    check_chunk_frames,
    encode_chunk,
    initial_state,
)

from .onnx_export import _export, bundle_paths, export_decoder_and_joiner, finish_bundle


class StreamingEncoderModel(nn.Module):
    """(x, h, c) -> (encoder_out, next_h, next_c): one chunk of todm.model.streaming with packed states."""

    def __init__(self, model: Transducer, chunk_frames: int) -> None:
        super().__init__()
        check_chunk_frames(chunk_frames)
        self.model, self.chunk_frames = model, chunk_frames
        zero = initial_state(model, 1)
        self.state_shapes = [tuple(s.shape[1:]) for s in zero.ssm]
        self.state_size = max(math.prod(shape) for shape in self.state_shapes)

    def pack(self, state: StreamingState) -> tuple[torch.Tensor, torch.Tensor]:
        """StreamingState -> h (L, N, F), c (L, N, state_size)."""
        cache = state.feature_cache.transpose(0, 1)  # (1, N, F)
        n, feature_dim = cache.size(1), cache.size(2)
        h = torch.cat([cache, cache.new_zeros(len(state.ssm) - 1, n, feature_dim)])
        c = torch.stack(
            [nn.functional.pad(s.reshape(n, -1), (0, self.state_size - s[0].numel())) for s in state.ssm]
        )
        return h, c

    def unpack(self, h: torch.Tensor, c: torch.Tensor) -> StreamingState:
        n = h.size(1)
        ssm = [
            c[layer, :, : math.prod(shape)].reshape(n, *shape)
            for layer, shape in enumerate(self.state_shapes)
        ]
        return StreamingState(h[0].unsqueeze(1), ssm)

    def initial(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pack(initial_state(self.model, batch_size))

    def forward(
        self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out, state = encode_chunk(self.model, x, self.unpack(h, c), self.chunk_frames)
        next_h, next_c = self.pack(state)
        return self.model.joiner.encoder_proj(out), next_h, next_c


def streaming_meta(encoder: StreamingEncoderModel) -> dict[str, str]:
    """The encoder metadata sherpa-onnx's online "lstm" model reads, and ours."""
    cfg = encoder.model.cfg
    return {
        "model_type": "lstm",  # sherpa-onnx's contract (see the module docstring), not the architecture
        "architecture": "todm_mhssm_transducer",
        "version": "1",
        "model_author": "todm",
        "comment": "streaming (causal) MH-SSM RNN-T subnet extracted from a TODM supernet",
        "streaming": "true",
        "num_encoder_layers": str(len(encoder.state_shapes)),
        "T": str(encoder.chunk_frames + LOOKAHEAD_FRAMES),
        "decode_chunk_len": str(encoder.chunk_frames),
        "lookahead_frames": str(LOOKAHEAD_FRAMES),
        "d_model": str(cfg.feature_dim),
        "rnn_hidden_size": str(encoder.state_size),
        "subsampling_factor": "4",
        "feature_dim": str(cfg.feature_dim),
        "encoder_dim": str(cfg.d_model),
        "joiner_dim": str(cfg.joiner_dim),
    }


@torch.no_grad()
def export_streaming_onnx(
    model: Transducer,
    out_dir: str | Path,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    encoder_meta: dict[str, str] | None = None,
) -> dict[str, Path]:
    """Write a streaming encoder.onnx and the decoder/joiner.onnx for a causal standalone model."""
    cfg = model.cfg
    paths = bundle_paths(model, out_dir)
    was_training = model.training
    model.eval()
    encoder = StreamingEncoderModel(model, chunk_frames).eval()
    try:
        x = torch.zeros(1, chunk_frames + LOOKAHEAD_FRAMES, cfg.feature_dim)
        h, c = encoder.initial(1)
        _export(
            encoder,
            (x, h, c),
            paths["encoder"],
            ["x", "h", "c"],
            ["encoder_out", "next_h", "next_c"],
            {
                "x": {0: "N"},
                "h": {1: "N"},
                "c": {1: "N"},
                "encoder_out": {0: "N"},
                "next_h": {1: "N"},
                "next_c": {1: "N"},
            },
        )
        export_decoder_and_joiner(model, paths)
    finally:
        model.train(was_training)
    finish_bundle(model, paths, {**streaming_meta(encoder), **(encoder_meta or {})})
    return paths
