"""GRPO reward functions with TRL's signature, picked by name from params.yaml (`reward.*`).

TRL calls each with prompts, completions and every dataset column as keyword arguments, and weighs
them with `reward_weights`. All the rules come from dayplan.task; these only turn verdicts into points.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence

from dayplan.task import (
    Instance,
    completion_text,
    count_overlapping_pairs,
    has_reasoned_schedule,
    known_and_unique,
    overlaps,
    parse_events,
    strictly_increasing_starts,
)

FORMAT_POINTS = 10.0
SORTED_POINTS = 20.0
SCORE_POINTS = 70.0
# Each overlapping pair costs this many points, down to OVERLAP_FLOOR, so that one degenerate
# completion listing hundreds of clashing events cannot dominate its group's reward spread.
OVERLAP_PENALTY_PER_PAIR = 10.0
OVERLAP_FLOOR = -70.0


def format_reward(completions: Sequence[object], **kwargs) -> list[float]:
    """10 for <think>...</think> followed by a <schedule> with at least one well-formed <event>."""
    return [FORMAT_POINTS if has_reasoned_schedule(completion_text(c)) else 0.0 for c in completions]


def sorted_reward(completions: Sequence[object], **kwargs) -> list[float]:
    """20 when at least 2 events are listed in strictly increasing start order."""
    rewards = []
    for completion in completions:
        events = parse_events(completion_text(completion))
        rewards.append(SORTED_POINTS if len(events) >= 2 and strictly_increasing_starts(events) else 0.0)
    return rewards


def schedule_points(text: str, instance: Instance, optimum: int, touching_overlaps: bool = False) -> float:
    """70 x (weighted duration of the events that overlap no other scheduled event) / optimum.

    0 when an event is not in the instance (name, start and end must match), is repeated, or when fewer
    than 2 events are given. touching_overlaps=True reproduces the reference reward, where events that
    merely touch count as overlapping.
    """
    events = parse_events(text)
    if len(events) < 2 or not known_and_unique(events, instance):
        return 0.0
    # At most 8 known, distinct events remain here, so the quadratic check is cheap.
    alone = [e for e in events if not any(overlaps(e, other, touching_overlaps) for other in events if other is not e)]
    return SCORE_POINTS * instance.value(alone) / optimum


def instance_column(row: dict) -> str:
    """The dataset column the score reward reads: a row's events, priorities and optimum as one JSON string.

    TRL's dataloader hands every micro-step the whole generation batch's rows, and the trainer copies each
    Python object in them on each pull; one string a row instead of nested event lists makes that 4x cheaper.
    """
    return json.dumps([row["events"], row["priority_events"], row["optimal_score"]])


@functools.lru_cache(maxsize=4096)  # a group's completions share their instance
def column_instance(column: str) -> tuple[Instance, int]:
    """instance_column's string back as (instance, optimum)."""
    events, priority_events, optimum = json.loads(column)
    return Instance.from_row(events, priority_events), optimum


def make_score_reward(touching_overlaps: bool = False) -> Callable[..., list[float]]:
    def score_reward(completions, instance, **kwargs) -> list[float]:
        return [
            schedule_points(completion_text(c), *column_instance(column), touching_overlaps)
            for c, column in zip(completions, instance)
        ]

    return score_reward


score_reward = make_score_reward()


def overlap_reward(completions: Sequence[object], **kwargs) -> list[float]:
    """-10 per overlapping pair of listed events (touching is fine), floored at -70; 0 without overlaps."""
    rewards = []
    for completion in completions:
        pairs = count_overlapping_pairs(parse_events(completion_text(completion)))
        rewards.append(max(OVERLAP_FLOOR, -OVERLAP_PENALTY_PER_PAIR * pairs))
    return rewards


# The reward registry's names, in the order TRL gets the functions and their weights (`reward.<name>`).
REWARD_NAMES = ("format", "sorted", "score", "overlap")


def reward_functions(touching_overlaps: bool = False) -> dict[str, Callable[..., list[float]]]:
    """The reward functions by their params.yaml name (`reward.<name>` holds each one's weight)."""
    functions = {
        "format": format_reward,
        "sorted": sorted_reward,
        "score": make_score_reward(touching_overlaps),
        "overlap": overlap_reward,
    }
    return {name: functions[name] for name in REWARD_NAMES}
