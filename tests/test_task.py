"""dayplan.task: the exact optimum against brute force, times, overlaps, prompts and the solver's answers."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dayplan.rewards import format_reward
from dayplan.task import (
    SYSTEM_PROMPT,
    USER_PROMPT_HEADER,
    Event,
    Instance,
    chat_messages,
    format_time,
    judge,
    overlaps,
    parse_time,
    solve,
    solver_completion,
    user_prompt,
)

# A coarse grid (15-minute steps over 3 hours) forces ties, identical, touching and nested intervals.
GRID = st.integers(min_value=36, max_value=48).map(lambda q: q * 15)


@st.composite
def instances(draw, max_events: int = 8) -> Instance:
    n = draw(st.integers(min_value=0, max_value=max_events))
    events = []
    for i in range(n):
        start = draw(GRID)
        length = draw(st.integers(min_value=1, max_value=8)) * 15
        events.append(Event(f"E{i}", format_time(start), format_time(start + length)))
    if events and draw(st.booleans()):  # an exact duplicate interval under another name
        twin = draw(st.sampled_from(events))
        events.append(Event(f"E{n}", twin.start, twin.end))
    names = [e.name for e in events]
    priorities = draw(st.sets(st.sampled_from(names))) if names else set()
    return Instance(tuple(events), frozenset(priorities))


def feasible(schedule: list[Event]) -> bool:
    return all(not overlaps(a, b) for a, b in combinations(schedule, 2))


def brute_force(instance: Instance) -> int:
    events = instance.events
    return max(
        instance.value(subset)
        for k in range(len(events) + 1)
        for subset in combinations(events, k)
        if feasible(list(subset))
    )


@settings(max_examples=300, deadline=None)
@given(instances())
def test_solve_matches_brute_force(instance):
    value, schedule = solve(instance)
    assert value == brute_force(instance)
    assert feasible(schedule)
    assert [e.start_min for e in schedule] == sorted(e.start_min for e in schedule)
    assert instance.value(schedule) == value
    assert set(schedule) <= set(instance.events)


@settings(max_examples=100, deadline=None)
@given(instances(max_events=6))
def test_solver_completion_is_judged_optimal(instance):
    if solve(instance)[0] == 0 or len(solve(instance)[1]) < 2:
        return  # the judge needs 2+ events and a positive optimum
    completion = solver_completion(instance)
    assert judge(completion, instance).score == pytest.approx(100.0)
    assert format_reward([completion]) == [10.0]


def test_solve_edge_cases():
    assert solve(Instance((), frozenset())) == (0, [])
    touching = Instance.from_row([["a", "09:00", "10:00"], ["b", "10:00", "11:00"]], [])
    assert solve(touching)[0] == 120  # touching events both fit
    nested = Instance.from_row([["outer", "09:00", "12:00"], ["inner", "10:00", "11:00"]], ["inner"])
    assert solve(nested) == (180, [Event("outer", "09:00", "12:00")])


def test_small_instance(small_instance):
    value, schedule = solve(small_instance)
    assert value == 180
    assert [e.name for e in schedule] == ["A", "C"]


@pytest.mark.parametrize(
    ("text", "minutes"), [("00:00", 0), ("09:05", 545), ("12:00", 720), ("23:59", 1439), ("19:56", 1196)]
)
def test_parse_and_format_time(text, minutes):
    assert parse_time(text) == minutes
    assert format_time(minutes) == text


@pytest.mark.parametrize("text", ["24:00", "25:00", "12:60", "9:00", "09:0", "0900", " 09:00", "09:00 ", "", "ab:cd"])
def test_parse_time_rejects(text):
    with pytest.raises(ValueError):
        parse_time(text)


@pytest.mark.parametrize("minutes", [-1, 1440, 10_000])
def test_format_time_rejects(minutes):
    with pytest.raises(ValueError):
        format_time(minutes)


@given(st.integers(min_value=0, max_value=1439))
def test_time_round_trip(minutes):
    assert parse_time(format_time(minutes)) == minutes


def test_overlaps():
    a = Event("a", "09:00", "10:00")
    touching = Event("b", "10:00", "11:00")
    inside = Event("c", "09:15", "09:45")
    crossing = Event("d", "09:59", "10:30")
    apart = Event("e", "10:01", "11:00")
    assert not overlaps(a, touching) and not overlaps(touching, a)
    assert overlaps(a, touching, touching=True) and overlaps(touching, a, touching=True)
    assert overlaps(a, inside) and overlaps(inside, a)
    assert overlaps(a, crossing) and overlaps(crossing, a)
    assert overlaps(a, a)
    assert not overlaps(a, apart) and not overlaps(a, apart, touching=True)


def test_instance_text():
    instance = Instance.from_row(
        [["Late", "18:00", "19:00"], ["Early", "08:00", "09:30"], ["Mid", "12:00", "12:45"]], ["Late", "Early"]
    )
    assert instance.text() == (
        "Events:\n"
        "- Early (08:00 - 09:30)\n"
        "- Mid (12:00 - 12:45)\n"
        "- Late (18:00 - 19:00)\n"
        "\n"
        "Priorities:\n"
        "- Early\n"
        "- Late"
    )


def test_system_prompt():
    lines = SYSTEM_PROMPT.split("\n")
    assert len(lines) == 3
    assert lines[0] == "You are a precise event scheduler."
    assert lines[1].startswith("1. First, reason through the problem inside <think> and </think> tags.")
    assert lines[2].startswith("2. When confident, output the final schedule inside <schedule> and </schedule> tags.")


def test_user_prompt(small_instance):
    text = small_instance.text()
    prompt = user_prompt(text)
    assert prompt.startswith("Task: create an optimized schedule based on the given events.")
    assert prompt.endswith("---\n\n" + text)
    assert prompt == USER_PROMPT_HEADER + text
    for rule in ("strict chronological order", "ABSOLUTE", "weight = 2", "No overlaps allowed"):
        assert rule in prompt
    assert chat_messages(text) == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": prompt},
    ]


def test_solver_completion(small_instance):
    completion = solver_completion(small_instance)
    assert completion.startswith("<think>") and completion.endswith("</schedule>")
    assert "Total weighted duration: 180." in completion
    assert "B 09:30-11:00, overlaps A\nC 11:00-12:00\n" in completion  # touching is not overlapping
    assert "A (120) overlaps B (90): keep A." in completion
    verdict = judge(completion, small_instance)
    assert verdict.score == 100.0 and verdict.broken_rule is None and verdict.value == 180
    assert format_reward([completion]) == [10.0]
