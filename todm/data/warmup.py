"""The warm-up part: the training cuts a supernet first learns its alignments on.

With noise mixing, reverberant copies and two speech engines from the first step, the embedded corpus's default
run spends thousands of steps above 80% WER; trained first on clean speech of one engine it leaves that phase
far sooner (docs/reproducibility.md). The warm-up part is a training part's cuts without their reverberant copies
(IDs ending in todm.data.fbank's `REVERB_SUFFIX`) and, on the embedded corpus, only the speakers of one
engine (the NAME column of LibriSpeech's SPEAKERS.TXT, which the embedded corpus starts with the engine's name).
Noise is mixed at training time, so leaving it out of the warm-up is train.py's part (no --noise-cuts).
"""

from __future__ import annotations

from pathlib import Path

from todm.data.fbank import REVERB_SUFFIX
from todm.errors import UserError

WARMUP_SUFFIX = "-warmup"


def engine_speakers(speakers_txt: str | Path, engine: str) -> set[str]:
    """IDs of the speakers whose SPEAKERS.TXT name starts with `engine` (e.g. espeak-ng)."""
    path = Path(speakers_txt)
    if not path.is_file():
        raise UserError(f"{path}: no such file (SPEAKERS.TXT of the corpus, to choose the warm-up speakers)")
    found = set()
    for line in path.read_text().splitlines():
        fields = [field.strip() for field in line.split("|")]
        if line.startswith(";") or len(fields) < 5:
            continue
        if fields[4].split(" ", 1)[0] == engine:
            found.add(fields[0])
    if not found:
        raise UserError(f"{path}: no speaker's name starts with '{engine}' (expected the embedded corpus's)")
    return found


def warmup_cuts(cuts, speakers: set[str] | None = None):
    """The cuts that are not reverberant copies, of `speakers` only when given (None: every speaker)."""

    def keep(cut) -> bool:
        if cut.id.endswith(REVERB_SUFFIX):
            return False
        return speakers is None or cut.supervisions[0].speaker in speakers

    return cuts.filter(keep)
