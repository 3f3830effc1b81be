"""The champion/challenger gate: a pure decision over two evaluations' metrics (dayplan/scoring.py).

Only full evaluations of the same test rows are compared: a challenger that left rows unanswered, or one
scored on other rows than the champion (another data.test_seed, n_test or evaluate.rows), is refused with
the reason. Then the challenger replaces the champion only when its mean score beats the champion's by a
margin and no broken rule got more frequent than the champion's share plus a tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def broken_rules(metrics: dict) -> list[str]:
    """Rule names with a share_<rule> metric (share_optimal is a success share, not a broken rule)."""
    return sorted(key[len("share_") :] for key in metrics if key.startswith("share_") and key != "share_optimal")


def incomparable(challenger: dict, champion: dict | None) -> str | None:
    """Why the challenger's evaluation cannot be compared with the champion's, or None."""
    if challenger.get("coverage") != 1:
        return (
            f"challenger answered {challenger.get('completions', '?')} of {challenger.get('n', '?')} test rows: "
            "the gate compares full evaluations only"
        )
    if champion is None:
        return None
    # a champion registered before evaluations recorded coverage and test set is compared on n alone
    if champion.get("coverage", 1) != 1:
        return f"the champion's evaluation covers {champion['coverage']:.0%} of its test rows: not comparable"
    if champion.get("n") != challenger["n"]:
        return f"challenger scored on {challenger['n']} test rows, the champion on {champion.get('n')}: not comparable"
    theirs, ours = champion.get("test_set_sha256"), challenger.get("test_set_sha256")
    if theirs is not None and theirs != ours:
        return (
            f"challenger scored on test set {str(ours)[:12]}, the champion on {str(theirs)[:12]} (data.test_seed, "
            "data.n_test or evaluate.rows changed): not comparable"
        )
    return None


def decide(challenger: dict, champion: dict | None, margin: float, rule_tolerance: float) -> Decision:
    """The gate. Pure: metrics dicts as written by the score stage (mean_score, share_<rule>, coverage, ...)."""
    problem = incomparable(challenger, champion)
    if problem:
        return Decision(False, problem)
    if champion is None:
        return Decision(True, "no champion yet")
    needed = champion["mean_score"] + margin
    if challenger["mean_score"] < needed:
        return Decision(
            False,
            f"mean_score {challenger['mean_score']:.4g} < champion {champion['mean_score']:.4g} + margin {margin:g}",
        )
    for rule in broken_rules(challenger):
        ours, theirs = challenger[f"share_{rule}"], champion.get(f"share_{rule}", 0.0)
        if ours > theirs + rule_tolerance:
            return Decision(
                False, f"share_{rule} {ours:.4g} > champion {theirs:.4g} + rule_tolerance {rule_tolerance:g}"
            )
    return Decision(
        True,
        f"mean_score {challenger['mean_score']:.4g} >= champion {champion['mean_score']:.4g} + margin {margin:g}, "
        f"no broken rule more frequent than the champion's + {rule_tolerance:g}",
    )
