"""Compute 80-dim fbank for manifests into lilcom-compressed storage, icefall's file names.

Writes `data/fbank/librispeech_cuts_<part>.jsonl.gz` and `librispeech_feats_<part>.lca` as icefall's
compute_fbank_librispeech.py does, so an existing icefall data/fbank directory is usable as is.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from todm.data.features import make_lhotse_extractor
from todm.data.manifests import PREFIX, manifest_paths
from todm.errors import UserError
from todm.io import atomic_path


def cuts_path(fbank_dir: str | Path, part: str) -> Path:
    """Path of the cut manifest (with features) of `part`."""
    return Path(fbank_dir) / f"{PREFIX}_cuts_{part}.jsonl.gz"


def compute_fbank(
    manifest_dir: str | Path,
    fbank_dir: str | Path,
    parts: list[str],
    num_jobs: int = 1,
    perturb_speed: bool = False,
) -> None:
    """Compute features of each part; speed perturbation (0.9/1.1) applies to train parts only."""
    # Feature workers are processes; one intra-op thread each avoids oversubscribing the cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _compute_parts(manifest_dir, fbank_dir, parts, num_jobs, perturb_speed)
    finally:
        torch.set_num_threads(threads)


def _compute_parts(
    manifest_dir: str | Path, fbank_dir: str | Path, parts: list[str], num_jobs: int, perturb_speed: bool
) -> None:
    from lhotse import CutSet, LilcomChunkyWriter, RecordingSet, SupervisionSet
    from lhotse.qa import validate

    extractor = make_lhotse_extractor()
    fbank_dir = Path(fbank_dir)
    fbank_dir.mkdir(parents=True, exist_ok=True)
    for part in parts:
        out = cuts_path(fbank_dir, part)
        if out.is_file():
            logging.info("%s exists, skipping", out)
            continue
        rec_path, sup_path = manifest_paths(manifest_dir, part)
        if not (rec_path.is_file() and sup_path.is_file()):
            raise UserError(f"missing manifests for {part} in {manifest_dir} (run the manifest stage first)")
        cuts = CutSet.from_manifests(
            recordings=RecordingSet.from_file(rec_path), supervisions=SupervisionSet.from_file(sup_path)
        )
        if perturb_speed and part.startswith("train"):
            logging.info("%s: adding speed perturbation 0.9 and 1.1", part)
            cuts = cuts + cuts.perturb_speed(0.9) + cuts.perturb_speed(1.1)
        unsupervised = [c.id for c in cuts if not c.supervisions]
        if unsupervised:  # e.g. Kaldi segments past the end of their recording
            raise UserError(
                f"{part}: {len(unsupervised)} recording(s) without any transcribed segment, e.g. "
                f"{unsupervised[:3]} (check {sup_path} against {rec_path}: segments past the end of the audio?)"
            )
        logging.info("%s: computing fbank for %d cuts with %d jobs", part, len(cuts), num_jobs)
        requested = {c.id: c for c in cuts}
        cuts = cuts.compute_and_store_features(
            extractor=extractor,
            storage_path=fbank_dir / f"{PREFIX}_feats_{part}",
            num_jobs=num_jobs,
            storage_type=LilcomChunkyWriter,
        )
        # lhotse logs a cut whose audio cannot be decoded (a truncated FLAC) and leaves it out: stop instead.
        lost = sorted(set(requested) - {c.id for c in cuts})
        if lost:
            files = [src.source for cut_id in lost[:3] for src in requested[cut_id].recording.sources]
            raise UserError(
                f"{part}: the audio of {len(lost)} utterance(s) could not be decoded, e.g. {files}; "
                "fix or remove those files and re-run this stage"
            )
        validate(cuts, read_data=False)
        with atomic_path(out) as tmp:
            cuts.to_file(tmp)
        logging.info("wrote %s (%.2f h)", out, sum(c.duration for c in cuts) / 3600)
