"""Cuts to batches, the one home of `Batch`: lhotse cuts with precomputed fbank, bucketing sampler, noise
mixing (CutMix), SpecAugment, BPE targets, lhotse batch unpacking and the BPE-vs-model vocabulary check. Used by
training, decoding, search and the tools."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from todm.data.fbank import cuts_path
from todm.errors import UserError
from todm.model import encoder_frames


@dataclass
class Batch:
    """A collated batch: features (N, T, 80), feature_lens (N,), targets (N, S) padded with blank, target_lens."""

    features: Tensor
    feature_lens: Tensor
    targets: Tensor
    target_lens: Tensor

    def to(self, device: torch.device) -> Batch:
        return Batch(
            *(t.to(device) for t in (self.features, self.feature_lens, self.targets, self.target_lens))
        )


def cut_manifest(fbank_dir: str | Path, part: str) -> Path:
    """The cut manifest of `part` (icefall's file name), which must exist."""
    path = cuts_path(fbank_dir, part)
    if not path.is_file():
        raise UserError(
            f"{path}: missing cut manifest (run run.sh stages 1-2, or link an icefall data/fbank)"
        )
    return path


def load_cuts(fbank_dir: str | Path, parts: list[str]):
    """The cuts of `parts` (icefall file names) in memory, concatenated: for dev and test sets."""
    from lhotse import CutSet, combine

    sets = [CutSet.from_file(cut_manifest(fbank_dir, part)) for part in parts]
    return sets[0] if len(sets) == 1 else combine(sets)


def load_training_cuts(fbank_dir: str | Path, parts: list[str], seed: int = 42):
    """The training cuts of `parts`, read lazily (a 960 h manifest never sits in memory at once).

    Several parts are interleaved at random in proportion to their sizes (lhotse's `CutSet.mux`, as icefall's
    multi-corpus recipes do), so that the sampler's shuffle buffer sees every part from the start instead of
    one part after the other. Every rank passes the same seed and so sees the same stream."""
    from lhotse import CutSet, load_manifest_lazy

    if not parts:
        raise UserError("--train-parts: no training part given")
    sets = [load_manifest_lazy(cut_manifest(fbank_dir, part)) for part in parts]
    if len(sets) == 1:
        return sets[0]
    return CutSet.mux(*sets, weights=[len(cuts) for cuts in sets], seed=seed)


def filter_cuts(cuts, sp, min_duration: float = 0.5, max_duration: float = 20.0):
    """Drop cuts an RNN-T cannot learn from (icefall's remove_short_and_long_utt): too short, too long, or
    with more BPE tokens than encoder frames after 4x subsampling."""

    def keep(cut) -> bool:
        if not min_duration <= cut.duration <= max_duration:
            return False
        tokens = sp.encode(cut.supervisions[0].text, out_type=int)
        return 0 < len(tokens) <= encoder_frames(cut.num_frames)

    return cuts.filter(keep)


class BatchSeededCutMix:
    """lhotse's CutMix (icefall's MUSAN mixing) whose random choices depend only on the batch's cut IDs.

    CutMix draws from one random stream for the whole run, which a resumed run would restart; seeding it
    per batch from the cut IDs makes a resumed run mix exactly what an uninterrupted one does."""

    def __init__(self, noise_cuts, snr: tuple[float, float], prob: float, seed: int) -> None:
        from lhotse.dataset import CutMix

        self.rng = random.Random()
        self.seed = seed
        self.mix = CutMix(
            cuts=noise_cuts,
            snr=snr,
            p=prob,
            pad_to_longest=False,
            preserve_id=True,
            seed=self.rng,
            random_mix_offset=True,
        )

    def __call__(self, cuts):
        self.rng.seed(f"{self.seed}/{','.join(c.id for c in cuts)}")
        return self.mix(cuts)


def load_noise_cuts(path: str | Path):
    """The noise cuts (with features) CutMix draws from, e.g. data/fbank/musan_cuts.jsonl.gz."""
    from lhotse import CutSet

    path = Path(path)
    if not path.is_file():
        raise UserError(f"--noise-cuts {path}: no such file (run.sh stage 2 makes it)")
    # In memory: CutMix shuffles the whole set for every batch, which from the file took 0.2 s a batch.
    cuts = CutSet.from_file(path).to_eager()
    if not all(c.has_features for c in cuts):
        raise UserError(f"--noise-cuts {path}: expected cuts with precomputed features (fbank)")
    return cuts


def make_train_loader(
    cuts,
    max_duration: float,
    world_size: int = 1,
    rank: int = 0,
    seed: int = 42,
    spec_augment: bool = True,
    num_buckets: int = 10,
    noise_cuts=None,
    noise_snr: tuple[float, float] = (10.0, 20.0),
    noise_prob: float = 0.5,
) -> DataLoader:
    """DynamicBucketingSampler (sharded by rank) + K2SpeechRecognitionDataset with SpecAugment, and noise
    mixed into `noise_prob` of the cuts at an SNR drawn from `noise_snr` when `noise_cuts` are given."""
    from lhotse.dataset import DynamicBucketingSampler, K2SpeechRecognitionDataset, SpecAugment

    cut_transforms = []
    if noise_cuts is not None:
        cut_transforms.append(BatchSeededCutMix(noise_cuts, noise_snr, noise_prob, seed * 1000 + rank))

    transforms = []
    if spec_augment:
        # icefall's settings scaled to our utterances of a few seconds: fewer frame masks, a time warp of
        # 20 frames instead of 80 (80 would warp a 3 s utterance by up to a quarter of its length).
        transforms.append(
            SpecAugment(
                time_warp_factor=20,
                num_feature_masks=2,
                features_mask_size=27,
                num_frame_masks=2,
                frames_mask_size=100,
                max_frames_mask_fraction=0.15,
            )
        )
    sampler = DynamicBucketingSampler(
        cuts,
        max_duration=max_duration,
        shuffle=True,
        num_buckets=num_buckets,
        drop_last=world_size > 1,  # equal batch counts on every rank
        world_size=world_size,
        rank=rank,
        seed=seed,
    )
    dataset = K2SpeechRecognitionDataset(
        cut_transforms=cut_transforms, input_transforms=transforms, return_cuts=True
    )
    # A private generator: creating a DataLoader iterator draws a seed, and drawing it from the global RNG
    # would shift dropout masks between an interrupted-and-resumed run and an uninterrupted one.
    return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=0, generator=torch.Generator())


def make_valid_loader(cuts, max_duration: float) -> DataLoader:
    """Deterministic (unshuffled) loader for validation/decoding."""
    from lhotse.dataset import K2SpeechRecognitionDataset, SimpleCutSampler

    sampler = SimpleCutSampler(cuts, max_duration=max_duration, shuffle=False)
    return DataLoader(
        K2SpeechRecognitionDataset(return_cuts=True), sampler=sampler, batch_size=None, num_workers=0
    )


def unpack_batch(lhotse_batch: dict) -> tuple[Tensor, Tensor, list[str], list]:
    """lhotse K2SpeechRecognitionDataset's batch dict -> (features (N, T, F), feature_lens (N,), texts, cuts),
    in the rows' order (its supervisions come in their own order, indexed by sequence_idx)."""
    features = lhotse_batch["inputs"]
    sups = lhotse_batch["supervisions"]
    feature_lens = torch.zeros(features.size(0), dtype=torch.int64)
    feature_lens[sups["sequence_idx"]] = sups["num_frames"].to(torch.int64)
    texts, cuts = [""] * features.size(0), [None] * features.size(0)
    for idx, text, cut in zip(sups["sequence_idx"].tolist(), sups["text"], sups.get("cut", cuts)):
        texts[idx], cuts[idx] = text, cut
    return features, feature_lens, texts, cuts


def to_batch(lhotse_batch: dict, sp, blank_id: int = 0) -> Batch:
    """lhotse's batch dict -> Batch with BPE targets padded with blank."""
    features, feature_lens, texts, _ = unpack_batch(lhotse_batch)
    return texts_to_batch(features, feature_lens, texts, sp, blank_id)


def texts_to_batch(
    features: torch.Tensor, feature_lens: torch.Tensor, texts: list[str], sp, blank_id: int = 0
) -> Batch:
    """Batch of features and their transcripts as BPE targets padded with blank."""
    token_lists = sp.encode(texts, out_type=int)
    target_lens = torch.tensor([len(t) for t in token_lists], dtype=torch.int64)
    targets = torch.full((len(token_lists), max(1, int(target_lens.max()))), blank_id, dtype=torch.int64)
    for i, tokens in enumerate(token_lists):
        targets[i, : len(tokens)] = torch.tensor(tokens, dtype=torch.int64)
    return Batch(features, feature_lens, targets, target_lens)


def check_vocab(sp, vocab_size: int, bpe_model: str | Path | None = None) -> None:
    """A BPE model must have exactly the model's output vocabulary (the one size check: train, decode, search)."""
    if sp.get_piece_size() != vocab_size:
        what = f"--bpe-model {bpe_model}" if bpe_model is not None else "the BPE model"
        raise UserError(f"{what} has {sp.get_piece_size()} tokens but the model's vocab_size is {vocab_size}")
    logging.info("BPE model %s: %d tokens", bpe_model, vocab_size)
