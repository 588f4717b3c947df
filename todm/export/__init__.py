"""Deployment: standalone PyTorch export, sherpa-onnx ONNX export + int8, onnxruntime/sherpa-onnx decoding,
model card. See docs/deployment.md.

  standalone.py   save_standalone / load_standalone(path) -> Transducer (no supernet needed)
  onnx_export.py  export_onnx (encoder/decoder/joiner.onnx + metadata), quantize_int8, write_tokens_txt
  streaming_export.py  export_streaming_onnx: a causal model as a sherpa-onnx online (streaming) bundle
  runtime.py      OnnxTransducer / OnnxStreamingTransducer (onnxruntime, our search), open_onnx_transducer,
                  sherpa_recognizer / sherpa_decode (offline or online, as the bundle says)
  audio.py        read_wave: any soundfile audio -> mono 16 kHz float32 (downmix/resample, clear errors)
  card.py         model_card: params, MACs per second of audio, file sizes, WER, RTF
"""

from .audio import read_wave
from .card import model_card, write_model_card
from .onnx_export import export_onnx, quantize_int8, read_meta_data, write_tokens_txt
from .runtime import (
    OnnxStreamingTransducer,
    OnnxTransducer,
    model_files,
    open_onnx_transducer,
    read_tokens,
    sherpa_decode,
    sherpa_recognizer,
    tokens_to_text,
)
from .standalone import load_standalone, save_standalone
from .streaming_export import export_streaming_onnx

__all__ = [
    "OnnxStreamingTransducer",
    "OnnxTransducer",
    "export_onnx",
    "export_streaming_onnx",
    "load_standalone",
    "model_card",
    "model_files",
    "open_onnx_transducer",
    "quantize_int8",
    "read_meta_data",
    "read_tokens",
    "read_wave",
    "save_standalone",
    "sherpa_decode",
    "sherpa_recognizer",
    "tokens_to_text",
    "write_model_card",
    "write_tokens_txt",
]
