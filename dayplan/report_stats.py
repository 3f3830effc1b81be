"""The report's statistics per split: each model's mean score with a 95 % bootstrap interval, its valid and
optimal rates and broken rules, and paired comparisons of each model with the one before it.
"""

from __future__ import annotations

import csv
import io

from dayplan.stats import broken_rule_shares, mean_interval, optimal_rate, paired_difference


def model_summary(scores: list[dict], seed: int = 0) -> dict:
    """n, mean score with its 95 % bootstrap interval, valid and optimal rates, share of each broken rule."""
    values = [s["score"] for s in scores]
    interval = mean_interval(values, seed=seed)
    shares = broken_rule_shares([s["broken_rule"] for s in scores])
    summary = {
        "n": len(values),
        "mean": interval.mean,
        "ci_low": interval.low,
        "ci_high": interval.high,
        "valid_rate": sum(s["broken_rule"] is None for s in scores) / len(scores),
        "optimal_rate": optimal_rate(values),
    }
    return summary | {f"share_{rule}": share for rule, share in shares.items()}


def consecutive_pairs(names: list[str]) -> list[tuple[str, str]]:
    """(new, old) for each model and the one before it: warmstart vs base, epoch2 vs warmstart, ..."""
    return list(zip(names[1:], names[:-1]))


def aligned_scores(new: list[dict], old: list[dict]) -> tuple[list[float], list[float]]:
    """Both models' scores on the rows both were scored on, in row order."""
    new_by_id, old_by_id = ({s["id"]: s["score"] for s in scores} for scores in (new, old))
    shared = sorted(new_by_id.keys() & old_by_id.keys())
    return [new_by_id[i] for i in shared], [old_by_id[i] for i in shared]


def paired_summary(new: list[dict], old: list[dict], seed: int = 0) -> dict | None:
    """new - old on the shared rows: mean difference, its interval, p(diff <= 0); None without shared rows."""
    new_scores, old_scores = aligned_scores(new, old)
    if not new_scores:
        return None
    diff = paired_difference(new_scores, old_scores, seed=seed)
    return {"n": diff.n, "diff": diff.mean, "ci_low": diff.low, "ci_high": diff.high, "p_not_better": diff.p_not_better}


def split_summary(results: dict[str, dict], compared: list[str], seed: int = 0) -> dict:
    """{models: {name: model_summary}, paired: {"new_vs_old": paired_summary}} for one split.

    Each model in `compared` is paired with the one before it among those evaluated, so that a skipped
    warm-start gives "epoch2 vs base" rather than no comparison.
    """
    models = {name: model_summary(result["scores"], seed) for name, result in results.items()}
    paired = {}
    for new, old in consecutive_pairs([name for name in compared if name in results]):
        comparison = paired_summary(results[new]["scores"], results[old]["scores"], seed)
        if comparison is not None:
            paired[f"{new}_vs_{old}"] = comparison
    return {"models": models, "paired": paired}


def rounded(tree, digits: int = 4):
    """The summary with floats rounded, for a metrics file that diffs cleanly."""
    if isinstance(tree, dict):
        return {key: rounded(value, digits) for key, value in tree.items()}
    return round(tree, digits) if isinstance(tree, float) else tree


def scores_csv(summary: dict) -> str:
    """One split's models, for DVC's bar plot."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["model", "mean_score", "ci_low", "ci_high", "valid_rate", "share_optimal"])
    for name, m in summary["models"].items():
        numbers = (m["mean"], m["ci_low"], m["ci_high"], m["valid_rate"], m["optimal_rate"])
        writer.writerow([name, *(round(number, 4) for number in numbers)])
    return buffer.getvalue()
