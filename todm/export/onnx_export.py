"""Export a standalone model to sherpa-onnx's offline transducer format, and int8-quantize it.

Format (what sherpa-onnx/csrc/offline-transducer-model.cc and offline-recognizer-transducer-impl.h read;
input/output names as icefall's export-onnx.py writes them, sherpa-onnx takes them from the session):
  encoder.onnx  x (N, T, 80) float32, x_lens (N,) int64 -> encoder_out (N, T', J), encoder_out_lens (N,)
                with T' = ((T-1)//2 - 1)//2 (sherpa-onnx assumes subsampling factor 4 for timestamps only;
                it decodes every frame of encoder_out up to its length). encoder_out is already
                projected by joiner.encoder_proj, as icefall's export-onnx.py does.
  decoder.onnx  y (N, context_size) int64 -> decoder_out (N, J), projected by joiner.decoder_proj.
                Ids < 0 (icefall's/sherpa-onnx's "no token yet" context padding) are read as blank (0).
                Metadata: vocab_size, context_size (required by sherpa-onnx).
  joiner.onnx   encoder_out (N, J), decoder_out (N, J) -> logit (N, V) = output_linear(tanh(a + b)).
  tokens.txt    "<piece> <id>" (icefall's), blank "<blk>" = 0 (sherpa-onnx hard-codes blank 0).
The SSM runs its chunked path (model.set_exportable; the FFT path is not exportable): a small Toeplitz matrix
within chunks of 32 frames and the SSM state carried between chunks, so time and memory grow linearly with the
utterance length (tools/bench/ssm_export.py measures it).
int8: onnxruntime.quantization.quantize_dynamic on the MatMul weights (QInt8), as icefall's export-onnx.py.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from todm.model import Transducer

log = logging.getLogger(__name__)

ONNX_PARTS = ("encoder", "decoder", "joiner")
OPSET = 17


class EncoderModel(nn.Module):
    """(x, x_lens) -> (joiner.encoder_proj(encoder_out), encoder_out_lens)."""

    def __init__(self, model: Transducer) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, x_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        encoder_out, encoder_out_lens = self.model.forward_encoder(x, x_lens)
        return self.model.joiner.encoder_proj(encoder_out), encoder_out_lens


class DecoderModel(nn.Module):
    """y (N, context_size) int64 -> joiner.decoder_proj(decoder(y)) (N, J); negative ids read as blank."""

    def __init__(self, model: Transducer) -> None:
        super().__init__()
        self.decoder, self.decoder_proj = model.decoder, model.joiner.decoder_proj

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        y = y.clamp(min=0)  # blank is 0 in this format
        return self.decoder_proj(self.decoder(y, need_pad=False)[:, 0])


class JoinerModel(nn.Module):
    """(encoder_out (N, J), decoder_out (N, J)) -> logit (N, V)."""

    def __init__(self, model: Transducer) -> None:
        super().__init__()
        self.output_linear = model.joiner.output_linear

    def forward(self, encoder_out: torch.Tensor, decoder_out: torch.Tensor) -> torch.Tensor:
        return self.output_linear(torch.tanh(encoder_out + decoder_out))


def add_meta_data(filename: str | Path, meta_data: dict[str, str]) -> None:
    """Store key/value metadata in an ONNX file (icefall's add_meta_data)."""
    import onnx

    model = onnx.load(str(filename))
    for key, value in meta_data.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, str(value)
    onnx.save(model, str(filename))


def shorten_names(filename: str | Path) -> None:
    """Rename the graph's intermediate values and nodes to short ids ("v12"). The exporter names every value
    after its module path ("/encoder/layers.0/ssm/Mul_12_output_0"): in the SSM's chunk scan, thousands of
    nodes, that was ~1.2 MB of a 5 MB encoder. Graph inputs, outputs and initializers keep their names; the
    optional value_info annotations are dropped."""
    import onnx

    model = onnx.load(str(filename))
    graph = model.graph
    keep = (
        {v.name for v in graph.input} | {v.name for v in graph.output} | {t.name for t in graph.initializer}
    )
    renamed: dict[str, str] = {}
    for i, node in enumerate(graph.node):
        node.name = f"n{i}"
        for j, name in enumerate(node.output):
            if name and name not in keep:
                renamed[name] = node.output[j] = f"v{len(renamed)}"
    for node in graph.node:
        for j, name in enumerate(node.input):
            node.input[j] = renamed.get(name, name)
    del graph.value_info[
        :
    ]  # optional shape annotations (the quantizer adds one per value); onnxruntime infers them
    onnx.save(model, str(filename))


def read_meta_data(filename: str | Path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(filename)).metadata_props}


def _export(
    module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str], dynamic_axes: dict
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about python ints in shapes
        # onnxscript (needed by the dynamo exporter) is not installed: the TorchScript exporter it is
        torch.onnx.export(
            module,
            args,
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=dynamic_axes,
        )


def bundle_paths(model: Transducer, out_dir: str | Path) -> dict[str, Path]:
    """{part: <out_dir>/<part>.onnx}, the directory made; refuses what sherpa-onnx cannot run."""
    if model.cfg.blank_id != 0:
        raise ValueError(f"blank_id={model.cfg.blank_id}: sherpa-onnx requires blank id 0")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return {part: out_dir / f"{part}.onnx" for part in ONNX_PARTS}


@torch.no_grad()
def export_onnx(
    model: Transducer, out_dir: str | Path, encoder_meta: dict[str, str] | None = None
) -> dict[str, Path]:
    """Write encoder/decoder/joiner.onnx for a standalone model; returns {part: path}."""
    cfg = model.cfg
    paths = bundle_paths(model, out_dir)
    was_training = model.training
    model.eval().set_exportable(True)
    try:
        x, x_lens = torch.zeros(1, 100, cfg.feature_dim), torch.tensor([100], dtype=torch.int64)
        _export(
            EncoderModel(model).eval(),
            (x, x_lens),
            paths["encoder"],
            ["x", "x_lens"],
            ["encoder_out", "encoder_out_lens"],
            {
                "x": {0: "N", 1: "T"},
                "x_lens": {0: "N"},
                "encoder_out": {0: "N", 1: "T"},
                "encoder_out_lens": {0: "N"},
            },
        )
        export_decoder_and_joiner(model, paths)
    finally:
        # torch.onnx.export restores the wrapper's mode on exit, which would leave `model` in train mode
        model.set_exportable(False).train(was_training)
    meta = {
        "model_type": "todm_mhssm_transducer",
        "version": "1",
        "model_author": "todm",
        "comment": "non-streaming MH-SSM RNN-T subnet extracted from a TODM supernet",
        "subsampling_factor": "4",
        "feature_dim": str(cfg.feature_dim),
        "encoder_dim": str(cfg.d_model),
        "joiner_dim": str(cfg.joiner_dim),
        **(encoder_meta or {}),
    }
    finish_bundle(model, paths, meta)
    return paths


def export_decoder_and_joiner(model: Transducer, paths: dict[str, Path]) -> None:
    """decoder.onnx and joiner.onnx (the same for offline and streaming bundles)."""
    cfg = model.cfg
    y = torch.zeros(1, cfg.context_size, dtype=torch.int64)
    _export(
        DecoderModel(model).eval(),
        (y,),
        paths["decoder"],
        ["y"],
        ["decoder_out"],
        {"y": {0: "N"}, "decoder_out": {0: "N"}},
    )
    enc, dec = torch.zeros(1, cfg.joiner_dim), torch.zeros(1, cfg.joiner_dim)
    _export(
        JoinerModel(model).eval(),
        (enc, dec),
        paths["joiner"],
        ["encoder_out", "decoder_out"],
        ["logit"],
        {"encoder_out": {0: "N"}, "decoder_out": {0: "N"}, "logit": {0: "N"}},
    )


def finish_bundle(model: Transducer, paths: dict[str, Path], encoder_meta: dict[str, str]) -> None:
    """Short value names in every file, then the metadata sherpa-onnx reads."""
    cfg = model.cfg
    for path in paths.values():
        shorten_names(path)
    add_meta_data(paths["encoder"], encoder_meta)
    add_meta_data(
        paths["decoder"], {"vocab_size": str(cfg.vocab_size), "context_size": str(cfg.context_size)}
    )
    add_meta_data(paths["joiner"], {"joiner_dim": str(cfg.joiner_dim)})
    for path in paths.values():
        log.info("exported %s (%.2f MB)", path, path.stat().st_size / 1e6)


def quantize_int8(paths: dict[str, Path]) -> dict[str, Path]:
    """`<part>.int8.onnx` beside each file: dynamic int8 quantization of the MatMul weights."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = {}
    root = logging.getLogger()
    level = root.level
    for part, path in paths.items():
        target = path.with_name(f"{part}.int8.onnx")
        root.setLevel(logging.ERROR)  # the quantizer logs every tensor at INFO on the root logger
        try:
            quantize_dynamic(
                model_input=str(path),
                model_output=str(target),
                op_types_to_quantize=["MatMul"],
                weight_type=QuantType.QInt8,
            )
        finally:
            root.setLevel(level)
        shorten_names(target)  # the quantizer names its new nodes and values after the old ones
        out[part] = target
        log.info("quantized %s (%.2f MB)", target, target.stat().st_size / 1e6)
    return out


def write_tokens_txt(path: str | Path, pieces: list[str]) -> None:
    """icefall's tokens.txt from the id -> piece list."""
    Path(path).write_text("".join(f"{p} {i}\n" for i, p in enumerate(pieces)))
