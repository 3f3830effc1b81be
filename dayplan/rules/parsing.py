"""Parsing completions: the <schedule> block, its events, and the per-rule checks on them."""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

from dayplan.rules.problem import Event, Instance

# Linear time: `[^<]+` cannot run past the next tag, and no group nests a `.*`, so each attempt ends
# at the next '<' (the reference's format regex, `(<event>.*...)+.*`, backtracks catastrophically).
_EVENT_RE = re.compile(
    r"<event>\s*<name>([^<]+)</name>\s*<start>(\d{2}:\d{2})</start>\s*<end>(\d{2}:\d{2})</end>\s*</event>"
)


def completion_text(completion: object) -> str:
    """A completion as TRL passes it (plain string or chat messages) -> its text; never raises."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    if isinstance(completion, (list, tuple)):
        return "".join(completion_text(part) for part in completion)
    return "" if completion is None else str(completion)


def parse_events(text: str) -> list[Event]:
    """Every well-formed <event> in the text, in order of appearance, names as written."""
    return [Event(m.group(1), m.group(2), m.group(3)) for m in _EVENT_RE.finditer(text)]


def has_schedule_block(text: str) -> bool:
    """Lenient format (the judge's): a <schedule> ... </schedule> block holding a well-formed event."""
    opening = text.find("<schedule>")
    if opening < 0:
        return False
    closing = text.rfind("</schedule>")
    match = _EVENT_RE.search(text, opening)
    return match is not None and match.end() <= closing


def has_reasoned_schedule(text: str) -> bool:
    """Strict format (the reward's): <think>non-empty</think>, then the lenient schedule block."""
    opening = text.find("<think>")
    if opening < 0:
        return False
    closing = text.find("</think>", opening + len("<think>"))
    if closing <= opening + len("<think>"):
        return False
    rest = text[closing:]
    return has_schedule_block(rest)


def strictly_increasing_starts(events: Sequence[Event]) -> bool:
    return all(a.start_min < b.start_min for a, b in zip(events, events[1:]))


def count_overlapping_pairs(events: Sequence[Event]) -> int:
    """Overlapping pairs among events with start < end, in O(n log n) (completions can be huge).

    Pairs that do not overlap are those where one ends at or before the other starts; with start < end
    each such pair is counted exactly once by looking, for every event, at the events ending by its start.
    """
    proper = [e for e in events if e.start_min < e.end_min]
    ends = sorted(e.end_min for e in proper)
    disjoint = sum(bisect.bisect_right(ends, e.start_min) for e in proper)
    n = len(proper)
    return n * (n - 1) // 2 - disjoint


def known_and_unique(events: Sequence[Event], instance: Instance) -> bool:
    known = set(instance.events)
    return all(e in known for e in events) and len(set(events)) == len(events)
