"""The engine's promises, checked by simulation.

Each test simulates thousands of experiments at once (moments computed with numpy
over a batch axis, inference through ``compare_arrays``) with a fixed seed, and
accepts a rate only inside the 99.9% binomial interval of what the promise says
for that number of runs. A correct engine fails any one check with probability
about 0.001; the seeds are fixed, so the outcome is deterministic.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from abtest.stats import (
    MeanStats,
    MomentArrays,
    ProportionStats,
    adjust_pvalues,
    compare_arrays,
    sample_size,
    srm_test,
)

RUNS = 2000
ALPHA = 0.05


def assert_rate(successes: int, runs: int, p: float, what: str) -> None:
    """``successes`` out of ``runs`` is plausible for a true rate ``p`` (99.9%)."""
    low, high = st.binom.interval(0.999, runs, p)
    assert low <= successes <= high, (
        f"{what}: {successes}/{runs} = {successes / runs:.4f}, expected {p} "
        f"(99.9% interval {low / runs:.4f}..{high / runs:.4f})"
    )


def at_most(successes: int, runs: int, p: float, what: str) -> None:
    """``successes`` out of ``runs`` is plausible for a true rate of at most ``p``."""
    high = st.binom.ppf(0.999, runs, p)
    assert successes <= high, f"{what}: {successes}/{runs}, above {p} (bound {high / runs:.4f})"


# --- per-user data generators, shape (runs, users, variables) ------------------------


def revenue(rng: np.random.Generator, users: int, lift: float = 0.0) -> np.ndarray:
    """Skewed per-user values (log-normal, mean exp(1/2)), multiplied by 1 + lift."""
    return rng.lognormal(0.0, 1.0, (RUNS, users, 1)) * (1 + lift)


def conversions(rng: np.random.Generator, users: int, rate: float) -> MomentArrays:
    """0/1 metric: the successes of ``users`` users, drawn directly as binomial sums."""
    s = rng.binomial(users, rate, RUNS).astype(float)
    return MomentArrays(np.full(RUNS, users), s[:, None], s[:, None, None])


def taps_and_impressions(
    rng: np.random.Generator, users: int, lift: float = 0.0, pre: bool = False
) -> np.ndarray:
    """Per user: taps, impressions (and the same for a pre-period), correlated
    through each user's activity and taste. True tap rate 0.05 * (1 + lift)."""
    activity = rng.gamma(2.0, 4.0, (RUNS, users))
    taste = 0.5 * rng.beta(2, 18, (RUNS, users))  # mean 0.05, at most 0.5

    def period(rate_factor: float) -> list[np.ndarray]:
        impressions = rng.poisson(activity) + 1
        return [rng.binomial(impressions, taste * rate_factor), impressions]

    columns = period(1 + lift) + (period(1.0) if pre else [])
    return np.stack(columns, axis=-1).astype(float)


def with_pre_period(rng: np.random.Generator, users: int, lift: float = 0.0) -> np.ndarray:
    """Per user: a metric and its pre-period value, correlation about 0.8."""
    pre = rng.gamma(2.0, 5.0, (RUNS, users))
    post = (2.0 + 0.8 * pre + rng.normal(0.0, 4.0, (RUNS, users))) * (1 + lift)
    return np.stack([post, pre], axis=-1)


def moments(values: np.ndarray) -> MomentArrays:
    return MomentArrays.from_values(values)


SCENARIOS = {
    "mean": lambda rng, lift: (moments(revenue(rng, 400)), moments(revenue(rng, 400, lift))),
    "proportion": lambda rng, lift: (
        conversions(rng, 3000, 0.05),
        conversions(rng, 3000, 0.05 * (1 + lift)),
    ),
    "ratio": lambda rng, lift: (
        moments(taps_and_impressions(rng, 400)),
        moments(taps_and_impressions(rng, 400, lift)),
    ),
    "cuped_mean": lambda rng, lift: (
        moments(with_pre_period(rng, 400)),
        moments(with_pre_period(rng, 400, lift)),
    ),
    "cuped_ratio": lambda rng, lift: (
        moments(taps_and_impressions(rng, 400, pre=True)),
        moments(taps_and_impressions(rng, 400, lift, pre=True)),
    ),
}


@pytest.mark.parametrize("metric_type", list(SCENARIOS))
def test_aa_false_positive_rate_is_alpha(metric_type: str) -> None:
    rng = np.random.default_rng(list(SCENARIOS).index(metric_type))
    control, treatment = SCENARIOS[metric_type](rng, 0.0)
    result = compare_arrays(metric_type, control, treatment, alpha=ALPHA)
    for effect in ("absolute", "relative"):
        p = getattr(result, effect).p_value
        assert np.all(np.isfinite(p))
        assert_rate(int(np.sum(p < ALPHA)), RUNS, ALPHA, f"{metric_type} {effect} A/A")


@pytest.mark.parametrize("metric_type", list(SCENARIOS))
def test_intervals_cover_a_known_true_lift(metric_type: str) -> None:
    """Treatment multiplies the metric by 1.10: the relative lift is 0.10 exactly."""
    rng = np.random.default_rng(10 + list(SCENARIOS).index(metric_type))
    control, treatment = SCENARIOS[metric_type](rng, 0.10)
    relative = compare_arrays(metric_type, control, treatment, alpha=ALPHA).relative
    covered = int(np.sum((relative.ci_low < 0.10) & (relative.ci_high > 0.10)))
    assert_rate(covered, RUNS, 1 - ALPHA, f"{metric_type} coverage of +10%")


def test_cuped_is_sharper_than_the_plain_mean_on_the_same_users() -> None:
    rng = np.random.default_rng(20)
    values_c, values_t = with_pre_period(rng, 400), with_pre_period(rng, 400, 0.05)
    cuped = compare_arrays("cuped_mean", moments(values_c), moments(values_t))
    plain = compare_arrays("mean", moments(values_c[..., :1]), moments(values_t[..., :1]))
    assert np.median(cuped.absolute.se / plain.absolute.se) < 0.7
    assert np.sum(cuped.absolute.p_value < ALPHA) > 1.5 * np.sum(plain.absolute.p_value < ALPHA)


# --- peeking ----------------------------------------------------------------------------

DAYS, USERS_PER_DAY = 14, 100


def cumulative(daily: MomentArrays) -> MomentArrays:
    """Moments as of each day's end, from per-day moments with batch shape (runs, days)."""
    return MomentArrays(
        np.cumsum(daily.n, axis=1), np.cumsum(daily.sums, axis=1), np.cumsum(daily.cross, axis=1)
    )


def daily_revenue(rng: np.random.Generator) -> MomentArrays:
    return moments(rng.exponential(5.0, (RUNS, DAYS, USERS_PER_DAY, 1)))


def daily_conversions(rng: np.random.Generator) -> MomentArrays:
    s = rng.binomial(USERS_PER_DAY, 0.1, (RUNS, DAYS)).astype(float)
    return MomentArrays(np.full((RUNS, DAYS), USERS_PER_DAY), s[..., None], s[..., None, None])


@pytest.mark.parametrize(
    ("metric_type", "daily"),
    [("mean", daily_revenue), ("proportion", daily_conversions)],
)
def test_daily_peeking_inflates_fixed_tests_but_not_confidence_sequences(
    metric_type: str, daily
) -> None:
    rng = np.random.default_rng(30 if metric_type == "mean" else 31)
    control, treatment = cumulative(daily(rng)), cumulative(daily(rng))

    def stopped_early(test: str, **settings) -> np.ndarray:
        p = compare_arrays(metric_type, control, treatment, test=test, **settings).absolute.p_value
        return p < ALPHA  # shape (runs, days)

    fixed = stopped_early("welch")
    assert_rate(int(fixed[:, -1].sum()), RUNS, ALPHA, "one look at the end")
    peeking = int(fixed.any(axis=1).sum())
    assert peeking > 2.5 * ALPHA * RUNS, f"peeking daily should inflate: {peeking}/{RUNS}"
    for tuning in (5000.0, 2.0 * DAYS * USERS_PER_DAY, 200.0):
        sequential = int(stopped_early("sequential", sequential_tuning=tuning).any(axis=1).sum())
        at_most(sequential, RUNS, ALPHA, f"sequential (tuning {tuning}) peeking daily")


# --- power ------------------------------------------------------------------------------


def test_planned_sample_size_delivers_the_planned_power() -> None:
    rng = np.random.default_rng(40)
    plan = sample_size(MeanStats.from_summary(10_000, 10.0, 3.0), relative_effect=0.05)
    control = moments(rng.normal(10.0, 3.0, (RUNS, plan.n_control, 1)))
    treatment = moments(rng.normal(10.5, 3.0, (RUNS, plan.n_treatment, 1)))
    p = compare_arrays("mean", control, treatment).absolute.p_value
    assert_rate(int(np.sum(p < ALPHA)), RUNS, plan.power, "mean power")

    plan = sample_size(ProportionStats(100_000, 10_000), relative_effect=0.1, power=0.9)
    p = compare_arrays(
        "proportion",
        conversions(rng, plan.n_control, 0.10),
        conversions(rng, plan.n_treatment, 0.11),
    ).absolute.p_value
    assert_rate(int(np.sum(p < ALPHA)), RUNS, plan.power, "proportion power")


# --- sample ratio mismatch --------------------------------------------------------------


@pytest.mark.parametrize("weights", [[0.5, 0.5], [0.2, 0.3, 0.5]])
def test_srm_rarely_fires_under_correct_assignment(weights: list[float]) -> None:
    rng = np.random.default_rng(50)
    counts = rng.multinomial(20_000, weights, RUNS)
    flagged = sum(srm_test(c, weights).flagged for c in counts)
    at_most(flagged, RUNS, 0.001, "SRM false alarms")


def test_srm_flags_lost_treatment_users() -> None:
    """A crash drops 5% of treatment users before they are logged."""
    rng = np.random.default_rng(51)
    assigned = rng.multinomial(100_000, [0.5, 0.5], RUNS)
    logged = np.stack([assigned[:, 0], rng.binomial(assigned[:, 1], 0.95)], axis=1)
    flagged = sum(srm_test(c, [1, 1]).flagged for c in logged)
    assert flagged >= 0.99 * RUNS


# --- multiple testing -------------------------------------------------------------------


def test_corrections_control_the_family_wise_error_rate() -> None:
    """Ten metrics with no effect: uncorrected, some metric 'wins' in ~40% of
    experiments; Holm and BH (all nulls true, so FDR = FWER) keep it near alpha."""
    runs, metrics = 1000, 10
    rng = np.random.default_rng(60)
    values = rng.normal(0.0, 1.0, (2, runs, metrics, 200, 1))
    p = compare_arrays("mean", moments(values[0]), moments(values[1])).absolute.p_value
    assert_rate(int(np.sum((p < ALPHA).any(axis=1))), runs, 1 - (1 - ALPHA) ** metrics, "raw")
    bh = sum(any(adjust_pvalues(row, method="bh").reject) for row in p)
    at_most(bh, runs, ALPHA, "Benjamini-Hochberg")
    # Holm rejects anything exactly when min(p) <= alpha / m, so its family-wise error
    # is vectorised here (statsmodels' Holm runs gc.collect() on every call, too slow
    # for a thousand runs); a few rows confirm the identity through the engine
    holm = p.min(axis=1) <= ALPHA / metrics
    at_most(int(holm.sum()), runs, ALPHA, "Holm")
    for row, expected in zip(p[:10], holm[:10], strict=True):
        assert any(adjust_pvalues(row, method="holm").reject) == expected
