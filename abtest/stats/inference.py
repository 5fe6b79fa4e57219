"""From per-variant estimates to effects, intervals and p-values (vectorised).

Every metric type reduces, per variant, to a :class:`GroupEstimate`: a point
estimate, its per-user variance, and (for the relative lift) the unadjusted mean
it is divided by. :func:`contrast` then computes, for arrays of any shape:

- the absolute effect ``treatment - control`` with variance
  ``var_t / n_t + var_c / n_c`` (unequal variances);
- the relative lift ``(treatment - control) / control_raw_mean`` with its variance
  by the delta method (first-order Taylor expansion, variants independent):
  treatment contributes ``var_t / (n_t m^2)``, control
  ``(var_c + 2 r cov_c + r^2 raw_var_c) / (n_c m^2)`` with ``m`` the control's
  unadjusted mean and ``r`` the absolute effect over ``m``. Without CUPED this is
  ``var_c * mean_t^2 / (n_c m^4)``, GrowthBook's formula; with CUPED it is the
  exact gradient of the adjusted estimator;
- degrees of freedom by Welch-Satterthwaite from the per-variant variances, used
  for both effects, as in GrowthBook;
- intervals and two-sided p-values from Student's t (``"welch"``), the normal
  (``"z"``) or an always-valid confidence sequence (``"sequential"``).

No messages and no special cases here: undefined inputs give NaN or inf. The
scalar entry point :func:`abtest.stats.compare` turns those into explanations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as st

from abtest.stats import sequential
from abtest.stats.errors import StatsInputError
from abtest.stats.names import TESTS, Side, Test


@dataclass(frozen=True, eq=False)
class GroupEstimate:
    """One variant's estimate, in the common currency of every metric type.

    ``mean`` enters the difference (CUPED-adjusted when applicable); ``raw_mean`` is
    the unadjusted mean, reported and used as the relative lift's denominator.
    ``var``, ``raw_var`` and ``cov`` are per-user (co)variances of the two, so that
    ``Var(mean) = var / n``. Without CUPED, ``mean == raw_mean`` and all three agree.
    """

    n: np.ndarray
    mean: np.ndarray
    raw_mean: np.ndarray
    var: np.ndarray
    raw_var: np.ndarray
    cov: np.ndarray

    @classmethod
    def unadjusted(cls, n: ArrayLike, mean: ArrayLike, var: ArrayLike) -> GroupEstimate:
        """An estimate without covariate adjustment."""
        n, mean, var = (np.asarray(x, dtype=float) for x in (n, mean, var))
        return cls(n, mean, mean, var, var, var)


@dataclass(frozen=True, eq=False)
class EffectArrays:
    """Estimate, standard error, degrees of freedom, interval and p-value, batched."""

    estimate: np.ndarray
    se: np.ndarray
    df: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_value: np.ndarray


@dataclass(frozen=True, eq=False)
class ContrastArrays:
    """Treatment vs control for a batch of comparisons: both effects and the means."""

    control_n: np.ndarray
    treatment_n: np.ndarray
    control_mean: np.ndarray
    treatment_mean: np.ndarray
    absolute: EffectArrays
    relative: EffectArrays
    theta: np.ndarray | None = None


def check_settings(alpha: float, test: str, sequential_tuning: float) -> None:
    """Validate the inference settings shared by every comparison."""
    try:
        a, tuning = float(alpha), float(sequential_tuning)
    except (TypeError, ValueError):
        raise StatsInputError(
            f"alpha and sequential_tuning must be numbers, got {alpha!r}, {sequential_tuning!r}"
        ) from None
    if not 0.0 < a < 1.0:
        raise StatsInputError(f"alpha must be in (0, 1), got {alpha!r}")
    if test not in TESTS:
        raise StatsInputError(f"test must be one of {TESTS}, got {test!r}")
    if not (np.isfinite(tuning) and tuning > 0):
        raise StatsInputError(f"sequential_tuning must be a positive number, got {tuning!r}")


def welch_df(var_c: ArrayLike, n_c: ArrayLike, var_t: ArrayLike, n_t: ArrayLike) -> np.ndarray:
    """Welch-Satterthwaite degrees of freedom for two independent means."""
    with np.errstate(divide="ignore", invalid="ignore"):
        vc = np.asarray(var_c) / np.asarray(n_c)
        vt = np.asarray(var_t) / np.asarray(n_t)
        return (vc + vt) ** 2 / (vc**2 / (np.asarray(n_c) - 1.0) + vt**2 / (np.asarray(n_t) - 1.0))


def interval(
    estimate: ArrayLike,
    se: ArrayLike,
    df: ArrayLike,
    *,
    alpha: float,
    test: Test,
    n_total: ArrayLike,
    sequential_tuning: float = sequential.DEFAULT_TUNING,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-sided ``1 - alpha`` interval and p-value for ``estimate`` with ``se``.

    ``df`` is used by ``"welch"`` only; ``n_total`` (users in both variants) by
    ``"sequential"`` only. Returns ``(ci_low, ci_high, p_value)``.
    """
    est = np.asarray(estimate, dtype=float)
    se = np.asarray(se, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if test == "sequential":
            width = sequential.half_width(se, n_total, alpha, sequential_tuning)
            p = sequential.p_value(est, se, n_total, alpha, sequential_tuning)
        else:
            # module-level ppf/sf: a frozen scipy distribution costs more than the maths
            z = np.abs(est / se)
            if test == "welch":
                df = np.asarray(df, dtype=float)
                width, p = st.t.ppf(1.0 - alpha / 2.0, df) * se, 2.0 * st.t.sf(z, df)
            else:
                width, p = st.norm.ppf(1.0 - alpha / 2.0) * se, 2.0 * st.norm.sf(z)
    return est - width, est + width, np.asarray(p, dtype=float)


def one_sided_p_value(
    estimate: ArrayLike,
    se: ArrayLike,
    df: ArrayLike,
    *,
    side: Side,
    test: Test,
    n_total: ArrayLike,
    alpha: float,
    sequential_tuning: float = sequential.DEFAULT_TUNING,
) -> np.ndarray:
    """One-sided p-value of ``effect <= 0`` against ``effect > 0`` (``side="greater"``),
    or of ``effect >= 0`` against ``effect < 0`` (``side="less"``).

    Welch's t with ``df``, the normal, or the one-sided confidence sequence
    (``"sequential"``, always valid; ``alpha`` sets where it is tightest). Equal to
    gbstats' ``OneSidedTreatmentGreaterTTest`` / ``...LesserTTest`` for Welch.
    """
    sign = 1.0 if side == "greater" else -1.0
    est = sign * np.asarray(estimate, dtype=float)
    se = np.asarray(se, dtype=float)
    if test == "sequential":
        return sequential.one_sided_p_value(est, se, n_total, alpha, sequential_tuning)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
        if test == "welch":
            return np.asarray(st.t.sf(z, np.asarray(df, dtype=float)), dtype=float)
        return np.asarray(st.norm.sf(z), dtype=float)


def _effect(
    estimate: np.ndarray,
    variance: np.ndarray,
    df: np.ndarray,
    *,
    alpha: float,
    test: Test,
    n_total: np.ndarray,
    sequential_tuning: float,
) -> EffectArrays:
    se = np.sqrt(variance)
    low, high, p = interval(
        estimate,
        se,
        df,
        alpha=alpha,
        test=test,
        n_total=n_total,
        sequential_tuning=sequential_tuning,
    )
    return EffectArrays(estimate, se, df, low, high, p)


def untestable_relative(control: GroupEstimate, treatment: GroupEstimate) -> np.ndarray:
    """Where the relative lift has no standard error though the absolute effect has one:
    the treatment's mean is 0 with zero variance, the control's variance is not 0."""
    return (treatment.var == 0) & (treatment.raw_mean == 0) & (control.var > 0)


def contrast(
    control: GroupEstimate,
    treatment: GroupEstimate,
    *,
    alpha: float = 0.05,
    test: Test = "welch",
    sequential_tuning: float = sequential.DEFAULT_TUNING,
    theta: np.ndarray | None = None,
) -> ContrastArrays:
    """Absolute effect and relative lift of treatment over control, batched."""
    c, t = control, treatment
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = t.mean - c.mean
        abs_var = t.var / t.n + c.var / c.n
        m = c.raw_mean
        r = diff / m
        rel_var = t.var / (t.n * m * m) + (c.var + 2.0 * r * c.cov + r * r * c.raw_var) / (
            c.n * m * m
        )
        # A treatment mean of 0 with zero variance (no conversions at all) puts both
        # terms at 0: the lift of -100% would be "tested" with an interval of no width.
        rel_var = np.where(untestable_relative(c, t), np.nan, rel_var)
        df = welch_df(c.var, c.n, t.var, t.n)
    if test != "welch":
        df = np.full_like(df, np.inf)
    n_total = c.n + t.n
    settings = {"alpha": alpha, "test": test, "sequential_tuning": sequential_tuning}
    return ContrastArrays(
        control_n=c.n,
        treatment_n=t.n,
        control_mean=c.raw_mean,
        treatment_mean=t.raw_mean,
        absolute=_effect(diff, abs_var, df, n_total=n_total, **settings),
        relative=_effect(r, rel_var, df, n_total=n_total, **settings),
        theta=theta,
    )
