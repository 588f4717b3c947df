"""Sentencepiece BPE model and icefall's tokens.txt.

Same settings as icefall's local/train_bpe_model.py: a unigram model whose ids 0 and 1 are the
user-defined symbols `<blk>` and `<sos/eos>`, and `<unk>` = 2; tokens.txt lists "<piece> <id>".
"""

from __future__ import annotations

import logging
from pathlib import Path

from todm.errors import UserError
from todm.io import atomic_path, write_text_atomic

SPECIAL_SYMBOLS = ["<blk>", "<sos/eos>"]


def write_transcript(supervision_manifests: list[Path], out: str | Path) -> int:
    """Write one transcript per line from lhotse supervision manifests; return the line count."""
    from lhotse import SupervisionSet

    lines = []
    for path in supervision_manifests:
        if not Path(path).is_file():
            raise UserError(f"{path}: missing supervision manifest (run the manifest stage first)")
        lines.extend(s.text.strip() for s in SupervisionSet.from_file(path) if s.text and s.text.strip())
    if not lines:
        raise UserError(f"no transcripts in {', '.join(map(str, supervision_manifests))}")
    write_text_atomic(out, "\n".join(lines) + "\n")
    return len(lines)


def train_bpe(transcript: str | Path, lang_dir: str | Path, vocab_size: int) -> Path:
    """Train `lang_dir/bpe.model` and write `lang_dir/tokens.txt`; return the model path."""
    import sentencepiece as spm

    lang_dir = Path(lang_dir)
    model_path = lang_dir / "bpe.model"
    if vocab_size <= len(SPECIAL_SYMBOLS) + 1:
        raise UserError(
            f"--vocab-size {vocab_size}: must exceed {len(SPECIAL_SYMBOLS) + 1} (<blk>, <sos/eos>, <unk>)"
        )
    with atomic_path(model_path) as tmp:
        prefix = str(tmp)[: -len(".model")]
        try:
            spm.SentencePieceTrainer.train(
                input=str(transcript),
                vocab_size=vocab_size,
                model_type="unigram",
                model_prefix=prefix,
                input_sentence_size=100_000_000,
                character_coverage=1.0,
                user_defined_symbols=SPECIAL_SYMBOLS,
                unk_id=len(SPECIAL_SYMBOLS),
                bos_id=-1,
                eos_id=-1,
                minloglevel=2,
            )
        except RuntimeError as exc:
            # sentencepiece says e.g. "Vocabulary size is too high (5000). Please set it to a value <= 1234."
            raise UserError(
                f"--vocab-size {vocab_size} does not fit the text in {transcript}: {exc}"
            ) from None
        Path(prefix + ".vocab").unlink(missing_ok=True)
    write_tokens(model_path, lang_dir / "tokens.txt")
    logging.info("wrote %s (vocab %d) and tokens.txt", model_path, vocab_size)
    return model_path


def write_tokens(bpe_model: str | Path, out: str | Path) -> None:
    """icefall's tokens.txt: one "<piece> <id>" line per id, `<blk>` = 0."""
    sp = load_bpe(bpe_model)
    write_text_atomic(out, "".join(f"{sp.id_to_piece(i)} {i}\n" for i in range(sp.get_piece_size())))


def load_bpe(bpe_model: str | Path):
    """Load a sentencepiece model, checking it has icefall's `<blk>` = 0 convention."""
    import sentencepiece as spm

    if not Path(bpe_model).is_file():
        raise UserError(f"--bpe-model {bpe_model}: file not found")
    sp = spm.SentencePieceProcessor()
    try:
        sp.load(str(bpe_model))
    except (OSError, RuntimeError) as exc:
        raise UserError(f"--bpe-model {bpe_model}: not a sentencepiece model ({exc})") from None
    if sp.piece_to_id("<blk>") != 0:
        raise UserError(f"--bpe-model {bpe_model}: expected '<blk>' at id 0 (icefall convention)")
    return sp


def bpe_pieces(sp) -> list[str]:
    """The pieces of a sentencepiece model by id (what tokens.txt lists)."""
    return [sp.id_to_piece(i) for i in range(sp.get_piece_size())]


def vocabulary_fingerprint(pieces: list[str]) -> str:
    """A short digest of the pieces by id: checkpoints record it, so a BPE model or tokens.txt of another
    training with the same size is refused instead of printing wrong words."""
    import hashlib

    return hashlib.sha256("\n".join(pieces).encode()).hexdigest()[:16]


def check_same_vocabulary(pieces: list[str], option: str, fingerprint: str | None) -> None:
    """UserError when `pieces` (of --bpe-model or --tokens) are not those the checkpoint was trained with."""
    if fingerprint is not None and vocabulary_fingerprint(pieces) != fingerprint:
        raise UserError(
            f"{option}: not the vocabulary this model was trained with (same size, other pieces: the BPE model of "
            "another training)"
        )
