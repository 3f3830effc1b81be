"""The task's rules, in one place: the problem, its exact optimum, the prompts, parsing and the judge.

Pure Python, no ML imports: training rewards (dayplan.rewards), the score stage and the tests all use it,
so a rule changes here or nowhere. The rules live in dayplan/rules/ by what they do (problem, solver,
prompt, parsing, judge, grounding, feasibility); this module gathers their public names.

Overlap rule, used everywhere: two events overlap when one starts strictly before the other ends;
events that merely touch (10:00 end, 10:00 start) do not overlap.
"""

from __future__ import annotations

from dayplan.rules.feasibility import DECODINGS, feasible_grammar
from dayplan.rules.grounding import grounded_regex, is_grounded
from dayplan.rules.judge import BROKEN_RULES, Verdict, aggregate, judge
from dayplan.rules.parsing import (
    completion_text,
    count_overlapping_pairs,
    has_reasoned_schedule,
    has_schedule_block,
    known_and_unique,
    parse_events,
    strictly_increasing_starts,
)
from dayplan.rules.problem import (
    MINUTES_PER_DAY,
    NORMAL_WEIGHT,
    PRIORITY_WEIGHT,
    Event,
    Instance,
    check_instance,
    format_time,
    overlaps,
    parse_instance_text,
    parse_time,
)
from dayplan.rules.prompt import SYSTEM_PROMPT, USER_PROMPT_HEADER, chat_messages, user_prompt
from dayplan.rules.solver import (
    TRACES,
    labels,
    optimal_score,
    schedule_line,
    schedule_xml,
    solve,
    solver_completion,
    traced_choice,
    written_weights,
)

__all__ = [
    "BROKEN_RULES",
    "DECODINGS",
    "MINUTES_PER_DAY",
    "NORMAL_WEIGHT",
    "PRIORITY_WEIGHT",
    "SYSTEM_PROMPT",
    "TRACES",
    "USER_PROMPT_HEADER",
    "Event",
    "Instance",
    "Verdict",
    "aggregate",
    "chat_messages",
    "check_instance",
    "completion_text",
    "count_overlapping_pairs",
    "feasible_grammar",
    "format_time",
    "grounded_regex",
    "has_reasoned_schedule",
    "has_schedule_block",
    "is_grounded",
    "judge",
    "known_and_unique",
    "labels",
    "optimal_score",
    "overlaps",
    "parse_events",
    "parse_instance_text",
    "parse_time",
    "schedule_line",
    "schedule_xml",
    "solve",
    "solver_completion",
    "strictly_increasing_starts",
    "traced_choice",
    "user_prompt",
    "written_weights",
]
