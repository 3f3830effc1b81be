"""Grounded decoding: the regular expression a whole completion must match so that it names only the prompt's events.

Inference (vLLM's structured outputs, or xgrammar with transformers) constrains generation with it, so an
answer cannot rename, invent or re-time an event: every <event> block is one of the instance's events, name,
start and end together, written exactly as the solver writes them (dayplan.rules.solver.schedule_xml), so
that a warm-started model's natural answer stays allowed. Which events, in which order and how many are
left to the model: the judge still scores the choice.

The dialect is the common subset of Python's re, xgrammar's and vLLM's regex backends: literals, escaped
metacharacters, `\\uXXXX` for control characters, one negated class, alternation and `*`; no lookarounds,
backreferences or flags.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from dayplan.rules.parsing import completion_text
from dayplan.rules.problem import Event, Instance, parse_instance_text
from dayplan.rules.solver import SCHEDULE_CLOSE, SCHEDULE_OPEN, event_xml

# the syntax characters of every regex dialect; anything else (spaces, '#', quotes, accents) is a literal
# as it stands, and escaping it would be an error in the stricter (ECMAScript-like) dialects
_SYNTAX = frozenset("\\^$.|?*+()[]{}")

# solver traces hold event names, which never contain '<' (check_instance), so the first '<' ends the trace
THINK_PATTERN = r"<think>[^<]*</think>\n"


def _escape_char(c: str) -> str:
    if c in _SYNTAX:
        return "\\" + c
    if c == "\n":
        return "\\n"
    if not c.isprintable() and ord(c) <= 0xFFFF:  # xgrammar refuses a raw NUL and misreads other controls
        return f"\\u{ord(c):04x}"
    return c


def escape(text: str) -> str:
    """A regex matching exactly `text` in every dialect above (re.escape's '\\ ', '\\#', '\\-' are not portable)."""
    return "".join(_escape_char(c) for c in text)


def schedule_pattern(events: Sequence[Event]) -> str:
    """A <schedule> block of any number of the given events, each block one of them verbatim (schedule_xml's)."""
    blocks = "|".join(dict.fromkeys(escape(event_xml(e)) for e in events))  # dict: distinct, in instance order
    body = f"(?:{blocks})*" if blocks else ""
    return escape(SCHEDULE_OPEN) + body + escape(SCHEDULE_CLOSE)


def grounded_regex(instance: Instance) -> str:
    """The regex a grounded completion fully matches: a <think> trace, then a schedule of the instance's events."""
    return THINK_PATTERN + schedule_pattern(instance.events)


def is_grounded(completion: object, instance: Instance) -> bool:
    """Whether the completion fully matches grounded_regex(instance)."""
    return re.fullmatch(grounded_regex(instance), completion_text(completion)) is not None


def conversation_instance(messages: Sequence[dict]) -> Instance:
    """The instance a chat's last user message poses (chat_messages' prompt); ValueError (one line) otherwise."""
    users = [m.get("content", "") for m in messages if m.get("role") == "user"]
    if not users:
        raise ValueError("the conversation has no user message to take the events from")
    instance = parse_instance_text(str(users[-1]))
    if not instance.events:
        raise ValueError("the user message lists no events to ground the answer in")
    return instance


def conversation_regex(messages: Sequence[dict]) -> str:
    """grounded_regex of the instance in the chat's last user message."""
    return grounded_regex(conversation_instance(messages))
