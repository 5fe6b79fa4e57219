"""A result's numbers as the strings every table shows, built once.

The terminal and notebook tables (:mod:`abtest.analysis.render`) and the
report's tables (:mod:`reports.tables`) show the same cells for a comparison,
a day and a segment; they are built here, with :mod:`abtest.format`, so that
the outputs cannot drift apart. Each output then adds only its own columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from abtest import format as fmt

if TYPE_CHECKING:  # types only: the results import the renderers that import this
    from abtest.analysis.result import AnalysisResult, DailyPoint, MetricComparison, SegmentPoint


class ComparisonCells(NamedTuple):
    """One metric's comparison of a treatment with control, formatted."""

    control: str
    treatment: str
    lift: str
    lift_ci: str
    """The nominal interval of the lift, at ``1 - alpha``."""
    lift_ci_adjusted: str
    """The lift's interval widened for the correction; names its level where the header does not."""
    p: str
    """The raw p-value."""
    p_adjusted: str
    """The adjusted p-value ("—" without a correction)."""


class BreakdownCells(NamedTuple):
    """One day's or one segment's comparison of a treatment with control, formatted."""

    users: str
    """``control / treatment`` users."""
    control: str
    treatment: str
    lift: str
    lift_ci: str
    """The nominal interval, never corrected (see :func:`breakdown_interval_label`)."""
    p: str


class BayesianCells(NamedTuple):
    """The Bayesian read-out of one comparison, formatted."""

    lift_cri: str
    """The credible interval of the relative lift."""
    chance_to_win: str
    risk: str
    """The risk of choosing the treatment: its expected relative loss."""


def bayesian_cells(c: MetricComparison) -> BayesianCells:
    """The Bayesian cells of a comparison (dashes when it has no Bayesian read-out)."""
    b = c.bayes
    if b is None:
        return BayesianCells(fmt.DASH, fmt.DASH, fmt.DASH)
    return BayesianCells(
        lift_cri=fmt.interval(b.ci_low, b.ci_high),
        chance_to_win=fmt.chance(b.chance_to_win),
        risk=fmt.risk(b.risk_treatment),
    )


def credible_label(result: AnalysisResult) -> str:
    """The credible interval's header, e.g. "95% CrI" (``1 - alpha``)."""
    return f"{fmt.level(1.0 - result.alpha)} CrI"


def adjusted_level(result: AnalysisResult) -> float | None:
    """The level most of the lifts' intervals widened for the correction share."""
    return fmt.common_level(c.comparison.relative.ci_level_adjusted for c in result.comparisons)


def comparison_cells(
    c: MetricComparison, *, percent: bool, header_level: float | None
) -> ComparisonCells:
    """The shared cells of a comparison; ``header_level`` is :func:`adjusted_level`."""
    cmp = c.comparison
    rel = cmp.relative
    return ComparisonCells(
        control=fmt.metric_value(cmp.control_mean, percent),
        treatment=fmt.metric_value(cmp.treatment_mean, percent),
        lift=fmt.signed_pct(rel.estimate),
        lift_ci=fmt.interval(rel.ci_low, rel.ci_high),
        lift_ci_adjusted=fmt.adjusted_interval(
            rel.ci_low_adjusted,
            rel.ci_high_adjusted,
            rel.ci_level_adjusted,
            header_level=header_level,
        ),
        p=fmt.p_value(c.p_value),
        p_adjusted=fmt.p_value(c.p_adjusted),
    )


def breakdown_cells(point: DailyPoint | SegmentPoint, *, percent: bool) -> BreakdownCells:
    """The shared cells of one day or one segment."""
    return BreakdownCells(
        users=f"{point.control_users:,} / {point.treatment_users:,}",
        control=fmt.metric_value(point.control_value, percent),
        treatment=fmt.metric_value(point.treatment_value, percent),
        lift=fmt.signed_pct(point.lift),
        lift_ci=fmt.interval(point.lift_low, point.lift_high),
        p=fmt.p_value(point.p_value),
    )


def breakdown_interval_label(result: AnalysisResult) -> str:
    """The level and kind of the day-by-day and segment intervals (never corrected)."""
    kind = "confidence sequence" if result.test == "sequential" else "CI"
    return f"{fmt.level(1.0 - result.alpha)} {kind}"


def bayesian_settings_text(result: AnalysisResult) -> str:
    """How the Bayesian read-out decides, e.g. "Bayesian, flat prior: better at chance to
    win > 95% and risk ≤ 0.25%"; "" for the frequentist read-out."""
    b = result.bayesian
    if b is None:
        return ""
    prior = (
        "flat prior"
        if b.prior_mean is None
        else f"Gaussian prior on the lift (mean {b.prior_mean:+.1%}, variance {b.prior_variance:g})"
    )
    return (
        f"Bayesian, {prior}: better at chance to win > {fmt.level(b.chance_to_win)} "
        f"and risk ≤ {fmt.risk(b.risk_threshold)}"
    )


def guardrail_line(c: MetricComparison, result: AnalysisResult) -> str:
    """The guardrail check of one comparison in a sentence, by the engine's rule."""
    where = f"guardrail {c.metric}/{c.variant}"
    if c.bayes is not None and result.bayesian is not None:
        worse = 1.0 - c.bayes.chance_to_win
        text = (
            f"{where}: chance {fmt.chance(worse)} that it got worse "
            f"(breached above {fmt.level(result.bayesian.chance_to_win)})"
        )
    else:
        text = (
            f"{where}: one-sided p = {fmt.p_value(c.p_worse)} that it got worse "
            f"(unadjusted; breached below {result.alpha:g})"
        )
    return text + (" — BREACHED" if c.guardrail_breached else "")


def open_window_notes(result: AnalysisResult) -> list[str]:
    """One sentence per windowed metric with users whose window was still open at the end."""
    return [
        f"{metric}: {n:,} users' windows had not ended when the analysis ended; they count "
        "with what they did so far (in-progress, as GrowthBook's default)"
        for metric, n in result.open_windows.items()
        if n
    ]
