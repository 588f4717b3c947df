"""The embedded default corpus: synthetic speech written in LibriSpeech's exact layout.

    <dl_dir>/LibriSpeech/<part>/<speaker>/<chapter>/<speaker>-<chapter>-<utt:04d>.flac
    <dl_dir>/LibriSpeech/<part>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt
    <dl_dir>/LibriSpeech/<part>/utt2type.txt        "<utt-id> <sentence type>" (for per-type WER)
    <dl_dir>/LibriSpeech/{SPEAKERS,CHAPTERS}.TXT    LibriSpeech-style metadata

so lhotse's own `prepare_librispeech` reads it unchanged. Everything is a function of (seed, hours): held-out
parts are planned first, so their text and speakers do not change when the training size does, and no
held-out sentence occurs in training. Each speaker reads one chapter. The training part mixes espeak-ng and
festival speakers (speakers.py); `test-heldout` is test-clean's sentences read by flite, an engine no other
part uses, so that its WER beside test-clean's measures how a model copes with a voice it never heard.

Resumable: finished FLACs are kept, missing ones are synthesized, transcripts and `.complete` are written
only when every file of the part exists.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import zlib
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from todm.data.lexicon import build_lexicon
from todm.data.speakers import (
    ESPEAK,
    FESTIVAL_EVERY,
    Speaker,
    assign_speakers,
    heldout_speakers,
    validate_voice,
)
from todm.data.synthesis import Degradation, synthesize
from todm.data.text import SentenceGenerator, to_transcript
from todm.errors import UserError
from todm.io import write_text_atomic

logger = logging.getLogger(__name__)

# Planning order: held-out parts first (see module docstring); test-heldout last, as it takes no new text.
PARTS = ("test-clean", "test-other", "dev-clean", "dev-other", "train-clean-100", "test-heldout")
HELD_OUT_PARTS = ("test-clean", "test-other", "dev-clean", "dev-other", "test-heldout")
OTHER_PARTS = ("test-other", "dev-other")
HELDOUT_PART, HELDOUT_SOURCE = "test-heldout", "test-clean"  # re-speaks its source part's sentences
PROFILES: dict[str, dict[str, float]] = {
    # ~3 h of training speech: synthesis ~1 min on 2 cores, the whole pipeline ~45 min (DESIGN §6).
    "default": {
        "train-clean-100": 3.0,
        "dev-clean": 0.2,
        "dev-other": 0.2,
        "test-clean": 0.2,
        "test-other": 0.2,
        "test-heldout": 0.2,  # as test-clean: the same sentences
    },
    # CI: 2 minutes of training speech, ~20 utterances per held-out part.
    "tiny": {
        "train-clean-100": 2 / 60,
        "dev-clean": 0.016,
        "dev-other": 0.016,
        "test-clean": 0.016,
        "test-other": 0.016,
        "test-heldout": 0.016,
    },
}
# Speaking rate (espeak-ng words per minute; its default is 175). "other" speakers talk ~30% faster.
CLEAN_RATES, OTHER_RATES = (140, 190), (195, 245)
SECONDS_PER_SPEAKER = (
    45.0  # ~10 utterances per speaker: many speakers, as speaker variety drives generalisation
)
COMPLETE_MARKER, PLAN_FILE = ".complete", ".todm-plan"


@dataclass(frozen=True)
class Utterance:
    """One planned utterance of the corpus."""

    utt_id: str
    part: str
    speaker: Speaker
    chapter: int
    text: str  # lower case; what espeak-ng says and, upper-cased, the transcript
    type: str
    degradation: Degradation | None
    noise_seed: int

    @property
    def relative_path(self) -> Path:
        return Path(self.part) / str(self.speaker.speaker_id) / str(self.chapter) / f"{self.utt_id}.flac"


def parse_hours(spec: str) -> dict[str, float]:
    """Parse 'train-clean-100=3.0,dev-clean=0.2' into {part: hours}; raise UserError on a bad spec."""
    hours: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        part, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not sep or part not in PARTS or not number >= 0:
            raise UserError(
                f"--hours: bad item '{item}': expected <part>=<hours >= 0> with part in {', '.join(PARTS)}"
            )
        hours[part] = number
    if not hours:
        raise UserError(f"--hours: empty spec '{spec}'")
    return hours


def resolve_hours(profile: str, hours: dict[str, float] | None) -> dict[str, float]:
    """Hours per part: the profile's, overridden by `hours`; parts at 0 hours are not built."""
    if profile not in PROFILES:
        raise UserError(f"--profile: unknown profile '{profile}' (choose from {', '.join(PROFILES)})")
    merged = dict(PROFILES[profile])
    for part, value in (hours or {}).items():
        if part not in PARTS or not value >= 0:
            raise UserError(f"hours: bad entry {part}={value} (parts: {', '.join(PARTS)})")
        merged[part] = value
    return {part: merged[part] for part in PARTS if merged.get(part, 0) > 0}


def estimate_seconds(text: str, rate: int) -> float:
    """Duration espeak-ng will take, fitted on its output (8% mean error), so planning needs no audio."""
    return 0.29 + 0.053 * len(text) * 175 / rate


def plan_corpus(
    hours: dict[str, float], seed: int, festival_every: int = FESTIVAL_EVERY
) -> dict[str, list[Utterance]]:
    """Utterances (text, speaker, chapter, degradation) of every part; deterministic in (hours, seed).

    `festival_every` = k makes every k-th training speaker a festival voice (0: espeak-ng only, the corpus
    of earlier versions, which leaves every part's files as they were)."""
    if HELDOUT_PART in hours and HELDOUT_SOURCE not in hours:
        raise UserError(
            f"hours: {HELDOUT_PART} re-speaks {HELDOUT_SOURCE}'s sentences: give {HELDOUT_SOURCE} hours too"
        )
    counts = {
        part: max(2, round(hours[part] * 3600 / SECONDS_PER_SPEAKER))
        for part in PARTS
        if part in hours and part != HELDOUT_PART
    }
    rates = {part: OTHER_RATES if part in OTHER_PARTS else CLEAN_RATES for part in counts}
    speakers = assign_speakers(counts, rates, HELD_OUT_PARTS, seed, festival_every=festival_every)
    lexicon = build_lexicon()
    seen: set[str] = set()
    plan: dict[str, list[Utterance]] = {}
    for part, count in counts.items():
        index = PARTS.index(part)  # not the position among the built parts: dropping one changes no other
        gen = SentenceGenerator(seed * 1000 + index, lexicon)
        rng = random.Random(seed * 1000 + 500 + index)
        per_speaker = hours[part] * 3600 / count
        plan[part] = []
        for speaker in speakers[part]:
            chapter = speaker.speaker_id * 10 + index
            spoken, number = 0.0, 0
            while spoken < per_speaker:
                sentence = gen.sentence()
                if sentence.text in seen:  # keeps held-out sentences out of training
                    continue
                seen.add(sentence.text)
                utt_id = f"{speaker.speaker_id}-{chapter}-{number:04d}"
                degradation = None
                if part in OTHER_PARTS:  # reverberance 20-60 %, room 30-100 %, pink noise at 10-20 dB SNR
                    degradation = Degradation(rng.uniform(20, 60), rng.uniform(30, 100), rng.uniform(10, 20))
                noise_seed = zlib.crc32(f"{seed}/{utt_id}".encode())
                plan[part].append(
                    Utterance(
                        utt_id, part, speaker, chapter, sentence.text, sentence.type, degradation, noise_seed
                    )
                )
                spoken += estimate_seconds(sentence.text, speaker.rate)
                number += 1
    if HELDOUT_PART in hours:
        first_id = max(s.speaker_id for part in speakers.values() for s in part) + 1
        plan[HELDOUT_PART] = plan_heldout(plan[HELDOUT_SOURCE], hours[HELDOUT_PART], seed, first_id)
    return plan


def plan_heldout(source: list[Utterance], hours: float, seed: int, first_id: int) -> list[Utterance]:
    """The source part's sentences, chapter by chapter, each chapter read by a flite speaker, up to `hours`."""
    chapters: dict[int, list[Utterance]] = {}
    for u in source:
        chapters.setdefault(u.chapter, []).append(u)
    readers = heldout_speakers(len(chapters), seed, first_id)
    index = PARTS.index(HELDOUT_PART)
    plan: list[Utterance] = []
    spoken = 0.0
    for speaker, utterances in zip(readers, chapters.values()):
        if plan and spoken >= hours * 3600:
            break
        chapter = speaker.speaker_id * 10 + index
        for number, u in enumerate(utterances):
            utt_id = f"{speaker.speaker_id}-{chapter}-{number:04d}"
            plan.append(Utterance(utt_id, HELDOUT_PART, speaker, chapter, u.text, u.type, None, 0))
            spoken += estimate_seconds(u.text, u.speaker.rate)  # the source's: equal hours, equal sentences
    return plan


def plan_fingerprint(utterances: list[Utterance]) -> str:
    """Hash of everything that determines a part's files, to detect a directory built with other settings."""
    records = [asdict(u) for u in utterances]
    for record in records:
        # Speakers had no engine field before festival and flite: an espeak-ng part keeps its old hash.
        if record["speaker"]["engine"] == ESPEAK:
            del record["speaker"]["engine"]
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()


def _check_writable(dl_dir: Path) -> Path:
    corpus = dl_dir / "LibriSpeech"
    try:
        corpus.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--dl-dir {dl_dir}: cannot create {corpus} ({exc.strerror})") from None
    if not os.access(corpus, os.W_OK | os.X_OK):
        raise UserError(f"--dl-dir {dl_dir}: {corpus} is not writable")
    return corpus


def _claim_part(part_dir: Path, fingerprint: str) -> bool:
    """Return True when the part is already complete; refuse directories this plan did not write."""
    plan_file = part_dir / PLAN_FILE
    if part_dir.is_dir() and any(part_dir.iterdir()):
        if not plan_file.is_file():
            raise UserError(
                f"{part_dir} exists but was not written by prepare_embedded_corpus; not touching it"
            )
        if plan_file.read_text().strip() != fingerprint:
            raise UserError(
                f"{part_dir} was synthesized with other settings (seed/hours/version); "
                "remove it or choose another --dl-dir"
            )
        marker = part_dir / COMPLETE_MARKER
        if marker.is_file():
            return True
    write_text_atomic(plan_file, fingerprint + "\n")
    return False


def _synthesize_part(corpus: Path, utterances: list[Utterance], num_jobs: int) -> None:
    part_dir = corpus / utterances[0].part
    # Temp files a killed run left behind (ours: .<name>.<pid>.tmp; todm.io's: .tmp-<pid>-*).
    for stale in [*part_dir.rglob(".*.tmp"), *part_dir.rglob(".tmp-*")]:
        stale.unlink()
    todo = [u for u in utterances if not (corpus / u.relative_path).is_file()]
    for u in todo:
        (corpus / u.relative_path).parent.mkdir(parents=True, exist_ok=True)
    logger.info("%s: %d utterances, %d to synthesize", utterances[0].part, len(utterances), len(todo))
    # Threads suffice: the work happens in espeak-ng/sox subprocesses and in numpy, outside the GIL.
    with ThreadPoolExecutor(num_jobs) as pool:
        futures = [
            pool.submit(synthesize, u.text, u.speaker, corpus / u.relative_path, u.degradation, u.noise_seed)
            for u in todo
        ]
        try:
            for future in tqdm(as_completed(futures), total=len(futures), desc=utterances[0].part):
                future.result()
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


def _write_part_metadata(corpus: Path, utterances: list[Utterance], fingerprint: str) -> None:
    """Transcripts and utt2type after all audio exists; `.complete` last."""
    part_dir = corpus / utterances[0].part
    chapters: dict[Path, list[str]] = {}
    for u in utterances:
        trans = (corpus / u.relative_path).parent / f"{u.speaker.speaker_id}-{u.chapter}.trans.txt"
        chapters.setdefault(trans, []).append(f"{u.utt_id} {to_transcript(u.text)}\n")
    for trans, lines in chapters.items():
        write_text_atomic(trans, "".join(lines))
    write_text_atomic(part_dir / "utt2type.txt", "".join(f"{u.utt_id} {u.type}\n" for u in utterances))
    write_text_atomic(part_dir / COMPLETE_MARKER, fingerprint + "\n")


def _write_corpus_metadata(corpus: Path, plan: dict[str, list[Utterance]]) -> None:
    """SPEAKERS.TXT and CHAPTERS.TXT in LibriSpeech's column format."""
    minutes: dict[tuple[int, int], float] = {}
    for part, utterances in plan.items():
        for u in utterances:
            key = (u.speaker.speaker_id, u.chapter)
            minutes[key] = minutes.get(key, 0.0) + sf.info(str(corpus / u.relative_path)).duration / 60
    speakers, chapters = (
        [";ID  |SEX| SUBSET           |MINUTES| NAME\n"],
        [";ID    |READER|MINUTES| SUBSET           | PROJ.|BOOK ID| CH. TITLE | PROJECT TITLE\n"],
    )
    for part, utterances in plan.items():
        for speaker in dict.fromkeys(u.speaker for u in utterances):
            chapter = next(u.chapter for u in utterances if u.speaker == speaker)
            m = minutes[(speaker.speaker_id, chapter)]
            speakers.append(
                f"{speaker.speaker_id:<5}| {speaker.sex} | {part:<17}| {m:5.2f} | {speaker.name}\n"
            )
            chapters.append(
                f"{chapter:<7}| {speaker.speaker_id:<5}| {m:5.2f} | {part:<17}| 0     | 0     "
                f"| todm embedded | todm embedded corpus\n"
            )
    write_text_atomic(corpus / "SPEAKERS.TXT", "".join(speakers))
    write_text_atomic(corpus / "CHAPTERS.TXT", "".join(chapters))


def prepare_embedded_corpus(
    dl_dir: str | Path,
    hours: dict[str, float] | None = None,
    profile: str = "default",
    seed: int = 42,
    num_jobs: int | None = None,
    festival_every: int = FESTIVAL_EVERY,
) -> Path:
    """Synthesize the embedded corpus under `<dl_dir>/LibriSpeech` (resuming a partial run); return that dir.

    `hours` overrides the `profile`'s hours per part (a part at 0 is skipped); `festival_every` as in
    `plan_corpus`. Complete parts are left as
    they are; a part directory written with other settings, or not by this function, raises UserError.
    """
    plan = plan_corpus(resolve_hours(profile, hours), seed, festival_every)
    corpus = _check_writable(Path(dl_dir))
    for speaker in {u.speaker for utterances in plan.values() for u in utterances}:
        validate_voice(speaker.voice, speaker.variant, speaker.engine)
    for part, utterances in plan.items():
        fingerprint = plan_fingerprint(utterances)
        part_dir = corpus / part
        if _claim_part(part_dir, fingerprint):
            if all((corpus / u.relative_path).is_file() for u in utterances):
                logger.info("%s: complete, skipping", part)
                continue
            (part_dir / COMPLETE_MARKER).unlink()  # a file went missing: resume
        _synthesize_part(corpus, utterances, num_jobs or os.cpu_count() or 1)
        _write_part_metadata(corpus, utterances, fingerprint)
    _write_corpus_metadata(corpus, plan)
    return corpus
