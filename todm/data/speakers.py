"""Speakers of the embedded corpus: an espeak-ng voice + variant + speaking rate + pitch.

espeak-ng silently falls back to the base voice for an unknown voice or variant name, which would quietly
merge "different" speakers, so every name is checked against espeak-ng's own listings first.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from todm.errors import UserError

# English voices shipped with espeak-ng (DESIGN §4); MBROLA voices are not installed.
ENGLISH_VOICES = (
    "en",
    "en-us",
    "en-us-nyc",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
)
# Whispered variants have no voicing at all, unlike any LibriSpeech reader; leave them out.
EXCLUDED_VARIANTS = frozenset({"whisper", "whisperf"})


@dataclass(frozen=True)
class Speaker:
    """One synthetic reader; `speaker_id` plays LibriSpeech's reader ID."""

    speaker_id: int
    voice: str
    variant: str
    rate: int  # words per minute (espeak-ng -s)
    pitch: int  # 0..99 (espeak-ng -p)
    sex: str  # "M" or "F", from the variant listing

    @property
    def espeak_voice(self) -> str:
        """The argument of `espeak-ng -v`."""
        return f"{self.voice}+{self.variant}"

    @property
    def name(self) -> str:
        """Human-readable description (SPEAKERS.TXT's NAME column)."""
        return f"espeak-ng {self.espeak_voice} s{self.rate} p{self.pitch}"


def _run_listing(option: str) -> list[list[str]]:
    try:
        out = subprocess.run(["espeak-ng", option], capture_output=True, text=True, check=True).stdout
    except FileNotFoundError:
        raise UserError("espeak-ng not found on PATH; install it (apt-get install espeak-ng sox)") from None
    return [line.split() for line in out.splitlines()[1:] if line.strip()]


@lru_cache(maxsize=1)
def espeak_voices() -> frozenset[str]:
    """Names `espeak-ng -v` accepts: language codes in `espeak-ng --voices` (incl. Other Languages)."""
    names: set[str] = set()
    for fields in _run_listing("--voices"):
        names.add(fields[1])
        names.update(f.lstrip("(") for f in fields[5:] if f.startswith("("))
    return frozenset(names)


@lru_cache(maxsize=1)
def espeak_variants() -> dict[str, str]:
    """Variant file names (what goes after '+') -> sex 'M'/'F', from `espeak-ng --voices=variant`."""
    variants = {}
    for fields in _run_listing("--voices=variant"):
        # Columns: Pty Language Age/Gender VoiceName File; a file name with a space cannot follow '+'.
        if len(fields) == 5 and fields[4].startswith("!v/"):
            variants[fields[4][3:]] = fields[2].split("/")[-1] or "M"
    return variants


def validate_voice(voice: str, variant: str) -> None:
    """Raise UserError for a voice or variant name espeak-ng would silently replace."""
    if voice not in espeak_voices():
        raise UserError(f"unknown espeak voice '{voice}' (see espeak-ng --voices)")
    if variant not in espeak_variants():
        raise UserError(f"unknown espeak variant '{variant}' (see espeak-ng --voices=variant)")


def usable_variants() -> list[str]:
    """All installed variants except the excluded ones, sorted (so the order does not depend on espeak)."""
    return sorted(v for v in espeak_variants() if v not in EXCLUDED_VARIANTS)


def assign_speakers(
    counts: Mapping[str, int],
    rate_ranges: Mapping[str, tuple[int, int]],
    held_out: Sequence[str],
    seed: int,
    first_id: int = 100,
    pitch_range: tuple[int, int] = (25, 75),
) -> dict[str, list[Speaker]]:
    """Create `counts[part]` speakers per part, disjoint across parts.

    Parts are served in the order of `counts`. Parts named in `held_out` (dev/test) draw voice+variant
    combinations nobody else uses, so test speakers are unseen combinations (DESIGN §6); other parts share
    the remaining combinations, cycling with new rates/pitches when they need more speakers than exist.
    """
    variants = usable_variants()
    combos = [(voice, variant) for voice in ENGLISH_VOICES for variant in variants]
    rng = random.Random(seed)
    rng.shuffle(combos)
    sexes = espeak_variants()
    # The first `num_held` shuffled combinations belong to held-out parts, the rest to training parts.
    num_held = max(1, min(sum(counts[p] for p in held_out if p in counts), len(combos) - 1))
    held_pool, train_pool = combos[:num_held], combos[num_held:]
    used = {"held": 0, "train": 0}
    next_id = first_id
    speakers: dict[str, list[Speaker]] = {}
    for part, count in counts.items():
        lo, hi = rate_ranges[part]
        kind, pool = ("held", held_pool) if part in held_out else ("train", train_pool)
        speakers[part] = []
        for _ in range(count):
            # Cycling (more speakers than combinations) still gives new speakers: new rate, pitch and ID.
            voice, variant = pool[used[kind] % len(pool)]
            used[kind] += 1
            speakers[part].append(
                Speaker(
                    next_id, voice, variant, rng.randint(lo, hi), rng.randint(*pitch_range), sexes[variant]
                )
            )
            next_id += 1
    return speakers
