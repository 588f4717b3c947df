"""Tests of the supernet: extraction, analytic costs, gradient isolation, ONNX export, configs, causality."""

from __future__ import annotations

import dataclasses
import io
import random
import warnings

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from todm.model import (
    LayerChoice,
    SubnetConfig,
    SupernetConfig,
    Transducer,
    cpu_medium,
    cpu_small,
    encoder_frames,
    largest,
    librispeech,
    macs,
    num_params,
    sample_subnet,
    smallest,
)


def tiny_config(**overrides) -> SupernetConfig:
    base = {
        "d_model": 32,
        "num_layers": 5,
        "ffn_dims": 64,
        "ssm_heads": 6,
        "ssm_head_dim": 4,
        "ssm_state_dim": 8,
        "subsampling_channels": (4, 8, 8),
        "vocab_size": 20,
        "decoder_dim": 16,
        "joiner_dim": 24,
        "ffn_dim_choices": [16, 32, 48],
        "ssm_head_choices": [2, 4],
        "min_layers": 2,
    }
    base.update(overrides)
    return SupernetConfig(**base)


def features(n: int = 3, frames: int = 83, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, frames, 80, generator=g)
    lens = torch.tensor([frames] + [frames - 9 * (i + 1) for i in range(n - 1)])
    return x, lens


def subnets(cfg: SupernetConfig, count: int = 4) -> list[SubnetConfig]:
    rng = random.Random(7)
    return [largest(cfg), smallest(cfg)] + [sample_subnet(cfg, rng) for _ in range(count)]


@pytest.fixture(scope="module")
def supernet() -> Transducer:
    torch.manual_seed(0)
    return Transducer(tiny_config()).eval()


def test_extracted_model_equals_supernet(supernet):
    x, lens = features()
    y = torch.randint(1, 20, (3, 6))
    with torch.no_grad():
        for sub in subnets(supernet.cfg):
            small = supernet.extract(sub)
            ref, ref_lens = supernet.forward_encoder(x, lens, sub)
            got, got_lens = small.forward_encoder(x, lens)
            assert torch.equal(ref_lens, got_lens)
            assert (ref - got).abs().max() <= 1e-5, sub.describe()
            assert torch.equal(small.decoder(y), supernet.decoder(y))
            assert torch.equal(small.ctc_output(got), supernet.ctc_output(got))


@pytest.mark.parametrize("overrides", [{}, {"causal": True, "use_ctc": False}, {"context_size": 1}])
def test_num_params_equals_extracted_model(overrides):
    torch.manual_seed(0)
    cfg = tiny_config(**overrides)
    model = Transducer(cfg)
    assert num_params(cfg) == sum(p.numel() for p in model.parameters())
    training_heads = ("simple_am_proj", "simple_lm_proj", "ctc_output")
    for sub in subnets(cfg):
        small = model.extract(sub)
        assert sub.num_params(cfg) == sum(p.numel() for p in small.parameters())
        deployed = sum(p.numel() for n, p in small.named_parameters() if not n.startswith(training_heads))
        assert sub.num_params(cfg, include_training_heads=False) == deployed


@pytest.mark.parametrize("causal", [False, True])
def test_macs_match_flop_counter(causal):
    """FlopCounterMode counts 2 flops per multiply-add of mm/addmm/bmm/convolution (biases, norms and
    element-wise ops excluded), on the exportable (chunked) path, which is what `macs` models."""
    torch.manual_seed(0)
    cfg = tiny_config(causal=causal)
    model = Transducer(cfg).eval()
    for frames in (41, 100, 700):  # 700: several chunks of the deployed path
        x, lens = features(n=1, frames=frames)
        for sub in subnets(cfg, 2):
            small = model.extract(sub).set_exportable(True)
            counter = FlopCounterMode(display=False)
            with torch.no_grad(), counter:
                small.forward_encoder(x, lens)
            assert counter.get_total_flops() == 2 * sub.macs(cfg, frames), sub.describe()


def test_gradients_zero_outside_sampled_subnet():
    torch.manual_seed(0)
    cfg = tiny_config(dropout=0.0)
    model = Transducer(cfg).train()
    sub = SubnetConfig([LayerChoice(0, 16, 2), LayerChoice(2, 48, 4), LayerChoice(4, 64, 6)])
    x, lens = features()
    out, _ = model.forward_encoder(x, lens, sub)
    out.square().mean().backward()
    for dropped in (1, 3):
        assert all(p.grad is None for p in model.encoder.layers[dropped].parameters())
    for choice in sub.layers:
        layer, width, f = (
            model.encoder.layers[choice.index],
            choice.ssm_heads * cfg.ssm_head_dim,
            choice.ffn_dim,
        )
        inside_outside = [
            (layer.ssm.in_proj.weight.grad, (slice(0, width),)),
            (layer.ssm.in_proj.bias.grad, (slice(0, width),)),
            (layer.ssm.out_proj.weight.grad, (slice(None), slice(0, width))),
            (layer.ffn.hidden.weight.grad, (slice(0, f),)),
            (layer.ffn.hidden.bias.grad, (slice(0, f),)),
            (layer.ffn.output.weight.grad, (slice(None), slice(0, f))),
        ] + [(p.grad, (slice(0, width),)) for p in layer.ssm.kernel.parameters()]
        for grad, kept in inside_outside:
            assert grad[kept].abs().sum() > 0
            outside = grad.clone()
            outside[kept] = 0
            assert torch.count_nonzero(outside) == 0


def test_fft_and_exportable_paths_agree_in_full_model(supernet):
    x, lens = features(frames=150)
    with torch.no_grad():
        for sub in subnets(supernet.cfg, 2):
            fft, _ = supernet.forward_encoder(x, lens, sub)
            supernet.set_exportable(True)
            toeplitz, _ = supernet.forward_encoder(x, lens, sub)
            supernet.set_exportable(False)
            assert (fft - toeplitz).abs().max() <= 1e-5


@pytest.mark.parametrize("causal", [False, True])
def test_onnx_export_of_extracted_encoder_matches_pytorch(causal):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    supernet = Transducer(tiny_config(causal=causal)).eval()
    sub = sample_subnet(supernet.cfg, random.Random(3))
    small = supernet.extract(sub).eval()
    x, lens = features(n=2, frames=60)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # onnxscript (needed by the dynamo exporter) is not a dependency: use the TorchScript exporter
        torch.onnx.export(
            small, (x, lens), buffer, dynamo=False, opset_version=17,
            input_names=["x", "x_lens"], output_names=["encoder_out", "encoder_out_lens"],
            dynamic_axes={"x": {0: "N", 1: "T"}, "x_lens": {0: "N"}, "encoder_out": {0: "N", 1: "T"},
                          "encoder_out_lens": {0: "N"}},
        )  # fmt: skip
    assert small.encoder.layers[0].ssm.exportable is False  # export did not flip the training path
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    for n, frames in ((2, 57), (3, 131)):
        x, lens = features(n=n, frames=frames, seed=frames)
        out, out_lens = session.run(None, {"x": x.numpy(), "x_lens": lens.numpy()})
        with torch.no_grad():
            ref, ref_lens = small.forward_encoder(x, lens)
        assert out.shape == tuple(ref.shape) and out.shape[1] == encoder_frames(frames)
        np.testing.assert_array_equal(out_lens, ref_lens.numpy())
        assert np.abs(out - ref.numpy()).max() <= 1e-5


def test_subnet_json_round_trip():
    cfg = tiny_config()
    for sub in subnets(cfg):
        again = SubnetConfig.from_json(sub.to_json())
        assert again == sub and isinstance(again.layers[0], LayerChoice)


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([(0, 64, 6), (1, 64, 6), (3, 128, 6)], r"subnet\.layers\[2\]\.ffn_dim=128 exceeds supernet max 64"),
        ([(0, 64, 6), (1, 40, 6)], r"subnet\.layers\[1\]\.ffn_dim=40 is not an allowed width"),
        ([(0, 64, 8), (1, 64, 6)], r"subnet\.layers\[0\]\.ssm_heads=8 exceeds supernet max 6"),
        ([(0, 64, 6), (1, 64, 3)], r"subnet\.layers\[1\]\.ssm_heads=3 is not an allowed head count"),
        ([(0, 64, 6), (5, 64, 6)], r"subnet\.layers\[1\]\.index=5 out of range"),
        ([(2, 64, 6), (1, 64, 6)], r"subnet\.layers\[1\]\.index=1 must be greater"),
        ([(0, 64, 6)], r"subnet\.layers has 1 layers, fewer than min_layers=2"),
        ([], r"subnet\.layers is empty"),
    ],
)
def test_invalid_subnet_raises_naming_the_field(layers, message):
    sub = SubnetConfig([LayerChoice(*lc) for lc in layers])
    with pytest.raises(ValueError, match=message):
        sub.validate(tiny_config())


def test_invalid_configs_raise():
    with pytest.raises(ValueError, match=r"subnet\.layers\[0\]\.index=1: depth_mode='prefix'"):
        SubnetConfig([LayerChoice(1, 64, 6), LayerChoice(2, 64, 6)]).validate(
            tiny_config(depth_mode="prefix")
        )
    with pytest.raises(ValueError, match=r"SupernetConfig\.ssm_heads\[1\]=5"):
        tiny_config(ssm_heads=[6, 5, 6, 6, 6])
    with pytest.raises(ValueError, match=r"SupernetConfig\.ffn_dims has 2 entries"):
        tiny_config(ffn_dims=[64, 64])
    with pytest.raises(ValueError, match=r"min_layers=9"):
        tiny_config(min_layers=9)
    model = Transducer(tiny_config())
    with pytest.raises(ValueError, match=r"features must be \(N, T, 80\)"):
        model.forward_encoder(torch.randn(2, 50, 40), torch.tensor([50, 50]))
    with pytest.raises(ValueError, match=r"ffn_dim=128 exceeds"):
        model.forward_encoder(*features(), SubnetConfig([LayerChoice(0, 128, 2), LayerChoice(1, 64, 2)]))


@pytest.mark.parametrize("exportable", [False, True])
def test_causal_encoder_ignores_future_frames(exportable):
    torch.manual_seed(0)
    model = Transducer(tiny_config(causal=True)).eval().set_exportable(exportable)
    x, lens = features(n=2, frames=120)
    changed_from = 60
    x2 = x.clone()
    x2[:, changed_from:] = torch.randn_like(x2[:, changed_from:])
    with torch.no_grad():
        a, _ = model.forward_encoder(x, lens)
        b, _ = model.forward_encoder(x2, lens)
    # output frame m sees input frames up to 4m + 6 (front-end look-ahead of 7 frames): unchanged below
    safe = (changed_from - 7) // 4 + 1
    assert (a[:, :safe] - b[:, :safe]).abs().max() <= 1e-5
    assert (a[:, safe + 1 :] - b[:, safe + 1 :]).abs().max() > 1e-2
    bidirectional = Transducer(tiny_config()).eval()
    with torch.no_grad():
        c, _ = bidirectional.forward_encoder(x, lens)
        d, _ = bidirectional.forward_encoder(x2, lens)
    assert (c[:, :safe] - d[:, :safe]).abs().max() > 1e-3  # the default encoder does look ahead


def test_sampling_is_deterministic_valid_and_covers_the_space():
    cfg = tiny_config()
    a = [sample_subnet(cfg, torch.Generator().manual_seed(5)) for _ in range(2)]
    assert a[0] == a[1]
    b = [sample_subnet(cfg, random.Random(11)) for _ in range(2)]
    assert b[0] == b[1]
    rng = random.Random(0)
    seen = [sample_subnet(cfg, rng) for _ in range(300)]
    for sub in seen:
        sub.validate(cfg)
    assert {s.depth for s in seen} == set(range(cfg.min_layers, cfg.num_layers + 1))
    assert {lc.ffn_dim for s in seen for lc in s.layers} == {16, 32, 48, 64}
    assert {lc.ssm_heads for s in seen for lc in s.layers} == {2, 4, 6}
    prefix_cfg = tiny_config(depth_mode="prefix")
    assert all(
        [lc.index for lc in s.layers] == list(range(s.depth))
        for s in (sample_subnet(prefix_cfg, rng) for _ in range(50))
    )


def test_decoder_joiner_and_heads(supernet):
    cfg = supernet.cfg
    y = torch.randint(1, cfg.vocab_size, (2, 7))
    with torch.no_grad():
        dec = supernet.decoder(y)
        assert dec.shape == (2, 7, cfg.decoder_dim)
        last = supernet.decoder(y[:, -cfg.context_size :], need_pad=False)
        assert torch.allclose(last[:, 0], dec[:, -1], atol=1e-6)  # same context, same output
        enc, _ = supernet.forward_encoder(*features(n=2))
        full = supernet.joiner(enc.unsqueeze(2), dec.unsqueeze(1))
        assert full.shape == (2, enc.size(1), 7, cfg.vocab_size)
        projected = supernet.joiner(
            supernet.joiner.encoder_proj(enc).unsqueeze(2),
            supernet.joiner.decoder_proj(dec).unsqueeze(1),
            project_input=False,
        )
        assert torch.allclose(full, projected, atol=1e-6)
        assert supernet.simple_am_proj(enc).shape[-1] == cfg.vocab_size
        assert supernet.simple_lm_proj(dec).shape[-1] == cfg.vocab_size
    assert Transducer(tiny_config(use_ctc=False)).ctc_output is None


def test_dropout_override_and_output_lengths(supernet):
    x, lens = features()
    model = Transducer(tiny_config(dropout=0.3)).train()
    with torch.no_grad():
        a, a_lens = model.forward_encoder(x, lens, dropout=0.0)
        model.eval()
        b, _ = model.forward_encoder(x, lens)
        model.train()
        c, _ = model.forward_encoder(x, lens)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a_lens.tolist() == [((t - 1) // 2 - 1) // 2 for t in lens.tolist()]
    assert a.size(1) == encoder_frames(x.size(1))


def test_presets_sizes():
    small, medium = cpu_small(), cpu_medium()
    assert 1.2e6 <= num_params(small) <= 2.5e6  # leaves the blank-only phase within minutes on 2 cores
    assert num_params(small, largest(small), False) / num_params(small, smallest(small), False) >= 2.5
    assert 3e6 <= num_params(medium) <= 5e6
    assert num_params(medium, largest(medium), False) / num_params(medium, smallest(medium), False) >= 3.5
    big = librispeech()
    assert big.d_model == 512 and big.num_layers == 16
    for cfg in (small, medium, big):
        cfg2 = dataclasses.replace(cfg)
        assert cfg2 == cfg and SupernetConfig.from_json(cfg.to_json()) == cfg
        assert macs(cfg, smallest(cfg), 1000) < macs(cfg, largest(cfg), 1000)


def test_dt_layout_is_checked_and_a_checkpoint_written_before_it_still_loads():
    from todm.checkpoint import check_architecture

    with pytest.raises(ValueError, match=r"ssm_dt_layout='thirds' must be one of bands, halves"):
        tiny_config(ssm_dt_layout="thirds")
    cfg = tiny_config()
    saved = {k: v for k, v in cfg.to_dict().items() if k != "ssm_dt_layout"}  # a config from before the field
    check_architecture({"supernet_config": saved}, cfg, "old.pt")
    with pytest.raises(Exception, match="ssm_dt_layout='bands', expected 'halves'"):
        check_architecture({"supernet_config": saved}, tiny_config(ssm_dt_layout="halves"), "old.pt")
