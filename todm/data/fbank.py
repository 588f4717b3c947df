"""Compute 80-dim fbank for manifests into lilcom-compressed storage, icefall's file names.

Writes `data/fbank/librispeech_cuts_<part>.jsonl.gz` and `librispeech_feats_<part>.lca` as icefall's
compute_fbank_librispeech.py does, so an existing icefall data/fbank directory is usable as is.

Training parts can get augmented copies, with features stored like the originals (icefall's speed perturbation):
speed 0.9/1.1, and reverberation of a fraction of the cuts by lhotse's own transform (`reverb_rir`) with
impulse responses from a directory (rir.py simulates them), one per cut chosen by its ID, so that a re-run
makes the same copies.
"""

from __future__ import annotations

import logging
import zlib
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
    reverb_fraction: float = 0.0,
    rir_dir: str | Path | None = None,
    seed: int = 42,
) -> None:
    """Compute features of each part; speed perturbation (0.9/1.1) and reverberant copies of
    `reverb_fraction` of the cuts (impulse responses from `rir_dir`) apply to train parts only."""
    if not 0.0 <= reverb_fraction <= 1.0:
        raise UserError(f"--reverb-fraction {reverb_fraction}: expected a fraction in [0, 1]")
    rirs = []
    if reverb_fraction > 0:
        from todm.data.rir import rir_recordings

        if rir_dir is None:
            raise UserError(f"--reverb-fraction {reverb_fraction} needs --rir-dir (impulse responses)")
        rirs = rir_recordings(rir_dir)
    # Feature workers are processes; one intra-op thread each avoids oversubscribing the cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _compute_parts(manifest_dir, fbank_dir, parts, num_jobs, perturb_speed, reverb_fraction, rirs, seed)
    finally:
        torch.set_num_threads(threads)


def cut_seed(seed: int, cut_id: str) -> int:
    """A 32-bit seed for one cut's random choices: the same on every re-run and in every worker process."""
    return zlib.crc32(f"{seed}/{cut_id}".encode())


# The suffix lhotse's reverb_rir gives a reverberant copy's ID (the warm-up part leaves those out).
REVERB_SUFFIX = "_rvb"


def reverberant_copies(cuts, fraction: float, rirs: list, seed: int):
    """Copies (IDs suffixed REVERB_SUFFIX) of a seeded `fraction` of `cuts`, each convolved with one of `rirs`."""
    from lhotse import CutSet

    chosen = [c for c in cuts if cut_seed(seed, c.id) < fraction * 2**32]
    return CutSet.from_cuts(
        c.reverb_rir(rir_recording=rirs[cut_seed(seed + 1, c.id) % len(rirs)]) for c in chosen
    )


def _compute_parts(
    manifest_dir: str | Path,
    fbank_dir: str | Path,
    parts: list[str],
    num_jobs: int,
    perturb_speed: bool,
    reverb_fraction: float,
    rirs: list,
    seed: int,
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
        if reverb_fraction > 0 and part.startswith("train"):
            logging.info("%s: adding reverberant copies of %.0f%% of the cuts", part, 100 * reverb_fraction)
            cuts = cuts + reverberant_copies(cuts, reverb_fraction, rirs, seed)
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
