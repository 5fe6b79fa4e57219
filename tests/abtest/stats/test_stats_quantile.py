"""Quantile metrics: GrowthBook's SQL reduction and gbstats' tests, and their promises.

Parity: ``fixtures/make_gbstats_quantile_bayes.py`` reduced random per-unit values
to what GrowthBook's SQL returns and ran gbstats 0.8.0's ``TwoSidedTTest`` and
``SequentialTwoSidedTTest`` on ``QuantileStatistic``; looklift must agree within
1e-6 (relative; 1e-9 absolute near 0), decline where gbstats declines, and
reduce the values to the same statistics. Simulations check the false-positive
rate and the coverage of the relative lift of a quantile.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import numpy as np
import pytest
from scipy import stats as st

from abtest.stats import (
    N_STAR_VALUES,
    QuantileStats,
    StatsInputError,
    compare_quantiles,
    quantile_estimate,
    quantile_levels,
)
from abtest.stats.inference import contrast

FIXTURE = json.loads(
    (Path(__file__).parent / "fixtures" / "gbstats_quantile_bayes.json").read_text()
)
CASES = FIXTURE["cases"]["quantile"] + FIXTURE["cases"]["quantile_edge"]
RTOL, ATOL = 1e-6, 1e-9
FIELDS = ("n", "n_star", "nu", "quantile_hat", "quantile_lower", "quantile_upper")


def stats(variant: dict) -> QuantileStats:
    return QuantileStats(**{f: variant[f] for f in FIELDS})


def run_looklift(case: dict) -> dict:
    control, treatment = stats(case["control"]), stats(case["treatment"])
    fixed = compare_quantiles(control, treatment, alpha=case["alpha"])
    sequential = compare_quantiles(
        control,
        treatment,
        alpha=case["alpha"],
        test="sequential",
        sequential_tuning=case["sequential_tuning"],
    )
    return {
        "fixed_absolute": (fixed, fixed.absolute),
        "fixed_relative": (fixed, fixed.relative),
        "sequential_absolute": (sequential, sequential.absolute),
        "sequential_relative": (sequential, sequential.relative),
    }


@pytest.mark.parametrize("index", range(len(CASES)))
def test_two_sided_and_sequential_tests_match_gbstats(index: int) -> None:
    case = CASES[index]
    for output, (comparison, effect) in run_looklift(case).items():
        theirs, where = case["results"][output], f"quantile[{index}] {output}"
        if theirs["error"] is not None:
            # gbstats declines (zero variance, or a control of 0 where looklift still
            # gives the absolute difference); looklift explains
            assert comparison.message, where
            if output.endswith("relative") or theirs["error"] == "ZERO_NEGATIVE_VARIANCE":
                assert effect.message and math.isnan(effect.p_value), where
            continue
        assert comparison.message is None, (where, comparison.message)
        fields = ("estimate", "se", "ci_low", "ci_high", "p_value")
        fields += ("df",) if output.startswith("fixed") else ()
        for field in fields:
            np.testing.assert_allclose(
                getattr(effect, field),
                theirs[field],
                rtol=RTOL,
                atol=ATOL,
                err_msg=f"{where} {field}",
            )


@pytest.mark.parametrize("index", range(len(CASES)))
def test_zero_variance_is_declined_as_gbstats_does(index: int) -> None:
    """gbstats' ZERO_NEGATIVE_VARIANCE exactly where looklift finds a zero-variance variant."""
    case = CASES[index]
    control, treatment = stats(case["control"]), stats(case["treatment"])
    theirs = case["results"]["fixed_absolute"]["error"]
    ours = [q.zero_variance_reason() for q in (control, treatment)]
    if control.quantile_hat != 0:
        assert (theirs == "ZERO_NEGATIVE_VARIANCE") == any(ours), (index, theirs, ours)
    if any(ours):
        result = compare_quantiles(control, treatment, alpha=case["alpha"])
        assert math.isnan(result.absolute.p_value) and math.isnan(result.relative.p_value)
        assert "zero" in result.message
        assert result.absolute.estimate == treatment.quantile_hat - control.quantile_hat


@pytest.mark.parametrize("index", range(len(CASES)))
def test_levels_and_values_reduce_as_growthbook_sql(index: int) -> None:
    for label in ("control", "treatment"):
        variant = CASES[index][label]
        n_star, low, high = quantile_levels(variant["n"], variant["nu"])
        assert n_star == variant["n_star"]
        np.testing.assert_allclose([low, high], variant["levels"], rtol=1e-15)
        if "values" in variant:
            assert QuantileStats.from_values(variant["values"], variant["nu"]) == stats(variant)


def test_n_star_is_the_largest_grid_value_below_n() -> None:
    assert N_STAR_VALUES[0] == 100 and N_STAR_VALUES[-1] == 52_428_800 and len(N_STAR_VALUES) == 20
    assert [quantile_levels(n, 0.5)[0] for n in (0, 1, 100, 101, 200, 201, 10**9)] == [
        100,
        100,
        100,
        100,
        100,
        200,
        52_428_800,
    ]
    _, low, high = quantile_levels(100, 0.999999)
    assert high == 0.99999999 and low < 0.999999


def test_from_values_equals_duckdb_quantile_cont() -> None:
    """The quantile definition SQL will use: DuckDB's quantile_cont, ties and NULLs included."""
    rng = np.random.default_rng(11)
    values = np.concatenate([rng.poisson(3.0, 300).astype(float), rng.lognormal(1.0, 1.0, 77)])
    values[rng.random(values.size) < 0.05] = np.nan
    con = duckdb.connect()
    con.execute("CREATE TABLE t (v DOUBLE)")
    con.executemany("INSERT INTO t VALUES (?)", [[None if np.isnan(v) else v] for v in values])
    for nu in (0.01, 0.25, 0.5, 0.9, 0.99):
        ours = QuantileStats.from_values(values, nu)
        n_star, low, high = quantile_levels(ours.n, nu)
        row = con.execute(
            "SELECT COUNT(v), quantile_cont(v, ?), quantile_cont(v, ?), quantile_cont(v, ?) FROM t",
            [nu, low, high],
        ).fetchone()
        assert (ours.n, ours.n_star) == (row[0], n_star)
        np.testing.assert_allclose(
            [ours.quantile_hat, ours.quantile_lower, ours.quantile_upper], row[1:], rtol=1e-12
        )


def test_no_units_and_a_zero_control_are_explained() -> None:
    empty = QuantileStats.from_values([], 0.5)
    assert empty == QuantileStats(0, 100, 0.5, 0.0, 0.0, 0.0)
    some = QuantileStats.from_values(np.arange(1.0, 2001.0), 0.5)
    result = compare_quantiles(empty, some)
    assert "no units in control" in result.message and math.isnan(result.control_mean)
    assert math.isnan(result.absolute.estimate) and math.isnan(result.relative.estimate)
    zero = QuantileStats.from_values(np.r_[np.zeros(1500), np.arange(1.0, 501.0)], 0.5)
    result = compare_quantiles(zero, some)
    assert result.absolute.message is None and math.isfinite(result.absolute.p_value)
    assert "control mean is 0" in result.relative.message


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": -1}, "QuantileStats.n must be a non-negative integer"),
        ({"n_star": 0}, "QuantileStats.n_star must be positive"),
        ({"nu": 1.0}, r"QuantileStats.nu must be a quantile level in \(0, 1\)"),
        ({"quantile_hat": math.inf}, "QuantileStats.quantile_hat must be finite"),
        ({"quantile_lower": 5.0}, "the quantiles must be ordered"),
    ],
)
def test_invalid_statistics_say_which_field(kwargs: dict, match: str) -> None:
    fields = {"n": 500, "n_star": 400, "nu": 0.5, "quantile_hat": 3.0}
    fields |= {"quantile_lower": 2.5, "quantile_upper": 3.5} | kwargs
    with pytest.raises(StatsInputError, match=match):
        QuantileStats(**fields)


def test_comparing_different_levels_or_other_statistics_raises() -> None:
    a = QuantileStats(500, 400, 0.5, 3.0, 2.5, 3.5)
    with pytest.raises(StatsInputError, match="the same quantile"):
        compare_quantiles(a, QuantileStats(500, 400, 0.9, 3.0, 2.5, 3.5))
    with pytest.raises(StatsInputError, match="treatment must be QuantileStats"):
        compare_quantiles(a, 3.0)  # type: ignore[arg-type]


# --- simulations ----------------------------------------------------------------------
# RUNS experiments of USERS units per variant at once: the SQL reduction with numpy over a
# batch axis, then the engine's contrast. A rate is accepted inside the 99.9% binomial
# interval of its promise for RUNS runs (about +-1.6 points around 5% for 2,000 runs): a
# correct engine fails a check with probability about 0.001, and the seeds are fixed.

RUNS, USERS, ALPHA = 2000, 1000, 0.05


def batch(values: np.ndarray, nu: float):
    """quantile_estimate of each run's values (shape (RUNS, USERS)), as SQL would reduce them."""
    n_star, low, high = quantile_levels(values.shape[1], nu)
    hat, lower, upper = np.quantile(values, [nu, low, high], method="linear", axis=1)
    n = np.full(values.shape[0], values.shape[1])
    return quantile_estimate(n, np.full_like(n, n_star), hat, lower, upper)


def assert_rate(successes: int, p: float, what: str) -> None:
    low, high = st.binom.interval(0.999, RUNS, p)
    assert low <= successes <= high, f"{what}: {successes}/{RUNS}, expected {p} ({low}..{high})"


@pytest.mark.parametrize("nu", [0.5, 0.9])
def test_aa_false_positive_rate_of_the_quantile_lift_is_alpha(nu: float) -> None:
    rng = np.random.default_rng(int(nu * 100))
    control = batch(rng.lognormal(0.0, 1.0, (RUNS, USERS)), nu)
    treatment = batch(rng.lognormal(0.0, 1.0, (RUNS, USERS)), nu)
    result = contrast(control, treatment, alpha=ALPHA)
    for effect in ("absolute", "relative"):
        p = getattr(result, effect).p_value
        assert np.all(np.isfinite(p))
        assert_rate(int(np.sum(p < ALPHA)), ALPHA, f"{effect} lift of the {nu} quantile, A/A")


def test_intervals_cover_a_known_quantile_lift() -> None:
    """Treatment multiplies every value by 1.1, so every quantile's true lift is 0.10."""
    rng = np.random.default_rng(7)
    control = batch(rng.exponential(10.0, (RUNS, USERS)), 0.75)
    treatment = batch(rng.exponential(10.0, (RUNS, USERS)) * 1.1, 0.75)
    relative = contrast(control, treatment, alpha=ALPHA).relative
    covered = (relative.ci_low <= 0.10) & (relative.ci_high >= 0.10)
    assert_rate(int(covered.sum()), 1 - ALPHA, "coverage of the 0.75 quantile's lift")
