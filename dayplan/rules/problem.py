"""The problem: times, events, an instance (events + priorities), and the instance text a prompt holds.

Overlap rule, used everywhere: two events overlap when one starts strictly before the other ends;
events that merely touch (10:00 end, 10:00 start) do not overlap.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PRIORITY_WEIGHT = 2
NORMAL_WEIGHT = 1
MINUTES_PER_DAY = 24 * 60

_TIME_RE = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def parse_time(text: str) -> int:
    """'HH:MM' -> minutes after midnight; ValueError for anything else."""
    match = _TIME_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"expected a time 'HH:MM' (00:00-23:59), got {text!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


def format_time(minutes: int) -> str:
    if not 0 <= minutes < MINUTES_PER_DAY:
        raise ValueError(f"expected 0 <= minutes < {MINUTES_PER_DAY}, got {minutes}")
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _loose_minutes(text: str) -> int:
    """Minutes of a parsed 'DD:DD' that may be out of range ('25:99'); only parsed text reaches here."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True, order=True)
class Event:
    name: str
    start: str  # "HH:MM", exactly as written
    end: str

    @property
    def start_min(self) -> int:
        return _loose_minutes(self.start)

    @property
    def end_min(self) -> int:
        return _loose_minutes(self.end)

    @property
    def duration(self) -> int:
        return self.end_min - self.start_min

    def as_row(self) -> list[str]:
        return [self.name, self.start, self.end]


def overlaps(a: Event, b: Event, touching: bool = False) -> bool:
    """True when a and b share time; with touching=True, shared endpoints count too (reference reward)."""
    if touching:
        return a.start_min <= b.end_min and b.start_min <= a.end_min
    return a.start_min < b.end_min and b.start_min < a.end_min


@dataclass(frozen=True)
class Instance:
    events: tuple[Event, ...]
    priorities: frozenset[str]

    @classmethod
    def from_row(cls, events: Iterable[Sequence[str]], priority_events: Iterable[str]) -> Instance:
        return cls(tuple(Event(str(n), str(s), str(e)) for n, s, e in events), frozenset(priority_events))

    def weight(self, event: Event) -> int:
        return PRIORITY_WEIGHT if event.name in self.priorities else NORMAL_WEIGHT

    def value(self, schedule: Iterable[Event]) -> int:
        """Weighted duration of the given events (no feasibility check)."""
        return sum(self.weight(e) * e.duration for e in schedule)

    def text(self) -> str:
        """The instance part of the user prompt, as in the published dataset's `prompt` column."""
        ordered = sorted(self.events, key=lambda e: (e.start_min, e.end_min, e.name))
        lines = ["Events:", *(f"- {e.name} ({e.start} - {e.end})" for e in ordered), "", "Priorities:"]
        lines += [f"- {e.name}" for e in ordered if e.name in self.priorities]
        return "\n".join(lines)

    def same_as(self, other: Instance) -> bool:
        """The same events and priorities, in any order."""
        return sorted(self.events) == sorted(other.events) and self.priorities == other.priorities


def check_instance(instance: Instance) -> None:
    """A user's instance must be one the task can pose: ValueError (one line) naming the first problem.

    At least 2 events, names unique and writable in an <event> (no '<', no line break), times 'HH:MM'
    with the end after the start, and every priority one of the events.
    """
    if len(instance.events) < 2:
        raise ValueError(f"need at least 2 events, got {len(instance.events)}")
    seen: set[str] = set()
    for event in instance.events:
        if not event.name.strip() or "<" in event.name or "\n" in event.name:
            raise ValueError(f"event name {event.name!r}: expected non-empty text without '<' or line breaks")
        if event.name in seen:
            raise ValueError(f"duplicate event name {event.name!r}")
        seen.add(event.name)
        start, end = parse_time(event.start), parse_time(event.end)
        if end <= start:
            raise ValueError(f"event {event.name!r} ends at {event.end}, not after its start {event.start}")
    unknown = sorted(instance.priorities - seen)
    if unknown:
        raise ValueError(f"priority {unknown[0]!r} is not one of the events")


_EVENT_LINE_RE = re.compile(r"- (.+) \((\S+) - (\S+)\)")
_PRIORITY_LINE_RE = re.compile(r"- (.+)")


def parse_instance_text(text: str) -> Instance:
    """The prompt's instance part (Instance.text(), or a whole user prompt ending with it) -> Instance.

    ValueError (one line) for text that is not in that format; the values are not checked here
    (check_instance does).
    """
    lines = [line.strip() for line in text.splitlines()]
    if "Events:" not in lines:
        raise ValueError("expected a line 'Events:' followed by lines '- Name (HH:MM - HH:MM)'")
    events: list[tuple[str, str, str]] = []
    priorities: list[str] = []
    section = "events"
    for number, line in enumerate(lines[lines.index("Events:") + 1 :], lines.index("Events:") + 2):
        if not line:
            continue
        if line == "Priorities:":
            section = "priorities"
            continue
        match = (_EVENT_LINE_RE if section == "events" else _PRIORITY_LINE_RE).fullmatch(line)
        if match is None:
            expected = "'- Name (HH:MM - HH:MM)'" if section == "events" else "'- Name'"
            raise ValueError(f"line {number}: expected {expected}, got {line!r}")
        if section == "events":
            events.append((match.group(1), match.group(2), match.group(3)))
        else:
            priorities.append(match.group(1))
    return Instance.from_row(events, priorities)
