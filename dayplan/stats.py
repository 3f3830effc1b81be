"""Statistics of an evaluation: bootstrap confidence intervals, paired comparisons, rates. Pure numpy.

Intervals use the percentile bootstrap: resample the rows with replacement, take the mean of each
resample, and read the interval off the quantiles of those means. A paired comparison resamples the
per-row differences of two models scored on the same rows, which cancels the rows' own difficulty
(most of the variance) and so tells apart models whose separate intervals overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dayplan.task import BROKEN_RULES

RESAMPLES = 10_000
CONFIDENCE = 0.95
# Resamples drawn at once: memory stays at CHUNK x rows indices (8 MB for 1,000 rows).
CHUNK = 1_000
OPTIMAL = 100.0 - 1e-9  # the judge's score of an optimal schedule, up to rounding


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class PairedDifference:
    n: int  # rows both models were scored on
    mean: float  # mean of (new - old)
    low: float
    high: float
    p_not_better: float  # share of resamples whose mean difference is <= 0


def _as_values(values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"expected a non-empty list of numbers, got shape {array.shape}")
    return array


def bootstrap_means(values: Sequence[float] | np.ndarray, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """The means of `resamples` resamples (rows drawn with replacement), reproducible from the seed."""
    array = _as_values(values)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, CHUNK):
        count = min(CHUNK, resamples - start)
        rows = rng.integers(0, array.size, size=(count, array.size))
        means[start : start + count] = array[rows].mean(axis=1)
    return means


def _bounds(means: np.ndarray, confidence: float) -> tuple[float, float]:
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


def mean_interval(
    values: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE, resamples: int = RESAMPLES, seed: int = 0
) -> Interval:
    """The mean and its percentile-bootstrap confidence interval."""
    array = _as_values(values)
    low, high = _bounds(bootstrap_means(array, resamples, seed), confidence)
    return Interval(float(array.mean()), low, high)


def paired_difference(
    new: Sequence[float] | np.ndarray,
    old: Sequence[float] | np.ndarray,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> PairedDifference:
    """new - old on the same rows (same order): mean, bootstrap interval, and the share of resamples <= 0."""
    new_values, old_values = _as_values(new), _as_values(old)
    if new_values.shape != old_values.shape:
        raise ValueError(f"paired scores need the same rows: {new_values.size} vs {old_values.size}")
    differences = new_values - old_values
    means = bootstrap_means(differences, resamples, seed)
    low, high = _bounds(means, confidence)
    return PairedDifference(differences.size, float(differences.mean()), low, high, float(np.mean(means <= 0)))


def optimal_rate(scores: Sequence[float] | np.ndarray) -> float:
    """Share of answers that reach the optimum (score 100)."""
    return float(np.mean(_as_values(scores) >= OPTIMAL))


def broken_rule_shares(broken_rules: Sequence[str | None], rules: Sequence[str] = BROKEN_RULES) -> dict[str, float]:
    """Share of answers whose first broken rule is each rule (None: a valid schedule)."""
    if not broken_rules:
        raise ValueError("expected at least one verdict")
    unknown = set(broken_rules) - {*rules, None}
    if unknown:
        raise ValueError(f"unknown broken rule(s): {sorted(unknown)}")
    return {rule: sum(broken == rule for broken in broken_rules) / len(broken_rules) for rule in rules}
