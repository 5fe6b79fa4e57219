"""Guardrails: a one-sided, unadjusted test that a metric got worse.

Checked against closed forms (half the two-sided p on the bad side), against
GrowthBook's one-sided sequential test (its bisection over alpha, written out
here from its published formulas), and by simulation: an A/A guardrail is
breached in alpha of the experiments (one-sided, so twice as often as a
two-sided test would flag that side), a real harm is caught with the power the
one-sided design predicts, and peeking daily at a sequential guardrail stays
under alpha. Parity with gbstats' fixed-horizon one-sided tests is in
``test_stats_parity_gbstats.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from abtest.stats import (
    MeanStats,
    MomentArrays,
    ProportionStats,
    compare,
    compare_arrays,
    guardrail_breached,
    p_worse,
)
from abtest.stats.inference import one_sided_p_value
from abtest.stats.sequential import one_sided_half_width, rho_squared

ALPHA = 0.05
RUNS = 2000


def test_fixed_horizon_p_worse_is_half_the_two_sided_p_on_the_bad_side() -> None:
    control, treatment = ProportionStats(20_000, 2_000), ProportionStats(20_000, 1_880)
    result = compare(control, treatment)
    assert result.relative.estimate < 0
    assert p_worse(result) == pytest.approx(result.relative.p_value / 2, rel=1e-12)
    # the same drop is good news for a lower-is-better metric: p near 1, never a breach
    assert p_worse(result, higher_is_better=False) == pytest.approx(
        1 - result.relative.p_value / 2, rel=1e-12
    )
    assert guardrail_breached(result) and not guardrail_breached(result, higher_is_better=False)


def test_a_guardrail_breach_can_happen_where_the_two_sided_test_is_not_significant() -> None:
    """One-sided at alpha: a two-sided p of 0.08 on the bad side is a breach (p_worse 0.04)."""
    z = st.norm.isf(0.04)
    se = 0.01
    control = MeanStats.from_summary(100_000, 10.0, math.sqrt(50_000) * se)
    treatment = MeanStats.from_summary(100_000, 10.0 - z * se, math.sqrt(50_000) * se)
    result = compare(control, treatment, test="z")
    assert result.absolute.p_value == pytest.approx(0.08, rel=1e-6)
    assert ALPHA < result.relative.p_value < 2 * ALPHA  # two-sided: not significant
    assert p_worse(result) == pytest.approx(result.relative.p_value / 2, rel=1e-12)
    assert guardrail_breached(result)


def test_untestable_guardrails_are_nan_and_never_breached() -> None:
    result = compare(ProportionStats(0, 0), ProportionStats(100, 5))
    assert math.isnan(p_worse(result)) and not guardrail_breached(result)


def _growthbook_one_sided_sequential_p(
    estimate: float, se: float, n: float, alpha: float, tuning: float
) -> float:
    """GrowthBook's ``SequentialOneSidedTreatmentGreaterTTest`` p-value: bisection over
    the level at which the one-sided bound ``estimate - halfwidth`` crosses 0, with
    ``rho`` fixed at the configured alpha (its ``computePValue``)."""
    rho2 = (-2 * math.log(2 * alpha) + math.log(-2 * math.log(2 * alpha) + 1)) / tuning
    s2 = se * se * n

    def lower(a: float) -> float:
        width = math.sqrt(
            s2
            * 2
            * (n * rho2 + 1)
            / (n * n * rho2)
            * math.log(1 + math.sqrt(n * rho2 + 1) / (2 * a))
        )
        return estimate - width

    low, high = 1e-5, 0.4999
    if lower(low) > 0:
        return low
    if lower(high) < 0:
        return high
    for _ in range(200):
        mid = 0.5 * (low + high)
        if lower(mid) < 0:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


@pytest.mark.parametrize("seed", range(5))
def test_sequential_p_worse_matches_growthbooks_bisection(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(40):
        n = float(np.exp(rng.uniform(np.log(50), np.log(200_000))))
        tuning = float(np.exp(rng.uniform(np.log(100), np.log(100_000))))
        alpha = float(rng.choice([0.01, 0.05, 0.1]))
        se = float(rng.uniform(0.01, 1.0))
        estimate = float(rng.uniform(0.5, 8.0)) * se
        ours = float(
            one_sided_p_value(
                estimate,
                se,
                np.inf,
                side="greater",
                test="sequential",
                n_total=n,
                alpha=alpha,
                sequential_tuning=tuning,
            )
        )
        theirs = _growthbook_one_sided_sequential_p(estimate, se, n, alpha, tuning)
        if 1e-5 < ours < 0.4999:
            assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-9)
        else:  # GrowthBook clips to its search range
            assert (ours <= 1e-5 and theirs == 1e-5) or (ours >= 0.4999 and theirs == 0.4999)
        # the p-value is the level at which the one-sided bound reaches 0
        bound = estimate - float(one_sided_half_width(se, n, alpha, tuning))
        assert (ours < alpha) == (bound > 0)


def test_sequential_one_sided_rho_is_optimised_at_twice_alpha() -> None:
    """GrowthBook's one-sided sequence uses rho for 2 alpha (its ``sequentialRho``)."""
    se, n, tuning = 0.1, 4000.0, 5000.0
    r2 = float(rho_squared(2 * ALPHA, tuning))
    expected = (
        se
        * math.sqrt(n)
        * math.sqrt(
            2 * (n * r2 + 1) / (n * n * r2) * math.log(1 + math.sqrt(n * r2 + 1) / (2 * ALPHA))
        )
    )
    assert float(one_sided_half_width(se, n, ALPHA, tuning)) == pytest.approx(expected)


def test_sequential_p_worse_of_a_good_move_is_one() -> None:
    p = one_sided_p_value(
        [-0.3, 0.0, 0.3],
        0.1,
        np.inf,
        side="greater",
        test="sequential",
        n_total=1000,
        alpha=ALPHA,
    )
    assert p[0] == 1.0 and p[1] == 1.0 and p[2] < 0.5


# --- by simulation ---------------------------------------------------------------------


def _assert_rate(successes: int, p: float, what: str) -> None:
    low, high = st.binom.interval(0.999, RUNS, p)
    assert low <= successes <= high, f"{what}: {successes}/{RUNS}, expected {p}"


def _conversions(rng: np.random.Generator, users: int, rate: float) -> MomentArrays:
    s = rng.binomial(users, rate, RUNS).astype(float)
    return MomentArrays(np.full(RUNS, users), s[:, None], s[:, None, None])


def _p_worse_arrays(control: MomentArrays, treatment: MomentArrays, test: str) -> np.ndarray:
    result = compare_arrays("proportion", control, treatment, alpha=ALPHA, test=test)
    rel = result.relative
    return one_sided_p_value(
        rel.estimate,
        rel.se,
        rel.df,
        side="less",
        test=test,
        n_total=result.control_n + result.treatment_n,
        alpha=ALPHA,
    )


def test_aa_guardrails_breach_in_alpha_of_experiments() -> None:
    rng = np.random.default_rng(70)
    p = _p_worse_arrays(_conversions(rng, 5000, 0.1), _conversions(rng, 5000, 0.1), "welch")
    _assert_rate(int(np.sum(p < ALPHA)), ALPHA, "A/A one-sided breaches")


def test_a_real_harm_is_caught_with_one_sided_power() -> None:
    """A 10% drop of a 10% conversion rate with 5,000 users per arm."""
    rng = np.random.default_rng(71)
    rate, drop, users = 0.1, 0.1, 5000
    p = _p_worse_arrays(
        _conversions(rng, users, rate), _conversions(rng, users, rate * (1 - drop)), "welch"
    )
    se = math.sqrt(rate * (1 - rate) / users + rate * (1 - drop) * (1 - rate * (1 - drop)) / users)
    power = st.norm.sf(st.norm.isf(ALPHA) - rate * drop / se)
    _assert_rate(int(np.sum(p < ALPHA)), power, "one-sided power")
    two_sided_power = st.norm.sf(st.norm.isf(ALPHA / 2) - rate * drop / se)
    assert power > two_sided_power + 0.1  # why guardrails are one-sided


def test_peeking_daily_at_a_sequential_guardrail_stays_under_alpha() -> None:
    rng = np.random.default_rng(72)
    days, per_day = 14, 200

    def daily() -> MomentArrays:
        s = np.cumsum(rng.binomial(per_day, 0.1, (RUNS, days)), axis=1).astype(float)
        n = np.cumsum(np.full((RUNS, days), per_day), axis=1).astype(float)
        return MomentArrays(n, s[..., None], s[..., None, None])

    control, treatment = daily(), daily()
    fixed = _p_worse_arrays(control, treatment, "welch") < ALPHA
    sequential = _p_worse_arrays(control, treatment, "sequential") < ALPHA
    assert fixed.any(axis=1).sum() > 2 * ALPHA * RUNS  # peeking at a fixed test inflates
    high = st.binom.ppf(0.999, RUNS, ALPHA)
    assert sequential.any(axis=1).sum() <= high
