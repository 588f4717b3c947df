"""Sentence generator, lexicon and spoken numbers: numbers as words, grammar, Zipf draws, determinism."""

from __future__ import annotations

import collections
import re

import pytest
import wordfreq

from todm.data.lexicon import ZIPF_EXPONENT, ZIPF_OFFSET, build_lexicon
from todm.data.spoken_numbers import number_to_words, ordinal_words, time_to_words, year_to_words
from todm.data.text import MAX_WORDS, MIN_WORDS, SENTENCE_TYPES, SentenceGenerator, to_transcript
from todm.data.wordlists import FUNCTION_WORDS


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (13, "thirteen"),
        (40, "forty"),
        (99, "ninety nine"),
        (101, "one hundred one"),
        (1000, "one thousand"),
        (
            123456789,
            "one hundred twenty three million four hundred fifty six thousand seven hundred eighty nine",
        ),
    ],
)
def test_number_to_words(n: int, words: str) -> None:
    assert number_to_words(n) == words


def test_spoken_forms() -> None:
    assert number_to_words(305, british_and=True) == "three hundred and five"
    assert [ordinal_words(n) for n in (1, 2, 3, 12, 21, 30)] == [
        "first", "second", "third", "twelfth", "twenty first", "thirtieth",
    ]  # fmt: skip
    assert time_to_words(7, 0) == "seven o'clock"
    assert time_to_words(7, 5) == "seven oh five"
    assert time_to_words(11, 45) == "eleven forty five"
    assert year_to_words(1985) == "nineteen eighty five"
    assert year_to_words(2005) == "two thousand five"
    assert year_to_words(1900) == "nineteen hundred"
    with pytest.raises(ValueError, match="out of range"):
        number_to_words(-1)


def test_lexicon_classes_are_large_and_clean() -> None:
    lex = build_lexicon()
    assert len(lex.nouns) > 1000 and len(lex.verbs) > 500 and len(lex.adjectives) > 200
    for word in (*lex.nouns, *lex.verbs, *lex.adjectives, *lex.plurals.values(), *lex.past.values()):
        assert re.fullmatch(r"[a-z]+", word), word
    assert lex.past["take"] == "took" and "take" not in lex.nouns


def test_generator_is_deterministic_and_varied() -> None:
    gen_a, gen_b, gen_c = SentenceGenerator(5), SentenceGenerator(5), SentenceGenerator(6)
    a = [gen_a.sentence() for _ in range(500)]
    assert a == [gen_b.sentence() for _ in range(500)]
    assert a != [gen_c.sentence() for _ in range(500)]
    assert {s.type for s in a} == set(SENTENCE_TYPES)
    assert len({s.text for s in a}) > 490
    for s in a:
        assert MIN_WORDS <= len(s.text.split()) <= MAX_WORDS
        assert re.fullmatch(r"[a-z']+( [a-z']+)*", s.text), s.text  # no digits: numbers are spoken words
        assert re.fullmatch(r"[A-Z']+( [A-Z']+)*", to_transcript(s.text))


def test_open_class_draws_follow_zipf_weights() -> None:
    """Empirical shares of the most frequent nouns match 1/(rank+offset)^exponent, normalised."""
    gen = SentenceGenerator(3)
    nouns = gen.lex.nouns
    draws = collections.Counter(gen.noun() for _ in range(40_000))
    weights = [(rank + ZIPF_OFFSET) ** -ZIPF_EXPONENT for rank in range(len(nouns))]
    total = sum(weights)
    for rank in (0, 1, 5, 20):
        expected = weights[rank] / total
        assert abs(draws[nouns[rank]] / 40_000 - expected) < 4 * (expected / 40_000) ** 0.5 + 1e-3


def test_lexicon_is_frequency_ordered_without_function_words() -> None:
    lex = build_lexicon()
    for words in (lex.nouns, lex.verbs, lex.adjectives):
        freqs = [wordfreq.word_frequency(w, "en") for w in words]
        assert freqs == sorted(freqs, reverse=True)
        assert not FUNCTION_WORDS & set(words)
