"""Degenerate data never crash and never hide a NaN: every gap has a message.

Each case runs under all three tests (welch, z, sequential); the invariant checked
everywhere is that a NaN field appears only beside a message saying why.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from abtest.stats import (
    Comparison,
    CupedMeanStats,
    CupedRatioStats,
    MeanStats,
    ProportionStats,
    RatioStats,
    compare,
    compare_arrays,
)

TESTS = ["welch", "z", "sequential"]


def assert_explained(result: Comparison) -> None:
    """NaN only with a message; the comparison's message repeats every effect's."""
    for name in ("absolute", "relative"):
        effect = getattr(result, name)
        values = dataclasses.astuple(effect)[:6]  # estimate, se, df, interval, p-value
        if any(isinstance(v, float) and math.isnan(v) for v in values):
            assert effect.message, f"{name} has a NaN without a message: {effect}"
        if effect.message:
            assert effect.message in result.message
    for field in ("control_mean", "treatment_mean"):
        if math.isnan(getattr(result, field)):
            assert result.message, f"{field} is NaN without a message"


@pytest.mark.parametrize("test", TESTS)
def test_zero_variance_in_both_variants(test: str) -> None:
    result = compare(MeanStats(50, 150, 450), MeanStats(60, 240, 960), test=test)  # all 3s, all 4s
    assert_explained(result)
    assert result.absolute.estimate == pytest.approx(1.0)
    assert result.absolute.se == 0.0
    assert math.isnan(result.absolute.p_value)
    assert "zero variance" in result.absolute.message
    assert result.relative.estimate == pytest.approx(1 / 3)


@pytest.mark.parametrize("test", TESTS)
def test_constant_column_survives_float_cancellation(test: str) -> None:
    # 0.1 is not exact in binary: sum_squares - sum**2 / n is a few ulps, not 0
    values = np.full(1000, 0.1)
    result = compare(MeanStats.from_values(values), MeanStats.from_values(values * 3), test=test)
    assert result.absolute.se == 0.0
    assert "zero variance" in result.message


@pytest.mark.parametrize("test", TESTS)
def test_no_conversions_in_control(test: str) -> None:
    result = compare(ProportionStats(1000, 0), ProportionStats(1000, 25), test=test)
    assert_explained(result)
    assert result.absolute.estimate == pytest.approx(0.025)
    assert math.isfinite(result.absolute.p_value) and result.absolute.message is None
    assert "control has zero variance" in result.message
    assert math.isnan(result.relative.estimate)
    assert "control mean is 0" in result.relative.message


@pytest.mark.parametrize("test", ["welch", "z"])
def test_no_conversions_in_treatment_tests_the_absolute_effect(test: str) -> None:
    # 3 users against 5: one tap in control, none in treatment. The relative lift's
    # delta-method variance is 0 here (both its terms vanish), which would read as
    # "worse, p = 0"; only the absolute effect, on the control's variance, is tested.
    control, treatment = np.array([0.0, 0.0, 1.0]), np.zeros(5)
    result = compare(MeanStats.from_values(control), MeanStats.from_values(treatment), test=test)
    assert_explained(result)
    assert result.relative.estimate == pytest.approx(-1.0)
    assert math.isnan(result.relative.p_value) and "no standard error" in result.relative.message
    if test == "welch":
        expected = stats.ttest_ind(treatment, control, equal_var=False)
        assert result.absolute.p_value == pytest.approx(expected.pvalue, rel=1e-9)
        assert result.absolute.df == pytest.approx(2.0)  # the control's n - 1
    assert result.absolute.p_value > 0.3
    batched = compare_arrays(  # daily and segment points: the same, without messages
        "mean",
        MeanStats.from_values(control).as_arrays(),
        MeanStats.from_values(treatment).as_arrays(),
        test=test,
    )
    relative = batched.relative
    assert math.isnan(float(relative.p_value)) and math.isnan(float(relative.ci_low))
    assert float(batched.absolute.p_value) == pytest.approx(result.absolute.p_value)


@pytest.mark.parametrize("test", TESTS)
def test_no_conversions_anywhere(test: str) -> None:
    result = compare(ProportionStats(1000, 0), ProportionStats(900, 0), test=test)
    assert_explained(result)
    assert result.absolute.estimate == 0.0 and result.absolute.se == 0.0
    assert "control mean is 0" in result.relative.message


@pytest.mark.parametrize("test", TESTS)
@pytest.mark.parametrize(
    ("control", "treatment"),
    [
        (MeanStats(0, 0, 0), MeanStats(10, 20, 50)),
        (ProportionStats(100, 5), ProportionStats(0, 0)),
        (RatioStats(0, 0, 0, 0, 0, 0), RatioStats(0, 0, 0, 0, 0, 0)),
    ],
    ids=["empty-control", "empty-treatment", "both-empty"],
)
def test_a_variant_with_no_users(control, treatment, test: str) -> None:
    result = compare(control, treatment, test=test)
    assert_explained(result)
    assert "no users in" in result.absolute.message
    assert math.isnan(result.absolute.estimate) and math.isnan(result.relative.estimate)


@pytest.mark.parametrize("test", TESTS)
def test_a_single_user(test: str) -> None:
    result = compare(MeanStats(1, 3.0, 9.0), MeanStats(20, 80, 400), test=test)
    assert_explained(result)
    assert result.absolute.estimate == pytest.approx(1.0)
    assert math.isnan(result.absolute.se)
    assert "control has a single user" in result.absolute.message
    both = compare(ProportionStats(1, 1), ProportionStats(1, 0), test=test)
    assert_explained(both)
    assert "control and treatment have a single user" in both.message


@pytest.mark.parametrize("test", TESTS)
@pytest.mark.parametrize(("total", "wording"), [(0.0, "is 0"), (-30.0, "negative")])
def test_control_mean_zero_or_negative(total: float, wording: str, test: str) -> None:
    control = MeanStats.from_values(np.array([-5.0, 5.0, -1.0, 1.0]) + total / 4)
    result = compare(control, MeanStats.from_values([1.0, 2.0, 3.0]), test=test)
    assert_explained(result)
    assert math.isfinite(result.absolute.p_value)
    assert math.isnan(result.relative.estimate)
    assert wording in result.relative.message


@pytest.mark.parametrize("test", TESTS)
def test_ratio_with_no_impressions(test: str) -> None:
    result = compare(
        RatioStats.from_values([0, 0], [0, 0]), RatioStats.from_values([1, 2], [3, 4]), test=test
    )
    assert_explained(result)
    assert "denominator sums to 0 in control" in result.message


@pytest.mark.parametrize("test", TESTS)
def test_cuped_with_a_constant_covariate_is_the_plain_analysis(test: str) -> None:
    rng = np.random.default_rng(0)
    y_c, y_t = rng.normal(10, 2, 100), rng.normal(11, 2, 120)
    cuped = compare(
        CupedMeanStats.from_values(y_c, np.ones(100)),
        CupedMeanStats.from_values(y_t, np.ones(120)),
        test=test,
    )
    plain = compare(MeanStats.from_values(y_c), MeanStats.from_values(y_t), test=test)
    assert_explained(cuped)
    assert cuped.theta == 0.0
    assert "CUPED made no adjustment" in cuped.message
    assert cuped.absolute == plain.absolute
    assert cuped.relative == plain.relative


def test_cuped_ratio_with_an_empty_pre_period() -> None:
    rng = np.random.default_rng(1)
    den = rng.poisson(5, 200) + 1.0
    num = rng.binomial(den.astype(int), 0.2).astype(float)
    zeros = np.zeros(100)
    result = compare(
        CupedRatioStats.from_values(num[:100], den[:100], zeros, zeros),
        CupedRatioStats.from_values(num[100:], den[100:], num[100:], den[100:]),
    )
    plain = compare(
        RatioStats.from_values(num[:100], den[:100]), RatioStats.from_values(num[100:], den[100:])
    )
    assert_explained(result)
    assert result.theta == 0.0
    assert "pre-period denominator sums to 0 in control" in result.message
    np.testing.assert_allclose(
        dataclasses.astuple(result.absolute)[:7], dataclasses.astuple(plain.absolute)[:7]
    )


@pytest.mark.parametrize("seed", range(30))
def test_random_small_samples_are_always_explained(seed: int) -> None:
    """Tiny, lumpy samples: whatever happens, it is a result with reasons."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 4, size=2)
    values = [rng.integers(0, 2, size=s).astype(float) for s in sizes]
    for test in TESTS:
        assert_explained(compare(*(MeanStats.from_values(v) for v in values), test=test))
        assert_explained(compare(*(ProportionStats.from_values(v) for v in values), test=test))
        assert_explained(compare(*(RatioStats.from_values(v, v + 1) for v in values), test=test))
