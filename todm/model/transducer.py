"""RNN-T supernet: MH-SSM encoder, icefall stateless decoder and joiner, pruned-loss and CTC heads.

The decoder (prediction network) and joiner follow icefall's pruned_transducer_stateless recipes
(k2-fsa/icefall egs/librispeech/ASR/pruned_transducer_stateless*/decoder.py, joiner.py, model.py): an
embedding plus a depthwise Conv1d over the last `context_size` tokens (Ghodsi et al. 2020, "stateless"
prediction network), and a joiner tanh(encoder_proj(a) + decoder_proj(b)) -> Linear. They are shared by all
subnets; only the encoder is elastic. `simple_am_proj` / `simple_lm_proj` feed the simple (trivial-joiner)
loss of the pruned RNN-T loss; `ctc_output` is an optional auxiliary CTC head (logits; callers apply
log_softmax) used only in training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import SubnetConfig, SupernetConfig, extract_config
from .encoder import Conv2dSubsampling, Encoder
from .ssm import SSM_KERNEL_PARAMS


class Decoder(nn.Module):
    """Stateless prediction network: (N, U) token ids -> (N, U, decoder_dim)."""

    def __init__(self, vocab_size: int, decoder_dim: int, blank_id: int, context_size: int) -> None:
        super().__init__()
        self.vocab_size, self.blank_id, self.context_size = vocab_size, blank_id, context_size
        self.embedding = nn.Embedding(vocab_size, decoder_dim, padding_idx=blank_id)
        # depthwise conv over the previous `context_size` tokens; context_size=1 is a bigram (no conv)
        self.conv = (
            nn.Conv1d(decoder_dim, decoder_dim, context_size, groups=decoder_dim, bias=False)
            if context_size > 1
            else None
        )

    def forward(self, y: torch.Tensor, need_pad: bool = True) -> torch.Tensor:
        """y: (N, U) int64 token ids. need_pad=True (training): left-pad with context_size-1 frames so the
        output has U frames. need_pad=False (decoding): y holds exactly context_size tokens, output U'=1.
        Returns (N, U, decoder_dim)."""
        emb = self.embedding(y.to(torch.int64))
        if self.conv is not None:
            emb = emb.permute(0, 2, 1)
            if need_pad:
                emb = F.pad(emb, (self.context_size - 1, 0))
            elif not torch.jit.is_tracing() and emb.size(-1) != self.context_size:
                raise ValueError(f"need_pad=False expects {self.context_size} tokens, got {emb.size(-1)}")
            emb = self.conv(emb).permute(0, 2, 1)
        return F.relu(emb)


class Joiner(nn.Module):
    """logits = output_linear(tanh(encoder_proj(enc) + decoder_proj(dec)))."""

    def __init__(self, encoder_dim: int, decoder_dim: int, joiner_dim: int, vocab_size: int) -> None:
        super().__init__()
        self.encoder_proj = nn.Linear(encoder_dim, joiner_dim)
        self.decoder_proj = nn.Linear(decoder_dim, joiner_dim)
        self.output_linear = nn.Linear(joiner_dim, vocab_size)

    def forward(
        self, encoder_out: torch.Tensor, decoder_out: torch.Tensor, project_input: bool = True
    ) -> torch.Tensor:
        """encoder_out: (..., encoder_dim), decoder_out: (..., decoder_dim), broadcastable, e.g.
        (N, T, s_range, C) each for the pruned loss. With project_input=False both are already projected
        to joiner_dim (the pruned loss projects once, then gathers). Returns (..., vocab_size)."""
        if project_input:
            encoder_out, decoder_out = self.encoder_proj(encoder_out), self.decoder_proj(decoder_out)
        return self.output_linear(torch.tanh(encoder_out + decoder_out))


class Transducer(nn.Module):
    """The weight-sharing supernet (or, built from `extract_config`, a standalone subnet)."""

    def __init__(self, cfg: SupernetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder_embed = Conv2dSubsampling(cfg.feature_dim, cfg.d_model, cfg.subsampling_channels)
        self.encoder = Encoder(
            cfg.d_model,
            cfg.ffn_dims,
            cfg.ssm_heads,
            cfg.ssm_head_dim,
            cfg.ssm_state_dim,
            cfg.causal,
            cfg.ssm_dt_min,
            cfg.ssm_dt_max,
            cfg.ssm_dt_layout,
        )
        self.decoder = Decoder(cfg.vocab_size, cfg.decoder_dim, cfg.blank_id, cfg.context_size)
        self.joiner = Joiner(cfg.d_model, cfg.decoder_dim, cfg.joiner_dim, cfg.vocab_size)
        self.simple_am_proj = nn.Linear(cfg.d_model, cfg.vocab_size)
        self.simple_lm_proj = nn.Linear(cfg.decoder_dim, cfg.vocab_size)
        self.ctc_output = nn.Linear(cfg.d_model, cfg.vocab_size) if cfg.use_ctc else None

    @property
    def encoder_dim(self) -> int:
        return self.cfg.d_model

    def forward_encoder(
        self,
        features: torch.Tensor,
        feature_lens: torch.Tensor,
        subnet: SubnetConfig | None = None,
        dropout: float | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """features: (N, T, feature_dim) fbank, feature_lens: (N,) int64; subnet: None = largest;
        dropout: overrides cfg.dropout (adaptive dropout); only active in training mode.
        Returns encoder_out (N, T', d_model) and encoder_out_lens (N,), T' = ((T-1)//2 - 1)//2."""
        x, lens = self.forward_frontend(features, feature_lens)
        return self.forward_layers(x, lens, subnet, dropout), lens

    def forward_frontend(
        self, features: torch.Tensor, feature_lens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The shared (non-elastic) 4x subsampling front end: (N, T, 80) -> (N, T', d_model), lengths.

        A sandwich step runs it once and feeds every subnet's layers from its output."""
        if features.dim() != 3 or features.size(-1) != self.cfg.feature_dim:
            raise ValueError(f"features must be (N, T, {self.cfg.feature_dim}), got {tuple(features.shape)}")
        if not torch.jit.is_tracing() and features.size(1) < 7:
            raise ValueError(f"features need at least 7 frames for 4x subsampling, got {features.size(1)}")
        return self.encoder_embed(features, feature_lens)

    def forward_layers(
        self,
        x: torch.Tensor,
        lens: torch.Tensor,
        subnet: SubnetConfig | None = None,
        dropout: float | None = None,
    ) -> torch.Tensor:
        """The elastic MH-SSM layers of `subnet` on front-end output x: (N, T', d_model) -> same shape."""
        if subnet is not None:
            subnet.validate(self.cfg)
        p = self.cfg.dropout if dropout is None else dropout
        return self.encoder(x, lens, None if subnet is None else subnet.layers, p)

    def forward(
        self, features: torch.Tensor, feature_lens: torch.Tensor, subnet: SubnetConfig | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Alias of forward_encoder (so that the encoder of a standalone model exports as `model`)."""
        return self.forward_encoder(features, feature_lens, subnet)

    def set_exportable(self, exportable: bool = True) -> Transducer:
        """Use the ONNX-exportable (chunked, linear-time) SSM path instead of the FFT path."""
        for module in self.modules():
            if hasattr(module, "exportable"):
                module.exportable = exportable
        return self

    @torch.no_grad()
    def extract(self, subnet: SubnetConfig) -> Transducer:
        """Standalone model holding only `subnet`'s weights; same outputs as forward_encoder(..., subnet)."""
        small = Transducer(extract_config(self.cfg, subnet)).to(
            device=next(self.parameters()).device, dtype=next(self.parameters()).dtype
        )
        sources = dict(self.named_parameters())
        prefix = "encoder.layers."
        for name, param in small.named_parameters():
            source_name = name
            if name.startswith(prefix):  # kept layer j of the small model is layer subnet.layers[j].index
                j, rest = name[len(prefix) :].split(".", 1)
                source_name = f"{prefix}{subnet.layers[int(j)].index}.{rest}"
            # elastic tensors are sliced by leading slices in every dim (see encoder.py)
            param.copy_(sources[source_name][tuple(slice(0, s) for s in param.shape)])
        small.train(self.training)
        return small

    def parameter_groups(self, lr: float, ssm_kernel_lr_scale: float) -> list[dict]:
        """Optimizer groups: everything at `lr`, then the SSM kernel's own parameters (SSM_KERNEL_PARAMS) at
        `ssm_kernel_lr_scale * lr`."""
        kernel, rest = [], []
        for name, param in self.named_parameters():
            (kernel if name.rsplit(".", 1)[-1] in SSM_KERNEL_PARAMS else rest).append(param)
        return [{"params": rest, "lr": lr}, {"params": kernel, "lr": lr * ssm_kernel_lr_scale}]
