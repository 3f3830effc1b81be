"""dayplan.task: the exact optimum against brute force, times, overlaps, prompts and the solver's answers."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dayplan.rewards import format_reward
from dayplan.rules.solver import (
    TRACES,
    event_letters,
    label,
    labels,
    overlap_groups,
    schedule_line,
    traced_choice,
    worked_duration,
    written_weights,
)
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


@pytest.mark.parametrize("trace", TRACES)
@settings(max_examples=100, deadline=None)
@given(instance=instances(max_events=6))
def test_solver_completion_is_judged_optimal(trace, instance):
    if solve(instance)[0] == 0 or len(solve(instance)[1]) < 2:
        return  # the judge needs 2+ events and a positive optimum
    completion = solver_completion(instance, trace)
    assert judge(completion, instance).score == pytest.approx(100.0)
    assert format_reward([completion]) == [10.0]


@pytest.mark.parametrize("trace_name", ["dp", "dpm", "dpl"])
@settings(max_examples=200, deadline=None)
@given(instance=instances())
def test_dp_trace_keeps_the_optimum_of_each_group(trace_name, instance):
    """The last line of each group in the dp traces keeps exactly the solver's events of that group, with
    the group's optimum as its value; a Kept line closes each run (an event alone included); the worked
    weights are the instance's; the trace's last line lists the schedule, the Kept lines joined, which is
    what traced_choice reads from the groups' lines. dpl writes each event's letter where the others write
    its name, and its Schedule line each letter with its name."""
    completion = solver_completion(instance, trace_name)
    trace = completion.split("</think>")[0]
    ordered = sorted(instance.events, key=lambda e: (e.start_min, e.end_min))
    letters = event_letters(ordered) if trace_name == "dpl" else [e.name for e in ordered]
    ident = {e.name: letter for e, letter in zip(ordered, letters)}
    groups = [g for g in overlap_groups(ordered) if len(g) > 1]
    schedule = solve(instance)[1]
    chosen = {ident[e.name] for e in schedule}
    listed = (f"{ident[e.name]} {e.name}" if trace_name == "dpl" else e.name for e in schedule)
    assert trace.endswith(f"\nSchedule: {', '.join(listed)}.")
    assert traced_choice(completion, instance) == {e.name for e in schedule}
    assert schedule_line(completion, instance) == [e.name for e in schedule]
    if not groups:
        assert "No overlaps: every event fits." in trace
        return
    best_lines = trace.split("in each group of overlapping events:\n")[1].split("\nTotal")[0].split("\n")
    kept_lines = [line for line in best_lines if line.startswith("Kept: ")]
    assert ", ".join(line[6:-1] for line in kept_lines) == ", ".join(ident[e.name] for e in schedule)
    assert len(best_lines) == len(ordered) + sum(1 for g in groups)
    for run in overlap_groups(ordered):
        lines, best_lines = best_lines[: len(run) + (len(run) > 1)], best_lines[len(run) + (len(run) > 1) :]
        assert lines[-1].startswith("Kept: ")
        if len(run) == 1:
            continue
        head, kept = lines[-2].split(", keep ")
        assert set(kept.rstrip(".").split(", ")) == {ident[e.name] for e in run} & chosen
        taken, *skipped = head.split(": ")[1].split(" vs ")
        best = max(int(taken.split(" = ")[-1]), *(int(v) for v in skipped))
        assert best == instance.value([e for e in run if ident[e.name] in chosen])
    for event in (e for g in groups for e in g):
        assert worked_duration(instance, event, trace_name != "dp", ident[event.name]) in trace
    assert {(e, w) for e, w in written_weights(completion, instance)} >= {
        (e, instance.weight(e) * e.duration) for g in groups for e in g
    }


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 1438), st.integers(1, 1439), st.booleans())
def test_worked_duration_steps_add_up(start, length, priority):
    """Hours, then quarters, then the rest: every step's time is the start plus its running total, and
    the last is the end and the duration (any start, any length, not only the generator's quarters)."""
    end = min(start + length, 1439)
    event = Event("X", format_time(start), format_time(end))
    instance = Instance((event,), frozenset({"X"} if priority else ()))
    text = worked_duration(instance, event)
    steps = [step.split(" is ") for step in text.removeprefix("X: ").split(" min")[0].split(", ")]
    totals = [int(total) for _, total in steps]
    assert [parse_time(time) for time, _ in steps] == [start + total for total in totals]
    assert totals == sorted(set(totals)) and totals[-1] == end - start
    assert len(totals) <= (end - start) // 60 + 3 + 1  # hours, at most 3 quarters, a rest
    assert text.endswith(f"x2 = {2 * (end - start)}." if priority else "min.")


def test_dp_trace_of_the_small_instance(small_instance):
    trace = solver_completion(small_instance, "dp").split("</think>")[0]
    assert trace.endswith(
        "Weighted minutes of the overlapping events:\n"
        "A: 10:00 is 60 min, x2 = 120.\n"
        "B: 10:30 is 60, 10:45 is 75, 11:00 is 90 min.\n"
        "Best by end time, in each group of overlapping events:\n"
        "A 120: 120, keep A.\n"
        "B 90: 90 vs 120, keep A.\n"
        "Kept: A.\n"
        "Kept: C.\n"
        "Total weighted duration: 180.\n"
        "Schedule: A, C."
    )
    with pytest.raises(ValueError, match="trace must be one of conflicts, dp, dpm, dpl"):
        solver_completion(small_instance, "scratchpad")


def test_dpm_trace_marks_priorities_and_counts_from_the_times(small_instance):
    trace = solver_completion(small_instance, "dpm").split("</think>")[0]
    assert "A 09:00-10:00, priority\nB 09:30-11:00, overlaps A\n" in trace
    assert (
        "A 09:00-10:00: 10:00 is 60 min, x2 = 120.\nB 09:30-11:00: 10:30 is 60, 10:45 is 75, 11:00 is 90 min.\n"
        in trace
    )
    assert trace.endswith("keep A.\nKept: A.\nKept: C.\nTotal weighted duration: 180.\nSchedule: A, C.")


def test_dpl_trace_letters_the_events_after_the_start_order_list():
    instance = Instance.from_row(
        [["Gym", "09:00", "10:00"], ["Call Bo", "09:30", "11:00"], ["Lunch", "11:00", "12:00"]], ["Gym"]
    )
    a, b, c = event_letters(sorted(instance.events, key=lambda e: e.start_min))
    trace = solver_completion(instance, "dpl").split("</think>")[0]
    assert trace == (
        "<think>By start time:\n"
        f"{a} Gym 09:00-10:00, priority\n"
        f"{b} Call Bo 09:30-11:00, overlaps {a}\n"
        f"{c} Lunch 11:00-12:00\n"
        "Weighted minutes of the overlapping events:\n"
        f"{a} 09:00-10:00: 10:00 is 60 min, x2 = 120.\n"
        f"{b} 09:30-11:00: 10:30 is 60, 10:45 is 75, 11:00 is 90 min.\n"
        "Best by end time, in each group of overlapping events:\n"
        f"{a} 120: 120, keep {a}.\n"
        f"{b} 90: 90 vs 120, keep {a}.\n"
        f"Kept: {a}.\n"
        f"Kept: {c}.\n"
        "Total weighted duration: 180.\n"
        f"Schedule: {a} Gym, {c} Lunch."
    )
    assert traced_choice(trace, instance) == {"Gym", "Lunch"}
    assert labels(trace, instance) == {a: "Gym", b: "Call Bo", c: "Lunch"}
    assert labels(trace.replace(f"{a} Gym", "Q Gym").replace(f"{b} Call", "R Call"), instance)["R"] == "Call Bo"
    assert labels(solver_completion(instance, "dpm"), instance) is None
    assert [label(i) for i in (0, 25, 26, 27, 701, 702)] == ["A", "Z", "AA", "AB", "ZZ", "AAA"]


def test_dpl_letters_run_on_from_a_letter_the_events_pick_and_wrap_round():
    """Consecutive letters, Z then A, from a first letter that varies with the events: every letter
    appears in every place, so no letter marks the last event of the training instances."""
    firsts = set()
    for n in range(60):
        events = [Event(f"Task {n} {i}", format_time(60 * i), format_time(60 * i + 30)) for i in range(12)]
        letters = event_letters(events)
        assert len(set(letters)) == 12
        assert all((ord(b) - ord(a)) % 26 == 1 for a, b in zip(letters, letters[1:]))
        firsts.add(letters[0])
    assert len(firsts) >= 20
    many = [Event(f"E{i}", format_time(i), format_time(i + 1)) for i in range(30)]
    assert event_letters(many)[25:28] == ["Z", "AA", "AB"]


def test_traced_choice_tells_a_right_conclusion_from_its_answer(small_instance):
    """The conclusion is the trace's, whatever the schedule lists: here B copied out in place of A."""
    right = solver_completion(small_instance, "dp")
    answer_b = right.replace("<name>A</name>\n<start>09:00</start>\n<end>10:00</end>",
                             "<name>B</name>\n<start>09:30</start>\n<end>11:00</end>")  # fmt: skip
    assert traced_choice(answer_b, small_instance) == {"A", "C"}
    assert judge(answer_b, small_instance).score < 100.0
    wrong_trace = right.replace("90 vs 120, keep A.", "90 vs 120, keep B.")
    assert traced_choice(wrong_trace, small_instance) == {"B", "C"}
    assert traced_choice(solver_completion(small_instance, "conflicts"), small_instance) is None
    assert schedule_line(solver_completion(small_instance, "conflicts")) is None


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


@pytest.mark.parametrize("trace", TRACES)
def test_written_weights_reads_either_trace(trace, small_instance):
    """Each trace states A's and B's weights (A is a priority); a wrong number is read as written."""
    completion = solver_completion(small_instance, trace)
    stated = written_weights(completion, small_instance)
    assert {(e.name, w) for e, w in stated} == {("A", 120), ("B", 90)}
    wrong = completion.replace("B (90)", "B (45)").replace("B 90:", "B 45:").replace("is 90 min", "is 45 min")
    assert ("B", 45) in {(e.name, w) for e, w in written_weights(wrong, small_instance)}
