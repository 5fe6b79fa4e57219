"""Parity with GrowthBook's gbstats on frozen random inputs.

gbstats pins numpy<2, so it runs in its own environment: ``fixtures/
make_gbstats_cases.py`` simulated the inputs, ran gbstats 0.8.0 and froze both in
``fixtures/gbstats_cases.json``. Here looklift's engine runs on the same moments
and must agree within 1e-6 (relative; 1e-9 absolute for p-values near 0).

One documented difference: the *relative* CUPED standard error. gbstats 0.8.0
(the latest on PyPI) scales the adjusted control variance by ``mean_t^2 /
mean_c^4``, a shortcut that ignores how the adjustment covaries with the control
mean; looklift uses the exact delta-method gradient of its estimator, as
GrowthBook's later (unreleased on PyPI) code does for CUPED ratios and, up to a
second-order term, for CUPED means. There the point estimate and theta must match,
and the standard error is checked against an explicit user-by-user linearisation
in ``test_stats_compare.py``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from abtest.stats import (
    CupedMeanStats,
    MeanStats,
    ProportionStats,
    RatioStats,
    compare,
    p_worse,
    srm_test,
)
from abtest.stats.inference import one_sided_p_value

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "gbstats_cases.json").read_text())
CASES = FIXTURE["cases"]
RTOL, ATOL = 1e-6, 1e-9


def build(metric_type: str, moments: dict):
    """The looklift statistics object for one frozen variant."""
    if metric_type == "mean":
        return MeanStats(**moments)
    if metric_type == "proportion":
        return ProportionStats(**moments)
    if metric_type == "ratio":
        return RatioStats(**moments)
    return CupedMeanStats(
        MeanStats(**moments["post"]), MeanStats(**moments["pre"]), moments["post_pre_sum_products"]
    )


def ids(metric_type: str) -> list[str]:
    return [f"{metric_type}-{i}" for i in range(len(CASES[metric_type]))]


def run_looklift(metric_type: str, case: dict) -> dict:
    control, treatment = build(metric_type, case["control"]), build(metric_type, case["treatment"])
    fixed = compare(control, treatment, alpha=case["alpha"], test="welch")
    sequential = compare(
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


def assert_matches(ours, theirs: dict, fields: tuple[str, ...], where: str) -> None:
    for field in fields:
        np.testing.assert_allclose(
            getattr(ours, field), theirs[field], rtol=RTOL, atol=ATOL, err_msg=f"{where}: {field}"
        )


@pytest.mark.parametrize(
    ("metric_type", "index"),
    [(t, i) for t in ("mean", "proportion", "ratio") for i in range(len(CASES[t]))],
    ids=ids("mean") + ids("proportion") + ids("ratio"),
)
def test_two_sided_and_sequential_tests_match_gbstats(metric_type: str, index: int) -> None:
    case = CASES[metric_type][index]
    for output, (comparison, effect) in run_looklift(metric_type, case).items():
        theirs = case["results"][output]
        assert theirs["error"] is None and comparison.message is None, output
        fields = ("estimate", "se", "ci_low", "ci_high", "p_value")
        assert_matches(effect, theirs, fields, f"{metric_type}[{index}] {output}")
        if output.startswith("fixed"):
            assert_matches(effect, theirs, ("df",), f"{metric_type}[{index}] {output}")


@pytest.mark.parametrize("index", range(len(CASES["cuped_mean"])), ids=ids("cuped_mean"))
def test_cuped_matches_gbstats(index: int) -> None:
    case = CASES["cuped_mean"][index]
    for output, (comparison, effect) in run_looklift("cuped_mean", case).items():
        theirs = case["results"][output]
        where = f"cuped_mean[{index}] {output}"
        np.testing.assert_allclose(comparison.theta, theirs["theta"], rtol=RTOL, err_msg=where)
        if output.endswith("absolute"):
            fields = ("estimate", "se", "ci_low", "ci_high", "p_value")
            assert_matches(effect, theirs, fields, where)
            if output.startswith("fixed"):
                assert_matches(effect, theirs, ("df",), where)
        else:
            assert_matches(effect, theirs, ("estimate",), where)


@pytest.mark.parametrize("index", range(len(CASES["srm"])), ids=ids("srm"))
def test_srm_matches_gbstats(index: int) -> None:
    case = CASES["srm"][index]
    result = srm_test(case["counts"], case["weights"])
    np.testing.assert_allclose(result.p_value, case["p_value"], rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("index", range(len(CASES["edge"])))
def test_where_gbstats_declines_looklift_explains(index: int) -> None:
    """gbstats returns a placeholder with an error code; looklift a message, no crash."""
    case = CASES["edge"][index]
    control = build(case["type"], case["control"])
    treatment = build(case["type"], case["treatment"])
    for test in ("welch", "sequential"):
        result = compare(control, treatment, alpha=case["alpha"], test=test)
        assert result.message
        for difference in ("absolute", "relative"):
            ours = getattr(result, difference)
            theirs = case["results"][f"{'fixed' if test == 'welch' else 'sequential'}_{difference}"]
            assert theirs["error"]
            if difference == "relative" or math.isnan(ours.p_value):
                assert ours.message, (difference, ours)


@pytest.mark.parametrize(
    ("metric_type", "index"),
    [(t, i) for t in ("mean", "proportion", "ratio") for i in range(len(CASES[t]))],
    ids=ids("mean") + ids("proportion") + ids("ratio"),
)
def test_one_sided_tests_match_gbstats(metric_type: str, index: int) -> None:
    """The guardrail's one-sided p-values equal gbstats' OneSidedTreatment{Greater,Lesser}TTest."""
    case = CASES[metric_type][index]
    control, treatment = build(metric_type, case["control"]), build(metric_type, case["treatment"])
    comparison = compare(control, treatment, alpha=case["alpha"], test="welch")
    for difference in ("absolute", "relative"):
        effect = getattr(comparison, difference)
        theirs = case["results"][f"fixed_{difference}"]
        for side in ("greater", "less"):
            ours = one_sided_p_value(
                effect.estimate,
                effect.se,
                effect.df,
                side=side,
                test="welch",
                n_total=comparison.control_n + comparison.treatment_n,
                alpha=case["alpha"],
            )
            # gbstats computes 1 - cdf, which loses digits below 1e-9 or so
            np.testing.assert_allclose(
                ours, theirs[f"p_{side}"], rtol=RTOL, atol=1e-9, err_msg=f"{difference} {side}"
            )
        if difference == "relative":
            worse = p_worse(comparison, higher_is_better=True)
            np.testing.assert_allclose(worse, theirs["p_less"], rtol=RTOL, atol=1e-9)
            worse = p_worse(comparison, higher_is_better=False)
            np.testing.assert_allclose(worse, theirs["p_greater"], rtol=RTOL, atol=1e-9)
