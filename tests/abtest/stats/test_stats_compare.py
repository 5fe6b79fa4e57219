"""compare(): closed-form cases worked by hand, then live parity with scipy,
statsmodels and tea-tasting, then independent checks of the delta-method algebra
from raw per-user data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tea_tasting as tt
from scipy import stats as st
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW
from tea_tasting.aggr import Aggregates

from abtest.stats import (
    CupedMeanStats,
    CupedRatioStats,
    MeanStats,
    MomentArrays,
    ProportionStats,
    RatioStats,
    StatsInputError,
    compare,
    compare_arrays,
    compare_moments,
    metric_type_of,
)

# --- closed form ---------------------------------------------------------------------


def test_welch_by_hand() -> None:
    # control 1, 2, 3, 4: mean 5/2, variance 5/3; treatment 2, 4, 6, 8: mean 5, variance 20/3
    result = compare(MeanStats(4, 10, 30), MeanStats(4, 20, 120), alpha=0.05)
    abs_var = (5 / 3) / 4 + (20 / 3) / 4  # 25/12
    df = (25 / 12) ** 2 / (((5 / 12) ** 2 + (20 / 12) ** 2) / 3)  # 1875/425
    t_crit = st.t.ppf(0.975, df)
    assert result.control_mean == 2.5 and result.treatment_mean == 5.0
    assert result.absolute.estimate == pytest.approx(2.5)
    assert result.absolute.se == pytest.approx(math.sqrt(25 / 12))
    assert result.absolute.df == pytest.approx(1875 / 425)
    assert result.absolute.ci == pytest.approx(
        (2.5 - t_crit * math.sqrt(abs_var), 2.5 + t_crit * math.sqrt(abs_var))
    )
    assert result.absolute.p_value == pytest.approx(2 * st.t.sf(2.5 / math.sqrt(abs_var), df))
    # relative: var_t / (n_t m_c^2) + var_c m_t^2 / (n_c m_c^4) = 4/15 + 4/15
    assert result.relative.estimate == pytest.approx(1.0)
    assert result.relative.se == pytest.approx(math.sqrt(8 / 15))
    assert result.relative.df == result.absolute.df
    assert result.message is None


def test_two_proportions_z_by_hand() -> None:
    # 10% vs 20% of 100 users: se = sqrt(.1 * .9 / 100 + .2 * .8 / 100) = 0.05, z = 2
    result = compare(ProportionStats(100, 10), ProportionStats(100, 20), test="z")
    z = st.norm.ppf(0.975)
    assert result.absolute.estimate == pytest.approx(0.1)
    assert result.absolute.se == pytest.approx(0.05)
    assert result.absolute.ci == pytest.approx((0.1 - z * 0.05, 0.1 + z * 0.05))
    assert result.absolute.p_value == pytest.approx(2 * st.norm.sf(2.0))
    assert result.absolute.df == math.inf
    # relative: .16 / (100 * .01) + .09 * .04 / (100 * .0001) = .16 + .36
    assert result.relative.estimate == pytest.approx(1.0)
    assert result.relative.se == pytest.approx(math.sqrt(0.52))


def test_ratio_by_hand() -> None:
    # per-user (taps, impressions); the delta-method variance of a ratio R of means
    # is Var(num - R den) / mean(den)^2.
    # control (1, 2), (0, 2), (3, 4): R = 1/2, residuals 0, -1, 1 -> 1 / (8/3)^2 = 9/64
    # treatment (2, 2), (1, 3), (3, 5): R = 3/5, residuals .8, -.8, 0 -> .64 / (10/3)^2
    control = RatioStats.from_values([1, 0, 3], [2, 2, 4])
    treatment = RatioStats.from_values([2, 1, 3], [2, 3, 5])
    assert (control.n, control.num_sum, control.den_sum, control.num_den_sum_products) == (
        3,
        4.0,
        8.0,
        14.0,
    )
    result = compare(control, treatment)
    var_c, var_t = 9 / 64, 0.64 * 9 / 100
    assert result.control_mean == 0.5 and result.treatment_mean == pytest.approx(0.6)
    assert result.absolute.estimate == pytest.approx(0.1)
    assert result.absolute.se == pytest.approx(math.sqrt(var_c / 3 + var_t / 3))
    assert result.relative.estimate == pytest.approx(0.2)
    assert result.relative.se == pytest.approx(
        math.sqrt(var_t / (3 * 0.25) + var_c * 0.36 / (3 * 0.0625))
    )


def test_cuped_with_a_perfect_covariate_removes_all_noise() -> None:
    # post = 2 * pre + 1 exactly, same pre-period distribution: theta = 2 and the
    # adjusted means carry no variance left, so the test cannot be run
    pre_c, pre_t = np.array([1.0, 2, 3, 4]), np.array([1.0, 2, 3, 4])
    result = compare(
        CupedMeanStats.from_values(2 * pre_c + 1, pre_c),
        CupedMeanStats.from_values(2 * pre_t + 1, pre_t),
    )
    assert result.theta == pytest.approx(2.0)
    assert result.absolute.estimate == pytest.approx(0.0)
    assert result.absolute.se == 0.0
    assert "zero variance" in result.message


def test_cuped_theta_is_pooled_and_shrinks_variance() -> None:
    rng = np.random.default_rng(3)
    pre_c, pre_t = rng.normal(10, 2, 800), rng.normal(10, 2, 900)
    post_c = pre_c + rng.normal(0, 1, 800)
    post_t = pre_t + rng.normal(0.3, 1, 900)
    cuped = compare(
        CupedMeanStats.from_values(post_c, pre_c), CupedMeanStats.from_values(post_t, pre_t)
    )
    plain = compare(MeanStats.from_values(post_c), MeanStats.from_values(post_t))
    post, pre = np.concatenate([post_c, post_t]), np.concatenate([pre_c, pre_t])
    assert cuped.theta == pytest.approx(np.cov(post, pre)[0, 1] / np.var(pre, ddof=1))
    assert cuped.absolute.se < 0.5 * plain.absolute.se
    adjusted = (post_t.mean() - post_c.mean()) - cuped.theta * (pre_t.mean() - pre_c.mean())
    assert cuped.absolute.estimate == pytest.approx(adjusted)
    assert (cuped.control_mean, cuped.treatment_mean) == (plain.control_mean, plain.treatment_mean)


# --- live parity with scipy and statsmodels --------------------------------------------


def random_samples(seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(seed)
    n_c, n_t = rng.integers(2, 3000, size=2)
    scale = rng.uniform(0.5, 50)
    control = rng.gamma(rng.uniform(0.3, 5), scale, n_c)
    treatment = rng.gamma(rng.uniform(0.3, 5), scale, n_t)
    return control, treatment, float(rng.choice([0.01, 0.05, 0.1]))


@pytest.mark.parametrize("seed", range(25))
def test_welch_matches_scipy(seed: int) -> None:
    control, treatment, alpha = random_samples(seed)
    ours = compare(MeanStats.from_values(control), MeanStats.from_values(treatment), alpha=alpha)
    theirs = st.ttest_ind(treatment, control, equal_var=False)
    ci = theirs.confidence_interval(confidence_level=1 - alpha)
    np.testing.assert_allclose(
        [ours.absolute.p_value, ours.absolute.df, ours.absolute.ci_low, ours.absolute.ci_high],
        [theirs.pvalue, theirs.df, ci.low, ci.high],
        rtol=1e-9,
    )
    from_stats = st.ttest_ind_from_stats(
        treatment.mean(), treatment.std(ddof=1), treatment.size,
        control.mean(), control.std(ddof=1), control.size,
        equal_var=False,
    )  # fmt: skip
    assert ours.absolute.p_value == pytest.approx(from_stats.pvalue, rel=1e-9)


@pytest.mark.parametrize("seed", range(25))
def test_welch_and_z_match_statsmodels(seed: int) -> None:
    control, treatment, alpha = random_samples(seed)
    c, t = MeanStats.from_values(control), MeanStats.from_values(treatment)
    cm = CompareMeans(DescrStatsW(treatment), DescrStatsW(control))
    welch, z = compare(c, t, alpha=alpha), compare(c, t, alpha=alpha, test="z")
    _, p_t, df = cm.ttest_ind(usevar="unequal")
    _, p_z = cm.ztest_ind(usevar="unequal")
    np.testing.assert_allclose(
        [welch.absolute.p_value, welch.absolute.df, *welch.absolute.ci],
        [p_t, df, *cm.tconfint_diff(alpha=alpha, usevar="unequal")],
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        [z.absolute.p_value, *z.absolute.ci],
        [p_z, *cm.zconfint_diff(alpha=alpha, usevar="unequal")],
        rtol=1e-9,
    )


@pytest.mark.parametrize("seed", range(25))
def test_proportion_z_test_matches_statsmodels_wald(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_c, n_t = (int(x) for x in rng.integers(20, 100_000, size=2))
    p = rng.uniform(0.01, 0.9)
    s_c, s_t = int(rng.binomial(n_c, p)), int(rng.binomial(n_t, p * rng.uniform(0.8, 1.1)))
    ours = compare(ProportionStats(n_c, s_c), ProportionStats(n_t, s_t), test="z", alpha=0.1)
    test = sm_proportion.test_proportions_2indep(
        s_t, n_t, s_c, n_c, method="wald", compare="diff", correction=False
    )
    ci = sm_proportion.confint_proportions_2indep(
        s_t, n_t, s_c, n_c, method="wald", compare="diff", alpha=0.1
    )
    np.testing.assert_allclose(
        [ours.absolute.p_value, *ours.absolute.ci], [test.pvalue, *ci], rtol=1e-9
    )


# --- live parity with tea-tasting (ratio and CUPED ratio, absolute effect) -----------


def aggregates(columns: dict[str, np.ndarray]) -> Aggregates:
    names = list(columns)
    matrix = np.cov(np.stack([columns[k] for k in names]), ddof=1)
    return Aggregates(
        count_=len(columns[names[0]]),
        mean_={k: float(v.mean()) for k, v in columns.items()},
        var_={k: float(matrix[i, i]) for i, k in enumerate(names)},
        cov_={
            (a, b): float(matrix[i, j])
            for i, a in enumerate(names)
            for j, b in enumerate(names)
            if i < j
        },
    )


def ratio_users(rng: np.random.Generator, n: int, rate: float) -> dict[str, np.ndarray]:
    """Impressions and taps this period and before, correlated through the user."""
    activity = rng.gamma(2.0, 5.0, n)
    taste = rng.beta(2, 2 / rate - 2, n)
    pre_den = rng.poisson(activity).astype(float)
    den = rng.poisson(activity).astype(float) + 1
    return {
        "num": rng.binomial(den.astype(int), taste).astype(float),
        "den": den,
        "pre_num": rng.binomial(pre_den.astype(int), taste).astype(float),
        "pre_den": pre_den + 1,
    }


@pytest.mark.parametrize("seed", range(15))
def test_ratio_and_cuped_ratio_match_tea_tasting(seed: int) -> None:
    rng = np.random.default_rng(seed)
    c = ratio_users(rng, int(rng.integers(20, 3000)), 0.1)
    t = ratio_users(rng, int(rng.integers(20, 3000)), 0.11)
    for covariates in (False, True):
        if covariates:
            ours = compare(
                CupedRatioStats.from_values(c["num"], c["den"], c["pre_num"], c["pre_den"]),
                CupedRatioStats.from_values(t["num"], t["den"], t["pre_num"], t["pre_den"]),
            )
            metric = tt.RatioOfMeans("num", "den", "pre_num", "pre_den")
        else:
            ours = compare(
                RatioStats.from_values(c["num"], c["den"]),
                RatioStats.from_values(t["num"], t["den"]),
            )
            metric = tt.RatioOfMeans("num", "den")
        theirs = metric.analyze_aggregates(aggregates(c), aggregates(t))
        np.testing.assert_allclose(
            [ours.absolute.estimate, *ours.absolute.ci, ours.absolute.p_value],
            [
                theirs.effect_size,
                theirs.effect_size_ci_lower,
                theirs.effect_size_ci_upper,
                theirs.pvalue,
            ],
            rtol=1e-9,
            atol=1e-12,
        )


# --- independent checks of the delta-method algebra ---------------------------------


def influence_se(values_c: np.ndarray, values_t: np.ndarray) -> float:
    """Standard error of a difference of means of per-user influence values."""
    return math.sqrt(values_c.var(ddof=1) / values_c.size + values_t.var(ddof=1) / values_t.size)


@pytest.mark.parametrize("seed", range(10))
def test_relative_cuped_se_equals_explicit_linearisation(seed: int) -> None:
    """The relative CUPED lift (B - A) / m with A = y_c - theta x_c, m = mean(y_c),
    linearised user by user with theta fixed, has exactly looklift's standard error."""
    rng = np.random.default_rng(seed)
    n_c, n_t = (int(x) for x in rng.integers(50, 2000, size=2))
    x_c, x_t = rng.gamma(2, 5, n_c), rng.gamma(2, 5, n_t)
    y_c = 5 + 0.8 * x_c + rng.normal(0, 3, n_c)
    y_t = (5 + 0.8 * x_t + rng.normal(0, 3, n_t)) * rng.uniform(0.7, 1.4)
    result = compare(CupedMeanStats.from_values(y_c, x_c), CupedMeanStats.from_values(y_t, x_t))
    theta, m = result.theta, y_c.mean()
    a = y_c.mean() - theta * x_c.mean()
    b = y_t.mean() - theta * x_t.mean()
    # partial derivatives of (b - a) / m: 1/m for treatment's adjusted values;
    # for control, -1/m on A and -(b - a)/m^2 on m
    infl_t = (y_t - theta * x_t) / m
    infl_c = -(y_c - theta * x_c) / m - (b - a) / m**2 * y_c
    assert result.relative.estimate == pytest.approx((b - a) / m)
    assert result.relative.se == pytest.approx(influence_se(infl_c, infl_t), rel=1e-9)


@pytest.mark.parametrize("seed", range(10))
def test_cuped_ratio_se_equals_explicit_linearisation(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    c = ratio_users(rng, int(rng.integers(50, 2000)), 0.1)
    t = ratio_users(rng, int(rng.integers(50, 2000)), 0.12)
    result = compare(
        CupedRatioStats.from_values(c["num"], c["den"], c["pre_num"], c["pre_den"]),
        CupedRatioStats.from_values(t["num"], t["den"], t["pre_num"], t["pre_den"]),
    )
    theta = result.theta

    def parts(g: dict[str, np.ndarray]) -> tuple[float, float, np.ndarray, np.ndarray]:
        r, r_pre = g["num"].sum() / g["den"].sum(), g["pre_num"].sum() / g["pre_den"].sum()
        lin = (g["num"] - r * g["den"]) / g["den"].mean()
        lin_pre = (g["pre_num"] - r_pre * g["pre_den"]) / g["pre_den"].mean()
        return r, r_pre, lin, lin_pre

    r_c, pre_c, lin_c, lin_pre_c = parts(c)
    r_t, pre_t, lin_t, lin_pre_t = parts(t)
    diff = (r_t - theta * pre_t) - (r_c - theta * pre_c)
    assert result.absolute.estimate == pytest.approx(diff)
    assert result.absolute.se == pytest.approx(
        influence_se(lin_c - theta * lin_pre_c, lin_t - theta * lin_pre_t), rel=1e-9
    )
    infl_t = (lin_t - theta * lin_pre_t) / r_c
    infl_c = -(lin_c - theta * lin_pre_c) / r_c - diff / r_c**2 * lin_c
    assert result.relative.se == pytest.approx(influence_se(infl_c, infl_t), rel=1e-9)


def test_cuped_ratio_with_unit_denominators_is_cuped_mean() -> None:
    rng = np.random.default_rng(7)
    groups = []
    for n in (300, 350):
        pre = rng.gamma(2, 3, n)
        groups.append((pre * 0.5 + rng.normal(0, 1, n), pre))
    ratio = compare(
        *(CupedRatioStats.from_values(y, np.ones_like(y), x, np.ones_like(x)) for y, x in groups)
    )
    mean = compare(*(CupedMeanStats.from_values(y, x) for y, x in groups))
    assert ratio.theta == pytest.approx(mean.theta, rel=1e-12)
    for effect in ("absolute", "relative"):
        ours, reference = getattr(ratio, effect), getattr(mean, effect)
        np.testing.assert_allclose(
            [ours.estimate, ours.se, ours.df, *ours.ci, ours.p_value],
            [reference.estimate, reference.se, reference.df, *reference.ci, reference.p_value],
            rtol=1e-9,
        )


# --- the vectorised path is the scalar path --------------------------------------------


@pytest.mark.parametrize("test", ["welch", "z", "sequential"])
def test_compare_arrays_agrees_with_compare(test: str) -> None:
    rng = np.random.default_rng(11)
    values = rng.gamma(2.0, 3.0, size=(2, 5, 400, 2))  # variant, experiment, user, (post, pre)
    values[..., 0] += values[..., 1]
    arrays = compare_arrays(
        "cuped_mean",
        MomentArrays.from_values(values[0]),
        MomentArrays.from_values(values[1]),
        alpha=0.1,
        test=test,
    )
    for i in range(5):
        scalar = compare(
            CupedMeanStats.from_values(values[0, i, :, 0], values[0, i, :, 1]),
            CupedMeanStats.from_values(values[1, i, :, 0], values[1, i, :, 1]),
            alpha=0.1,
            test=test,
        )
        for effect in ("absolute", "relative"):
            batch, one = getattr(arrays, effect), getattr(scalar, effect)
            np.testing.assert_allclose(
                [
                    batch.estimate[i],
                    batch.se[i],
                    batch.ci_low[i],
                    batch.ci_high[i],
                    batch.p_value[i],
                ],
                [one.estimate, one.se, one.ci_low, one.ci_high, one.p_value],
                rtol=1e-12,
            )
        assert arrays.theta[i] == pytest.approx(scalar.theta, rel=1e-12)


# --- the moments entry point is compare on the dataclasses -----------------------------


def _pairs() -> list[tuple[object, object]]:
    rng = np.random.default_rng(17)
    num, den = rng.poisson(2.0, (4, 40)).astype(float), rng.poisson(5.0, (4, 40)) + 1.0
    return [
        (MeanStats.from_values(num[0]), MeanStats.from_values(num[1] * 1.2)),
        (ProportionStats(40, 7), ProportionStats(40, 12)),
        (RatioStats.from_values(num[0], den[0]), RatioStats.from_values(num[1], den[1])),
        (CupedMeanStats.from_values(num[0], num[2]), CupedMeanStats.from_values(num[1], num[3])),
        (
            CupedRatioStats.from_values(num[0], den[0], num[2], den[2]),
            CupedRatioStats.from_values(num[1], den[1], num[3], den[3]),
        ),
        # degenerate: no users, one user, zero variance, zero denominators
        (MeanStats(0, 0, 0), MeanStats.from_values([1.0, 2.0])),
        (MeanStats.from_values([3.0]), MeanStats.from_values([1.0, 2.0])),
        (ProportionStats(50, 0), ProportionStats(50, 4)),
        (RatioStats.from_values([0, 0], [0, 0]), RatioStats.from_values([1, 2], [3, 4])),
        (
            CupedRatioStats.from_values(num[0], den[0], num[2], den[2] * 0),
            CupedRatioStats.from_values(num[1], den[1], num[3], den[3]),
        ),
    ]


@pytest.mark.parametrize("test", ["welch", "z", "sequential"])
@pytest.mark.parametrize("pair", _pairs(), ids=lambda p: type(p[0]).__name__)
def test_compare_moments_equals_compare_on_the_dataclasses(pair: tuple, test: str) -> None:
    control, treatment = pair
    expected = compare(control, treatment, alpha=0.1, test=test, sequential_tuning=500)
    got = compare_moments(
        metric_type_of(control),
        control.as_arrays(),
        treatment.as_arrays(),
        alpha=0.1,
        test=test,
        sequential_tuning=500,
    )
    assert repr(got) == repr(expected)  # every field, exactly (nan as nan)


def test_compare_moments_takes_one_pair_of_variants() -> None:
    batch = MomentArrays.from_values(np.ones((3, 5, 1)))
    with pytest.raises(StatsInputError, match="use compare_arrays for batches"):
        compare_moments("mean", batch, batch)
    with pytest.raises(StatsInputError, match="ratio needs 2 variable"):
        compare_moments("ratio", batch.at(0), batch.at(1))
