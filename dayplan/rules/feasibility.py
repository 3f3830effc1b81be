"""Feasible decoding: the grammar of every answer the judge accepts as valid, for one instance.

Grounded decoding (dayplan.rules.grounding) keeps an answer to the prompt's events; this grammar also keeps it
to the rules the judge checks: events in chronological order, none twice, none overlapping the one before
(touching is allowed, as in the judge), and at least two of them when the instance has two that fit together.
Which events to take is still the model's choice, and the judge still scores it against the optimum.

Events sorted by start, the ones that may follow an event are a suffix of that order: those starting at or
after its end. So the grammar needs only three rules per position k (schedules from the k-th event on with
at least two, at least one, or any number of events), each "take event k, go on after it | skip event k":
3n rules for n events, where a regular expression of the same language can grow as 2^n.
The grammar is xgrammar's EBNF, which vLLM's structured outputs take as `grammar`.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from dayplan.rules.problem import Event, Instance
from dayplan.rules.solver import SCHEDULE_CLOSE, SCHEDULE_OPEN, event_xml


def ebnf_string(text: str) -> str:
    """An EBNF string literal matching exactly `text` (quotes, backslashes and control characters escaped)."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif not c.isprintable() and ord(c) <= 0xFFFF:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def chronological(events: Sequence[Event]) -> list[Event]:
    """The distinct events by start (then end, then name): the only order a valid schedule can list them in."""
    return sorted(set(events), key=lambda e: (e.start_min, e.end_min, e.name))


def followers(events: Sequence[Event]) -> list[int]:
    """For each event of a chronological list, the first position from which events may follow it.

    A follower starts at or after its end and strictly after its start (the judge wants strictly increasing
    starts, which a zero-length event would otherwise allow to repeat).
    """
    starts = [e.start_min for e in events]
    return [bisect.bisect_left(starts, max(e.end_min, e.start_min + 1)) for e in events]


def _rules(n: int, after: list[int]) -> dict[str, list[str]]:
    """Rules s<k> (any number), b<k> (at least one), a<k> (at least two) of the events from position k on.

    Each is "event k, then what may follow it" | "the same from position k + 1"; taking event k leaves one
    fewer to go (a -> b -> s). Built from the last position back, so a rule that derives nothing (b<n>,
    a<k> with fewer than two compatible events left) is never defined, and alternatives naming one are dropped.
    """
    rules: dict[str, list[str]] = {f"s{n}": ['""']}
    for k in range(n - 1, -1, -1):
        for name, then in (("s", "s"), ("b", "s"), ("a", "b")):
            options = [f"e{k} {then}{after[k]}", f"{name}{k + 1}"]
            kept = [option for option in options if option.split()[-1] in rules]
            if kept:
                rules[f"{name}{k}"] = kept
    return rules


def feasible_grammar(instance: Instance, think: str = r"[^<]*") -> str:
    """The EBNF grammar of a <think> trace, then a schedule the judge finds valid, from this instance's events.

    An instance with no two compatible events (the judge then has no valid answer) allows any single one.
    """
    events = chronological(instance.events)
    rules = _rules(len(events), followers(events))
    start = "a0" if "a0" in rules else "s0"
    lines = [
        f'root ::= "<think>" {think} "</think>\\n" {ebnf_string(SCHEDULE_OPEN)} {start} {ebnf_string(SCHEDULE_CLOSE)}'
    ]
    lines += [f"{name} ::= {' | '.join(options)}" for name, options in rules.items()]
    lines += [f"e{k} ::= {ebnf_string(event_xml(e))}" for k, e in enumerate(events)]
    return "\n".join(lines) + "\n"


# evaluate.decoding's values, as the report and `stages.plan` describe them
DECODINGS = {
    "free": "free output (answers may name events the prompt lacks, or break the rules)",
    "grounded": "grounded (every listed event is one of the prompt's, with its times)",
    "feasible": "feasible (a valid schedule of the prompt's own events: chronological, no repeat, no overlap)",
}
