"""model_card.json: what a deployer needs to pick a subnet (size, compute, accuracy, speed, provenance).

Fields: subnet (JSON + description), params (deployed: encoder + decoder + joiner; the training heads are
not exported), encoder MACs per second of audio (todm.model.macs on a 10 s utterance, divided by 10), file
sizes in bytes, WER per test set and RTF per runtime (PyTorch; sherpa-onnx with the fp32 and the int8 files)
and sherpa-onnx's peak memory when measured (None otherwise), whether it streams, and where it came from.
"""

from __future__ import annotations

import json
from pathlib import Path

from todm.io import write_text_atomic
from todm.model import SubnetConfig, SupernetConfig, macs, num_params, param_breakdown


def model_card(
    supernet_cfg: SupernetConfig,
    subnet: SubnetConfig,
    out_dir: str | Path,
    name: str,
    source: dict | None = None,
    wer: dict | None = None,
    rtf: dict | None = None,
    vocabulary: str | None = None,
    peak_memory_mb: dict | None = None,
    streaming: dict | None = None,
) -> dict:
    """Build the card for `subnet` of `supernet_cfg` exported into `out_dir`; `streaming` describes a
    streaming bundle (decode_chunk_len, chunk_ms, lookahead_ms), None for a full-utterance one."""
    out_dir = Path(out_dir)
    parts = param_breakdown(supernet_cfg, subnet)
    files = {
        p.name: p.stat().st_size
        for p in sorted(out_dir.iterdir())
        if p.is_file() and p.suffix in (".onnx", ".pt", ".txt")
    }
    return {
        "name": name,
        "subnet": subnet.to_dict(),
        "subnet_description": subnet.describe(),
        "params": num_params(supernet_cfg, subnet, include_training_heads=False),
        "params_by_part": {k: v for k, v in parts.items() if k != "training_heads"},
        # per second of audio, counted on a 10 s utterance as search.py does (the SSM's sequence mixing
        # grows with length, so a 1 s count would flatter every model)
        "encoder_macs_per_second": macs(supernet_cfg, subnet, frames=1000) // 10,
        "file_bytes": files,
        "frontend": {"type": "kaldi fbank", "num_mel_bins": supernet_cfg.feature_dim, "sample_rate": 16000},
        "decoding": {
            "context_size": supernet_cfg.context_size,
            "vocab_size": supernet_cfg.vocab_size,
            "vocabulary": vocabulary,  # todm.data.bpe.vocabulary_fingerprint of tokens.txt's pieces
            "subsampling": "T' = ((T-1)//2 - 1)//2 (4x)",
        },
        # False: a full-utterance model (sherpa-onnx's OfflineRecognizer); else its chunking (OnlineRecognizer)
        "streaming": streaming or False,
        "wer": wer or None,  # per set: PyTorch greedy, and sherpa-onnx's greedy from the fp32 and int8 files
        "rtf": rtf or None,
        "peak_memory_mb": peak_memory_mb or None,  # sherpa-onnx recognizer + decoding, 1 thread
        "source": source or {},
    }


def write_model_card(path: str | Path, card: dict) -> None:
    write_text_atomic(path, json.dumps(card, indent=2, sort_keys=False) + "\n")
