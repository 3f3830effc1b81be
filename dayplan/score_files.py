"""The score stage's files: reading a rows file and a completions file, and what it says about each.

Kept apart from dayplan.scoring, the judge itself, which the infer stage also depends on: how files are
read and reported here can change without invalidating every model's completions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dayplan.io import read_jsonl
from dayplan.scoring import MISSING, SKIPPED, CompletionsError, evaluate


class InputError(Exception):
    """A rows or completions file that cannot be read or scored: 'PATH: what is wrong', one line."""


def read_input(read: Callable[[str], list[dict]], path: str) -> list[dict]:
    """read(path); a file that is missing or malformed raises InputError naming it."""
    try:
        return read(path)
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: {error}") from None


def score_file(rows: list[dict], completions: str) -> tuple[list[dict], dict]:
    """evaluate() of the completions file at `completions` over `rows`; InputError naming it when unscorable."""
    answers = read_input(read_jsonl, completions)
    try:
        return evaluate(rows, answers)
    except CompletionsError as error:
        raise InputError(f"{completions}: {error}") from None


def outcome(summary: dict, completions: str, out: str | Path, metrics_out: str | Path) -> str:
    """What the score stage prints for one file: why it was skipped, or its mean score and coverage."""
    if SKIPPED in summary:
        return f"{completions}: not evaluated ({summary[SKIPPED]}) -> {metrics_out}"
    lines = []
    missing = summary[f"broken_{MISSING}"]
    if missing:
        lines.append(f"warning: {missing} of {summary['n']} rows have no completion (scored 0)")
    lines.append(
        f"{completions}: mean score {summary['mean_score']:.2f} over {summary['n']} rows "
        f"({summary['completions']} completions, coverage {summary['coverage']:.0%}), "
        f"{summary['valid_schedules']} valid -> {out}, {metrics_out}"
    )
    return "\n".join(lines)
