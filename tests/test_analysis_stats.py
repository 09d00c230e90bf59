"""Paired statistics, censoring and the Gaussian KL against scipy, hand values and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ohgw.analysis.stats import censored_times
from ohgw.analysis.stats import gaussian_kl
from ohgw.analysis.stats import kl_closed_form
from ohgw.analysis.stats import paired_relative_change
from ohgw.analysis.stats import paired_test_metric
from ohgw.analysis.stats import std_ratio


def _arms(n=10, seed=3):
    rng = np.random.default_rng(seed)
    baseline = rng.uniform(50, 100, n)
    return baseline, baseline * rng.uniform(0.6, 1.1, n)


def test_wilcoxon_p_equals_scipy_and_the_exact_hand_value():
    baseline, treated = _arms()
    expected = stats.wilcoxon(treated, baseline, zero_method="wilcox", alternative="two-sided")
    assert paired_relative_change(baseline, treated)["p_value"] == expected.pvalue
    assert paired_test_metric(baseline, treated)["p_value"] == expected.pvalue
    # with a zero difference (dropped by "wilcox")
    treated[0] = baseline[0]
    expected = stats.wilcoxon(treated, baseline, zero_method="wilcox", alternative="two-sided")
    assert paired_relative_change(baseline, treated)["p_value"] == expected.pvalue
    # n = 6, all differences positive: the exact two-sided p is 2 / 2**6
    result = paired_relative_change([1, 2, 3, 4, 5, 6], [2, 4, 6, 8, 10, 12])
    assert result["p_value"] == pytest.approx(2 / 64, abs=1e-12)


def test_wilcoxon_p_is_nan_with_a_note_when_undefined():
    for baseline, treated in (([1.0, 2.0], [1.0, 2.0]), ([1.0], [2.0])):
        result = paired_relative_change(baseline, treated)
        assert math.isnan(result["p_value"])
        assert "undefined" in result["note"]


def test_relative_change_and_its_paired_bootstrap_interval():
    # treated = half the baseline on every seed: every resample gives exactly -50 %
    result = paired_relative_change([10.0, 20.0, 30.0, 70.0], [5.0, 10.0, 15.0, 35.0])
    assert result["relative_change"] == pytest.approx(-0.5)
    assert result["ci_low"] == pytest.approx(-0.5) and result["ci_high"] == pytest.approx(-0.5)
    assert result["n"] == 4
    baseline, treated = _arms()
    result = paired_relative_change(baseline, treated, n_boot=2000, seed=7)
    assert result["relative_change"] == pytest.approx(np.median(treated) / np.median(baseline) - 1)
    assert result["ci_low"] <= result["relative_change"] <= result["ci_high"]
    assert result["ci_low"] < result["ci_high"]
    assert paired_relative_change(baseline, treated, n_boot=2000, seed=7) == result
    assert paired_relative_change(baseline, treated, n_boot=2000, seed=8) != result


def test_paired_test_metric_pairs_seeds():
    # seeds differ widely, the treatment adds exactly 0.01 on each: a paired CI is a point
    baseline = np.array([0.5, 0.9, 0.6, 0.8, 0.7])
    result = paired_test_metric(baseline, baseline + 0.01)
    assert result["mean_difference"] == pytest.approx(0.01)
    assert result["ci_low"] == pytest.approx(0.01) and result["ci_high"] == pytest.approx(0.01)
    assert result["mean_baseline"] == pytest.approx(0.7)
    assert result["std_baseline"] == pytest.approx(np.std(baseline, ddof=1))
    assert result["std_treated"] == pytest.approx(np.std(baseline, ddof=1))
    assert result["p_value"] == pytest.approx(2 / 32)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="paired"):
        paired_relative_change([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="treated"):
        paired_test_metric([1.0, 2.0], [1.0, math.nan])
    with pytest.raises(ValueError, match="baseline"):
        paired_relative_change([0.0, 2.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="n_boot"):
        paired_test_metric([1.0, 2.0], [1.0, 3.0], n_boot=0)


def test_censored_times_enter_as_the_budget_and_are_counted():
    times, censored = censored_times([12.0, None, 30.0, None], budget=60.0)
    np.testing.assert_array_equal(times, [12.0, 60.0, 30.0, 60.0])
    assert censored == 2
    assert censored_times([1.0], 5.0)[1] == 0


def test_std_ratio():
    assert std_ratio([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == pytest.approx(2.0)
    assert math.isnan(std_ratio([1.0], [2.0, 3.0]))
    assert math.isnan(std_ratio([2.0, 2.0], [2.0, 3.0]))


MEAN_P = np.zeros(3)
COV_P = np.array([[1.0, 0.3, 0.0], [0.3, 2.0, 0.2], [0.0, 0.2, 0.5]])
MEAN_Q = np.array([0.5, -0.3, 1.0])
COV_Q = np.array([[1.5, 0.0, 0.1], [0.0, 1.0, 0.0], [0.1, 0.0, 0.8]])


def test_kl_closed_form_known_values():
    assert kl_closed_form([0.0], [[1.0]], [1.0], [[1.0]]) == pytest.approx(0.5)
    # 1-D: 0.5 * (s_p^2 / s_q^2 + (m_q - m_p)^2 / s_q^2 - 1 + ln(s_q^2 / s_p^2))
    expected = 0.5 * (1 / 4 + 1 / 4 - 1 + math.log(4))
    assert kl_closed_form(0.0, 1.0, 1.0, 4.0) == pytest.approx(expected)
    assert kl_closed_form(MEAN_P, COV_P, MEAN_P, COV_P) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="positive definite"):
        kl_closed_form(MEAN_P, -COV_P, MEAN_Q, COV_Q)


def test_gaussian_kl_of_large_samples_matches_the_closed_form():
    """Tolerance: 2 % relative (KL here is about 1.0 nat; the estimator's sd is about 0.004)."""
    rng = np.random.default_rng(0)
    p = rng.multivariate_normal(MEAN_P, COV_P, 200_000)
    q = rng.multivariate_normal(MEAN_Q, COV_Q, 200_000)
    forward = kl_closed_form(MEAN_P, COV_P, MEAN_Q, COV_Q)
    backward = kl_closed_form(MEAN_Q, COV_Q, MEAN_P, COV_P)
    assert gaussian_kl(p, q) == pytest.approx(forward, rel=0.02)
    assert gaussian_kl(q, p) == pytest.approx(backward, rel=0.02)
    assert abs(forward - backward) > 0.5  # KL is not symmetric, and the estimate sees it
    assert gaussian_kl(p, p) == pytest.approx(0.0, abs=1e-9)
    p2 = rng.multivariate_normal(MEAN_P, COV_P, 200_000)
    assert gaussian_kl(p, p2) == pytest.approx(0.0, abs=1e-3)


def test_gaussian_kl_in_one_dimension_and_bad_shapes():
    rng = np.random.default_rng(1)
    p, q = rng.normal(0.0, 1.0, 100_000), rng.normal(1.0, 2.0, 100_000)
    assert gaussian_kl(p, q) == pytest.approx(kl_closed_form(0.0, 1.0, 1.0, 4.0), rel=0.02)
    with pytest.raises(ValueError, match="samples_p"):
        gaussian_kl(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="dimensions"):
        gaussian_kl(np.zeros((5, 2)), np.zeros((5, 3)))


def test_one_seed_gives_no_interval_and_no_warning() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "Degrees of freedom <= 0" fails the test
        change = paired_relative_change([10.0], [8.0])
        diff = paired_test_metric([10.0], [8.0])
    assert change["relative_change"] == pytest.approx(-0.2)
    for result in (change, diff):
        assert math.isnan(result["ci_low"]) and math.isnan(result["ci_high"])
        assert math.isnan(result["p_value"])
    assert math.isnan(diff["std_baseline"])
    two = paired_relative_change([10.0, 12.0], [8.0, 9.0])
    assert two["ci_low"] < two["ci_high"]  # two seeds: an interval again
