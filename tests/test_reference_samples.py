"""The reference article's sample instance and completions, judged by our rules.

Source: "I trained a Language Model to schedule events with GRPO!" (Hugging Face blog anakin87/qwen-scheduler-grpo),
section on sample completions logged during training, all for the same 8-event prompt (optimum 585).
The instance and the overlapping completion's schedule are quoted from the article (the completion's long
reasoning is shortened). The step-473 and step-973 completions could not be retrieved verbatim from the
stored copies available here; they are reconstructed to show what the article describes: at step 473 the
model changes an event's time, at step 973 it gives a valid schedule worth 405 of 585.
"""

from __future__ import annotations

import pytest

from dayplan.rewards import format_reward, overlap_reward, schedule_points, sorted_reward
from dayplan.task import Event, Instance, judge, schedule_xml, solve

INSTANCE = Instance.from_row(
    [
        ["Analyzing product performance", "04:33", "06:03"],
        ["One-on-one with manager", "08:41", "08:56"],
        ["Client call with Acme Corp", "09:13", "10:58"],
        ["Meeting with Lisa at café", "10:14", "11:14"],
        ["Updating website content", "12:21", "13:36"],
        ["Preparing PTO handover", "16:07", "17:37"],
        ["Marketing standup on Zoom", "17:58", "19:43"],
        ["Brainstorming with Luke and Patrick", "19:11", "19:56"],
    ],
    ["Analyzing product performance", "Meeting with Lisa at café"],
)

PROMPT_TEXT = """Events:
- Analyzing product performance (04:33 - 06:03)
- One-on-one with manager (08:41 - 08:56)
- Client call with Acme Corp (09:13 - 10:58)
- Meeting with Lisa at café (10:14 - 11:14)
- Updating website content (12:21 - 13:36)
- Preparing PTO handover (16:07 - 17:37)
- Marketing standup on Zoom (17:58 - 19:43)
- Brainstorming with Luke and Patrick (19:11 - 19:56)

Priorities:
- Analyzing product performance
- Meeting with Lisa at café"""


def events(*rows: tuple[str, str, str]) -> list[Event]:
    return [Event(*row) for row in rows]


ANALYZING = ("Analyzing product performance", "04:33", "06:03")
ONE_ON_ONE = ("One-on-one with manager", "08:41", "08:56")
CLIENT_CALL = ("Client call with Acme Corp", "09:13", "10:58")
LISA = ("Meeting with Lisa at café", "10:14", "11:14")
WEBSITE = ("Updating website content", "12:21", "13:36")
PTO = ("Preparing PTO handover", "16:07", "17:37")
STANDUP = ("Marketing standup on Zoom", "17:58", "19:43")
BRAINSTORMING = ("Brainstorming with Luke and Patrick", "19:11", "19:56")

# Step 473 (reconstructed): keeps everything by moving the brainstorming after the standup (a changed time).
STEP_473 = "<think>The standup ends at 19:43, so the brainstorming can start right after it.</think>\n" + schedule_xml(
    events(
        ANALYZING,
        ONE_ON_ONE,
        LISA,
        WEBSITE,
        PTO,
        STANDUP,
        ("Brainstorming with Luke and Patrick", "19:43", "20:28"),
    )
)
# Step 973 (reconstructed): valid, chronological, no overlap; misses the priority event at 04:33.
STEP_973 = "<think>Lisa (priority) beats the client call; the standup beats the brainstorming.</think>\n"
STEP_973 += schedule_xml(events(ONE_ON_ONE, LISA, WEBSITE, PTO, STANDUP))
# Step 1470 (quoted schedule): the client call and the meeting with Lisa overlap (10:14 < 10:58).
STEP_1470 = (
    "<think>\nThe goal is to create a schedule that maximizes the sum of weighted event durations while "
    "respecting the chronological order, priorities, and non-overlapping constraints. [...]\n"
    "This schedule respects the chronological order, includes the high-priority events, and avoids "
    "any overlaps.\n</think>\n"
    + schedule_xml(events(ANALYZING, ONE_ON_ONE, CLIENT_CALL, LISA, WEBSITE, PTO, BRAINSTORMING))
)


def test_instance_matches_the_article():
    assert INSTANCE.text() == PROMPT_TEXT


def test_optimum_is_585():
    value, schedule = solve(INSTANCE)
    assert value == 585
    assert schedule == events(ANALYZING, ONE_ON_ONE, LISA, WEBSITE, PTO, STANDUP)


@pytest.mark.parametrize(
    ("completion", "broken_rule", "score"),
    [
        (STEP_473, "unknown_or_repeated_event", 0.0),
        (STEP_973, None, 100 * 405 / 585),
        (STEP_1470, "overlap", 0.0),
    ],
    ids=["step473", "step973", "step1470"],
)
def test_judge_verdicts(completion, broken_rule, score):
    verdict = judge(completion, INSTANCE)
    assert verdict.broken_rule == broken_rule
    assert verdict.score == pytest.approx(score)
    assert verdict.value == (405 if broken_rule is None else 0)


def test_training_rewards():
    completions = [STEP_473, STEP_973, STEP_1470]
    assert format_reward(completions) == [10.0, 10.0, 10.0]
    assert sorted_reward(completions) == [20.0, 20.0, 20.0]
    assert overlap_reward(completions) == [0.0, 0.0, -10.0]
    assert schedule_points(STEP_473, INSTANCE, 585) == 0.0  # a changed time is an unknown event
    assert schedule_points(STEP_973, INSTANCE, 585) == pytest.approx(70 * 405 / 585)
    # the overlapping pair is left out of the value: 180 + 15 + 75 + 90 + 45 = 405
    assert schedule_points(STEP_1470, INSTANCE, 585) == pytest.approx(70 * 405 / 585)
