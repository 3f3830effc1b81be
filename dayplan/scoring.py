"""The judge over a completions file: per-row scores and aggregates, bound to the rows they cover.

An evaluation scores every row of the test set exactly once. A row without a completion scores 0 (first
broken rule `missing`) and lowers `coverage`; an id seen twice, an id outside the test set, a completion
made for another test set, or no completion at all stop the evaluation with one line. The aggregates carry
`test_set_sha256`, the content fingerprint of the rows scored, so that the retrain gate compares only
evaluations of the same test set. The per-completion rules live in dayplan.task.
"""

from __future__ import annotations

from dayplan.data import row_instance
from dayplan.dataset import rows_fingerprint
from dayplan.task import BROKEN_RULES, Verdict, aggregate, judge

MISSING = "missing"  # no completion for the row
SKIPPED = "skipped"  # the only key of the one line a skipped model's completions file holds


class CompletionsError(ValueError):
    """A completions file that cannot be scored: 'line N: what is wrong'."""


def skipped_reason(completions: list[dict]) -> str | None:
    """Why the model was not evaluated (e.g. the warm-start is off), or None for a real completions file."""
    if len(completions) == 1 and set(completions[0]) == {SKIPPED}:
        return str(completions[0][SKIPPED])
    return None


def completions_by_id(completions: list[dict], n_rows: int, test_set: str) -> dict[int, object]:
    """id -> completion, refusing what would make the scores mean something else than they say."""
    if not completions:
        raise CompletionsError(f"no completions: expected one for each of the {n_rows} test rows")
    by_id: dict[int, object] = {}
    for number, item in enumerate(completions, 1):
        row_id = item.get("id")
        if type(row_id) is not int or not 0 <= row_id < n_rows:  # type(): True is not row 1
            raise CompletionsError(f"line {number}: id must be a row index 0..{n_rows - 1}, got {row_id!r}")
        if row_id in by_id:
            raise CompletionsError(f"line {number}: id {row_id} appears twice (each row is scored once)")
        if "completion" not in item:
            raise CompletionsError(f"line {number}: missing field 'completion'")
        made_for = item.get("test_set", test_set)  # files from elsewhere need not say
        if made_for != test_set:
            raise CompletionsError(
                f"line {number}: made for another test set ({str(made_for)[:12]}..., these rows are "
                f"{test_set[:12]}...): rerun the infer stage"
            )
        by_id[row_id] = item["completion"]
    return by_id


def score_rows(rows: list[dict], by_id: dict[int, object]) -> list[dict]:
    """One line per row, in row order: id, score (0..100), first broken rule (None when valid)."""
    scored = []
    for row_id, row in enumerate(rows):
        if row_id in by_id:
            verdict = judge(by_id[row_id], row_instance(row), row["optimal_score"])
            scored.append({"id": row_id, "score": verdict.score, "broken_rule": verdict.broken_rule})
        else:
            scored.append({"id": row_id, "score": 0.0, "broken_rule": MISSING})
    return scored


def metrics(scored: list[dict], test_set: str) -> dict:
    """Aggregates for DVC and the gate: the judge's, coverage, and the share of each broken rule."""
    summary = aggregate([Verdict(s["score"], s["broken_rule"], 0) for s in scored])
    n = summary["n"]
    missing = sum(s["broken_rule"] == MISSING for s in scored)
    summary.update(completions=n - missing, coverage=(n - missing) / n if n else 0.0, test_set_sha256=test_set)
    summary[f"broken_{MISSING}"] = missing
    for rule in (*BROKEN_RULES, MISSING):
        summary[f"share_{rule}"] = summary[f"broken_{rule}"] / n if n else 0.0
    return summary


def skipped_metrics(reason: str, test_set: str) -> dict:
    """A model that was not evaluated: n = 0, which the report leaves out."""
    return metrics([], test_set) | {SKIPPED: reason}


def evaluate(rows: list[dict], completions: list[dict]) -> tuple[list[dict], dict]:
    """(per-row scores, aggregates) of one completions file over the rows it answers."""
    test_set = rows_fingerprint(rows)
    reason = skipped_reason(completions)
    if reason is not None:
        return [], skipped_metrics(reason, test_set)
    scored = score_rows(rows, completions_by_id(completions, len(rows), test_set))
    return scored, metrics(scored, test_set)
