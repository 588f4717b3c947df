"""Analytic parameter and multiply-add counts of a subnet (what the search uses as device budgets).

`num_params` counts exactly the parameters of the model `Transducer.extract(subnet)` returns (tests check
this against sum(p.numel())). `macs` counts the encoder's multiply-adds for one utterance of `frames` fbank
frames as the deployable (ONNX, chunked) graph computes them:
  * Conv2d and Linear layers of the front end and the blocks (weights only; biases not counted),
  * the SSM mixing per direction, over T'' = T' rounded up to whole chunks of L = CHUNK_FRAMES frames: a
    (C, L, L) Toeplitz matrix within
    each chunk (C * L * T''), each chunk's state (C * M * T'', real and imaginary) and the state's
    contribution to the next chunk (C * M * T'', twice): linear in T'.
Not counted: element-wise work (norms, activations, gating, the kernel's first L lags and the powers of the
poles, the scan between chunks, residuals) and the decoder/joiner (their cost depends on the decoding search,
not on the subnet). Tests check this count against torch.utils.flop_counter.
"""

from __future__ import annotations

from .config import SubnetConfig, SupernetConfig, largest
from .encoder import stride2_conv_size, subsampled_lengths
from .ssm import CHUNK_FRAMES


def _frontend_sizes(cfg: SupernetConfig, frames: int) -> tuple[list[tuple[int, int, int, int]], int, int]:
    """[(in_ch, out_ch, out_time, out_freq)] of the three convs, plus the output frames and freq bins."""
    c1, c2, c3 = cfg.subsampling_channels
    t1, f1 = frames, cfg.feature_dim
    t2, f2 = stride2_conv_size(t1), stride2_conv_size(f1)
    t3, f3 = stride2_conv_size(t2), stride2_conv_size(f2)
    return [(1, c1, t1, f1), (c1, c2, t2, f2), (c2, c3, t3, f3)], t3, f3


def encoder_frames(frames: int) -> int:
    """Encoder output frames for `frames` fbank frames (the front end's subsampling)."""
    return subsampled_lengths(frames)


def _linear(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def _layer_params(cfg: SupernetConfig, ffn_dim: int, heads: int) -> int:
    d, width, modes = cfg.d_model, heads * cfg.ssm_head_dim, cfg.ssm_state_dim // 2
    directions = 1 if cfg.causal else 2
    # per channel: log_dt, d_skip, log(-Re A) and Im A per mode, complex C per mode and direction
    ssm_kernel = width * (2 + 2 * modes + directions * 2 * modes)
    norms = 2 * (2 * d)
    return (
        norms + _linear(d, width) + ssm_kernel + _linear(width, d) + _linear(d, ffn_dim) + _linear(ffn_dim, d)
    )


def param_breakdown(cfg: SupernetConfig, subnet: SubnetConfig | None = None) -> dict[str, int]:
    """Parameters of the extracted subnet by part: encoder, decoder, joiner, training_heads."""
    subnet = largest(cfg) if subnet is None else subnet
    convs, _, f3 = _frontend_sizes(cfg, 7)
    frontend = sum(cin * cout * 9 + cout for cin, cout, _, _ in convs) + _linear(
        cfg.subsampling_channels[2] * f3, cfg.d_model
    )
    layers = sum(_layer_params(cfg, lc.ffn_dim, lc.ssm_heads) for lc in subnet.layers)
    encoder = frontend + layers + 2 * 2 * cfg.d_model  # + front-end and final LayerNorms
    decoder = cfg.vocab_size * cfg.decoder_dim + (
        cfg.decoder_dim * cfg.context_size if cfg.context_size > 1 else 0
    )
    joiner = (
        _linear(cfg.d_model, cfg.joiner_dim)
        + _linear(cfg.decoder_dim, cfg.joiner_dim)
        + _linear(cfg.joiner_dim, cfg.vocab_size)
    )
    heads = _linear(cfg.d_model, cfg.vocab_size) + _linear(cfg.decoder_dim, cfg.vocab_size)
    if cfg.use_ctc:
        heads += _linear(cfg.d_model, cfg.vocab_size)
    return {"encoder": encoder, "decoder": decoder, "joiner": joiner, "training_heads": heads}


def num_params(
    cfg: SupernetConfig, subnet: SubnetConfig | None = None, include_training_heads: bool = True
) -> int:
    """Parameters of `Transducer.extract(subnet)` (None = largest). Without the training heads
    (simple_am_proj, simple_lm_proj, ctc_output) this is what is deployed."""
    parts = param_breakdown(cfg, subnet)
    return sum(v for k, v in parts.items() if include_training_heads or k != "training_heads")


def macs(cfg: SupernetConfig, subnet: SubnetConfig | None = None, frames: int = 100) -> int:
    """Encoder multiply-adds for one utterance of `frames` fbank frames (see module docstring)."""
    subnet = largest(cfg) if subnet is None else subnet
    convs, t_out, f3 = _frontend_sizes(cfg, frames)
    total = sum(cin * cout * 9 * t * f for cin, cout, t, f in convs)
    total += cfg.subsampling_channels[2] * f3 * cfg.d_model * t_out
    d, modes = cfg.d_model, cfg.ssm_state_dim // 2
    directions = 1 if cfg.causal else 2
    chunk = CHUNK_FRAMES
    padded = -(-t_out // chunk) * chunk
    for lc in subnet.layers:
        width = lc.ssm_heads * cfg.ssm_head_dim
        total += 2 * d * width * t_out  # in_proj, out_proj
        total += directions * (width * chunk * padded + 4 * width * modes * padded)  # chunked mixing
        total += 2 * d * lc.ffn_dim * t_out  # feed-forward
    return total
