"""RNN-T greedy search and modified beam search, batched over utterances.

Both follow icefall (k2-fsa/icefall, egs/librispeech/ASR/pruned_transducer_stateless2/beam_search.py):
  * `greedy_search` is icefall's `greedy_search` (at most `max_sym_per_frame` symbols per frame) run for all
    utterances of a batch at once; with max_sym_per_frame=1 it is icefall's `greedy_search_batch`.
  * `modified_beam_search` is icefall's `modified_beam_search`: at most one symbol per frame, each frame
    keeps the `beam` most probable hypotheses among all (hypothesis, token) extensions, hypotheses with
    the same token sequence are merged by log-add, and the final choice is length-normalised
    (log_prob / len(ys) with ys counting the context_size initial tokens, as icefall's get_most_probable).
The encoder output is projected once (joiner.encoder_proj), the decoder output once per new context
(joiner.decoder_proj), as icefall's `model.joiner(..., project_input=False)`.

The searches only need three operations (`TransducerSteps`), so the same code decodes a PyTorch model
(`TorchSteps`) and an onnxruntime one (todm.export.ort.OnnxTransducer). Tokens equal to `unk_id` are
treated like blank (not emitted), as icefall and sherpa-onnx do; unk_id=None disables that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import torch

from todm.model import Transducer


class TransducerSteps(Protocol):
    """What a search needs from a model; all tensors float32 on CPU."""

    blank_id: int
    context_size: int

    def project_encoder(self, encoder_out: torch.Tensor) -> torch.Tensor:
        """(N, T, C) encoder output -> (N, T, J) joiner input."""

    def project_decoder(self, contexts: torch.Tensor) -> torch.Tensor:
        """(H, context_size) int64 last tokens -> (H, J) joiner input."""

    def logits(self, encoder_proj: torch.Tensor, decoder_proj: torch.Tensor) -> torch.Tensor:
        """(H, J), (H, J) -> (H, V) joiner logits."""


class TorchSteps:
    """`TransducerSteps` of a PyTorch `Transducer` (icefall's decoder/joiner calls)."""

    def __init__(self, model: Transducer) -> None:
        self.model = model
        self.blank_id, self.context_size = model.cfg.blank_id, model.cfg.context_size

    def project_encoder(self, encoder_out: torch.Tensor) -> torch.Tensor:
        return self.model.joiner.encoder_proj(encoder_out)

    def project_decoder(self, contexts: torch.Tensor) -> torch.Tensor:
        decoder_out = self.model.decoder(contexts, need_pad=False)  # (H, 1, decoder_dim)
        return self.model.joiner.decoder_proj(decoder_out[:, 0])

    def logits(self, encoder_proj: torch.Tensor, decoder_proj: torch.Tensor) -> torch.Tensor:
        return self.model.joiner(encoder_proj, decoder_proj, project_input=False)


def _steps(model) -> TransducerSteps:
    return TorchSteps(model) if isinstance(model, Transducer) else model


def _check_inputs(encoder_out: torch.Tensor, encoder_out_lens: torch.Tensor) -> None:
    if (
        encoder_out.dim() != 3
        or encoder_out_lens.dim() != 1
        or encoder_out_lens.numel() != encoder_out.size(0)
    ):
        raise ValueError(
            f"encoder_out must be (N, T, C) and encoder_out_lens (N,), got {tuple(encoder_out.shape)} "
            f"and {tuple(encoder_out_lens.shape)}"
        )


@torch.no_grad()
def greedy_search(
    model,
    encoder_out: torch.Tensor,
    encoder_out_lens: torch.Tensor,
    max_sym_per_frame: int = 1,
    unk_id: int | None = None,
) -> list[list[int]]:
    """Greedy search. encoder_out: (N, T, C) (a Transducer's forward_encoder output, or already projected
    for an ONNX model), encoder_out_lens: (N,). Returns N token-id lists (no blanks)."""
    _check_inputs(encoder_out, encoder_out_lens)
    if max_sym_per_frame < 1:
        raise ValueError(f"max_sym_per_frame={max_sym_per_frame} must be >= 1")
    steps = _steps(model)
    blank, ctx = steps.blank_id, steps.context_size
    n = encoder_out.size(0)
    lens = encoder_out_lens.tolist()
    enc = steps.project_encoder(encoder_out)
    hyps: list[list[int]] = [[blank] * ctx for _ in range(n)]
    dec = steps.project_decoder(torch.tensor(hyps, dtype=torch.int64))  # (N, J)
    for t in range(enc.size(1)):
        active = [i for i in range(n) if lens[i] > t]
        for _ in range(max_sym_per_frame):
            if not active:
                break
            index = torch.tensor(active)
            tokens = steps.logits(enc[index, t], dec[index]).argmax(dim=-1).tolist()
            emitted = [i for i, y in zip(active, tokens) if y != blank and y != unk_id]
            if not emitted:
                break
            for i, y in zip(active, tokens):
                if y != blank and y != unk_id:
                    hyps[i].append(y)
            index = torch.tensor(emitted)
            dec[index] = steps.project_decoder(torch.tensor([hyps[i][-ctx:] for i in emitted]))
            active = emitted  # utterances that emitted blank are done with this frame
    return [h[ctx:] for h in hyps]


@dataclass
class Hypothesis:
    """A beam entry: ys starts with context_size blanks; log_prob is log-added over merged alignments."""

    ys: list[int]
    log_prob: float
    timestamps: list[int] = field(default_factory=list)

    @property
    def key(self) -> tuple[int, ...]:
        return tuple(self.ys)


def _log_add(a: float, b: float) -> float:
    hi, lo = max(a, b), min(a, b)
    return hi + math.log1p(math.exp(lo - hi))


@torch.no_grad()
def beam_search_hypotheses(
    model,
    encoder_out: torch.Tensor,
    encoder_out_lens: torch.Tensor,
    beam: int = 4,
    unk_id: int | None = None,
) -> list[list[Hypothesis]]:
    """Modified beam search; returns every utterance's final beam (at most `beam` Hypothesis)."""
    _check_inputs(encoder_out, encoder_out_lens)
    if beam < 1:
        raise ValueError(f"beam={beam} must be >= 1")
    steps = _steps(model)
    blank, ctx = steps.blank_id, steps.context_size
    n = encoder_out.size(0)
    lens = encoder_out_lens.tolist()
    enc = steps.project_encoder(encoder_out)
    beams: list[list[Hypothesis]] = [[Hypothesis([blank] * ctx, 0.0)] for _ in range(n)]
    for t in range(enc.size(1)):
        active = [i for i in range(n) if lens[i] > t]
        if not active:
            break
        flat = [h for i in active for h in beams[i]]
        rows = torch.tensor([i for i in active for _ in beams[i]])
        dec = steps.project_decoder(torch.tensor([h.ys[-ctx:] for h in flat], dtype=torch.int64))
        log_probs = steps.logits(enc[rows, t], dec).log_softmax(dim=-1)  # (H, V)
        log_probs += torch.tensor([h.log_prob for h in flat], dtype=log_probs.dtype).unsqueeze(1)
        vocab = log_probs.size(1)
        start = 0
        for i in active:
            count = len(beams[i])
            scores = log_probs[start : start + count].reshape(-1)
            top_scores, top_index = scores.topk(min(beam, scores.numel()))
            merged: dict[tuple[int, ...], Hypothesis] = {}
            for score, index in zip(top_scores.tolist(), top_index.tolist()):
                hyp, token = flat[start + index // vocab], index % vocab
                new = Hypothesis(hyp.ys[:], score, hyp.timestamps[:])
                if token != blank and token != unk_id:
                    new.ys.append(token)
                    new.timestamps.append(t)
                old = merged.get(new.key)
                if old is None:
                    merged[new.key] = new
                else:  # icefall's HypothesisList.add: same tokens, different alignments -> log-add
                    old.log_prob = _log_add(old.log_prob, new.log_prob)
            beams[i] = list(merged.values())
            start += count
    return beams


def best_hypothesis(hyps: list[Hypothesis], length_norm: bool = True) -> Hypothesis:
    """icefall's HypothesisList.get_most_probable (length_norm divides by len(ys), context included)."""
    return max(hyps, key=lambda h: h.log_prob / len(h.ys) if length_norm else h.log_prob)


def modified_beam_search(
    model,
    encoder_out: torch.Tensor,
    encoder_out_lens: torch.Tensor,
    beam: int = 4,
    unk_id: int | None = None,
) -> list[list[int]]:
    """Modified beam search (one symbol per frame). encoder_out: (N, T, C), encoder_out_lens: (N,).
    Returns N token-id lists (the length-normalised best hypothesis of each utterance)."""
    ctx = _steps(model).context_size
    beams = beam_search_hypotheses(model, encoder_out, encoder_out_lens, beam, unk_id)
    return [best_hypothesis(b).ys[ctx:] for b in beams]
