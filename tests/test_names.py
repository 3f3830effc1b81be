"""Event names: safe for the prompt and the parser, unique per instance, held-out words disjoint by construction."""

from __future__ import annotations

import random
import re
import tomllib
from fnmatch import fnmatch
from importlib import resources

import pytest
import yaml
from conftest import ReferenceDataParams
from hypothesis import given, settings
from hypothesis import strategies as st

from dayplan import vocabularies
from dayplan.data import draw_instance
from dayplan.names import (
    CATEGORIES,
    FORBIDDEN_CHARACTERS,
    HELD_OUT,
    MAX_WORDS,
    NAME_SOURCES,
    OPEN,
    NumberStyle,
    Theme,
    compose_names,
    is_nonce_word,
    is_prompt_safe,
    nonce_word,
    reference_tokens,
    word_stem,
    word_tokens,
)
from dayplan.task import judge, parse_events, schedule_xml, solver_completion

# the prompt's event line: "- NAME (HH:MM - HH:MM)"
PROMPT_LINE = re.compile(r"- (.+) \((\d\d:\d\d) - (\d\d:\d\d)\)")
SOURCES = sorted(NAME_SOURCES)
DRAWS = 4000


def many_names(source: str, draws: int = DRAWS, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [name for _ in range(draws // 4) for name in NAME_SOURCES[source](rng, 4)]


@pytest.fixture(scope="module")
def drawn() -> dict[str, list[str]]:
    return {source: many_names(source) for source in SOURCES}


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), source=st.sampled_from(SOURCES))
def test_any_instance_round_trips_through_the_prompt_and_the_parser(seed, source):
    instance = draw_instance(random.Random(seed), ReferenceDataParams, NAME_SOURCES[source])
    lines = instance.text().splitlines()
    rendered = [PROMPT_LINE.fullmatch(line) for line in lines[1 : 1 + len(instance.events)]]
    assert [m.groups() for m in rendered] == [(e.name, e.start, e.end) for e in instance.events]
    priorities = [f"- {e.name}" for e in instance.events if e.name in instance.priorities]
    assert lines[lines.index("Priorities:") + 1 :] == priorities
    assert parse_events(schedule_xml(instance.events)) == list(instance.events)
    verdict = judge(solver_completion(instance), instance)
    assert (verdict.score, verdict.broken_rule) == (100.0, None)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), source=st.sampled_from(SOURCES), n=st.integers(1, 12))
def test_names_of_one_instance_are_distinct_even_ignoring_case(seed, source, n):
    names = NAME_SOURCES[source](random.Random(seed), n)
    assert len(names) == n
    assert len({name.casefold() for name in names}) == n


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), source=st.sampled_from(SOURCES))
def test_the_same_seed_draws_the_same_names(seed, source):
    assert NAME_SOURCES[source](random.Random(seed), 6) == NAME_SOURCES[source](random.Random(seed), 6)


def test_every_drawn_name_is_prompt_safe_and_short(drawn):
    for names in drawn.values():
        assert all(is_prompt_safe(name) for name in names)
        assert max(len(name.split()) for name in names) <= MAX_WORDS


@pytest.mark.parametrize("name", ["", " Lunch", "Lunch ", "A  B", "Lunch (team)", "a, b", "Q3: review", "x<y", "- A"])
def test_unsafe_names_are_recognised(name):
    assert not is_prompt_safe(name)


def test_vocabulary_pieces_hold_no_forbidden_character():
    for vocabulary in (OPEN, HELD_OUT):
        assert not [piece for piece in vocabulary.strings() if FORBIDDEN_CHARACTERS.intersection(piece)]


@pytest.mark.parametrize("vocabulary", [OPEN, HELD_OUT], ids=["open", "held_out"])
def test_compositional_names_span_one_to_eight_words(vocabulary):
    rng = random.Random(1)
    lengths = {len(name.split()) for _ in range(500) for name in compose_names(rng, 4, vocabulary)}
    assert lengths == set(range(1, MAX_WORDS + 1))


@pytest.mark.parametrize("source", ["open", "held_out"])
def test_names_carry_accents_apostrophes_hyphens_quotes_numbers_and_mixed_capitals(drawn, source):
    text = "\n".join(drawn[source])
    features = {
        "accent": r"[À-ž]",
        "apostrophe": r"\w'\w",
        "hyphen": r"\w-\w",
        "quoted title": r"(['\"])[A-Z][\w-]*( \w+)?\1",
        "number": r"\d",
        "mixed capitals": r"\b[a-z]+[A-Z]|[A-Z]{2,}[a-z]*|Ma?c[A-Z]",
    }
    assert [feature for feature, pattern in features.items() if not re.search(pattern, text)] == []


def test_open_names_mix_reference_and_composed_names(drawn):
    reference = {name for names in CATEGORIES.values() for name in names}
    in_reference = sum(name in reference for name in drawn["open"]) / len(drawn["open"])
    assert 0.1 < in_reference < 0.5


def test_reference_names_come_from_the_reference_list(drawn):
    reference = {name for names in CATEGORIES.values() for name in names}
    assert set(drawn["reference"]) <= reference


def test_held_out_words_never_occur_in_the_open_vocabulary_or_the_reference_list():
    seen_in_training = OPEN.tokens() | reference_tokens()
    assert HELD_OUT.tokens().isdisjoint(seen_in_training)
    assert {word_stem(t) for t in HELD_OUT.tokens()}.isdisjoint({word_stem(t) for t in seen_in_training})


def test_held_out_themes_are_new_categories():
    assert set(HELD_OUT.themes).isdisjoint({*OPEN.themes, *CATEGORIES})


def test_drawn_names_use_only_their_own_vocabulary_words_or_made_up_ones(drawn):
    """So the vocabulary-level disjointness covers every name the generator can draw."""
    open_tokens = set().union(*(word_tokens(name) for name in drawn["open"]))
    made_up = {token for token in open_tokens - OPEN.tokens() - reference_tokens() if is_nonce_word(token)}
    assert made_up, "some training names carry made-up words"
    assert open_tokens <= OPEN.tokens() | reference_tokens() | made_up
    assert set().union(*(word_tokens(name) for name in drawn["held_out"])) <= HELD_OUT.tokens()


@given(seed=st.integers(0, 2**32))
def test_made_up_words_never_meet_a_held_out_stem(seed):
    word = nonce_word(random.Random(seed))
    assert is_nonce_word(word)
    assert word_stem(word) not in {word_stem(token) for token in HELD_OUT.tokens()}


def test_drawn_held_out_and_training_names_share_no_word(drawn):
    held_out = set().union(*(word_tokens(name) for name in many_names("held_out", seed=7)))
    training = set().union(*(word_tokens(name) for name in drawn["open"] + drawn["reference"]))
    assert held_out and training
    assert held_out.isdisjoint(training)


def test_word_stems_meet_across_plurals_verb_forms_case_and_accents():
    assert word_stem("Reviews") == word_stem("reviewing") == word_stem("review")
    assert word_stem("Café") == word_stem("cafe")
    assert word_tokens("O'Brien's Q3 check-in") == {"o", "brien", "s", "q", "check", "in"}


# --- The data files: dayplan/vocabularies/*.yaml ---------------------------------------------------------------

VOCABULARY_FILES = ["held_out.yaml", "open.yaml", "reference.yaml"]


def test_the_vocabulary_files_load_through_importlib_resources_as_the_module_data():
    """What an installed package reads (pyproject.toml's package data): the files' order is the drawn names'."""
    files = resources.files("dayplan.vocabularies")
    assert sorted(entry.name for entry in files.iterdir() if entry.name.endswith(".yaml")) == VOCABULARY_FILES
    reference = yaml.safe_load((files / "reference.yaml").read_text(encoding="utf-8"))
    assert list(reference.items()) == list(CATEGORIES.items())
    for stem, vocabulary in (("open", OPEN), ("held_out", HELD_OUT)):
        raw = yaml.safe_load((files / f"{stem}.yaml").read_text(encoding="utf-8"))
        assert list(raw["themes"]) == list(vocabulary.themes)
        assert [list(v) for t in vocabulary.themes.values() for v in vars(t).values()] == [
            v for t in raw["themes"].values() for v in t.values()
        ]
        assert [list(vocabulary.first_names), list(vocabulary.codenames)] == [raw["first_names"], raw["codenames"]]
        assert [(s.prefix, s.low, s.high, s.suffix) for s in vocabulary.numbers] == [
            (s["prefix"], s["low"], s["high"], s.get("suffix", "")) for s in raw["numbers"]
        ]
        assert {role: list(words) for role, words in vocabulary.connectors.items()} == raw["connectors"]


@pytest.mark.parametrize("vocabulary", [OPEN, HELD_OUT], ids=["open", "held_out"])
def test_vocabularies_hold_tuples_of_strings(vocabulary):
    def texts(items) -> bool:
        return isinstance(items, tuple) and all(isinstance(item, str) for item in items)

    assert all(
        isinstance(t, Theme) and texts(t.activities) and texts(t.objects) and texts(t.places)
        for t in vocabulary.themes.values()
    )
    assert all(texts(getattr(vocabulary, key)) for key in ("first_names", "surnames", "honorifics", "codenames"))
    assert isinstance(vocabulary.numbers, tuple) and all(isinstance(s, NumberStyle) for s in vocabulary.numbers)
    assert all(texts(words) for words in vocabulary.connectors.values())
    assert all(isinstance(names, list) and all(isinstance(n, str) for n in names) for names in CATEGORIES.values())


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("first_names: [Anna, no]", r"held_out.yaml: first_names: False: expected a quoted string"),
        ("codenames: [Apollo, 1_000]", r"codenames: 1000: expected a quoted string"),
        ("connectors: {on: [at]}", r"connectors: True: expected a quoted string"),
        ("numbers: [{prefix: '', low: '1', high: 2}]", r"numbers: low: '1': expected an integer"),
    ],
)
def test_an_unquoted_word_that_yaml_reads_as_another_type_is_refused(tmp_path, monkeypatch, text, error):
    (tmp_path / "held_out.yaml").write_text(text)
    monkeypatch.setattr(vocabularies, "FILES", tmp_path)
    with pytest.raises(ValueError, match=error):
        vocabularies.load_vocabulary("held_out")


def test_the_vocabulary_files_ship_as_package_data(repo_root):
    setuptools = tomllib.loads((repo_root / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "dayplan.vocabularies" in setuptools["packages"]
    globs = setuptools["package-data"]["dayplan.vocabularies"]
    assert [name for name in VOCABULARY_FILES if not any(fnmatch(name, glob) for glob in globs)] == []


def test_stages_that_read_the_names_depend_on_the_vocabulary_files(repo_root):
    stages = yaml.safe_load((repo_root / "dvc.yaml").read_text())["stages"]
    readers = [name for name, stage in stages.items() if "dayplan/names.py" in stage.get("deps", [])]
    assert "generate" in readers
    assert [name for name in readers if "dayplan/vocabularies" not in stages[name]["deps"]] == []
