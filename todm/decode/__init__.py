"""Decoding: RNN-T greedy / modified beam search (icefall semantics), WER and icefall's result files,
the weights and subnet decode.py runs.

  search.py      greedy_search, modified_beam_search (batched), beam_search_hypotheses (with scores)
  wer.py         word_error_rate, icefall's recogs/errs/wer-summary writers and parsers, WER per type
  loading.py     --epoch/--iter/--avg/--use-averaged-model (icefall; todm.checkpoint averages), --subnet,
                 --model-path
  cuts.py        decode_cuts: a CutSet -> [(cut_id, ref_words, hyp_words)] and its real-time factor
"""

from todm.checkpoint import load_averaged_model

from .cuts import METHODS, Timing, decode_cuts, decode_features, unk_id_of
from .loading import LoadedModel, add_checkpoint_arguments, load_model_for_decoding, resolve_subnet
from .search import (
    Hypothesis,
    TorchSteps,
    beam_search_hypotheses,
    best_hypothesis,
    greedy_search,
    modified_beam_search,
)
from .wer import (
    read_errs_file,
    read_utt2type,
    read_wer_summary,
    store_transcripts,
    wer_by_type,
    word_error_rate,
    write_error_stats,
    write_wer_by_type,
    write_wer_summary,
)

__all__ = [
    "METHODS",
    "Hypothesis",
    "LoadedModel",
    "Timing",
    "TorchSteps",
    "add_checkpoint_arguments",
    "beam_search_hypotheses",
    "best_hypothesis",
    "decode_cuts",
    "decode_features",
    "greedy_search",
    "load_averaged_model",
    "load_model_for_decoding",
    "modified_beam_search",
    "read_errs_file",
    "read_utt2type",
    "read_wer_summary",
    "resolve_subnet",
    "store_transcripts",
    "unk_id_of",
    "wer_by_type",
    "word_error_rate",
    "write_error_stats",
    "write_wer_by_type",
    "write_wer_summary",
]
