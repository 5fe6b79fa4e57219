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
