"""Power, MDE and sample size: closed forms, statsmodels, and each other."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import power_proportions_2indep

from abtest.stats import (
    CupedMeanStats,
    MeanStats,
    ProportionStats,
    RatioStats,
    StatsInputError,
    compare,
    mde,
    power,
    sample_size,
)

Z = st.norm.ppf(0.975) + st.norm.ppf(0.8)  # 1.95996 + 0.84162


def test_sample_size_for_a_mean_by_hand() -> None:
    # sd 1, mean 10, +2% = 0.2: n = 2 (z_.975 + z_.8)^2 sd^2 / delta^2 = 392.4 per variant
    result = sample_size(MeanStats.from_summary(10_000, 10, 1), relative_effect=0.02)
    assert result.n_control == result.n_treatment == math.ceil(2 * Z**2 / 0.04) == 393
    assert result.absolute_effect == pytest.approx(0.2)
    assert 0.8 <= result.power < 0.801


def test_sample_size_for_a_proportion_by_hand() -> None:
    # 5% -> 5.5%: n = (z_.975 + z_.8)^2 (p1 q1 + p2 q2) / delta^2
    result = sample_size(ProportionStats(100_000, 5_000), relative_effect=0.1)
    by_hand = Z**2 * (0.05 * 0.95 + 0.055 * 0.945) / 0.005**2
    assert result.n_control == math.ceil(by_hand)
    assert result.baseline_sd == pytest.approx(math.sqrt(0.05 * 0.95))


@pytest.mark.parametrize("ratio", [1.0, 0.5, 3.0])
def test_means_match_statsmodels_normal_ind_power(ratio: float) -> None:
    baseline = MeanStats.from_summary(5000, 20, 8)
    solver = NormalIndPower()
    d = 0.03 * 20 / baseline_sd(baseline)
    n_c = solver.solve_power(effect_size=d, alpha=0.05, power=0.8, ratio=ratio)
    planned = sample_size(baseline, relative_effect=0.03, treatment_ratio=ratio)
    assert planned.n_control == math.ceil(n_c)
    got = power(baseline, relative_effect=0.03, n_control=1500, n_treatment=int(1500 * ratio))
    assert got.power == pytest.approx(
        solver.power(effect_size=d, nobs1=1500, alpha=0.05, ratio=int(1500 * ratio) / 1500)
    )
    smallest = mde(baseline, n_control=1500, n_treatment=int(1500 * ratio), alpha=0.1, power=0.9)
    n_ratio = int(1500 * ratio) / 1500
    d_min = solver.solve_power(nobs1=1500, alpha=0.1, power=0.9, ratio=n_ratio)
    # statsmodels' root finder stops at ~1e-5; its power at our MDE is the exact check
    assert smallest.absolute_effect == pytest.approx(d_min * baseline_sd(baseline), rel=1e-4)
    d_ours = smallest.absolute_effect / baseline_sd(baseline)
    assert solver.power(d_ours, nobs1=1500, alpha=0.1, ratio=n_ratio) == pytest.approx(0.9)


def baseline_sd(stats: MeanStats) -> float:
    return math.sqrt((stats.sum_squares - stats.sum**2 / stats.n) / (stats.n - 1))


def test_proportions_are_close_to_statsmodels_pooled_null_version() -> None:
    """statsmodels uses the pooled variance under the null; ours the unpooled one the
    Welch/z test actually uses. They agree to a fraction of a percent point."""
    ours = power(ProportionStats(10_000, 1_000), relative_effect=0.1, n_control=10_000)
    theirs = power_proportions_2indep(0.01, 0.1, 10_000, alpha=0.05).power
    assert ours.power == pytest.approx(theirs, abs=0.005)


@pytest.mark.parametrize(
    "baseline",
    [
        MeanStats.from_summary(2000, 3.0, 4.0),
        ProportionStats(20_000, 700),
        RatioStats.from_values(*np.random.default_rng(0).poisson([[1.0], [6.0]], (2, 3000)) + 1),
    ],
    ids=["mean", "proportion", "ratio"],
)
def test_mde_power_and_sample_size_agree(baseline) -> None:
    smallest = mde(baseline, n_control=4000, n_treatment=6000)
    check = power(
        baseline, relative_effect=smallest.relative_effect, n_control=4000, n_treatment=6000
    )
    assert check.power == pytest.approx(0.8, abs=1e-9)
    planned = sample_size(baseline, relative_effect=smallest.relative_effect, treatment_ratio=1.5)
    assert 3999 <= planned.n_control <= 4001
    assert planned.power >= 0.8


def test_ratio_baseline_uses_the_delta_method_sd() -> None:
    rng = np.random.default_rng(1)
    den = rng.poisson(8, 5000) + 1.0
    num = rng.binomial(den.astype(int), rng.beta(2, 18, 5000)).astype(float)
    baseline = RatioStats.from_values(num, den)
    plan = power(baseline, relative_effect=0.05, n_control=5000)
    # compare()'s standard error of a variant against itself is sd * sqrt(2 / n)
    same = compare(baseline, baseline)
    assert plan.baseline_sd == pytest.approx(same.absolute.se * math.sqrt(5000 / 2))


def test_cuped_baseline_shrinks_the_sample_size_by_one_minus_rho_squared() -> None:
    rng = np.random.default_rng(2)
    pre = rng.normal(10, 3, 20_000)
    post = 0.8 * pre + rng.normal(2, 3 * 0.6, 20_000)
    rho = np.corrcoef(post, pre)[0, 1]
    plain = sample_size(MeanStats.from_values(post), relative_effect=0.01)
    cuped = sample_size(CupedMeanStats.from_values(post, pre), relative_effect=0.01)
    assert cuped.baseline_sd == pytest.approx(plain.baseline_sd * math.sqrt(1 - rho**2), rel=1e-3)
    assert cuped.n_control == pytest.approx(plain.n_control * (1 - rho**2), rel=2e-3)


def test_a_proportion_cannot_rise_past_one() -> None:
    result = mde(ProportionStats(100, 97), n_control=20)
    assert math.isnan(result.relative_effect) and "100%" in result.message
    with pytest.raises(StatsInputError, match="outside"):
        power(ProportionStats(100, 60), relative_effect=1.0, n_control=100)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: power(MeanStats(1, 2, 4), relative_effect=0.1, n_control=100), "at least 2"),
        (lambda: power(MeanStats(3, 6, 12), relative_effect=0.1, n_control=100), "zero variance"),
        (lambda: power(MeanStats(2, 0, 2), relative_effect=0.1, n_control=100), "mean is 0"),
        (lambda: power(ProportionStats(9, 1), relative_effect=0.1, n_control=1), "n_control"),
        (lambda: sample_size(ProportionStats(9, 1), relative_effect=0), "non-zero"),
        (lambda: sample_size(ProportionStats(9, 1), relative_effect=0.1, power=0.01), "power"),
        (lambda: mde(ProportionStats(9, 1), n_control=100, alpha=2), "alpha"),
    ],
)
def test_invalid_plans_raise(call, fragment: str) -> None:
    with pytest.raises(StatsInputError, match=fragment):
        call()
