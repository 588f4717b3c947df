"""Checks a LibriSpeech-layout part before lhotse reads it.

lhotse's `prepare_librispeech` skips a transcript line whose audio is missing with only a warning,
ignores audio without a transcript, and fails with a bare traceback on an empty transcript or a
corrupt file. A recipe should stop with the exact file instead, so we look first.
"""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from todm.errors import UserError

LIBRISPEECH_PARTS = ("train-clean-100", "dev-clean", "dev-other", "test-clean", "test-other")


def find_librispeech_dir(dl_dir: str | Path) -> Path:
    """Return `<dl_dir>/LibriSpeech`, or explain how to get a corpus when it is missing."""
    corpus = Path(dl_dir) / "LibriSpeech"
    if not corpus.is_dir():
        raise UserError(
            f"--dl-dir {dl_dir}: no LibriSpeech/ inside. This machine cannot download LibriSpeech; "
            "put a copy (LibriSpeech/<part>/...) there, or run run.sh without --dl-dir to synthesize "
            "the embedded corpus"
        )
    return corpus


def check_part(part_dir: str | Path) -> int:
    """Validate one part (e.g. `LibriSpeech/dev-clean`); return its number of utterances.

    Raises UserError naming the file for: no transcripts, an empty transcript, a transcript line
    without audio, audio without a transcript line, and unreadable or empty audio.
    """
    part_dir = Path(part_dir)
    if not part_dir.is_dir():
        raise UserError(f"{part_dir}: missing LibriSpeech part directory")
    trans_files = sorted(part_dir.rglob("*.trans.txt"))
    if not trans_files:
        raise UserError(f"{part_dir}: no *.trans.txt transcripts found")
    transcribed: set[Path] = set()
    for trans in trans_files:
        for line_no, line in enumerate(trans.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            fields = line.split(maxsplit=1)
            if len(fields) < 2 or not fields[1].strip():
                raise UserError(f"{trans}:{line_no}: empty transcript for utterance '{fields[0]}'")
            audio = trans.parent / f"{fields[0]}.flac"
            if not audio.is_file():
                raise UserError(f"{trans}:{line_no}: utterance '{fields[0]}' has no audio file {audio}")
            transcribed.add(audio)
    for audio in sorted(part_dir.rglob("*.flac")):
        if audio not in transcribed:
            raise UserError(f"{audio}: audio file has no line in {audio.parent}'s *.trans.txt")
        _check_audio(audio)
    return len(transcribed)


def _check_audio(path: Path) -> None:
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty audio file (0 bytes)")
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise UserError(f"{path}: corrupt or unreadable audio ({exc})") from None
    if info.frames == 0:
        raise UserError(f"{path}: empty audio (0 samples)")
