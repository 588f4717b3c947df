"""Recording/supervision manifests: lhotse's own LibriSpeech recipe, or lhotse's Kaldi data-dir import.

Output names follow icefall: `data/manifests/librispeech_{recordings,supervisions}_<part>.jsonl.gz`.
Each part's two files are written atomically, so an interrupted stage is redone, never half-trusted.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from todm.data.librispeech_check import check_part
from todm.errors import UserError

PREFIX = "librispeech"


def manifest_paths(manifest_dir: str | Path, part: str) -> tuple[Path, Path]:
    """Paths of the recordings and supervisions manifests of `part`."""
    manifest_dir = Path(manifest_dir)
    return (
        manifest_dir / f"{PREFIX}_recordings_{part}.jsonl.gz",
        manifest_dir / f"{PREFIX}_supervisions_{part}.jsonl.gz",
    )


def prepare_librispeech_manifests(
    corpus_dir: str | Path, manifest_dir: str | Path, parts: list[str], num_jobs: int = 1
) -> None:
    """Validate each part of a LibriSpeech-layout corpus and run lhotse's `prepare_librispeech` on it."""
    from lhotse.recipes import prepare_librispeech

    corpus_dir, manifest_dir = Path(corpus_dir), Path(manifest_dir)
    manifest_dir.mkdir(parents=True, exist_ok=True)
    for part in parts:
        if all(p.is_file() for p in manifest_paths(manifest_dir, part)):
            logging.info("manifests of %s exist, skipping", part)
            continue
        num_utts = check_part(corpus_dir / part)
        logging.info("%s: %d utterances pass the checks", part, num_utts)
        # lhotse writes straight to output_dir; write to a private dir and move into place.
        with tempfile.TemporaryDirectory(dir=manifest_dir, prefix=".tmp-") as tmp:
            prepare_librispeech(corpus_dir, dataset_parts=[part], output_dir=tmp, num_jobs=num_jobs)
            _move_into_place(Path(tmp), manifest_dir, part)


def import_kaldi_data_dir(
    kaldi_dir: str | Path, manifest_dir: str | Path, part: str, sampling_rate: int = 16000
) -> None:
    """Import a Kaldi data dir (wav.scp, text, utt2spk, optional segments) as manifests of `part`."""
    from lhotse import fix_manifests, validate_recordings_and_supervisions
    from lhotse.kaldi import load_kaldi_data_dir

    kaldi_dir = Path(kaldi_dir)
    for name in ("wav.scp", "text", "utt2spk"):
        if not (kaldi_dir / name).is_file():
            raise UserError(
                f"--kaldi-data-dirs {part}={kaldi_dir}: missing {name} (a Kaldi data dir needs "
                "wav.scp, text, utt2spk and optionally segments)"
            )
    recordings, supervisions, _ = load_kaldi_data_dir(kaldi_dir, sampling_rate=sampling_rate)
    if supervisions is None or len(supervisions) == 0:
        raise UserError(f"{kaldi_dir}: no supervisions could be built from text/segments")
    for sup in supervisions:
        if not (sup.text or "").strip():
            raise UserError(f"{kaldi_dir}/text: empty transcript for utterance '{sup.id}'")
    recordings, supervisions = fix_manifests(recordings, supervisions)
    validate_recordings_and_supervisions(recordings, supervisions)
    manifest_dir = Path(manifest_dir)
    manifest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=manifest_dir, prefix=".tmp-") as tmp:
        rec_path, sup_path = manifest_paths(tmp, part)
        recordings.to_file(rec_path)
        supervisions.to_file(sup_path)
        _move_into_place(Path(tmp), manifest_dir, part)
    logging.info("imported %s as %s: %d recordings", kaldi_dir, part, len(recordings))


def _move_into_place(tmp_dir: Path, manifest_dir: Path, part: str) -> None:
    # Supervisions last: a part counts as done only when both files exist.
    for src, dst in zip(manifest_paths(tmp_dir, part), manifest_paths(manifest_dir, part)):
        if not src.is_file():
            raise UserError(f"lhotse wrote no {src.name}: is {part} a valid LibriSpeech part?")
        shutil.move(str(src), str(dst))
