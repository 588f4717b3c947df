"""Named supernet configurations.

cpu_small: the default for the embedded espeak-ng corpus on a 2-core CPU (the largest
  subnet must stay small enough to leave the blank-only phase within minutes of training).
cpu_medium: the first, wider CPU design (d_model 192, 8 layers); it stayed in the blank-only phase for the
  first ~700 updates (~12 min) on the embedded corpus, so it is no longer the default.
tiny: a few hundred thousand parameters, for CI and `run.sh --profile tiny` (a quick look, not a usable model).
librispeech: GPU-sized, d_model 512 and 16 layers, in the range of the MH-SSM paper's models.
Parameter and MAC counts of the largest/smallest subnets are printed by `python -m todm.model.presets`.
"""

from __future__ import annotations

from .config import SupernetConfig


def cpu_small(vocab_size: int = 500, causal: bool = False) -> SupernetConfig:
    return SupernetConfig(
        d_model=128,
        num_layers=6,
        ffn_dims=512,
        ssm_heads=8,
        ssm_head_dim=16,
        ssm_state_dim=32,
        subsampling_channels=(8, 32, 64),
        vocab_size=vocab_size,
        decoder_dim=192,
        joiner_dim=192,
        causal=causal,
        use_ctc=True,
        dropout=0.1,
        ffn_dim_choices=[128, 256, 384, 512],
        ssm_head_choices=[2, 4, 6, 8],
        min_layers=2,
    )


def cpu_medium(vocab_size: int = 500, causal: bool = False) -> SupernetConfig:
    return SupernetConfig(
        d_model=192,
        num_layers=8,
        ffn_dims=768,
        ssm_heads=8,
        ssm_head_dim=24,
        ssm_state_dim=32,
        subsampling_channels=(8, 32, 64),
        vocab_size=vocab_size,
        decoder_dim=256,
        joiner_dim=256,
        causal=causal,
        use_ctc=True,
        dropout=0.1,
        ffn_dim_choices=[192, 384, 576, 768],
        ssm_head_choices=[2, 4, 6, 8],
        min_layers=3,
    )


def librispeech(vocab_size: int = 500, causal: bool = False) -> SupernetConfig:
    return SupernetConfig(
        d_model=512,
        num_layers=16,
        ffn_dims=2048,
        ssm_heads=16,
        ssm_head_dim=32,
        ssm_state_dim=64,
        subsampling_channels=(8, 32, 128),
        vocab_size=vocab_size,
        decoder_dim=512,
        joiner_dim=512,
        causal=causal,
        use_ctc=True,
        dropout=0.1,
        ffn_dim_choices=[512, 1024, 1536, 2048],
        ssm_head_choices=[4, 8, 12, 16],
        min_layers=8,
    )


def tiny(vocab_size: int = 500, causal: bool = False) -> SupernetConfig:
    return SupernetConfig(
        d_model=48,
        num_layers=3,
        ffn_dims=96,
        ssm_heads=4,
        ssm_head_dim=12,
        ssm_state_dim=16,
        subsampling_channels=(4, 8, 16),
        vocab_size=vocab_size,
        decoder_dim=48,
        joiner_dim=48,
        causal=causal,
        use_ctc=True,
        dropout=0.1,
        ffn_dim_choices=[48, 96],
        ssm_head_choices=[2, 4],
        min_layers=2,
    )


PRESETS = {"cpu_small": cpu_small, "cpu_medium": cpu_medium, "librispeech": librispeech, "tiny": tiny}


def get_preset(name: str, **kwargs) -> SupernetConfig:
    """Build a preset by name; kwargs (vocab_size, causal) are passed through."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name](**kwargs)


def _summary() -> None:
    from .config import largest, smallest
    from .cost import macs, num_params

    frames = 1000  # 10 s of fbank
    print("| preset | subnet | params (all) | params (deployed) | encoder GMACs / 10 s |")
    print("|---|---|---|---|---|")
    for name, build in PRESETS.items():
        cfg = build()
        for label, sub in (("largest", largest(cfg)), ("smallest", smallest(cfg))):
            print(
                f"| {name} | {label} (L{sub.depth}, ffn {sub.layers[0].ffn_dim}, heads {sub.layers[0].ssm_heads}) | {num_params(cfg, sub) / 1e6:.2f}M | "
                f"{num_params(cfg, sub, False) / 1e6:.2f}M | {macs(cfg, sub, frames) / 1e9:.2f} |"
            )


if __name__ == "__main__":
    _summary()
