"""The search space of one supernet: sampling, mutation, crossover and repair of subnets.

A candidate is a `SubnetConfig`. The operators follow Once-for-All's evolution finder
(mit-han-lab/once-for-all, ofa/nas/search_algorithm/evolution.py: per-gene mutation with a probability,
uniform crossover of two parents) and AlphaNet's supernet search (facebookresearch/AlphaNet,
parallel_supernet_evo_search.py), written for our genes: per supernet layer i, "kept?" plus the layer's
`ffn_dim` and `ssm_heads`. Every operator ends in `repair`, so whatever it returns passes
`SubnetConfig.validate(cfg)`; budget constraints are handled by the search (resample, then `shrink_step`).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

from todm.model import LayerChoice, SubnetConfig, SupernetConfig, sample_subnet


def subnet_key(subnet: SubnetConfig) -> str:
    """Canonical, human-readable identity of a subnet (the cache key), e.g. 'L3[0,2,7] ffn[..] heads[..]'."""
    return subnet.describe()


def _snap(value: int, options: list[int]) -> int:
    """The largest allowed option <= value (the smallest option if none is)."""
    below = [o for o in options if o <= value]
    return below[-1] if below else options[0]


class SearchSpace:
    """Operators over `cfg`'s subnets. All randomness comes from the `random.Random` passed in."""

    def __init__(self, cfg: SupernetConfig) -> None:
        self.cfg = cfg

    def sample(self, rng: random.Random) -> SubnetConfig:
        """Uniform depth, uniform layer subset, uniform widths (todm.model.sample_subnet)."""
        return sample_subnet(self.cfg, rng)

    def is_elastic(self) -> bool:
        """False for an extracted model or a fixed architecture: a single point, nothing to search."""
        cfg = self.cfg
        return cfg.min_layers < cfg.num_layers or any(
            len(cfg.allowed_ffn_dims(i)) > 1 or len(cfg.allowed_ssm_heads(i)) > 1
            for i in range(cfg.num_layers)
        )

    def _random_layer(self, index: int, rng: random.Random) -> LayerChoice:
        return LayerChoice(
            index, rng.choice(self.cfg.allowed_ffn_dims(index)), rng.choice(self.cfg.allowed_ssm_heads(index))
        )

    def mutate(self, subnet: SubnetConfig, rng: random.Random, prob: float) -> SubnetConfig:
        """Each gene changes with probability `prob`: a layer's membership (subset mode; in prefix mode the
        depth, once), then each kept layer's ffn_dim and ssm_heads (redrawn among the *other* allowed values,
        so a mutation that fires always changes something)."""
        cfg = self.cfg
        kept = {lc.index: lc for lc in subnet.layers}
        if cfg.depth_mode == "prefix":
            if rng.random() < prob and cfg.min_layers < cfg.num_layers:
                depth = rng.choice([k for k in range(cfg.min_layers, cfg.num_layers + 1) if k != len(kept)])
                kept = {i: kept.get(i) or self._random_layer(i, rng) for i in range(depth)}
        else:
            for i in range(cfg.num_layers):
                if rng.random() < prob:
                    if i in kept:
                        del kept[i]
                    else:
                        kept[i] = self._random_layer(i, rng)
        layers = []
        for i in sorted(kept):
            lc = kept[i]
            ffn, heads = lc.ffn_dim, lc.ssm_heads
            ffn_options = [v for v in cfg.allowed_ffn_dims(i) if v != ffn]
            head_options = [v for v in cfg.allowed_ssm_heads(i) if v != heads]
            if ffn_options and rng.random() < prob:
                ffn = rng.choice(ffn_options)
            if head_options and rng.random() < prob:
                heads = rng.choice(head_options)
            layers.append(LayerChoice(i, ffn, heads))
        return self.repair(SubnetConfig(layers), rng)

    def crossover(self, a: SubnetConfig, b: SubnetConfig, rng: random.Random) -> SubnetConfig:
        """Uniform crossover: per supernet layer, take that layer's state (kept with its widths, or dropped)
        from a parent chosen at random. In prefix mode the depth comes from one parent and each width from
        either parent that has the layer."""
        cfg = self.cfg
        pa = {lc.index: lc for lc in a.layers}
        pb = {lc.index: lc for lc in b.layers}
        layers = []
        if cfg.depth_mode == "prefix":
            depth = rng.choice([a.depth, b.depth])
            for i in range(depth):
                options = [p[i] for p in (pa, pb) if i in p]
                ffn = rng.choice(options).ffn_dim
                heads = rng.choice(options).ssm_heads
                layers.append(LayerChoice(i, ffn, heads))
        else:
            for i in range(cfg.num_layers):
                lc = (pa if rng.random() < 0.5 else pb).get(i)
                if lc is not None:
                    layers.append(LayerChoice(i, lc.ffn_dim, lc.ssm_heads))
        return self.repair(SubnetConfig(layers), rng)

    def repair(self, subnet: SubnetConfig, rng: random.Random) -> SubnetConfig:
        """Project any list of layers into the space: drop out-of-range/duplicate indices, snap widths to
        allowed values, make prefix-mode depth contiguous, add random layers up to min_layers."""
        cfg = self.cfg
        kept: dict[int, LayerChoice] = {}
        for lc in subnet.layers:
            if 0 <= lc.index < cfg.num_layers and lc.index not in kept:
                i = lc.index
                kept[i] = LayerChoice(
                    i,
                    _snap(lc.ffn_dim, cfg.allowed_ffn_dims(i)),
                    _snap(lc.ssm_heads, cfg.allowed_ssm_heads(i)),
                )
        if cfg.depth_mode == "prefix":
            depth = min(cfg.num_layers, max(cfg.min_layers, len(kept)))
            by_order = [kept[i] for i in sorted(kept)]
            kept = {}
            for i in range(depth):
                src = by_order[i] if i < len(by_order) else self._random_layer(i, rng)
                kept[i] = LayerChoice(
                    i,
                    _snap(src.ffn_dim, cfg.allowed_ffn_dims(i)),
                    _snap(src.ssm_heads, cfg.allowed_ssm_heads(i)),
                )
        else:
            missing = [i for i in range(cfg.num_layers) if i not in kept]
            rng.shuffle(missing)
            while len(kept) < cfg.min_layers:
                i = missing.pop()
                kept[i] = self._random_layer(i, rng)
        repaired = SubnetConfig([kept[i] for i in sorted(kept)])
        repaired.validate(cfg)
        return repaired

    def shrink_step(self, subnet: SubnetConfig, rng: random.Random) -> SubnetConfig | None:
        """One step towards the smallest subnet: narrow one width by one allowed value, or drop one layer.
        Every cost we budget is monotone in these steps, so repeating it reaches a feasible subnet whenever
        the smallest subnet is feasible. None when `subnet` is already minimal."""
        cfg = self.cfg
        moves: list[tuple[str, int]] = []
        for j, lc in enumerate(subnet.layers):
            if lc.ffn_dim > cfg.allowed_ffn_dims(lc.index)[0]:
                moves.append(("ffn", j))
            if lc.ssm_heads > cfg.allowed_ssm_heads(lc.index)[0]:
                moves.append(("heads", j))
        if subnet.depth > cfg.min_layers:
            drop = [subnet.depth - 1] if cfg.depth_mode == "prefix" else range(subnet.depth)
            moves.extend(("drop", j) for j in drop)
        if not moves:
            return None
        kind, j = rng.choice(moves)
        layers = list(subnet.layers)
        lc = layers[j]
        if kind == "drop":
            del layers[j]
        elif kind == "ffn":
            options = cfg.allowed_ffn_dims(lc.index)
            layers[j] = LayerChoice(lc.index, options[options.index(lc.ffn_dim) - 1], lc.ssm_heads)
        else:
            options = cfg.allowed_ssm_heads(lc.index)
            layers[j] = LayerChoice(lc.index, lc.ffn_dim, options[options.index(lc.ssm_heads) - 1])
        return SubnetConfig(layers)

    def grow_step(self, subnet: SubnetConfig, rng: random.Random) -> SubnetConfig | None:
        """One step away from the smallest subnet (the inverse moves of `shrink_step`): widen one width by one
        allowed value, or add one layer at its narrowest. None when `subnet` is the largest."""
        cfg = self.cfg
        moves: list[tuple[str, int]] = []
        for j, lc in enumerate(subnet.layers):
            if lc.ffn_dim < cfg.allowed_ffn_dims(lc.index)[-1]:
                moves.append(("ffn", j))
            if lc.ssm_heads < cfg.allowed_ssm_heads(lc.index)[-1]:
                moves.append(("heads", j))
        kept = {lc.index for lc in subnet.layers}
        if subnet.depth < cfg.num_layers:
            add = (
                [subnet.depth]
                if cfg.depth_mode == "prefix"
                else [i for i in range(cfg.num_layers) if i not in kept]
            )
            moves.extend(("add", i) for i in add)
        if not moves:
            return None
        kind, j = rng.choice(moves)
        layers = list(subnet.layers)
        if kind == "add":
            layers.append(LayerChoice(j, cfg.allowed_ffn_dims(j)[0], cfg.allowed_ssm_heads(j)[0]))
            layers.sort(key=lambda lc: lc.index)
        elif kind == "ffn":
            lc = layers[j]
            options = cfg.allowed_ffn_dims(lc.index)
            layers[j] = LayerChoice(lc.index, options[options.index(lc.ffn_dim) + 1], lc.ssm_heads)
        else:
            lc = layers[j]
            options = cfg.allowed_ssm_heads(lc.index)
            layers[j] = LayerChoice(lc.index, lc.ffn_dim, options[options.index(lc.ssm_heads) + 1])
        return SubnetConfig(layers)

    def enumerate(self) -> Iterator[SubnetConfig]:
        """Every subnet of the space (only sensible for tiny test spaces)."""
        cfg = self.cfg
        for depth in range(cfg.min_layers, cfg.num_layers + 1):
            subsets = (
                [tuple(range(depth))]
                if cfg.depth_mode == "prefix"
                else itertools.combinations(range(cfg.num_layers), depth)
            )
            for kept in subsets:
                per_layer = [
                    [(i, f, h) for f in cfg.allowed_ffn_dims(i) for h in cfg.allowed_ssm_heads(i)]
                    for i in kept
                ]
                for combo in itertools.product(*per_layer):
                    yield SubnetConfig([LayerChoice(*t) for t in combo])
