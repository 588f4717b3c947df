"""Streaming encoding equals full-utterance encoding: SSM chunk steps, the front end's chunks, whole subnets."""

from __future__ import annotations

import pytest
import torch

from tests.test_model import tiny_config
from todm.model import LayerChoice, SubnetConfig, Transducer
from todm.model.encoder import Conv2dSubsampling, subsampled_lengths
from todm.model.ssm import MultiHeadSSM
from todm.model.streaming import (
    LOOKAHEAD_FRAMES,
    encode_chunk,
    initial_state,
    stream_encode,
)


@pytest.mark.parametrize("chunks", [[1, 1, 1], [8, 8, 8, 8, 5], [3, 17, 32, 1, 40]])
def test_ssm_chunk_steps_equal_the_fft_path(chunks):
    torch.manual_seed(0)
    layer = MultiHeadSSM(d_model=12, max_heads=6, head_dim=3, state_dim=8, causal=True).double()
    x = torch.randn(2, sum(chunks), 12, dtype=torch.float64)
    with torch.no_grad():
        for heads in (2, 6):
            full = layer(x, num_heads=heads)
            state = torch.zeros(2, *layer.state_shape(heads), dtype=torch.float64)
            pieces, start = [], 0
            for size in chunks:
                y, state = layer.forward_chunk(x[:, start : start + size], state, heads)
                pieces.append(y)
                start += size
            assert (torch.cat(pieces, 1) - full).abs().max() < 1e-9


def test_non_causal_layer_refuses_to_stream():
    layer = MultiHeadSSM(d_model=8, max_heads=2, head_dim=2, state_dim=4, causal=False)
    with pytest.raises(ValueError, match="--causal true"):
        layer.forward_chunk(torch.zeros(1, 4, 8), torch.zeros(1, *layer.state_shape()))


@pytest.mark.parametrize("chunk", [4, 32])
def test_front_end_chunks_equal_the_whole_utterance(chunk):
    torch.manual_seed(1)
    embed = Conv2dSubsampling(80, 16, (4, 8, 8)).double().eval()
    frames = 5 * chunk + LOOKAHEAD_FRAMES
    x = torch.randn(2, frames, 80, dtype=torch.float64)
    with torch.no_grad():
        full, _ = embed(x, torch.tensor([frames, frames]))
        cache = torch.zeros(2, 1, 80, dtype=torch.float64)
        pieces = []
        for k in range(5):
            window = x[:, k * chunk : (k + 1) * chunk + LOOKAHEAD_FRAMES]
            pieces.append(embed.forward_chunk(torch.cat([cache, window], 1)))
            cache = window[:, chunk - 1 : chunk]
    streamed = torch.cat(pieces, 1)
    assert streamed.shape[1] == 5 * chunk // 4
    assert (streamed - full[:, : streamed.shape[1]]).abs().max() < 1e-10


def _causal_model(seed: int = 2) -> Transducer:
    torch.manual_seed(seed)
    return Transducer(tiny_config(causal=True)).double().eval()


@pytest.mark.parametrize("chunk", [4, 32])
@pytest.mark.parametrize(
    "subnet",
    [None, SubnetConfig([LayerChoice(0, 32, 4), LayerChoice(3, 16, 2), LayerChoice(4, 48, 2)])],
)
def test_streamed_encoder_equals_each_utterance_alone(chunk, subnet):
    model = _causal_model()
    lens = torch.tensor([150, 7, 41, 64])
    x = torch.randn(4, 150, 80, dtype=torch.float64)
    with torch.no_grad():
        streamed, streamed_lens = stream_encode(model, x, lens, chunk, subnet)
        assert torch.equal(streamed_lens, subsampled_lengths(lens))
        for i, length in enumerate(lens.tolist()):
            alone, _ = model.forward_encoder(x[i : i + 1, :length], lens[i : i + 1], subnet)
            got = streamed[i : i + 1, : alone.size(1)]
            assert (got - alone).abs().max() < 1e-9, i


def test_encode_chunk_checks_its_window():
    model = _causal_model()
    state = initial_state(model, 1)
    with pytest.raises(ValueError, match=r"\(N, 36, F\)"):
        encode_chunk(model, torch.zeros(1, 32, 80, dtype=torch.float64), state, 32)
    with pytest.raises(ValueError, match="multiple of 4"):
        encode_chunk(model, torch.zeros(1, 10, 80, dtype=torch.float64), state, 6)


def test_non_causal_model_refuses_to_stream():
    model = Transducer(tiny_config())
    with pytest.raises(ValueError, match="causal model"):
        initial_state(model, 1)


def test_a_stream_needs_seven_frames_like_the_full_utterance():
    model = _causal_model()
    with pytest.raises(ValueError, match=r"T >= 7"):
        stream_encode(model, torch.zeros(1, 6, 80, dtype=torch.float64), torch.tensor([6]))
