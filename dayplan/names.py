"""Event names: the reference list, and an open compositional vocabulary with a held-out twin.

Three sources of names, each a function (rng, n) -> n distinct names for one instance:

- `reference_names`: the reference experiment's fixed list (CATEGORIES, 246 names in 7 categories), one
  category per instance. The `test` split keeps it, so that its scores stay comparable with the
  reference experiment and with earlier runs.
- `open_names`: train and pool. Names composed from a large vocabulary (activities x objects x people x
  places x quoted titles x numbers, in several casings, 1 to 8 words), so that a model must copy the
  names from the prompt rather than recall a list; a share of the instances still use the reference
  list, so that `test` stays within the training distribution.
  A share of the composed instances replace some of their words with made-up ones (`nonce_word`), so
  that copying a word the model has never seen is part of training, not only of `test_novel`.
- `held_out_names`: the `test_novel` split. The same grammar over a second vocabulary whose words,
  themes, people, connectors and number styles never occur in the open vocabulary or the reference
  list (tests/test_names.py checks the letter runs, and their crude stems, on both sides).

Every name is safe for the prompt and the answer format (`is_prompt_safe`): dayplan.task renders an
event as `- NAME (HH:MM - HH:MM)` and parses `<name>([^<]+)</name>`; the warm-start trace lists
overlapping names separated by commas and ends a conflict line with `: keep NAME`.

The words themselves are data: dayplan/vocabularies/*.yaml (reference.yaml, open.yaml, held_out.yaml).
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable

# The dataclasses and the word helpers stay importable from here, as callers and tests use them.
from dayplan.vocabularies import NumberStyle as NumberStyle  # noqa: F401 (re-exported)
from dayplan.vocabularies import Theme, Vocabulary, load_vocabulary, read, word_stem, word_tokens

MAX_WORDS = 8
# A share of train/pool instances drawn from the reference list: `test` uses only those names.
REFERENCE_SHARE = 0.25
# Names of one instance mostly share a theme (a coherent day); the rest come from any theme.
SAME_THEME = 0.75
# Each of up to MAX_CLAUSES extra clauses (with a person, at a place, a number) is added with this
# probability: most names stay at 1-4 words like a calendar's, 5-8 words are the tail (every clause
# lengthens the prompt, which train.max_prompt_length and warmstart.sft.max_length must hold).
CLAUSE_PROBABILITY = 0.15
MAX_CLAUSES = 2
# Share of composed train/pool instances with made-up words, and the chance that each activity, object
# or place word of such an instance is made up: enough that recalling a vocabulary cannot pass.
NONCE_SHARE = 0.3
NONCE_RATE = 0.4

# `<` would end the parsed name; `>` and `&` read as markup; parentheses hold the times in the prompt;
# commas and colons separate names in the warm-start trace; line breaks end a prompt line.
FORBIDDEN_CHARACTERS = frozenset("<>&(),:\n\r\t")


def is_prompt_safe(name: str) -> bool:
    """True when the name survives the prompt line, the trace and the `<name>` parser unchanged."""
    return (
        bool(name)
        and name == name.strip()
        and name.isprintable()
        and "  " not in name
        and " - " not in name  # the prompt's time separator
        and not name.startswith("-")  # the prompt's bullet
        and not FORBIDDEN_CHARACTERS.intersection(name)
    )


# --- Made-up words -------------------------------------------------------------------------------

NONCE_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "tr", "sk", "gl")
NONCE_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")
NONCE_CODAS = ("", "", "n", "r", "s", "k", "x")
NONCE_WORD = re.compile(
    rf"(?:{'|'.join(sorted(NONCE_ONSETS, key=len, reverse=True))})(?:{'|'.join(NONCE_VOWELS)})"
    rf"(?:(?:{'|'.join(sorted(NONCE_ONSETS, key=len, reverse=True))})(?:{'|'.join(NONCE_VOWELS)})){{1,2}}[nrskx]?"
)


def is_nonce_word(token: str) -> bool:
    return NONCE_WORD.fullmatch(token.casefold()) is not None


def nonce_word(rng: random.Random) -> str:
    """A pronounceable made-up word of 2-3 syllables ('skoutavix'), never a held-out word or stem."""
    while True:
        syllables = rng.randint(2, 3)
        word = "".join(rng.choice(NONCE_ONSETS) + rng.choice(NONCE_VOWELS) for _ in range(syllables))
        word += rng.choice(NONCE_CODAS)
        if word_stem(word) not in _held_out_stems():
            return word


@functools.cache
def _held_out_stems() -> frozenset[str]:
    return frozenset(word_stem(token) for token in HELD_OUT.tokens())


# --- Composition -----------------------------------------------------------------------------------


def _person(rng: random.Random, v: Vocabulary) -> str:
    first, surname, title = rng.choice(v.first_names), rng.choice(v.surnames), rng.choice(v.honorifics)
    return rng.choice((first, f"{first} {surname}", f"{title} {surname}", f"{title} {first} {surname}"))


def _quoted(rng: random.Random, v: Vocabulary) -> str:
    quote = rng.choice("'\"")
    return f"{quote}{rng.choice(v.codenames)}{quote}"


# A template is a sequence of slots; connector slots (with, at, for, and) take the vocabulary's own words.
TEMPLATES = (
    "activity",
    "object activity",
    "activity with person",
    "object activity at place",
    "object quoted activity",
    "number object activity",
    "activity number",
    "activity for object",
    "object and object activity",
    "possessive object activity",
)
CLAUSES = ("with person", "at place", "number")


def _fill(slot: str, rng: random.Random, v: Vocabulary, theme: Theme, nonce_rate: float = 0.0) -> str:
    if slot in NONCE_SLOTS and rng.random() < nonce_rate:
        return nonce_word(rng)
    match slot:
        case "activity":
            return rng.choice(theme.activities)
        case "object":
            return rng.choice(theme.objects)
        case "place":
            return rng.choice(theme.places)
        case "person":
            return _person(rng, v)
        case "possessive":
            return _person(rng, v) + (v.possessive or "")
        case "quoted":
            return _quoted(rng, v)
        case "number":
            return rng.choice(v.numbers).draw(rng)
        case _:
            return rng.choice(v.connectors[slot])


NONCE_SLOTS = frozenset({"activity", "object", "place"})
# Slots whose words keep their own case in every casing style: "van der Berg", "the library", "v4".
VERBATIM_SLOTS = frozenset({"person", "possessive", "place", "quoted", "number"})


def _words(template: str, rng: random.Random, v: Vocabulary, theme: Theme, nonce_rate: float) -> list[tuple[str, bool]]:
    """(text, may change case) for each slot of the template."""
    return [(_fill(slot, rng, v, theme, nonce_rate), slot not in VERBATIM_SLOTS) for slot in template.split()]


def _capitalised(word: str) -> str:
    return word[:1].upper() + word[1:]


def _styled(rng: random.Random, words: list[tuple[str, bool]]) -> str:
    """Sentence case, title case or all lower case, applied to the words that may change case."""
    tokens = [(token, free and token.islower()) for text, free in words for token in text.split()]
    style = rng.choices(("sentence", "title", "lower"), weights=(6, 3, 1))[0]
    if style == "title":
        return " ".join(_capitalised(t) if free else t for t, free in tokens)
    first, free = tokens[0]
    if style == "sentence" and free:
        tokens[0] = (_capitalised(first), free)
    return " ".join(t for t, _ in tokens)


def compose_name(rng: random.Random, vocabulary: Vocabulary, theme: Theme, nonce_rate: float = 0.0) -> str:
    """One name of at most MAX_WORDS words: a template, then up to MAX_CLAUSES clauses, then a casing."""
    while True:
        words = _words(rng.choice(TEMPLATES), rng, vocabulary, theme, nonce_rate)
        for _ in range(MAX_CLAUSES):
            if rng.random() < CLAUSE_PROBABILITY:
                words += _words(rng.choice(CLAUSES), rng, vocabulary, theme, nonce_rate)
        texts = [text for text, _ in words]
        # a word twice reads as a slip ("Cider plus cider tasting", "with A with B")
        if len(set(texts)) == len(texts) and sum(len(text.split()) for text in texts) <= MAX_WORDS:
            return _styled(rng, words)


def compose_names(rng: random.Random, n: int, vocabulary: Vocabulary, nonce_rate: float = 0.0) -> list[str]:
    """n names, distinct even ignoring case (a reader could not tell 'Budget review' from 'budget review')."""
    themes = sorted(vocabulary.themes)
    day = rng.choice(themes)
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < n:
        theme = day if rng.random() < SAME_THEME else rng.choice(themes)
        name = compose_name(rng, vocabulary, vocabulary.themes[theme], nonce_rate)
        if name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
    return names


# --- The three sources -------------------------------------------------------------------------------


def reference_names(rng: random.Random, n: int) -> list[str]:
    """The reference drawing, call for call: one category, then n of its names."""
    return rng.sample(CATEGORIES[rng.choice(sorted(CATEGORIES))], n)


def open_names(rng: random.Random, n: int) -> list[str]:
    if rng.random() < REFERENCE_SHARE:
        return reference_names(rng, n)
    return compose_names(rng, n, OPEN, NONCE_RATE if rng.random() < NONCE_SHARE else 0.0)


def held_out_names(rng: random.Random, n: int) -> list[str]:
    return compose_names(rng, n, HELD_OUT)


def reference_tokens() -> set[str]:
    return set().union(*(word_tokens(name) for names in CATEGORIES.values() for name in names))


NameSource = Callable[[random.Random, int], list[str]]


# The data (dayplan/vocabularies/*.yaml), read once at import.
CATEGORIES: dict[str, list[str]] = read("reference")  # the reference experiment's names, one category per instance
OPEN = load_vocabulary("open")  # train and pool
HELD_OUT = load_vocabulary("held_out")  # test_novel: none of its words occur in OPEN or CATEGORIES

NAME_SOURCES: dict[str, NameSource] = {"reference": reference_names, "open": open_names, "held_out": held_out_names}
