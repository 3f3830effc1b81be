"""The task's rules, in one place: the problem, its exact optimum, the prompts, parsing and the judge.

Pure Python, no ML imports: training rewards (dayplan.rewards), the score stage and the tests all use it,
so a rule changes here or nowhere.

Overlap rule, used everywhere: two events overlap when one starts strictly before the other ends;
events that merely touch (10:00 end, 10:00 start) do not overlap.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# --- The problem ---------------------------------------------------------------------------------

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


# --- Exact optimum: weighted interval scheduling -------------------------------------------------


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


# --- Prompts (the reference experiment's, verbatim) ----------------------------------------------

SYSTEM_PROMPT = (
    "You are a precise event scheduler.\n"
    "1. First, reason through the problem inside <think> and </think> tags. Here you can create drafts, "
    "compare alternatives, and check for mistakes.\n"
    "2. When confident, output the final schedule inside <schedule> and </schedule> tags. Your schedule "
    "must strictly follow the rules provided by the user."
)

USER_PROMPT_HEADER = (
    "Task: create an optimized schedule based on the given events.\n"
    "\n"
    "Rules:\n"
    "- The schedule MUST be in strict chronological order. Do NOT place priority events earlier unless "
    "their actual start time is earlier.\n"
    "- Event start and end times are ABSOLUTE. NEVER change, shorten, adjust, or split them.\n"
    "- Priority events (weight = 2) carry more weight than normal events (weight = 1), but they MUST "
    "still respect chronological order.\n"
    "- Maximize the sum of weighted event durations.\n"
    "- No overlaps allowed. In conflicts, include the event with the higher weighted time.\n"
    "- Some events may be excluded if needed to meet these rules.\n"
    "\n"
    "\n"
    "You must use this format:  \n"
    "\n"
    "<think>...</think>\n"
    "<schedule>\n"
    "<event>\n"
    "<name>...</name>\n"
    "<start>...</start>\n"
    "<end>...</end>\n"
    "</event>\n"
    "...\n"
    "</schedule>\n"
    "\n"
    "---\n"
    "\n"
)


def user_prompt(instance_text: str) -> str:
    return USER_PROMPT_HEADER + instance_text


def chat_messages(instance_text: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user_prompt(instance_text)},
    ]


# --- Parsing completions -------------------------------------------------------------------------

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


# --- The evaluation judge (the reference protocol) -----------------------------------------------

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


# --- Solver-written answers (warm-start targets) -------------------------------------------------


def schedule_xml(events: Sequence[Event]) -> str:
    body = "".join(
        f"<event>\n<name>{e.name}</name>\n<start>{e.start}</start>\n<end>{e.end}</end>\n</event>\n" for e in events
    )
    return f"<schedule>\n{body}</schedule>"


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
