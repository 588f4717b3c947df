"""Recording/supervision manifests: lhotse's own LibriSpeech recipe, or lhotse's Kaldi data-dir import.

Output names follow icefall: `data/manifests/librispeech_{recordings,supervisions}_<part>.jsonl.gz`.
Each part's two files are written atomically, so an interrupted stage is redone, never half-trusted.

Rules for what enters, in both layouts: audio at another sample rate is resampled to 16 kHz (lhotse records the
resampling in the manifest, so features are computed from 16 kHz audio); audio with more than one channel is
rejected with the file named (which channel holds the speech is the user's call); lower-case transcripts are
upper-cased, as LibriSpeech's are, so that parts of either kind are scored alike (the scorer compares words
exactly). Each rule that fires says so in the log.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from todm.data.librispeech_check import check_part
from todm.errors import UserError

PREFIX = "librispeech"
SAMPLE_RATE = 16000


def normalize_manifests(recordings, supervisions, part: str):
    """Apply the module's rules (resample to 16 kHz, reject multi-channel audio, upper-case transcripts)."""
    from lhotse import RecordingSet, SupervisionSet

    for rec in recordings:
        if rec.num_channels != 1:
            source = rec.sources[0].source if rec.sources else rec.id
            raise UserError(
                f"{source}: {rec.num_channels} audio channels; expected mono speech "
                "(keep one channel first, e.g. sox in.flac out.flac remix 1)"
            )
    other_rates = sorted({r.sampling_rate for r in recordings if r.sampling_rate != SAMPLE_RATE})
    if other_rates:
        count = sum(1 for r in recordings if r.sampling_rate != SAMPLE_RATE)
        logging.warning(
            "%s: resampling %d recording(s) from %s Hz to %d Hz", part, count, other_rates, SAMPLE_RATE
        )
        recordings = RecordingSet.from_recordings(
            r if r.sampling_rate == SAMPLE_RATE else r.resample(SAMPLE_RATE) for r in recordings
        )
    lower = [s for s in supervisions if s.text != s.text.upper()]
    if lower:
        logging.warning(
            "%s: upper-casing %d lower-case transcript(s), e.g. %s: '%s'",
            part,
            len(lower),
            lower[0].id,
            lower[0].text,
        )
        supervisions = SupervisionSet.from_segments(
            s if s.text == s.text.upper() else s.transform_text(str.upper) for s in supervisions
        )
    return recordings, supervisions


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
            _normalize_files(Path(tmp), part)
            _move_into_place(Path(tmp), manifest_dir, part)


def _normalize_files(tmp_dir: Path, part: str) -> None:
    from lhotse import RecordingSet, SupervisionSet

    rec_path, sup_path = manifest_paths(tmp_dir, part)
    if not (rec_path.is_file() and sup_path.is_file()):
        return  # _move_into_place names what is missing
    recordings, supervisions = RecordingSet.from_file(rec_path), SupervisionSet.from_file(sup_path)
    fixed = normalize_manifests(recordings, supervisions, part)
    if fixed[0] is not recordings or fixed[1] is not supervisions:
        fixed[0].to_file(rec_path)
        fixed[1].to_file(sup_path)


def _read_headers(recordings, kaldi_dir: Path):
    """lhotse's Kaldi import gives every recording the rate it is told; read each audio file's own header instead
    (an 8 kHz file declared as 16 kHz would load half its declared samples). Piped wav.scp entries keep theirs."""
    from lhotse import Recording, RecordingSet
    from lhotse.audio.utils import AudioLoadingError

    fixed = []
    for rec in recordings:
        if len(rec.sources) != 1 or rec.sources[0].type != "file":
            fixed.append(rec)
            continue
        try:
            fixed.append(Recording.from_file(rec.sources[0].source, recording_id=rec.id))
        except (AudioLoadingError, OSError) as exc:
            raise UserError(
                f"{kaldi_dir}/wav.scp: {rec.id}: cannot read {rec.sources[0].source} ({exc})"
            ) from None
    return RecordingSet.from_recordings(fixed)


def _read_kaldi_ids(path: Path) -> list[str]:
    return [line.split(maxsplit=1)[0] for line in path.read_text().splitlines() if line.strip()]


def check_kaldi_data_dir(kaldi_dir: Path, part: str) -> None:
    """Every utterance of text/utt2spk has audio (wav.scp, or a segment of a wav.scp recording), and back."""
    option = f"--kaldi-data-dirs {part}={kaldi_dir}"
    recordings = set(_read_kaldi_ids(kaldi_dir / "wav.scp"))
    segments = kaldi_dir / "segments"
    if segments.is_file():
        utterances: set[str] = set()
        for line_no, line in enumerate(segments.read_text().splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 4 or fields[1] not in recordings:
                raise UserError(
                    f"{option}: segments:{line_no}: expected '<utt> <recording in wav.scp> <start> <end>', "
                    f"got '{line.strip()}'"
                )
            utterances.add(fields[0])
        audio_name = "segments"
    else:
        utterances, audio_name = recordings, "wav.scp"
    for name in ("text", "utt2spk"):
        ids = set(_read_kaldi_ids(kaldi_dir / name))
        missing, extra = sorted(ids - utterances), sorted(utterances - ids)
        if missing:
            raise UserError(
                f"{option}: {len(missing)} utterance(s) of {name} are not in {audio_name}, e.g. {missing[:3]}"
            )
        if extra:
            raise UserError(
                f"{option}: {len(extra)} utterance(s) of {audio_name} are not in {name}, e.g. {extra[:3]}"
            )


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
    check_kaldi_data_dir(kaldi_dir, part)
    recordings, supervisions, _ = load_kaldi_data_dir(kaldi_dir, sampling_rate=sampling_rate)
    if supervisions is None or len(supervisions) == 0:
        raise UserError(f"{kaldi_dir}: no supervisions could be built from text/segments")
    for sup in supervisions:
        if not (sup.text or "").strip():
            raise UserError(f"{kaldi_dir}/text: empty transcript for utterance '{sup.id}'")
    recordings, supervisions = fix_manifests(_read_headers(recordings, kaldi_dir), supervisions)
    recordings, supervisions = normalize_manifests(recordings, supervisions, part)
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
