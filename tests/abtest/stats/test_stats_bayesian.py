"""The Bayesian read-out: parity with gbstats' EffectBayesianABTest, the decision rule,
and what chance to win promises under A/A.

Parity: ``fixtures/make_gbstats_quantile_bayes.py`` ran gbstats 0.8.0's
``EffectBayesianABTest`` (relative lift, relative prior; flat and proper priors;
higher- and lower-is-better) on random moments and quantiles; looklift must agree
within 1e-6 (relative; 1e-9 absolute for chances and risks near 0). With CUPED,
looklift's likelihood has the exact delta-method variance (as its frequentist
engine, see ``test_stats_parity_gbstats.py``): there the lift's estimate must match,
and the posterior built on gbstats' own likelihood must match everything.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as st

from abtest.stats import (
    DEFAULT_CHANCE_TO_WIN,
    DEFAULT_WIN_RISK_THRESHOLD,
    BayesianEffect,
    CupedMeanStats,
    GaussianPrior,
    MeanStats,
    MomentArrays,
    ProportionStats,
    QuantileStats,
    RatioStats,
    StatsInputError,
    bayesian_effect,
    bayesian_verdict,
    compare,
    compare_bayesian,
    compare_quantiles_bayesian,
    posterior_effect,
)
from abtest.stats.inference import GroupEstimate

FIXTURE = json.loads(
    (Path(__file__).parent / "fixtures" / "gbstats_quantile_bayes.json").read_text()
)
CASES = FIXTURE["cases"]
RTOL, ATOL = 1e-6, 1e-9
TYPES = ("mean", "proportion", "ratio", "cuped_mean")
QUANTILE_FIELDS = ("n", "n_star", "nu", "quantile_hat", "quantile_lower", "quantile_upper")


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


def settings(case: dict) -> dict:
    return {
        "alpha": case["alpha"],
        "prior": GaussianPrior(**case["prior"]),
        "higher_is_better": not case["inverse"],
    }


def assert_matches(ours: BayesianEffect, theirs: dict, where: str) -> None:
    """Every number of gbstats' result, by looklift's names."""
    assert ours.message is None, (where, ours.message)
    pairs = {
        "chance_to_win": theirs["chance_to_win"],
        "risk_control": theirs["risk"][0],
        "risk_treatment": theirs["risk"][1],
        "lift_mean": theirs["expected"],
        "lift_sd": theirs["sd"],
        "ci_low": theirs["ci_low"],
        "ci_high": theirs["ci_high"],
    }
    for field, value in pairs.items():
        np.testing.assert_allclose(
            getattr(ours, field), value, rtol=RTOL, atol=ATOL, err_msg=f"{where}: {field}"
        )


def cases(*names: str) -> list[tuple[str, int]]:
    return [(name, i) for name in names for i in range(len(CASES[f"bayes_{name}"]))]


@pytest.mark.parametrize(("metric_type", "index"), cases("mean", "proportion", "ratio"))
def test_read_out_matches_gbstats(metric_type: str, index: int) -> None:
    case = CASES[f"bayes_{metric_type}"][index]
    control, treatment = build(metric_type, case["control"]), build(metric_type, case["treatment"])
    ours = compare_bayesian(
        metric_type, control.as_arrays(), treatment.as_arrays(), **settings(case)
    )
    assert_matches(ours, case["result"], f"{metric_type}[{index}]")


@pytest.mark.parametrize(("metric_type", "index"), cases(*TYPES))
def test_the_likelihood_is_the_frequentist_engine_s(metric_type: str, index: int) -> None:
    """gbstats' posterior from its own likelihood is reproduced in full; the likelihood is the
    frequentist relative lift and its standard error (gbstats' too, except CUPED's variance)."""
    case = CASES[f"bayes_{metric_type}"][index]
    theirs, where = case["result"], f"{metric_type}[{index}]"
    on_theirs = posterior_effect(theirs["data_mean"], theirs["data_variance"], **settings(case))
    assert_matches(on_theirs, theirs, where)
    control, treatment = build(metric_type, case["control"]), build(metric_type, case["treatment"])
    frequentist = compare(control, treatment, alpha=case["alpha"], test="z").relative
    arrays = (metric_type, control.as_arrays(), treatment.as_arrays())
    if frequentist.message:  # a negative control mean: gbstats reads on, looklift declines
        assert "control mean is negative" in frequentist.message
        assert frequentist.message == compare_bayesian(*arrays, **settings(case)).message
        return
    np.testing.assert_allclose(frequentist.estimate, theirs["data_mean"], rtol=RTOL, atol=ATOL)
    flat = {**settings(case), "prior": GaussianPrior()}
    ours = compare_bayesian(*arrays, **flat)
    np.testing.assert_allclose(ours.lift_mean, frequentist.estimate, rtol=1e-12)
    np.testing.assert_allclose(ours.lift_sd, frequentist.se, rtol=1e-12)
    # with a flat prior the credible interval is the z confidence interval
    np.testing.assert_allclose(ours.ci, frequentist.ci, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("index", range(len(CASES["quantile"]) + len(CASES["quantile_edge"])))
def test_quantile_read_out_matches_gbstats(index: int) -> None:
    case = (CASES["quantile"] + CASES["quantile_edge"])[index]
    control, treatment = (
        QuantileStats(**{f: case[g][f] for f in QUANTILE_FIELDS}) for g in ("control", "treatment")
    )
    read_out, theirs = case["bayes"], case["bayes"]["result"]
    ours = compare_quantiles_bayesian(control, treatment, **settings(read_out))
    if theirs["error"] is None:
        assert_matches(ours, theirs, f"quantile[{index}]")
    else:
        assert ours.message
        assert ours == BayesianEffect.undefined(ours.message, ci_level=1 - read_out["alpha"])
        assert_defaults(ours, theirs)


def assert_defaults(ours: BayesianEffect, theirs: dict) -> None:
    """gbstats' default output, number for number."""
    assert theirs["error"] and ours.message
    assert ours.chance_to_win == theirs["chance_to_win"] == 0.5
    assert [ours.risk_control, ours.risk_treatment] == theirs["risk"] == [0.0, 0.0]
    assert (ours.lift_mean, ours.lift_sd) == (theirs["expected"], theirs["sd"]) == (0.0, 0.0)
    assert ours.ci == (theirs["ci_low"], theirs["ci_high"]) == (0.0, 0.0)


@pytest.mark.parametrize("index", range(len(CASES["bayes_edge"])))
def test_where_gbstats_declines_looklift_explains(index: int) -> None:
    case = CASES["bayes_edge"][index]
    control = build(case["type"], case["control"]).as_arrays()
    treatment = build(case["type"], case["treatment"]).as_arrays()
    ours = compare_bayesian(case["type"], control, treatment, **settings(case))
    assert_defaults(ours, case["result"])
    assert bayesian_verdict(ours) == "undefined"


def test_messages_say_why() -> None:
    def read(control: MeanStats, treatment: MeanStats) -> str | None:
        return compare_bayesian("mean", control.as_arrays(), treatment.as_arrays()).message

    some = MeanStats.from_values([1.0, 2.0, 4.0])
    assert read(MeanStats(0, 0.0, 0.0), some) == "no users in control"
    assert "control mean is 0" in read(MeanStats.from_values([-1.0, 1.0]), some)
    assert "control mean is negative" in read(MeanStats.from_values([-1.0, -3.0]), some)
    assert "treatment has zero variance" in read(some, MeanStats.from_values([2.0, 2.0]))
    assert "treatment has zero variance (or a single unit)" in read(some, MeanStats(1, 2.0, 4.0))
    ratio = RatioStats.from_values([1.0, 2.0], [0.0, 0.0]).as_arrays()
    message = compare_bayesian("ratio", ratio, RatioStats.from_values([1, 2], [1, 3]).as_arrays())
    assert "denominator sums to 0 in control" in message.message
    undefined = posterior_effect(0.1, 0.0)
    assert "degenerate" in undefined.message and undefined.chance_to_win == 0.5


def test_lower_is_better_mirrors_higher_is_better() -> None:
    control, treatment = (
        MeanStats.from_summary(500, 10.0, 3.0),
        MeanStats.from_summary(500, 10.4, 3.0),
    )
    args = ("mean", control.as_arrays(), treatment.as_arrays())
    up, down = compare_bayesian(*args), compare_bayesian(*args, higher_is_better=False)
    assert up.chance_to_win > 0.95 and down.chance_to_win == pytest.approx(1 - up.chance_to_win)
    assert (down.risk_control, down.risk_treatment) == (up.risk_treatment, up.risk_control)
    assert (down.lift_mean, down.ci) == (up.lift_mean, up.ci)
    assert bayesian_verdict(up, risk=None) == "better"
    assert bayesian_verdict(down, risk=None) == "worse"


def effect(chance_to_win: float, risk_control: float, risk_treatment: float) -> BayesianEffect:
    return BayesianEffect(chance_to_win, risk_control, risk_treatment, 0.0, 1.0, -1, 1, 0.95)


@pytest.mark.parametrize(
    ("read_out", "risk", "verdict"),
    [
        (effect(0.96, 0.02, 0.001), DEFAULT_WIN_RISK_THRESHOLD, "better"),
        (effect(0.96, 0.02, 0.003), DEFAULT_WIN_RISK_THRESHOLD, "inconclusive"),
        (effect(0.96, 0.02, 0.003), None, "better"),
        (effect(0.95, 0.02, 0.0), None, "inconclusive"),  # above, not at, the threshold
        (effect(0.04, 0.0025, 0.02), DEFAULT_WIN_RISK_THRESHOLD, "worse"),
        (effect(0.04, 0.0026, 0.02), DEFAULT_WIN_RISK_THRESHOLD, "inconclusive"),
        (effect(0.5, 0.0, 0.0), None, "inconclusive"),
        (BayesianEffect.undefined("no users in control", ci_level=0.95), None, "undefined"),
    ],
)
def test_verdict_follows_growthbook_s_thresholds(
    read_out: BayesianEffect, risk: float | None, verdict: str
) -> None:
    assert DEFAULT_CHANCE_TO_WIN == 0.95 and DEFAULT_WIN_RISK_THRESHOLD == 0.0025
    assert bayesian_verdict(read_out, risk=risk) == verdict


def test_invalid_settings_say_which() -> None:
    with pytest.raises(StatsInputError, match=r"GaussianPrior.variance must be > 0"):
        GaussianPrior(0.0, 0.0, proper=True)
    with pytest.raises(StatsInputError, match=r"GaussianPrior.mean must be finite"):
        GaussianPrior(math.nan)
    with pytest.raises(StatsInputError, match="proper must be a bool"):
        GaussianPrior(proper="yes")  # type: ignore[arg-type]
    with pytest.raises(StatsInputError, match=r"chance_to_win must be in \(0.5, 1\)"):
        bayesian_verdict(effect(0.9, 0, 0), chance_to_win=0.3)
    with pytest.raises(StatsInputError, match="risk must be >= 0"):
        bayesian_verdict(effect(0.9, 0, 0), risk=-0.1)
    with pytest.raises(StatsInputError, match=r"alpha must be in \(0, 1\)"):
        posterior_effect(0.1, 0.01, alpha=1.5)
    batch = GroupEstimate.unadjusted([10, 10], [1.0, 2.0], [1.0, 1.0])
    with pytest.raises(StatsInputError, match="batch shape"):
        bayesian_effect(batch, batch)


# --- simulation -----------------------------------------------------------------------
# RUNS A/A experiments on a conversion rate, read with a flat prior. Chance to win is then
# P(Z < observed z) for a standard normal: uniform on (0, 1). Its mean must lie within
# 3.29 standard errors (99.9%) of 0.5, the standard error being sqrt(1/12 / RUNS) = 0.0065
# for 2,000 runs; the share above 0.95 inside the 99.9% binomial interval of 5%.

RUNS = 2000


def test_chance_to_win_is_uniform_under_aa() -> None:
    rng = np.random.default_rng(3)
    users, rate = 3000, 0.05
    successes = rng.binomial(users, rate, (2, RUNS)).astype(float)
    chances = np.array(
        [
            compare_bayesian(
                "proportion",
                MomentArrays(np.asarray(users), [c], [[c]]),
                MomentArrays(np.asarray(users), [t], [[t]]),
            ).chance_to_win
            for c, t in successes.T
        ]
    )
    assert abs(chances.mean() - 0.5) <= 3.29 * math.sqrt(1 / 12 / RUNS)
    low, high = st.binom.interval(0.999, RUNS, 0.05)
    assert low <= np.sum(chances > 0.95) <= high
    assert st.kstest(chances, "uniform").pvalue > 0.001
