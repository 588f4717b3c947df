"""Numbers, ordinals, clock times and years written out as spoken English words.

The embedded corpus never writes digits: the text espeak-ng reads is the transcript, so "325" must appear as
"three hundred twenty five" in both.
"""

from __future__ import annotations

from todm.data.wordlists import ONES, ORDINAL_IRREGULAR, TENS


def number_to_words(n: int, british_and: bool = False) -> str:
    """0 <= n < 10**9 as English words, e.g. 325 -> 'three hundred twenty five'."""
    if not 0 <= n < 10**9:
        raise ValueError(f"number out of range: {n}")
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    for size, name in ((10**6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            head, rest = divmod(n, size)
            words = f"{number_to_words(head)} {name}"
            if rest:
                joiner = " and " if british_and and rest < 100 else " "
                words += joiner + number_to_words(rest, british_and)
            return words
    raise AssertionError("unreachable")


def ordinal_words(n: int) -> str:
    """1 -> 'first', 21 -> 'twenty first', 30 -> 'thirtieth'."""
    *head, last = number_to_words(n).split()
    if last in ORDINAL_IRREGULAR:
        last = ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return " ".join([*head, last])


def time_to_words(hour: int, minute: int, style: int = 0) -> str:
    """A clock time (12-hour) as spoken; `style` picks one of several spoken forms."""
    h = ONES[hour] if hour < 20 else number_to_words(hour)
    if minute == 0:
        return f"{h} o'clock" if style % 2 == 0 else h
    if minute == 30 and style % 3 == 1:
        return f"half past {h}"
    if minute == 15 and style % 3 == 1:
        return f"a quarter past {h}"
    if minute < 10:
        return f"{h} oh {ONES[minute]}"
    return f"{h} {number_to_words(minute)}"


def year_to_words(year: int) -> str:
    """1985 -> 'nineteen eighty five', 2005 -> 'two thousand five', 2024 -> 'twenty twenty four'."""
    head, tail = divmod(year, 100)
    if 2000 <= year < 2010:
        return number_to_words(year)
    if tail == 0:
        return f"{number_to_words(head)} hundred"
    return f"{number_to_words(head)} {'oh ' + ONES[tail] if tail < 10 else number_to_words(tail)}"
