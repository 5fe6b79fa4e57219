"""Compare a treatment with its control on one metric: the engine's front door.

:func:`compare` takes the sufficient statistics of two variants (any of the
:mod:`abtest.stats.moments` dataclasses, both of the same kind) and returns a
:class:`~abtest.stats.results.Comparison` with the absolute effect and the relative
lift. Degenerate data never raise and never return an unexplained NaN: the
``message`` fields say what could not be computed and why.

:func:`compare_arrays` is the same computation for whole arrays of moments (many
segments, days or simulated experiments at once) without the messages: undefined
entries are simply NaN there.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import numpy as np

from abtest.stats import sequential
from abtest.stats.cuped import cuped_estimates
from abtest.stats.errors import StatsInputError
from abtest.stats.inference import (
    ContrastArrays,
    EffectArrays,
    GroupEstimate,
    Test,
    check_settings,
    contrast,
)
from abtest.stats.means import mean_estimate, proportion_estimate
from abtest.stats.moments import (
    CupedMeanStats,
    CupedRatioStats,
    MeanStats,
    MomentArrays,
    ProportionStats,
    RatioStats,
)
from abtest.stats.ratio import ratio_estimate
from abtest.stats.results import Comparison, Effect

MetricType = Literal["mean", "proportion", "ratio", "cuped_mean", "cuped_ratio"]
Stats = MeanStats | ProportionStats | RatioStats | CupedMeanStats | CupedRatioStats

_METRIC_TYPES: dict[type, MetricType] = {
    MeanStats: "mean",
    ProportionStats: "proportion",
    RatioStats: "ratio",
    CupedMeanStats: "cuped_mean",
    CupedRatioStats: "cuped_ratio",
}
_VARIABLES: dict[str, int] = {
    "mean": 1,
    "proportion": 1,
    "ratio": 2,
    "cuped_mean": 2,
    "cuped_ratio": 4,
}


def metric_type_of(stats: Stats) -> MetricType:
    """The metric type a statistics object describes (``"mean"``, ``"ratio"``...)."""
    try:
        return _METRIC_TYPES[type(stats)]
    except KeyError:
        raise StatsInputError(
            f"expected one of {', '.join(t.__name__ for t in _METRIC_TYPES)}, "
            f"got {type(stats).__name__}"
        ) from None


def estimate_groups(
    metric_type: MetricType, control: MomentArrays, treatment: MomentArrays
) -> tuple[GroupEstimate, GroupEstimate, np.ndarray | None]:
    """Per-variant estimates (and CUPED's theta) for a metric type, batched."""
    if metric_type not in _VARIABLES:
        raise StatsInputError(f"metric_type must be one of {get_args(MetricType)}")
    for label, m in (("control", control), ("treatment", treatment)):
        if m.k != _VARIABLES[metric_type]:
            raise StatsInputError(
                f"{metric_type} needs {_VARIABLES[metric_type]} variable(s) per user, "
                f"the {label} moments have {m.k}"
            )
    if metric_type in ("cuped_mean", "cuped_ratio"):
        return cuped_estimates(metric_type, control, treatment)  # type: ignore[arg-type]
    estimator = {
        "mean": mean_estimate,
        "proportion": proportion_estimate,
        "ratio": ratio_estimate,
    }[metric_type]
    return estimator(control), estimator(treatment), None


def compare_arrays(
    metric_type: MetricType,
    control: MomentArrays,
    treatment: MomentArrays,
    *,
    alpha: float = 0.05,
    test: Test = "welch",
    sequential_tuning: float = sequential.DEFAULT_TUNING,
) -> ContrastArrays:
    """Vectorised :func:`compare`: arrays of moments in, arrays of results out.

    ``control`` and ``treatment`` hold the moments of many comparisons with the same
    batch shape (variable order as in each dataclass's ``as_arrays``). No
    messages: entries that :func:`compare` would explain are NaN or inf here.
    """
    check_settings(alpha, test, sequential_tuning)
    control_estimate, treatment_estimate, theta = estimate_groups(metric_type, control, treatment)
    return contrast(
        control_estimate,
        treatment_estimate,
        alpha=alpha,
        test=test,
        sequential_tuning=sequential_tuning,
        theta=theta,
    )


def _blocking_problems(metric_type: MetricType, groups: dict[str, Stats]) -> list[str]:
    """Reasons why no effect at all can be estimated."""
    problems = []
    for label, stats in groups.items():
        if stats.n == 0:
            problems.append(f"no users in {label}")
        elif metric_type in ("ratio", "cuped_ratio"):
            ratio = stats if isinstance(stats, RatioStats) else stats.post  # type: ignore[union-attr]
            if ratio.den_sum == 0:
                problems.append(
                    f"the denominator sums to 0 in {label} (e.g. no impressions), "
                    "so the ratio is undefined"
                )
    return problems


def _notes(
    metric_type: MetricType,
    groups: dict[str, Stats],
    estimates: dict[str, GroupEstimate],
    theta: float | None,
) -> list[str]:
    """Remarks on results that are computed but deserve a caveat."""
    notes = []
    zero = [label for label, g in estimates.items() if float(g.var) == 0.0]
    if len(zero) == 1:
        notes.append(
            f"{zero[0]} has zero variance (e.g. no conversions): the interval rests on "
            "the other variant's variance alone and may be too narrow"
        )
    if theta == 0.0:
        reason = "the metric or the covariate has no variance"
        if metric_type == "cuped_ratio":
            empty = [label for label, s in groups.items() if s.pre.den_sum == 0]  # type: ignore[union-attr]
            if empty:
                reason = f"the pre-period denominator sums to 0 in {' and '.join(empty)}"
        notes.append(f"CUPED made no adjustment (theta = 0): {reason}")
    return notes


def _effect(
    arrays: EffectArrays,
    *,
    ci_level: float,
    single: list[str],
    all_zero_variance: bool,
) -> Effect:
    """Turn one batched effect (0-d arrays) into an :class:`Effect`, explaining gaps."""
    estimate = float(arrays.estimate)
    if single:
        who = " and ".join(single)
        verb = "have" if len(single) > 1 else "has"
        return Effect.undefined(
            f"{who} {verb} a single user, so the variance cannot be estimated",
            ci_level=ci_level,
            estimate=estimate,
        )
    if all_zero_variance:
        nan = math.nan
        return Effect(
            estimate=estimate,
            se=0.0,
            df=nan,
            ci_low=nan,
            ci_high=nan,
            p_value=nan,
            ci_level=ci_level,
            message="both variants have zero variance (every user has the same value): "
            "the difference cannot be tested",
        )
    se, df = float(arrays.se), float(arrays.df)
    low, high, p = float(arrays.ci_low), float(arrays.ci_high), float(arrays.p_value)
    defined = all(math.isfinite(v) for v in (estimate, se, low, high, p)) and not math.isnan(df)
    message = None if defined else "could not be computed: non-finite intermediate values"
    return Effect(estimate, se, df, low, high, p, ci_level, message)


def _relative_problem(control_mean: float) -> str | None:
    if control_mean == 0:
        return "the control mean is 0, so a relative lift is undefined; use the absolute effect"
    if control_mean < 0:
        return (
            f"the control mean is negative ({control_mean:.6g}), so a relative lift would "
            "read with the wrong sign; use the absolute effect"
        )
    return None


def compare(
    control: Stats,
    treatment: Stats,
    *,
    alpha: float = 0.05,
    test: Test = "welch",
    sequential_tuning: float = sequential.DEFAULT_TUNING,
) -> Comparison:
    """Compare treatment with control: absolute effect and relative lift.

    ``control`` and ``treatment`` are sufficient statistics of the same type:
    :class:`MeanStats`, :class:`ProportionStats`, :class:`RatioStats` (delta method,
    users as the unit), :class:`CupedMeanStats` or :class:`CupedRatioStats`
    (regression adjustment with a pooled theta).

    ``test`` chooses the reference distribution:

    - ``"welch"`` (default): Student's t with Welch-Satterthwaite degrees of
      freedom, GrowthBook's ``TwoSidedTTest``;
    - ``"z"``: the normal distribution (large-sample Wald test);
    - ``"sequential"``: always-valid confidence sequences, safe to look at every
      day; ``sequential_tuning`` is the total sample size where they are tightest
      (see :mod:`abtest.stats.sequential`).

    Raises :class:`StatsInputError` for invalid settings or mismatched inputs;
    degenerate data (no users, one user, zero variance, zero denominators, a
    control mean <= 0 for the relative lift) give a result with a ``message``.
    """
    metric_type = metric_type_of(control)
    if metric_type_of(treatment) != metric_type:
        raise StatsInputError(
            f"control and treatment must be the same kind of statistics, got "
            f"{type(control).__name__} and {type(treatment).__name__}"
        )
    check_settings(alpha, test, sequential_tuning)
    groups: dict[str, Stats] = {"control": control, "treatment": treatment}
    ci_level = 1.0 - alpha
    with np.errstate(all="ignore"):
        c_est, t_est, theta_array = estimate_groups(
            metric_type, control.as_arrays(), treatment.as_arrays()
        )
        arrays = contrast(c_est, t_est, alpha=alpha, test=test, sequential_tuning=sequential_tuning)
    theta = None if theta_array is None else float(theta_array)

    blocking = _blocking_problems(metric_type, groups)
    if blocking:
        absolute = relative = Effect.undefined("; ".join(blocking), ci_level=ci_level)
        notes: list[str] = []
    else:
        estimates = {"control": c_est, "treatment": t_est}
        single = [label for label, s in groups.items() if s.n == 1]
        all_zero = all(float(g.var) == 0.0 for g in estimates.values())
        absolute = _effect(
            arrays.absolute, ci_level=ci_level, single=single, all_zero_variance=all_zero
        )
        relative_problem = _relative_problem(float(c_est.raw_mean))
        if relative_problem:
            relative = Effect.undefined(relative_problem, ci_level=ci_level)
        else:
            relative = _effect(
                arrays.relative, ci_level=ci_level, single=single, all_zero_variance=all_zero
            )
        notes = [] if single else _notes(metric_type, groups, estimates, theta)

    messages = list(dict.fromkeys(m for m in (absolute.message, relative.message, *notes) if m))
    return Comparison(
        metric_type=metric_type,
        test=test,
        alpha=float(alpha),
        control_n=control.n,
        treatment_n=treatment.n,
        control_mean=control.mean,
        treatment_mean=treatment.mean,
        absolute=absolute,
        relative=relative,
        theta=theta,
        sequential_tuning=float(sequential_tuning) if test == "sequential" else None,
        message="; ".join(messages) or None,
    )
