"""Compare a treatment with its control on one metric: the engine's front door.

:func:`compare_moments` takes a metric type and the moments of two variants as
:class:`~abtest.stats.moments.MomentArrays` (variables named by the metric's
kind, :mod:`abtest.stats.kinds`) and returns a
:class:`~abtest.stats.results.Comparison` with the absolute effect and the
relative lift. Degenerate data never raise and never return an unexplained NaN:
the ``message`` fields say what could not be computed and why.

:func:`compare` is the same for people typing numbers: the scalar dataclasses of
:mod:`abtest.stats.moments` (both of the same kind), validated, then compared
by :func:`compare_moments`.

:func:`compare_arrays` is the same computation for whole arrays of moments (many
segments, days or simulated experiments at once) without the messages: undefined
entries are simply NaN there.
"""

from __future__ import annotations

import math

import numpy as np

from abtest.stats import sequential
from abtest.stats.errors import StatsInputError
from abtest.stats.inference import (
    ContrastArrays,
    EffectArrays,
    GroupEstimate,
    check_settings,
    contrast,
    untestable_relative,
)
from abtest.stats.kinds import MetricKind, Stats, metric_kind, metric_type_of
from abtest.stats.moments import MomentArrays
from abtest.stats.names import MetricType, Test
from abtest.stats.results import Comparison, Effect

__all__ = [
    "MetricType",
    "Stats",
    "compare",
    "compare_arrays",
    "compare_moments",
    "estimate_groups",
    "metric_type_of",
]


def estimate_groups(
    metric_type: MetricType, control: MomentArrays, treatment: MomentArrays
) -> tuple[GroupEstimate, GroupEstimate, np.ndarray | None]:
    """Per-variant estimates (and CUPED's theta) for a metric type, batched."""
    kind = metric_kind(metric_type)
    for label, m in (("control", control), ("treatment", treatment)):
        if m.k != len(kind.variables):
            raise StatsInputError(
                f"{metric_type} needs {len(kind.variables)} variable(s) per user, "
                f"the {label} moments have {m.k}"
            )
    return kind.estimate(control, treatment)


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
    batch shape (variables in the order the metric's kind names them,
    :data:`abtest.stats.kinds.KINDS`). No messages: entries that
    :func:`compare_moments` would explain are NaN or inf here.
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


def _blocking_problems(kind: MetricKind, groups: dict[str, MomentArrays]) -> list[str]:
    """Reasons why no effect at all can be estimated."""
    problems = []
    for label, moments in groups.items():
        if moments.n == 0:
            problems.append(f"no users in {label}")
        elif kind.denominator is not None and kind.sum_of(moments, kind.denominator) == 0:
            problems.append(
                f"the denominator sums to 0 in {label} (e.g. no impressions), "
                "so the ratio is undefined"
            )
    return problems


def _notes(
    kind: MetricKind,
    groups: dict[str, MomentArrays],
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
        if kind.pre_denominator is not None:
            empty = [
                label for label, m in groups.items() if kind.sum_of(m, kind.pre_denominator) == 0
            ]
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
    (regression adjustment with a pooled theta). They are validated when built;
    the comparison itself is :func:`compare_moments` on their ``as_arrays()``.

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
    return compare_moments(
        metric_type,
        control.as_arrays(),
        treatment.as_arrays(),
        alpha=alpha,
        test=test,
        sequential_tuning=sequential_tuning,
    )


def compare_moments(
    metric_type: MetricType,
    control: MomentArrays,
    treatment: MomentArrays,
    *,
    alpha: float = 0.05,
    test: Test = "welch",
    sequential_tuning: float = sequential.DEFAULT_TUNING,
) -> Comparison:
    """Compare one treatment with its control from their moments: the engine's entry point.

    ``control`` and ``treatment`` are the moments of one variant each (batch
    shape ``()``), with the variables ``metric_type``'s kind names
    (:data:`abtest.stats.kinds.KINDS`), as the analyzer reads them from SQL.
    Same settings, result and messages as :func:`compare`; the moments are not
    validated beyond their shapes (build a dataclass to validate typed numbers).
    """
    kind = metric_kind(metric_type)
    for label, m in (("control", control), ("treatment", treatment)):
        if m.n.shape != ():
            raise StatsInputError(
                f"compare_moments compares one pair of variants, the {label} moments have "
                f"batch shape {m.n.shape}; use compare_arrays for batches"
            )
    check_settings(alpha, test, sequential_tuning)
    groups = {"control": control, "treatment": treatment}
    ci_level = 1.0 - alpha
    with np.errstate(all="ignore"):
        c_est, t_est, theta_array = estimate_groups(metric_type, control, treatment)
        arrays = contrast(c_est, t_est, alpha=alpha, test=test, sequential_tuning=sequential_tuning)
    theta = None if theta_array is None else float(theta_array)
    absolute, relative, notes = _effects(kind, groups, (c_est, t_est), arrays, theta, ci_level)
    messages = list(dict.fromkeys(m for m in (absolute.message, relative.message, *notes) if m))
    return Comparison(
        metric_type=kind.name,
        test=test,
        alpha=float(alpha),
        control_n=int(control.n),
        treatment_n=int(treatment.n),
        control_mean=_unadjusted_mean(kind, control),
        treatment_mean=_unadjusted_mean(kind, treatment),
        absolute=absolute,
        relative=relative,
        theta=theta,
        sequential_tuning=float(sequential_tuning) if test == "sequential" else None,
        message="; ".join(messages) or None,
    )


def _unadjusted_mean(kind: MetricKind, moments: MomentArrays) -> float:
    """:meth:`MetricKind.unadjusted_mean` of one variant, in plain floats (the same
    division, without the array machinery a single comparison does not need)."""
    num = float(kind.sum_of(moments, kind.numerator))
    den = float(moments.n if kind.denominator is None else kind.sum_of(moments, kind.denominator))
    return num / den if den else math.nan


def _effects(
    kind: MetricKind,
    groups: dict[str, MomentArrays],
    estimates: tuple[GroupEstimate, GroupEstimate],
    arrays: ContrastArrays,
    theta: float | None,
    ci_level: float,
) -> tuple[Effect, Effect, list[str]]:
    """The absolute and relative effects of one comparison, and the notes on them."""
    blocking = _blocking_problems(kind, groups)
    if blocking:
        undefined = Effect.undefined("; ".join(blocking), ci_level=ci_level)
        return undefined, undefined, []
    by_label = dict(zip(groups, estimates, strict=True))
    single = [label for label, m in groups.items() if m.n == 1]
    all_zero = all(float(g.var) == 0.0 for g in estimates)
    absolute = _effect(
        arrays.absolute, ci_level=ci_level, single=single, all_zero_variance=all_zero
    )
    relative_problem = _relative_problem(float(estimates[0].raw_mean))
    if relative_problem:
        relative = Effect.undefined(relative_problem, ci_level=ci_level)
    elif not single and bool(untestable_relative(*estimates)):
        relative = Effect.undefined(
            "the treatment's mean is 0 with zero variance (e.g. no conversions), so the "
            "relative lift (-100%) has no standard error; the absolute effect is tested",
            ci_level=ci_level,
            estimate=float(arrays.relative.estimate),
        )
    else:
        relative = _effect(
            arrays.relative, ci_level=ci_level, single=single, all_zero_variance=all_zero
        )
    notes = [] if single else _notes(kind, groups, by_label, theta)
    return absolute, relative, notes
