"""Sentences for the embedded corpus: assistant-domain templates and simple natural sentences.

DESIGN §6 measured that strings of random words are nearly unlearnable on a CPU budget, while templates and
subject-verb-object sentences are learnt well. So every sentence here has a grammar: either an on-device
assistant request with slot fillers (names, places, numbers, times, apps) or a subject-verb-object sentence
whose nouns, verbs and adjectives come from part-of-speech lists derived from wordfreq's frequent English
words (by morphology: a word with a plural is a noun, one with -ed/-ing forms a verb, ...). The large
open-class lists keep the vocabulary well above 2,000 words, so model capacity matters.

Numbers, times and dates are always written out as words: the text espeak-ng reads is the transcript.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from todm.data.lexicon import Lexicon, build_lexicon, zipf_cum_weights
from todm.data.spoken_numbers import number_to_words, ordinal_words, time_to_words, year_to_words
from todm.data.wordlists import (
    ADVERBIALS,
    APPS,
    CONTACTS,
    DETERMINERS,
    DEVICES,
    EVENTS,
    GENRES,
    MONTH_DAYS,
    MONTHS,
    NAMES,
    NEGATIONS,
    ONES,
    PLACES,
    PLURAL_DETERMINERS,
    PREPOSITIONS,
    PRONOUNS,
    ROOMS,
    SPORTS,
    STORES,
    TIMES_OF_DAY,
    UNITS,
    WEEKDAYS,
    WHEN,
)

MIN_WORDS, MAX_WORDS = 3, 25

# Sentence types, for per-type WER (utt2type.txt).
SENTENCE_TYPES = ("command", "question", "date_time", "number", "svo")
# svo dominates: it carries most of the vocabulary; the assistant templates carry the numbers and times.
TYPE_WEIGHTS = (0.22, 0.16, 0.10, 0.10, 0.42)


@dataclass(frozen=True)
class Sentence:
    """A transcript (lower case, words only) and its type label."""

    text: str
    type: str


class SentenceGenerator:
    """Deterministic sentence source: the same seed gives the same sentences."""

    def __init__(self, seed: int, lexicon: Lexicon | None = None) -> None:
        self.rng = random.Random(seed)
        self.lex = lexicon or build_lexicon()

    # -- slot fillers -------------------------------------------------------------------------------
    def pick(self, items: tuple[str, ...] | list[str]) -> str:
        return self.rng.choice(items)

    def open_class(self, words: tuple[str, ...]) -> str:
        """A Zipf-weighted draw from a frequency-ordered open-class list."""
        return self.rng.choices(words, cum_weights=zipf_cum_weights(len(words)))[0]

    def noun(self) -> str:
        return self.open_class(self.lex.nouns)

    def verb(self) -> str:
        return self.open_class(self.lex.verbs)

    def adjective(self) -> str:
        return self.open_class(self.lex.adjectives)

    def number(self, high: int = 100) -> str:
        # Log-uniform: small numbers are common, but large ones exercise "thousand", "million".
        value = int(10 ** self.rng.uniform(0, math.log10(high)))
        return number_to_words(value, british_and=self.rng.random() < 0.3)

    def time(self) -> str:
        return time_to_words(
            self.rng.randint(1, 12),
            self.rng.choice((0, 5, 10, 15, 20, 30, 40, 45, 50, self.rng.randint(1, 59))),
            self.rng.randint(0, 5),
        )

    def date(self) -> str:
        month = self.rng.randrange(12)
        day = ordinal_words(self.rng.randint(1, MONTH_DAYS[month]))
        forms = (
            f"{MONTHS[month]} {day}",
            f"the {day} of {MONTHS[month]}",
            f"{self.pick(WEEKDAYS)} the {day}",
        )
        return self.pick(forms)

    def digits(self, count: int) -> str:
        return " ".join(self.pick(ONES[:10]) for _ in range(count))

    def noun_phrase(self, allow_plural: bool = True) -> str:
        lex, r = self.lex, self.rng.random()
        if r < 0.08:
            return self.pick(NAMES)
        if r < 0.14:
            return f"{self.pick(NAMES)}'s {self.noun()}"
        adjective = f"{self.adjective()} " if self.rng.random() < 0.45 else ""
        noun = self.noun()
        if allow_plural and self.rng.random() < 0.3:
            return f"{self.pick(PLURAL_DETERMINERS)} {adjective}{lex.plurals[noun]}"
        det = self.pick(DETERMINERS)
        if det == "a" and (adjective or noun)[0] in "aeiou":
            det = "an"
        return f"{det} {adjective}{noun}"

    def prep_phrase(self) -> str:
        return f"{self.pick(PREPOSITIONS)} {self.noun_phrase()}"

    def verb_phrase(self) -> str:
        """Base-form verb phrase, e.g. 'clean the old kitchen table'."""
        return f"{self.verb()} {self.noun_phrase()}"

    # -- sentence types -----------------------------------------------------------------------------
    def svo(self) -> str:
        lex, r = self.lex, self.rng.random()
        subject = self.pick(PRONOUNS) if self.rng.random() < 0.25 else self.noun_phrase()
        verb = self.verb()
        if r < 0.55:
            predicate = f"{lex.past[verb]} {self.noun_phrase()}"
        elif r < 0.7:
            predicate = f"will {verb} {self.noun_phrase()}"
        elif r < 0.8:
            predicate = (
                f"{self.pick(('can', 'should', 'might', 'must', 'could'))} {verb} {self.noun_phrase()}"
            )
        elif r < 0.87:
            predicate = f"{self.pick(NEGATIONS)} {verb} {self.noun_phrase()}"
        else:
            predicate = (
                f"{self.pick(('never', 'always', 'often', 'once'))} {lex.past[verb]} {self.noun_phrase()}"
            )
        parts = [subject, predicate]
        if self.rng.random() < 0.5:
            parts.append(self.prep_phrase())
        if self.rng.random() < 0.25:
            parts.append(self.pick(ADVERBIALS))
        if self.rng.random() < 0.2:
            parts += [
                self.pick(("because", "and", "but", "while", "so", "when")),
                self.noun_phrase(),
                lex.past[self.verb()],
                self.noun_phrase(),
            ]
        return " ".join(parts)

    def command(self) -> str:
        options = (
            lambda: f"set an alarm for {self.time()} {self.pick(TIMES_OF_DAY)}",
            lambda: f"wake me up at {self.time()}",
            lambda: f"call {self.pick(NAMES + CONTACTS)}",
            lambda: f"send a message to {self.pick(NAMES + CONTACTS)} saying {self.svo()}",
            lambda: f"text {self.pick(NAMES)} that i'll be {self.number(60)} minutes late",
            lambda: (
                f"play some {self.pick(GENRES)} music on {self.pick(('spotify', 'youtube', 'the radio'))}"
            ),
            lambda: f"play the new album by {self.pick(NAMES)} {self.noun()}",
            lambda: f"turn {self.pick(('on', 'off'))} the {self.pick(DEVICES)} in the {self.pick(ROOMS)}",
            lambda: f"dim the lights in the {self.pick(ROOMS)} to {self.number(100)} percent",
            lambda: f"open {self.pick(APPS)} and show me {self.noun_phrase()}",
            lambda: f"navigate to the nearest {self.pick(STORES)} in {self.pick(PLACES)}",
            lambda: f"remind me to {self.verb_phrase()} {self.pick(WHEN)}",
            lambda: f"add {self.noun()} and {self.noun()} to my shopping list",
            lambda: f"set a timer for {self.number(90)} minutes",
            lambda: f"cancel my {self.pick(EVENTS)} with {self.pick(NAMES)} {self.pick(WHEN)}",
            lambda: f"please {self.verb_phrase()} {self.prep_phrase()}",
            lambda: f"don't forget to {self.verb_phrase()}",
            lambda: f"let's {self.verb_phrase()} {self.pick(WHEN)}",
            lambda: f"take a picture of {self.noun_phrase()}",
            lambda: f"find {self.noun_phrase(allow_plural=False)} {self.prep_phrase()}",
        )
        return self.pick(options)()

    def question(self) -> str:
        lex = self.lex
        options = (
            lambda: f"what's the weather like in {self.pick(PLACES)} {self.pick(WHEN)}",
            lambda: f"is it going to rain in {self.pick(PLACES)} {self.pick(WHEN)}",
            lambda: f"how long does it take to drive from {self.pick(PLACES)} to {self.pick(PLACES)}",
            lambda: f"what time is it in {self.pick(PLACES)}",
            lambda: f"who won the {self.pick(SPORTS)} game {self.pick(('last night', 'yesterday', 'today'))}",
            lambda: f"where is the nearest {self.pick(STORES)}",
            lambda: f"when does {self.pick(NAMES)}'s flight from {self.pick(PLACES)} land",
            lambda: f"why did {self.noun_phrase()} {self.verb()} {self.noun_phrase()}",
            lambda: f"can you {self.verb_phrase()} {self.prep_phrase()}",
            lambda: f"do you know where {self.noun_phrase()} {self.pick(('is', 'was'))}",
            lambda: f"what is the {self.adjective()} {self.noun()} {self.prep_phrase()}",
            lambda: f"how many {lex.plurals[self.noun()]} did {self.pick(NAMES)} {self.verb()}",
            lambda: f"have you seen {self.noun_phrase()}",
            lambda: f"isn't {self.noun_phrase(allow_plural=False)} {self.adjective()}",
        )
        return self.pick(options)()

    def date_time(self) -> str:
        options = (
            lambda: (
                f"schedule a {self.pick(EVENTS)} with {self.pick(NAMES)} on {self.date()} at {self.time()}"
            ),
            lambda: f"my {self.pick(EVENTS)} is on {self.pick(WEEKDAYS)} at {self.time()}",
            lambda: f"what day of the week is {self.date()}",
            lambda: f"remind me on {self.date()} to {self.verb_phrase()}",
            lambda: f"the {self.noun()} was built in {year_to_words(self.rng.randint(1800, 2030))}",
            lambda: f"it's {self.time()} {self.pick(TIMES_OF_DAY)}",
            lambda: f"move my {self.pick(EVENTS)} from {self.time()} to {self.time()}",
            lambda: (
                f"{self.pick(NAMES)} was born on {self.date()} {year_to_words(self.rng.randint(1920, 2024))}"
            ),
            lambda: f"the train to {self.pick(PLACES)} leaves at {self.time()} on {self.date()}",
        )
        return self.pick(options)()

    def number_sentence(self) -> str:
        lex = self.lex
        options = (
            lambda: (
                f"what is {self.number(1000)} {self.pick(('plus', 'minus', 'times'))} {self.number(1000)}"
            ),
            lambda: f"convert {self.number(500)} {self.pick(UNITS)} to {self.pick(UNITS)}",
            lambda: f"the total comes to {self.number(1000)} dollars and {self.number(99)} cents",
            lambda: f"call {self.digits(self.rng.randint(3, 10))}",
            lambda: f"set the temperature to {self.number(90)} degrees",
            lambda: f"i need {self.number(50)} {lex.plurals[self.noun()]} for the {self.pick(EVENTS)}",
            lambda: f"{self.pick(PLACES)} has about {self.number(10**8)} people",
            lambda: f"we sold {self.number(10**6)} {lex.plurals[self.noun()]} last year",
            lambda: f"my room number is {self.number(999)}",
            lambda: f"page {self.number(600)} of {self.noun_phrase(allow_plural=False)}",
        )
        return self.pick(options)()

    def sentence(self) -> Sentence:
        """One sentence with MIN_WORDS..MAX_WORDS words and its type."""
        makers = {
            "command": self.command,
            "question": self.question,
            "date_time": self.date_time,
            "number": self.number_sentence,
            "svo": self.svo,
        }
        kind = self.rng.choices(SENTENCE_TYPES, TYPE_WEIGHTS)[0]
        while True:
            text = makers[kind]()
            if MIN_WORDS <= len(text.split()) <= MAX_WORDS:
                return Sentence(text, kind)


def to_transcript(text: str) -> str:
    """LibriSpeech transcript form: upper case words (A-Z and apostrophe) separated by single spaces."""
    return " ".join(text.upper().split())
