"""Speakers of the embedded corpus: a speech engine's voice (+ variant) + speaking rate + pitch.

Three offline engines that Debian packages: espeak-ng (formant synthesis, many voices and variants) and
festival (diphone voices) speak the training and dev/test parts; flite speaks only `test-heldout`, so that
one engine, and its speakers, are never heard in training. festival's `kal_diphone` and flite's `kal` are
the same recordings, so flite's kal is left out.

espeak-ng silently falls back to the base voice for an unknown voice or variant name, which would quietly
merge "different" speakers, so every name is checked against espeak-ng's own listings first; festival and
flite voices are checked against what those engines list as installed.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from todm.errors import UserError

ESPEAK, FESTIVAL, FLITE = "espeak-ng", "festival", "flite"

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
# festival voices (Debian festvox-kallpc16k, festvox-kdlpc16k) -> sex; one training speaker in
# FESTIVAL_EVERY speaks with one of them (at espeak-ng's rates and pitches, see Speaker.pitch).
FESTIVAL_VOICES = {"kal_diphone": "M", "ked_diphone": "M"}
FESTIVAL_EVERY = 5
# flite's built-in voices -> sex: test-heldout only.
FLITE_VOICES = {"awb": "M", "rms": "M", "slt": "F"}
# Rate and pitch of a heldout speaker: the clean parts' range.
HELDOUT_RATES = (140, 190)


@dataclass(frozen=True)
class Speaker:
    """One synthetic reader; `speaker_id` plays LibriSpeech's reader ID."""

    speaker_id: int
    voice: str
    variant: str  # espeak-ng's voice variant; "" for the other engines
    rate: int  # words per minute (espeak-ng -s; the other engines stretch durations by 175 / rate)
    pitch: int  # 0..99, 50 = the voice's own (espeak-ng -p; the other engines: a sox shift of 8 cents a step)
    sex: str  # "M" or "F", from the variant listing
    engine: str = ESPEAK

    @property
    def espeak_voice(self) -> str:
        """The argument of `espeak-ng -v`."""
        return f"{self.voice}+{self.variant}"

    @property
    def duration_stretch(self) -> float:
        """festival's and flite's duration factor for `rate` (espeak-ng's default rate is 175 wpm)."""
        return 175 / self.rate

    @property
    def pitch_shift_cents(self) -> int:
        """The sox pitch shift that plays espeak-ng's -p for the other engines."""
        return 0 if self.engine == ESPEAK else (self.pitch - 50) * 8

    @property
    def name(self) -> str:
        """Human-readable description (SPEAKERS.TXT's NAME column)."""
        voice = self.espeak_voice if self.engine == ESPEAK else self.voice
        return f"{self.engine} {voice} s{self.rate} p{self.pitch}"


def _engine_output(cmd: list[str], package: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    except FileNotFoundError:
        raise UserError(f"{cmd[0]} not found on PATH; install it (apt-get install {package})") from None


def _run_listing(option: str) -> list[list[str]]:
    out = _engine_output(["espeak-ng", option], "espeak-ng sox")
    return [line.split() for line in out.splitlines()[1:] if line.strip()]


@lru_cache(maxsize=1)
def festival_voices() -> frozenset[str]:
    """Voices festival can load (its `voice.list`)."""
    out = _engine_output(
        ["festival", "--batch", "(print (voice.list))"], "festival festvox-kallpc16k festvox-kdlpc16k"
    )
    return frozenset(out.strip().strip("()").split())


@lru_cache(maxsize=1)
def flite_voices() -> frozenset[str]:
    """Voices compiled into flite (`flite -lv`: "Voices available: kal awb ...")."""
    return frozenset(_engine_output(["flite", "-lv"], "flite").split(":", 1)[-1].split())


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


def validate_voice(voice: str, variant: str, engine: str = ESPEAK) -> None:
    """Raise UserError for a voice (or espeak-ng variant) the engine lacks or would silently replace."""
    if engine == FESTIVAL:
        if voice not in festival_voices():
            raise UserError(
                f"festival voice '{voice}' is not installed (festival lists {sorted(festival_voices())})"
            )
        return
    if engine == FLITE:
        if voice not in flite_voices():
            raise UserError(
                f"flite voice '{voice}' is not installed (flite -lv lists {sorted(flite_voices())})"
            )
        return
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
    festival_every: int = 0,
) -> dict[str, list[Speaker]]:
    """Create `counts[part]` speakers per part, disjoint across parts.

    Parts are served in the order of `counts`. Parts named in `held_out` (dev/test) draw voice+variant
    combinations nobody else uses, so test speakers are unseen combinations (DESIGN §6); other parts share
    the remaining combinations, cycling with new rates/pitches when they need more speakers than exist.
    With `festival_every` = k > 0, every k-th speaker of a training part is a festival voice instead (the
    held-out parts, served first, are the same with or without).
    """
    variants = usable_variants()
    combos = [(voice, variant) for voice in ENGLISH_VOICES for variant in variants]
    rng = random.Random(seed)
    rng.shuffle(combos)
    sexes = espeak_variants()
    # The first `num_held` shuffled combinations belong to held-out parts, the rest to training parts.
    num_held = max(1, min(sum(counts[p] for p in held_out if p in counts), len(combos) - 1))
    held_pool, train_pool = combos[:num_held], combos[num_held:]
    used = {"held": 0, "train": 0, "festival": 0}
    next_id = first_id
    speakers: dict[str, list[Speaker]] = {}
    for part, count in counts.items():
        lo, hi = rate_ranges[part]
        kind, pool = ("held", held_pool) if part in held_out else ("train", train_pool)
        speakers[part] = []
        for index in range(count):
            rate, pitch = rng.randint(lo, hi), rng.randint(*pitch_range)
            if kind == "train" and festival_every > 0 and index % festival_every == festival_every - 1:
                voice = list(FESTIVAL_VOICES)[used["festival"] % len(FESTIVAL_VOICES)]
                used["festival"] += 1
                speaker = Speaker(next_id, voice, "", rate, pitch, FESTIVAL_VOICES[voice], FESTIVAL)
            else:
                # Cycling (more speakers than combinations) still gives new speakers: new rate, pitch and ID.
                voice, variant = pool[used[kind] % len(pool)]
                used[kind] += 1
                speaker = Speaker(next_id, voice, variant, rate, pitch, sexes[variant])
            speakers[part].append(speaker)
            next_id += 1
    return speakers


def heldout_speakers(
    count: int, seed: int, first_id: int, pitch_range: tuple[int, int] = (25, 75)
) -> list[Speaker]:
    """`count` flite speakers (its voices in turn, each at its own rate and pitch) for test-heldout."""
    rng = random.Random(f"heldout/{seed}")
    voices = sorted(FLITE_VOICES)
    return [
        Speaker(
            first_id + i,
            voices[i % len(voices)],
            "",
            rng.randint(*HELDOUT_RATES),
            rng.randint(*pitch_range),
            FLITE_VOICES[voices[i % len(voices)]],
            FLITE,
        )
        for i in range(count)
    ]
