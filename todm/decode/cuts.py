"""Decode a lhotse CutSet (precomputed fbank) with a supernet + subnet or a standalone model, timing it."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from todm.errors import UserError
from todm.model import SubnetConfig, Transducer
from todm.model.streaming import stream_encode

from .search import greedy_search, modified_beam_search
from .wer import Result

METHODS = ("greedy_search", "modified_beam_search")


@dataclass
class Timing:
    """Real-time factor = decode_seconds / audio_seconds (model compute: encoder + search, without
    reading features from disk)."""

    decode_seconds: float
    audio_seconds: float

    @property
    def rtf(self) -> float:
        return self.decode_seconds / self.audio_seconds if self.audio_seconds > 0 else float("nan")


def unk_id_of(sp) -> int | None:
    """The BPE model's <unk> id (treated like blank during search, as icefall/sherpa-onnx do)."""
    unk = sp.unk_id()
    return unk if unk >= 0 else None


@torch.no_grad()
def decode_features(
    model: Transducer,
    subnet: SubnetConfig | None,
    features: torch.Tensor,
    feature_lens: torch.Tensor,
    method: str = "greedy_search",
    beam_size: int = 4,
    max_sym_per_frame: int = 1,
    unk_id: int | None = None,
    chunk_frames: int = 0,
) -> list[list[int]]:
    """features: (N, T, 80), feature_lens: (N,) -> N token-id lists. chunk_frames > 0: the encoder runs as
    a stream, chunk by chunk with carried states (a causal model; todm.model.streaming)."""
    if chunk_frames:
        encoder_out, encoder_out_lens = stream_encode(model, features, feature_lens, chunk_frames, subnet)
    else:
        encoder_out, encoder_out_lens = model.forward_encoder(features, feature_lens, subnet)
    if method == "greedy_search":
        return greedy_search(model, encoder_out, encoder_out_lens, max_sym_per_frame, unk_id)
    if method == "modified_beam_search":
        return modified_beam_search(model, encoder_out, encoder_out_lens, beam_size, unk_id)
    raise UserError(f"--decoding-method {method}: choose one of {', '.join(METHODS)}")


def decode_cuts(
    model: Transducer,
    subnet: SubnetConfig | None,
    cuts,
    sp,
    method: str = "greedy_search",
    beam_size: int = 4,
    max_sym_per_frame: int = 1,
    max_duration: float = 100.0,
    chunk_frames: int = 0,
) -> tuple[list[Result], Timing]:
    """Decode every cut (batches of at most `max_duration` seconds, icefall's --max-duration); chunk_frames
    > 0 streams the encoder in chunks of that many feature frames (see decode_features).

    Returns ([(cut_id, ref_words, hyp_words)] sorted by cut id, Timing). `subnet` None decodes the whole
    model (a standalone export, or the supernet's largest subnet). The model is put in eval mode."""
    from todm.data.loader import check_vocab, make_valid_loader, unpack_batch

    if method not in METHODS:
        raise UserError(f"--decoding-method {method}: choose one of {', '.join(METHODS)}")
    check_vocab(sp, model.cfg.vocab_size)
    model.eval()
    unk = unk_id_of(sp)
    results: list[Result] = []
    decode_seconds = audio_seconds = 0.0
    for batch in make_valid_loader(cuts, max_duration):
        features, lens, texts, batch_cuts = unpack_batch(batch)
        start = time.perf_counter()
        tokens = decode_features(
            model, subnet, features, lens, method, beam_size, max_sym_per_frame, unk, chunk_frames
        )
        decode_seconds += time.perf_counter() - start
        for cut, text, hyp in zip(batch_cuts, texts, tokens):
            results.append((cut.id, text.split(), sp.decode(hyp).split()))
            audio_seconds += cut.duration
    return sorted(results), Timing(decode_seconds, audio_seconds)
