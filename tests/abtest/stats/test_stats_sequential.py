"""Confidence sequences: the formula of Waudby-Smith et al., and its promises."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from abtest.stats import MeanStats, compare
from abtest.stats.sequential import half_width, p_value, rho_squared


def test_half_width_at_the_tuning_sample_size_by_hand() -> None:
    # alpha = .05, tuning = N = 5000:
    # rho^2 = (-2 ln .05 + ln(1 - 2 ln .05)) / 5000 = (5.99146 + 1.94470) / 5000
    # N rho^2 + 1 = 8.93616
    # width / (se sqrt N) = sqrt(2 * 8.93616 * ln(sqrt(8.93616) / .05) / (5000 * 7.93616))
    #                     = sqrt(2 * 8.93616 * 4.09076 / 39680.8) = 0.0429240
    # width / se = 0.0429240 * sqrt(5000) = 3.03521, against 1.95996 at a single look
    assert rho_squared(0.05, 5000) == pytest.approx(7.93616 / 5000, rel=1e-5)
    assert half_width(1.0, 5000, 0.05, 5000) == pytest.approx(3.03521, rel=1e-5)


def test_the_sequence_is_tightest_near_the_tuning_parameter() -> None:
    n = np.geomspace(100, 1e7, 2001)
    for tuning in (1_000, 5_000, 100_000):
        best = n[np.argmin(half_width(1.0, n, 0.05, tuning))]
        assert tuning / 3 < best < tuning * 3


def test_always_wider_than_a_single_fixed_look() -> None:
    n = np.geomspace(10, 1e8, 200)
    assert np.all(half_width(1.0, n, 0.05, 5000) > st.norm.ppf(0.975))


@pytest.mark.parametrize("seed", range(5))
def test_p_value_below_alpha_exactly_when_the_interval_excludes_zero(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = 10_000
    estimate, se = rng.normal(0, 1, size), rng.uniform(0.1, 1.0, size)
    n, alpha = rng.integers(10, 10**6, size), rng.choice([0.01, 0.05, 0.1], size)
    tuning = rng.uniform(100, 10**5, size)
    width = half_width(se, n, alpha, tuning)
    p = p_value(estimate, se, n, alpha, tuning)
    decided = np.abs(np.abs(estimate) - width) > 1e-9 * width  # off the boundary
    assert np.array_equal((p < alpha)[decided], (np.abs(estimate) > width)[decided])
    assert np.all((p > 0) & (p <= 1))
    boundary = p_value(width, se, n, alpha, tuning)
    np.testing.assert_allclose(boundary, alpha, rtol=1e-9)


def test_extreme_evidence_gives_a_tiny_p_value_not_an_overflow() -> None:
    assert 0.0 <= float(p_value(1e3, 1.0, 1e6, 0.05, 5000)) < 1e-300


def test_compare_reports_the_sequential_design() -> None:
    control, treatment = MeanStats.from_summary(4000, 10, 3), MeanStats.from_summary(4000, 10.3, 3)
    fixed = compare(control, treatment, test="z")
    sequential = compare(control, treatment, test="sequential", sequential_tuning=8000)
    assert sequential.sequential_tuning == 8000 and fixed.sequential_tuning is None
    assert sequential.absolute.df == math.inf
    assert sequential.absolute.se == fixed.absolute.se
    assert sequential.absolute.ci_low < fixed.absolute.ci_low
    assert sequential.absolute.p_value > fixed.absolute.p_value
