"""The evaluation judge (the reference protocol): a completion's verdict and the aggregate of many."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dayplan.rules.parsing import (
    completion_text,
    has_schedule_block,
    known_and_unique,
    parse_events,
    strictly_increasing_starts,
)
from dayplan.rules.problem import Instance, overlaps
from dayplan.rules.solver import optimal_score

BROKEN_RULES = ("format", "fewer_than_2_events", "unknown_or_repeated_event", "not_chronological", "overlap")


@dataclass(frozen=True)
class Verdict:
    score: float  # 0..100
    broken_rule: str | None
    value: int  # weighted duration of a valid schedule, else 0


def judge(completion: object, instance: Instance, optimum: int | None = None) -> Verdict:
    """Score a completion 0..100; the first broken rule (in BROKEN_RULES order) makes it 0."""
    text = completion_text(completion)
    if not has_schedule_block(text):
        return Verdict(0.0, "format", 0)
    events = parse_events(text)
    if len(events) < 2:
        return Verdict(0.0, "fewer_than_2_events", 0)
    if not known_and_unique(events, instance):
        return Verdict(0.0, "unknown_or_repeated_event", 0)
    if not strictly_increasing_starts(events):
        return Verdict(0.0, "not_chronological", 0)
    if any(overlaps(a, b) for a, b in zip(events, events[1:])):  # sorted: neighbours suffice
        return Verdict(0.0, "overlap", 0)
    optimum = optimal_score(instance) if optimum is None else optimum
    value = instance.value(events)
    return Verdict(100.0 * value / optimum, None, value)


def aggregate(verdicts: Sequence[Verdict]) -> dict[str, float | int]:
    """Mean score, valid schedules, share optimal, and how often each rule was the first broken."""
    n = len(verdicts)
    summary: dict[str, float | int] = {
        "n": n,
        "mean_score": sum(v.score for v in verdicts) / n if n else 0.0,
        "valid_schedules": sum(v.broken_rule is None for v in verdicts),
        "share_optimal": sum(v.score >= 100.0 - 1e-9 for v in verdicts) / n if n else 0.0,
    }
    for rule in BROKEN_RULES:
        summary[f"broken_{rule}"] = sum(v.broken_rule == rule for v in verdicts)
    return summary
