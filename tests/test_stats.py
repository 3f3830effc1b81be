"""Bootstrap intervals and paired comparisons on inputs whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dayplan.stats import bootstrap_means, broken_rule_shares, mean_interval, optimal_rate, paired_difference

scores = st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=40)


@pytest.mark.parametrize("value", [0.0, 37.5, 100.0])
def test_constant_scores_give_a_zero_width_interval(value):
    interval = mean_interval([value] * 30)
    assert (interval.mean, interval.low, interval.high) == (value, value, value)


def test_half_zero_half_hundred_matches_the_normal_approximation():
    """Mean 50, standard error 50 / sqrt(100) = 5: the 95 % interval is about 50 +- 9.8."""
    interval = mean_interval([0.0] * 50 + [100.0] * 50)
    assert interval.mean == 50.0
    assert interval.low == pytest.approx(50 - 1.96 * 5, abs=1.0)
    assert interval.high == pytest.approx(50 + 1.96 * 5, abs=1.0)


def test_bootstrap_spread_is_the_standard_error():
    values = np.arange(200, dtype=float)
    means = bootstrap_means(values, resamples=20_000)
    assert means.std() == pytest.approx(values.std() / math.sqrt(values.size), rel=0.03)


def test_the_seed_fixes_the_interval():
    values = [0, 20, 50, 100, 100, 70, 10]
    assert mean_interval(values, seed=3) == mean_interval(values, seed=3)
    assert mean_interval(values, seed=3) != mean_interval(values, seed=4)


@settings(max_examples=50, deadline=None)
@given(values=scores)
def test_the_interval_lies_within_the_scores(values):
    interval = mean_interval(values, resamples=500)
    assert min(values) - 1e-9 <= interval.low <= interval.high <= max(values) + 1e-9
    assert interval.mean == pytest.approx(sum(values) / len(values))


def test_a_known_paired_difference():
    old = np.linspace(0, 100, 60)
    diff = paired_difference(old + 5, old)
    assert (diff.n, diff.mean, diff.low, diff.high, diff.p_not_better) == (60, 5.0, 5.0, 5.0, 0.0)


def test_pairing_removes_the_rows_own_spread():
    """Scores spread over 0..100, and one model 2 points better on every row but one: the paired
    interval is narrow and excludes 0, while the two separate intervals overlap."""
    old = np.linspace(0, 98, 50)
    new = old + 2
    new[0] -= 2
    diff = paired_difference(new, old)
    assert 0 < diff.low <= diff.mean <= diff.high < 3
    assert diff.p_not_better == 0.0
    assert mean_interval(new).low < mean_interval(old).high


def test_no_difference_is_not_better_about_half_the_time():
    rng = np.random.default_rng(0)
    old = rng.uniform(0, 100, 400)
    new = old + rng.normal(0, 10, 400)
    new += old.mean() - new.mean()  # the same mean exactly
    diff = paired_difference(new, old)
    assert diff.low < 0 < diff.high
    assert 0.4 < diff.p_not_better < 0.6


@settings(max_examples=40, deadline=None)
@given(pairs=st.lists(st.tuples(st.floats(0, 100), st.floats(0, 100)), min_size=1, max_size=30))
def test_swapping_the_models_mirrors_the_comparison(pairs):
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    forward, backward = paired_difference(a, b, resamples=400), paired_difference(b, a, resamples=400)
    assert forward.mean == pytest.approx(-backward.mean, abs=1e-9)
    assert forward.low == pytest.approx(-backward.high, abs=1e-9)
    assert forward.high == pytest.approx(-backward.low, abs=1e-9)
    assert 0.0 <= forward.p_not_better <= 1.0


def test_paired_scores_need_the_same_rows():
    with pytest.raises(ValueError, match="same rows"):
        paired_difference([1, 2, 3], [1, 2])


def test_an_empty_list_has_no_interval():
    with pytest.raises(ValueError, match="non-empty"):
        mean_interval([])


def test_optimal_rate_counts_scores_of_100():
    assert optimal_rate([100.0, 99.99, 100.0 - 1e-12, 0.0]) == 0.5


def test_broken_rule_shares():
    shares = broken_rule_shares([None, "overlap", "overlap", "format"])
    assert shares["overlap"] == 0.5 and shares["format"] == 0.25 and shares["not_chronological"] == 0.0
    with pytest.raises(ValueError, match="unknown"):
        broken_rule_shares(["late"])
