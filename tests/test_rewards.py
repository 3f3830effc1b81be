"""dayplan.rewards and the parser: exact points, and no input can make them raise."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_grounding import instances

from dayplan.data import instance_row
from dayplan.rewards import (
    column_instance,
    format_reward,
    instance_column,
    make_score_reward,
    overlap_reward,
    reward_functions,
    score_reward,
    sorted_reward,
)
from dayplan.task import Event, Instance, judge, parse_events, schedule_xml, solve

INSTANCE = Instance.from_row(
    [
        ["A", "09:00", "10:00"],  # priority
        ["B", "09:30", "11:00"],
        ["C", "11:00", "12:00"],
        ["D", "13:00", "14:00"],
        ["E", "13:30", "15:00"],
    ],
    ["A"],
)
OPTIMUM = solve(INSTANCE)[0]  # A (120) + C (60) + E (90) = 270
ROW = {"events": [e.as_row() for e in INSTANCE.events], "priority_events": ["A"], "optimal_score": OPTIMUM}
COLUMNS = {"instance": [instance_column(ROW)]}  # the train dataset's column, as TRL passes it


def ev(name: str) -> Event:
    return next(e for e in INSTANCE.events if e.name == name)


def answer(*events: Event, think: str = "reasoning") -> str:
    return f"<think>{think}</think>\n{schedule_xml(events)}"


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def score(text, touching: bool = False) -> float:
    return make_score_reward(touching)([text], **COLUMNS)[0]


def test_optimum():
    assert OPTIMUM == 270


def test_reward_function_names():
    assert list(reward_functions()) == ["format", "sorted", "score", "overlap"]
    assert all(callable(f) for f in reward_functions(touching_overlaps=True).values())


@pytest.mark.parametrize("wrap", [lambda t: t, chat], ids=["string", "chat"])
def test_format_reward(wrap):
    good = answer(ev("A"), ev("C"))
    assert format_reward([wrap(good)]) == [10.0]
    assert format_reward([wrap(answer(ev("A"), think=""))]) == [0.0]  # empty reasoning
    assert format_reward([wrap(schedule_xml([ev("A")]))]) == [0.0]  # no <think>
    assert format_reward([wrap("<think>x</think><schedule></schedule>")]) == [0.0]  # no event
    assert format_reward([wrap("<think>x</think><schedule><event><name>A</name></event></schedule>")]) == [0.0]
    assert format_reward([wrap(schedule_xml([ev("A")]) + "<think>late</think>")]) == [0.0]  # think after
    assert format_reward([wrap(good.replace("</schedule>", ""))]) == [0.0]  # unclosed schedule
    assert format_reward([wrap(answer(ev("A")))]) == [10.0]  # one event is well-formed enough


@pytest.mark.parametrize("wrap", [lambda t: t, chat], ids=["string", "chat"])
def test_sorted_reward(wrap):
    assert sorted_reward([wrap(answer(ev("A"), ev("C"), ev("E")))]) == [20.0]
    assert sorted_reward([wrap(answer(ev("C"), ev("A")))]) == [0.0]
    assert sorted_reward([wrap(answer(ev("A")))]) == [0.0]  # fewer than 2
    same_start = Event("X", "09:00", "09:30")
    assert sorted_reward([wrap(answer(ev("A"), same_start))]) == [0.0]  # strictly increasing
    assert sorted_reward([wrap(answer(ev("A"), ev("B")))]) == [20.0]  # overlaps are not its business


@pytest.mark.parametrize("wrap", [lambda t: t, chat], ids=["string", "chat"])
def test_score_reward(wrap):
    assert score(wrap(answer(ev("A"), ev("C"), ev("E")))) == pytest.approx(70.0)
    assert score(wrap(answer(ev("A"), ev("C")))) == pytest.approx(70 * 180 / 270)
    # A-B overlap: both are dropped from the value, C (60) and E (90) count
    assert score(wrap(answer(ev("A"), ev("B"), ev("C"), ev("E")))) == pytest.approx(70 * 150 / 270)
    assert score(wrap(answer(ev("A")))) == 0.0  # fewer than 2 events
    assert score(wrap(answer(ev("A"), Event("Z", "12:00", "13:00")))) == 0.0  # unknown event
    assert score(wrap(answer(ev("A"), Event("C", "11:00", "12:15")))) == 0.0  # changed time
    assert score(wrap(answer(ev("A"), ev("C"), ev("C")))) == 0.0  # repeated
    assert score(wrap("no schedule at all")) == 0.0


def test_score_reward_touching_overlaps():
    touching = answer(ev("B"), ev("C"))  # B ends 11:00, C starts 11:00
    assert score(touching) == pytest.approx(70 * 150 / 270)
    assert score(touching, touching=True) == 0.0
    assert score(answer(ev("A"), ev("C")), touching=True) == pytest.approx(70 * 180 / 270)


def test_score_reward_is_the_module_default():
    text = answer(ev("A"), ev("C"))
    assert score_reward([text], **COLUMNS) == make_score_reward(False)([text], **COLUMNS)


@pytest.mark.parametrize("wrap", [lambda t: t, chat], ids=["string", "chat"])
def test_overlap_reward(wrap):
    assert overlap_reward([wrap(answer(ev("A"), ev("C"), ev("E")))]) == [0.0]
    assert overlap_reward([wrap(answer(ev("B"), ev("C")))]) == [0.0]  # touching is fine
    assert overlap_reward([wrap(answer(ev("A"), ev("B"), ev("D"), ev("E")))]) == [-20.0]
    clashing = [Event(f"X{i}", "09:00", "10:00") for i in range(5)]  # 10 pairs
    assert overlap_reward([wrap(answer(*clashing))]) == [-70.0]
    assert overlap_reward([wrap("nothing")]) == [0.0]


@given(instances())
@settings(max_examples=100, deadline=None)
def test_the_instance_column_gives_back_the_rows_instance_and_optimum(instance):
    row = instance_row(instance)
    assert column_instance(instance_column(row)) == (instance, row["optimal_score"])


def test_rewards_take_batches_and_trl_keywords():
    texts = [answer(ev("A"), ev("C"), ev("E")), "garbage"]
    columns = {k: v * 2 for k, v in COLUMNS.items()}
    extra = {"prompts": ["p", "p"], "completion_ids": [[1], [2]], "trainer_state": None}
    results = {name: f(texts, **columns, **extra) for name, f in reward_functions().items()}
    assert results == {"format": [10.0, 0.0], "sorted": [20.0, 0.0], "score": [70.0, 0.0], "overlap": [0.0, 0.0]}


# --- Fuzzing: arbitrary and adversarial completions never raise ---------------------------------

FRAGMENTS = [
    "<event>", "</event>", "<name>", "</name>", "<start>", "</start>", "<end>", "</end>", "<schedule>",
    "</schedule>", "<think>", "</think>", "12:00", "25:99", "09:30", "A", "B", "C", " ", "\n", "<", ">", ":",
]  # fmt: skip
adversarial_text = st.lists(st.sampled_from(FRAGMENTS), max_size=80).map("".join)
any_text = st.one_of(st.text(max_size=300), adversarial_text)
completions = st.one_of(
    any_text,
    any_text.map(chat),
    any_text.map(lambda t: {"role": "assistant", "content": t}),
    st.none(),
    st.dictionaries(st.text(max_size=5), st.text(max_size=20), max_size=3),
    st.lists(st.one_of(st.none(), any_text, any_text.map(lambda t: {"content": t})), max_size=3),
    st.integers(),
)


def run_everything(completion) -> None:
    for touching in (False, True):
        for name, function in reward_functions(touching).items():
            rewards = function([completion], **COLUMNS)
            assert len(rewards) == 1 and isinstance(rewards[0], float), name
    verdict = judge(completion, INSTANCE)
    assert 0.0 <= verdict.score <= 100.0 + 1e-9


@settings(max_examples=400, deadline=None)
@given(completions)
def test_never_raises(completion):
    run_everything(completion)


@settings(max_examples=200, deadline=None)
@given(any_text)
def test_parse_events_never_raises(text):
    for event in parse_events(text):
        assert "<" not in event.name
        assert len(event.start) == len(event.end) == 5


def test_huge_adversarial_completions_finish():
    unclosed = "<think>x</think><schedule>" + "<event><name>" * 15_400
    clashing = (
        "<think>x</think><schedule>"
        + "".join(f"<event><name>E{i}</name><start>09:00</start><end>10:00</end></event>" for i in range(3_000))
        + "</schedule>"
    )
    assert len(unclosed) >= 200_000 and len(clashing) >= 200_000
    for completion in (unclosed, clashing, chat(clashing)):
        run_everything(completion)
    assert overlap_reward([clashing]) == [-70.0]
    assert judge(clashing, INSTANCE).broken_rule == "unknown_or_repeated_event"
    assert judge(unclosed, INSTANCE).broken_rule == "format"
