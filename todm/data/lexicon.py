"""Open-class words (nouns, verbs, adjectives) from wordfreq's frequent English words, and their Zipf weights.

Morphology decides the class: a word with a plural form is a noun, one with -ed and -ing forms a verb, one
with an adverb in -ly and an adjective suffix an adjective. Each list is ordered most frequent first, and the
sentence generator draws from it with Zipf weights over the rank.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import wordfreq

from todm.data.wordlists import BLOCKLIST, COMMON_ADJECTIVES, FUNCTION_WORDS, IRREGULAR_VERBS, NAMES

# Open-class words are drawn with Zipf weights over their frequency rank, as words occur in real text: a
# uniform draw over ~2,400 words gave a tail of rare words that a CPU-sized model never sees often enough
# (62% WER on such sentences after 35 min of training, vs 20-39% on the templates). Exponent 1.4 keeps the
# default corpus at ~2,300 distinct words (>= 2,000 wanted) with a ~2% test out-of-vocabulary rate.
ZIPF_EXPONENT, ZIPF_OFFSET = 1.4, 5.0


@dataclass(frozen=True)
class Lexicon:
    """Open-class word lists derived from wordfreq's frequent English words."""

    nouns: tuple[str, ...]  # each open-class list: most frequent word first
    plurals: dict[str, str]
    verbs: tuple[str, ...]
    past: dict[str, str]
    adjectives: tuple[str, ...]


def _pronounceable(word: str) -> bool:
    # Plain ASCII letters with a vowel: no digits, abbreviations or foreign script.
    return word.isascii() and word.isalpha() and len(word) >= 3 and any(v in word for v in "aeiouy")


@lru_cache(maxsize=4)
def build_lexicon(top_n: int = 6000) -> Lexicon:
    """POS-ish word lists from the `top_n` most frequent English words (morphology decides the class)."""
    forms = set(wordfreq.top_n_list("en", 4 * top_n))
    excluded = BLOCKLIST | FUNCTION_WORDS
    words = [w for w in wordfreq.top_n_list("en", top_n) if _pronounceable(w) and w not in excluded]

    def first_in(candidates: list[str]) -> str | None:
        return next((c for c in candidates if c in forms and c not in BLOCKLIST), None)

    past = dict(IRREGULAR_VERBS)
    for w in words:
        if w in past or w.endswith(("ed", "s", "ing", "ly")):
            continue
        y = [w[:-1] + "ied"] if w.endswith("y") else []
        ed = first_in([w + "ed", w + "d", *y, w + w[-1] + "ed"])
        ing = first_in([w + "ing", w[:-1] + "ing", w + w[-1] + "ing"])
        if ed and ing and (w + "s" in forms or w + "es" in forms):
            past[w] = ed
    adjectives = set(COMMON_ADJECTIVES)
    adj_suffixes = (
        "ful",
        "less",
        "ous",
        "ive",
        "able",
        "ible",
        "al",
        "ic",
        "ical",
        "ish",
        "ent",
        "ant",
        "ary",
    )
    for w in words:
        has_adverb = first_in([w + "ly", w + "ally", w[:-1] + "y"])
        if len(w) >= 4 and w.endswith(adj_suffixes) and w not in past and has_adverb:
            adjectives.add(w)
    plurals: dict[str, str] = {}
    for w in words:
        if w in past or w in adjectives or w.endswith(("ed", "ly", "ss", "s")) or w in NAMES:
            continue
        plural = first_in(([w[:-1] + "ies"] if w.endswith("y") else []) + [w + "es", w + "s"])
        if plural:
            plurals[w] = plural
    return Lexicon(
        nouns=_by_frequency(plurals),
        plurals=plurals,
        verbs=_by_frequency(past),
        past=past,
        adjectives=_by_frequency(adjectives),
    )


def _by_frequency(words) -> tuple[str, ...]:
    """Most frequent first (ties alphabetical, so the order never depends on set iteration)."""
    return tuple(sorted(words, key=lambda w: (-wordfreq.word_frequency(w, "en"), w)))


@lru_cache(maxsize=8)
def zipf_cum_weights(count: int) -> tuple[float, ...]:
    """Cumulative weights 1 / (rank + ZIPF_OFFSET) ** ZIPF_EXPONENT for ranks 0..count-1."""
    return tuple(itertools.accumulate((rank + ZIPF_OFFSET) ** -ZIPF_EXPONENT for rank in range(count)))
