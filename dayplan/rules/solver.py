"""The exact optimum (weighted interval scheduling) and the answer the solver writes (warm-start targets)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from dayplan.rules.problem import Event, Instance, overlaps


def solve(instance: Instance) -> tuple[int, list[Event]]:
    """Maximum weighted duration and one optimal schedule (chronological), in O(n log n).

    best[j] is the optimum over the first j events sorted by end; event j-1 either is left out
    (best[j-1]) or is taken after the last event ending at or before its start (touching is allowed).
    """
    by_end = sorted(instance.events, key=lambda e: (e.end_min, e.start_min, e.name))
    ends = [e.end_min for e in by_end]
    best = [0] * (len(by_end) + 1)
    previous = [0] * len(by_end)
    for j, event in enumerate(by_end):
        previous[j] = bisect.bisect_right(ends, event.start_min, 0, j)
        best[j + 1] = max(best[j], best[previous[j]] + instance.weight(event) * event.duration)
    chosen: list[Event] = []
    j = len(by_end)
    while j > 0:
        event = by_end[j - 1]
        taken = best[previous[j - 1]] + instance.weight(event) * event.duration
        if taken >= best[j - 1]:  # taking it is (one of) the optimal choices
            chosen.append(event)
            j = previous[j - 1]
        else:
            j -= 1
    chosen.reverse()
    return best[-1], chosen


def optimal_score(instance: Instance) -> int:
    return solve(instance)[0]


SCHEDULE_OPEN, SCHEDULE_CLOSE = "<schedule>\n", "</schedule>"


def event_xml(e: Event) -> str:
    return f"<event>\n<name>{e.name}</name>\n<start>{e.start}</start>\n<end>{e.end}</end>\n</event>\n"


def schedule_xml(events: Sequence[Event]) -> str:
    return SCHEDULE_OPEN + "".join(event_xml(e) for e in events) + SCHEDULE_CLOSE


def solver_completion(instance: Instance) -> str:
    """A short, correct reasoning trace and the optimal schedule, in the exact output format.

    The trace first walks the events in start order, each with the earlier events it overlaps, so that
    a small model finds a conflict by comparing a start with the end times on the lines just above
    (with only the list of conflicts, SmolLM2-135M warm-started on 3,000 answers still put overlapping
    events in 62 of 100 test schedules). Then each conflict and which side the optimum keeps.
    """
    value, schedule = solve(instance)
    ordered = sorted(instance.events, key=lambda e: (e.start_min, e.end_min))
    chosen = set(schedule)
    lines = ["By start time:"]
    for i, event in enumerate(ordered):
        earlier = [other.name for other in ordered[:i] if overlaps(other, event)]
        clash = f", overlaps {', '.join(earlier)}" if earlier else ""
        lines.append(f"{event.name} {event.start}-{event.end}{clash}")
    conflicts = [(a, b) for i, a in enumerate(ordered) for b in ordered[i + 1 :] if overlaps(a, b)]
    for a, b in conflicts:
        wa, wb = instance.weight(a) * a.duration, instance.weight(b) * b.duration
        kept = [e.name for e in (a, b) if e in chosen]
        verdict = f"keep {kept[0]}" if len(kept) == 1 else "drop both"
        lines.append(f"{a.name} ({wa}) overlaps {b.name} ({wb}): {verdict}.")
    lines.append(f"Total weighted duration: {value}.")
    return "<think>" + "\n".join(lines) + "</think>\n" + schedule_xml(schedule)
