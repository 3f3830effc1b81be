"""Feasible decoding's grammar (dayplan/rules/feasibility.py): it allows exactly the answers the judge finds valid.

xgrammar, the engine both inference paths use, decides what the grammar accepts; the judge decides what is
valid. For any instance (names with quotes, backslashes, accents) and any list of its events in any order,
the two agree; the solver's answer is always allowed; and the grammar grows linearly with the events.
"""

from __future__ import annotations

import random

import pytest
from conftest import ReferenceDataParams
from hypothesis import given, settings
from hypothesis import strategies as st
from test_grounding import instances

from dayplan.data import draw_instance
from dayplan.names import NAME_SOURCES
from dayplan.rules.feasibility import chronological, ebnf_string, feasible_grammar, followers
from dayplan.task import Event, Instance, judge, schedule_xml, solver_completion

xgrammar = pytest.importorskip("xgrammar")
from xgrammar.testing import _is_grammar_accept_string as accepts  # noqa: E402


def grammar(instance: Instance):
    return xgrammar.Grammar.from_ebnf(feasible_grammar(instance))


def answer(events) -> str:
    return f"<think>weighing the conflicts</think>\n{schedule_xml(events)}"


@settings(max_examples=80, deadline=None)
@given(instance=instances(), data=st.data())
def test_the_grammar_accepts_exactly_the_valid_answers(instance, data):
    chosen = data.draw(st.lists(st.sampled_from(instance.events), max_size=6))
    valid = judge(answer(chosen), instance).broken_rule is None
    has_valid_pair = any(judge(answer(sorted_pair), instance).broken_rule is None for sorted_pair in _pairs(instance))
    expected = valid or (not has_valid_pair and _single_or_none(chosen))
    assert accepts(grammar(instance), answer(chosen)) == expected


def _pairs(instance: Instance) -> list[list[Event]]:
    events = chronological(instance.events)
    return [[a, b] for i, a in enumerate(events) for b in events[i + 1 :]]


def _single_or_none(chosen: list[Event]) -> bool:
    """With no two compatible events the judge has no valid answer; the grammar then allows any one event."""
    return len(set(chosen)) == len(chosen) <= 1


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), source=st.sampled_from(sorted(NAME_SOURCES)))
def test_the_solver_answer_is_allowed_for_generated_instances(seed, source):
    instance = draw_instance(random.Random(seed), ReferenceDataParams, NAME_SOURCES[source])
    assert accepts(grammar(instance), solver_completion(instance))


def test_renamed_retimed_overlapping_or_unsorted_answers_are_refused():
    a, b, c = Event('Lot "12" \\ é', "09:00", "10:00"), Event("Gym", "10:00", "11:00"), Event("Call", "09:30", "10:30")
    instance = Instance((a, b, c), frozenset({"Gym"}))
    assert accepts(grammar(instance), answer([a, b]))  # touching is not an overlap
    for wrong in ([b, a], [a, c], [a, a], [a, Event("Gym", "10:00", "11:30")], [a, Event("gym", "10:00", "11:00")]):
        assert not accepts(grammar(instance), answer(wrong)), wrong


def test_followers_are_the_events_starting_at_or_after_an_end():
    events = chronological(
        [
            Event("a", "09:00", "10:00"),
            Event("b", "09:30", "09:45"),
            Event("c", "10:00", "10:15"),
            Event("d", "11:00", "11:30"),
        ]
    )
    assert followers(events) == [2, 2, 3, 4]


def test_the_grammar_grows_linearly_and_quotes_any_name():
    assert ebnf_string('a"b\\c\n\x01') == '"a\\"b\\\\c\\n\\u0001"'
    events = tuple(Event(f"e{i}", f"{8 + i // 4:02d}:{i % 4 * 15:02d}", f"{9 + i // 4:02d}:00") for i in range(12))
    text = feasible_grammar(Instance(events, frozenset()))
    assert len(text.splitlines()) <= 1 + 3 * 13 + 12  # root, s/b/a a position, one rule an event
