"""The name vocabularies: the YAML files beside this module, and the dataclasses they load into.

- reference.yaml: the reference experiment's event names, category -> names (dayplan.names.CATEGORIES).
- open.yaml: the open vocabulary that train and pool names are composed from (dayplan.names.OPEN).
- held_out.yaml: test_novel's vocabulary, disjoint from the other two (dayplan.names.HELD_OUT).

The files ship as package data (pyproject.toml) and are read through importlib.resources, so that an installed
package finds them. Draws pick list items by position: the files' order is part of every drawn name.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources

import yaml

# --- Words, for the disjointness checks ----------------------------------------------------------

_LETTER_RUN = re.compile(r"[^\W\d_]+")
_SUFFIXES = ("ing", "es", "ed", "s", "e")


def word_tokens(text: str) -> set[str]:
    """The casefolded runs of letters: 'O'Brien's Q3 check-in' -> {o, brien, s, q, check, in}."""
    return set(_LETTER_RUN.findall(text.casefold()))


def word_stem(token: str) -> str:
    """A crude stem (no accents, one suffix off), so that 'Reviews', 'reviewing' and 'révue' meet."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", token.casefold()) if not unicodedata.combining(c))
    for suffix in _SUFFIXES:
        if plain.endswith(suffix) and len(plain) - len(suffix) >= 3:
            return plain[: -len(suffix)]
    return plain


# --- Vocabularies ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Theme:
    activities: tuple[str, ...]  # what happens: "review", "check-in", "stargazing"
    objects: tuple[str, ...]  # what it is about: "budget", "iOS release", "telescope"
    places: tuple[str, ...]


@dataclass(frozen=True)
class NumberStyle:
    """prefix + an integer in [low, high] + suffix: Q3, 2nd, #14, 10k, v4, 30%."""

    prefix: str
    low: int
    high: int
    suffix: str = ""

    def draw(self, rng: random.Random) -> str:
        return f"{self.prefix}{rng.randint(self.low, self.high)}{self.suffix}"


@dataclass(frozen=True)
class Vocabulary:
    themes: dict[str, Theme]
    first_names: tuple[str, ...]
    surnames: tuple[str, ...]
    honorifics: tuple[str, ...]
    codenames: tuple[str, ...]  # shown in quotes: Project 'Nightjar' review
    numbers: tuple[NumberStyle, ...]
    connectors: dict[str, tuple[str, ...]]  # role (with, at, for, and) -> words
    possessive: str | None  # "'s" or None when the vocabulary has none

    def strings(self) -> list[str]:
        """Every piece of text a name from this vocabulary can contain (numbers without their digits)."""
        pieces = [*self.first_names, *self.surnames, *self.honorifics, *self.codenames, *self.themes]
        for theme in self.themes.values():
            pieces += [*theme.activities, *theme.objects, *theme.places]
        pieces += [f"{style.prefix} {style.suffix}" for style in self.numbers]
        pieces += [word for words in self.connectors.values() for word in words]
        return pieces + ([self.possessive] if self.possessive else [])

    def tokens(self) -> set[str]:
        return set().union(*(word_tokens(piece) for piece in self.strings()))


# --- The data: dayplan/vocabularies/*.yaml, package data (pyproject.toml) ------------------------------------

FILES = resources.files(__name__)


def read(stem: str) -> dict:
    data = yaml.safe_load((FILES / f"{stem}.yaml").read_text(encoding="utf-8"))
    _require_text(data, f"dayplan/vocabularies/{stem}.yaml")
    return data


def _require_text(node, where: str) -> None:
    """Every key and value is a string, but a number style's bounds (integers) and an absent possessive (null):
    YAML reads an unquoted `no`, `on` or `1_000` as a boolean or a number, which a draw would then print."""
    if isinstance(node, list):
        for item in node:
            _require_text(item, where)
    elif isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: {key!r}: expected a quoted string")
            if key in ("low", "high"):
                if type(value) is not int:
                    raise ValueError(f"{where}: {key}: {value!r}: expected an integer")
            elif not (key == "possessive" and value is None):
                _require_text(value, f"{where}: {key}")
    elif not isinstance(node, str):
        raise ValueError(f"{where}: {node!r}: expected a quoted string")


def load_vocabulary(stem: str) -> Vocabulary:
    """open.yaml or held_out.yaml, lists as tuples; a missing or unknown key fails here rather than mid-draw."""
    raw = read(stem)
    themes = {name: Theme(**{k: tuple(v) for k, v in theme.items()}) for name, theme in raw.pop("themes").items()}
    numbers = tuple(NumberStyle(**style) for style in raw.pop("numbers"))
    connectors = {role: tuple(words) for role, words in raw.pop("connectors").items()}
    lists = {key: tuple(value) for key, value in raw.items() if isinstance(value, list)}
    return Vocabulary(**(raw | lists), themes=themes, numbers=numbers, connectors=connectors)
