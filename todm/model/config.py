"""Supernet and subnet configuration (whisper-style dataclasses).

`SupernetConfig` describes the weight-sharing MH-SSM RNN-T supernet and its elastic search space;
`SubnetConfig` names one subnet: which encoder layers are kept and, per kept layer, its feed-forward width
and its number of SSM heads. A standalone (extracted) model is a supernet whose per-layer maximum widths are
exactly the subnet's widths and whose search space is that single point (see `extract_config`).

Elastic dimensions (TODM, Shangguan et al. 2023, arXiv 2309.01947, Sec. 2: depth and layer widths):
  * depth: a subnet keeps a sorted list of layer indices. `depth_mode="subset"` allows any subset with at
    least `min_layers` layers (LayerDrop-style pruning, Fan et al. 2019); `depth_mode="prefix"` only allows
    the first k layers (Once-for-All style).
  * per kept layer: `ffn_dim` (feed-forward hidden width) and `ssm_heads` (number of SSM heads; the head
    dimension is fixed, so the SSM width is `ssm_heads * ssm_head_dim`). Heads are used in pairs by the
    inter-head gating, so head counts are even.
The residual stream (`d_model`), the front end, the decoder and the joiner are shared and not elastic.
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import torch

from todm.errors import UserError
from todm.model.ssm import DT_LAYOUTS

RandomSource = random.Random | torch.Generator


@dataclass
class SupernetConfig:
    """Hyper-parameters of the supernet (or, with a single-point search space, of an extracted model).

    `ffn_dims` and `ssm_heads` are per-layer maxima; an int is expanded to one value per layer.
    `ffn_dim_choices` / `ssm_head_choices` are the widths a subnet may pick; a layer may pick a choice
    that does not exceed its own maximum, and always its maximum.
    """

    feature_dim: int = 80
    d_model: int = 192
    num_layers: int = 8
    ffn_dims: list[int] | int = 768
    ssm_heads: list[int] | int = 8
    ssm_head_dim: int = 24
    ssm_state_dim: int = 32  # N of the diagonal SSM; stored as N/2 complex-conjugate pairs
    ssm_dt_min: float = 1e-3
    ssm_dt_max: float = 0.5
    ssm_dt_layout: str = "bands"  # how heads split the dt range (todm.model.ssm.DT_LAYOUTS)
    subsampling_channels: tuple[int, int, int] = (8, 32, 64)
    vocab_size: int = 500
    decoder_dim: int = 256
    joiner_dim: int = 256
    context_size: int = 2
    blank_id: int = 0
    causal: bool = False
    use_ctc: bool = True
    dropout: float = 0.1
    # the search space
    ffn_dim_choices: list[int] = field(default_factory=list)
    ssm_head_choices: list[int] = field(default_factory=list)
    min_layers: int | None = None  # None: num_layers (no elastic depth)
    depth_mode: str = "subset"  # "subset" or "prefix"

    def __post_init__(self) -> None:
        if isinstance(self.ffn_dims, int):
            self.ffn_dims = [self.ffn_dims] * self.num_layers
        if isinstance(self.ssm_heads, int):
            self.ssm_heads = [self.ssm_heads] * self.num_layers
        self.ffn_dims = [int(v) for v in self.ffn_dims]
        self.ssm_heads = [int(v) for v in self.ssm_heads]
        self.subsampling_channels = tuple(int(c) for c in self.subsampling_channels)
        self.ffn_dim_choices = sorted({int(v) for v in self.ffn_dim_choices})
        self.ssm_head_choices = sorted({int(v) for v in self.ssm_head_choices})
        if self.min_layers is None:
            self.min_layers = self.num_layers
        self._check()

    def _check(self) -> None:
        def fail(msg: str) -> None:
            raise ValueError(f"SupernetConfig.{msg}")

        for name in ("ffn_dims", "ssm_heads"):
            if len(getattr(self, name)) != self.num_layers:
                fail(f"{name} has {len(getattr(self, name))} entries, expected num_layers={self.num_layers}")
        for i, (f, h) in enumerate(zip(self.ffn_dims, self.ssm_heads)):
            if f <= 0:
                fail(f"ffn_dims[{i}]={f} must be positive")
            if h <= 0 or h % 2:
                fail(f"ssm_heads[{i}]={h} must be a positive even number (heads gate each other in pairs)")
        for h in self.ssm_head_choices:
            if h <= 0 or h % 2:
                fail(f"ssm_head_choices contains {h}; head counts must be positive and even")
        if any(f <= 0 for f in self.ffn_dim_choices):
            fail(f"ffn_dim_choices={self.ffn_dim_choices} must be positive")
        if self.ssm_state_dim <= 0 or self.ssm_state_dim % 2:
            fail(f"ssm_state_dim={self.ssm_state_dim} must be positive and even (conjugate pairs)")
        if not 1 <= self.min_layers <= self.num_layers:
            fail(f"min_layers={self.min_layers} must be in [1, num_layers={self.num_layers}]")
        if self.depth_mode not in ("subset", "prefix"):
            fail(f"depth_mode={self.depth_mode!r} must be 'subset' or 'prefix'")
        if self.feature_dim < 7:
            fail(f"feature_dim={self.feature_dim} must be >= 7 for Conv2dSubsampling")
        if not 0 <= self.blank_id < self.vocab_size:
            fail(f"blank_id={self.blank_id} must be in [0, vocab_size={self.vocab_size})")
        if self.context_size < 1:
            fail(f"context_size={self.context_size} must be >= 1")
        for name in ("d_model", "num_layers", "ssm_head_dim", "decoder_dim", "joiner_dim", "vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                fail(f"{name}={value!r} must be a positive integer")
        if any(c <= 0 for c in self.subsampling_channels) or len(self.subsampling_channels) != 3:
            fail(f"subsampling_channels={self.subsampling_channels} must be three positive integers")
        if not 0 < self.ssm_dt_min <= self.ssm_dt_max:
            fail(f"ssm_dt_min={self.ssm_dt_min}, ssm_dt_max={self.ssm_dt_max}: need 0 < dt_min <= dt_max")
        if self.ssm_dt_layout not in DT_LAYOUTS:
            fail(f"ssm_dt_layout={self.ssm_dt_layout!r} must be one of {', '.join(DT_LAYOUTS)}")
        if not 0 <= self.dropout < 1:
            fail(f"dropout={self.dropout} must be in [0, 1)")

    def allowed_ffn_dims(self, layer: int) -> list[int]:
        """Feed-forward widths layer `layer` may take (sorted)."""
        cap = self.ffn_dims[layer]
        return sorted({c for c in self.ffn_dim_choices if c <= cap} | {cap})

    def allowed_ssm_heads(self, layer: int) -> list[int]:
        """SSM head counts layer `layer` may take (sorted)."""
        cap = self.ssm_heads[layer]
        return sorted({c for c in self.ssm_head_choices if c <= cap} | {cap})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SupernetConfig:
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> SupernetConfig:
        return cls.from_dict(json.loads(text))


@dataclass
class LayerChoice:
    """One kept encoder layer of a subnet: its index in the supernet and its widths."""

    index: int
    ffn_dim: int
    ssm_heads: int

    def __post_init__(self) -> None:
        for name in ("index", "ffn_dim", "ssm_heads"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"layer {name}={value!r} must be an integer")


@dataclass
class SubnetConfig:
    """A subnet: kept encoder layers (sorted by index) with per-layer widths."""

    layers: list[LayerChoice]

    def __post_init__(self) -> None:
        self.layers = [lc if isinstance(lc, LayerChoice) else LayerChoice(**lc) for lc in self.layers]

    @property
    def depth(self) -> int:
        return len(self.layers)

    def to_dict(self) -> dict:
        return {"layers": [dataclasses.asdict(lc) for lc in self.layers]}

    @classmethod
    def from_dict(cls, d: dict) -> SubnetConfig:
        return cls(layers=[LayerChoice(**lc) for lc in d["layers"]])

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> SubnetConfig:
        return cls.from_dict(json.loads(text))

    def describe(self) -> str:
        """Short human-readable form for logs, e.g. 'L4[0,2,5,7] ffn[768,384,..] heads[8,4,..]'."""
        idx = ",".join(str(lc.index) for lc in self.layers)
        ffn = ",".join(str(lc.ffn_dim) for lc in self.layers)
        heads = ",".join(str(lc.ssm_heads) for lc in self.layers)
        return f"L{self.depth}[{idx}] ffn[{ffn}] heads[{heads}]"

    def num_params(self, cfg: SupernetConfig, include_training_heads: bool = True) -> int:
        """Parameters of the extracted model (see todm.model.cost.num_params)."""
        from .cost import num_params

        return num_params(cfg, self, include_training_heads)

    def macs(self, cfg: SupernetConfig, frames: int) -> int:
        """Encoder multiply-adds for `frames` fbank frames (see todm.model.cost.macs)."""
        from .cost import macs

        return macs(cfg, self, frames)

    def validate(self, cfg: SupernetConfig) -> None:
        """Raise ValueError naming the offending field if this subnet is not in `cfg`'s search space."""
        if not self.layers:
            raise ValueError("subnet.layers is empty")
        if len(self.layers) < cfg.min_layers:
            raise ValueError(
                f"subnet.layers has {len(self.layers)} layers, fewer than min_layers={cfg.min_layers}"
            )
        prev = -1
        for i, lc in enumerate(self.layers):
            where = f"subnet.layers[{i}]"
            if not 0 <= lc.index < cfg.num_layers:
                raise ValueError(f"{where}.index={lc.index} out of range [0, {cfg.num_layers})")
            if lc.index <= prev:
                raise ValueError(f"{where}.index={lc.index} must be greater than the previous index {prev}")
            if cfg.depth_mode == "prefix" and lc.index != i:
                raise ValueError(f"{where}.index={lc.index}: depth_mode='prefix' keeps the first layers only")
            prev = lc.index
            if lc.ffn_dim > cfg.ffn_dims[lc.index]:
                raise ValueError(
                    f"{where}.ffn_dim={lc.ffn_dim} exceeds supernet max {cfg.ffn_dims[lc.index]}"
                )
            if lc.ffn_dim not in cfg.allowed_ffn_dims(lc.index):
                raise ValueError(
                    f"{where}.ffn_dim={lc.ffn_dim} is not an allowed width {cfg.allowed_ffn_dims(lc.index)}"
                )
            if lc.ssm_heads > cfg.ssm_heads[lc.index]:
                raise ValueError(
                    f"{where}.ssm_heads={lc.ssm_heads} exceeds supernet max {cfg.ssm_heads[lc.index]}"
                )
            if lc.ssm_heads not in cfg.allowed_ssm_heads(lc.index):
                raise ValueError(
                    f"{where}.ssm_heads={lc.ssm_heads} is not an allowed head count "
                    f"{cfg.allowed_ssm_heads(lc.index)}"
                )


def read_subnet_file(spec: str | Path) -> SubnetConfig:
    """A subnet JSON file (search.py writes them): the one reader of subnet files; errors name the file."""
    path = Path(spec)
    if not path.is_file():
        raise UserError(f"--subnet {spec}: not 'largest', 'smallest' or an existing JSON file")
    try:
        return SubnetConfig.from_json(path.read_text())
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"--subnet {spec}: not a subnet config ({exc})") from None


def largest(cfg: SupernetConfig) -> SubnetConfig:
    """All layers at their maximum widths (the supernet itself)."""
    return SubnetConfig([LayerChoice(i, cfg.ffn_dims[i], cfg.ssm_heads[i]) for i in range(cfg.num_layers)])


def _evenly_spaced(num_layers: int, keep: int) -> list[int]:
    # LayerDrop's best pruning rule keeps every other layer; this generalises it and always keeps the top.
    return sorted({round((i + 1) * num_layers / keep) - 1 for i in range(keep)})


def smallest(cfg: SupernetConfig) -> SubnetConfig:
    """min_layers layers (evenly spaced for depth_mode='subset', the first ones for 'prefix'), narrowest."""
    k = cfg.min_layers
    kept = list(range(k)) if cfg.depth_mode == "prefix" else _evenly_spaced(cfg.num_layers, k)
    return SubnetConfig(
        [LayerChoice(i, cfg.allowed_ffn_dims(i)[0], cfg.allowed_ssm_heads(i)[0]) for i in kept]
    )


def _randint(rng: RandomSource, low: int, high: int) -> int:
    """Uniform integer in [low, high] from either a random.Random or a torch.Generator."""
    if isinstance(rng, torch.Generator):
        return int(torch.randint(low, high + 1, (1,), generator=rng).item())
    return rng.randint(low, high)


def sample_subnet(cfg: SupernetConfig, rng: RandomSource) -> SubnetConfig:
    """Uniformly random subnet: depth uniform in [min_layers, num_layers], then a uniformly random layer
    subset (or the prefix), then each width uniform over the layer's allowed values.

    Deterministic given the state of `rng`, so DDP ranks seeded alike draw the same subnet.
    """
    k = _randint(rng, cfg.min_layers, cfg.num_layers)
    if cfg.depth_mode == "prefix":
        kept = list(range(k))
    else:  # partial Fisher-Yates: first k entries of a random permutation
        pool = list(range(cfg.num_layers))
        for i in range(k):
            j = _randint(rng, i, cfg.num_layers - 1)
            pool[i], pool[j] = pool[j], pool[i]
        kept = sorted(pool[:k])
    layers = []
    for i in kept:
        ffn_options, head_options = cfg.allowed_ffn_dims(i), cfg.allowed_ssm_heads(i)
        ffn = ffn_options[_randint(rng, 0, len(ffn_options) - 1)]
        heads = head_options[_randint(rng, 0, len(head_options) - 1)]
        layers.append(LayerChoice(i, ffn, heads))
    return SubnetConfig(layers)


def extract_config(cfg: SupernetConfig, subnet: SubnetConfig) -> SupernetConfig:
    """Config of the standalone model for `subnet`: exact per-layer widths, a single-point search space."""
    subnet.validate(cfg)
    return dataclasses.replace(
        cfg,
        num_layers=subnet.depth,
        ffn_dims=[lc.ffn_dim for lc in subnet.layers],
        ssm_heads=[lc.ssm_heads for lc in subnet.layers],
        ffn_dim_choices=[],
        ssm_head_choices=[],
        min_layers=subnet.depth,
        depth_mode="prefix",
    )
