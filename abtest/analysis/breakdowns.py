"""Day-by-day and per-segment breakdowns: many comparisons from one query each.

Each query returns moments rows per variant and day (or segment value); each
metric's :class:`~abtest.analysis.moments.MetricMoments` reads a treatment's
rows and the control's, aligned, into two batches of moments, and one
:func:`abtest.stats.compare_arrays` call compares them all. Groups the query
has no row for (a day before anyone was exposed, a segment value one variant
lacks) read as empty.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from abtest.analysis import sql
from abtest.analysis.engine import Engine
from abtest.analysis.moments import MetricMoments, N
from abtest.analysis.result import DailyPoint, SegmentPoint
from abtest.analysis.staging import fetch_rows
from abtest.spec import ExperimentSpec
from abtest.stats import ContrastArrays, Test, compare_arrays

_EMPTY: Mapping[str, Any] = {N: 0}


def daily_points(
    engine: Engine,
    spec: ExperimentSpec,
    metrics: list[MetricMoments],
    window: tuple[dt.datetime, dt.datetime],
    caps: dict[str, float],
    test: Test,
) -> tuple[DailyPoint, ...]:
    """Cumulative lift day by day, with intervals (always-valid when sequential)."""
    start, end = window
    last = (end - dt.timedelta(microseconds=1)).date()
    days = [start.date() + dt.timedelta(days=i) for i in range((last - start.date()).days + 1)]
    rows = fetch_rows(engine, sql.moments_by_day_sql(metrics, days, caps))
    by = {(r["variant"], r["day"]): r for r in rows}
    points = []
    for v, mm, res in _contrasts(spec, metrics, by, days, test):
        points.extend(
            DailyPoint(metric=mm.name, variant=v, day=d, **_lift_fields(res, i))
            for i, d in enumerate(days)
        )
    return tuple(points)


def segment_points(
    engine: Engine,
    spec: ExperimentSpec,
    metrics: list[MetricMoments],
    caps: dict[str, float],
    segments: list[str],
    test: Test,
) -> tuple[SegmentPoint, ...]:
    """The comparison within each value of each segment (a ``users`` column)."""
    if not segments:
        return ()
    points: list[SegmentPoint] = []
    rows = fetch_rows(engine, sql.moments_by_segments_sql(metrics, caps, segments))
    for i, segment in enumerate(segments):
        value, grouped = sql.segment_value_column(i), sql.segment_grouped_column(i)
        by = {(r["variant"], r[value]): r for r in rows if r[grouped] == 0}
        seg_values = sorted({s for _, s in by}, key=str)
        for v, mm, res in _contrasts(spec, metrics, by, seg_values, test):
            points.extend(
                SegmentPoint(
                    segment=segment, value=str(s), metric=mm.name, variant=v, **_lift_fields(res, j)
                )
                for j, s in enumerate(seg_values)
            )
    return tuple(points)


def _contrasts(
    spec: ExperimentSpec,
    metrics: list[MetricMoments],
    by: Mapping[tuple[str, Any], Mapping[str, Any]],
    groups: Sequence[Any],
    test: Test,
) -> Iterator[tuple[str, MetricMoments, ContrastArrays]]:
    """Each treatment against the control on each metric, over ``groups`` (days, values).

    ``by`` holds the rows by (variant, group); a group without a row reads as empty.
    """
    control = spec.variant_names[0]
    for v in spec.variant_names[1:]:
        c_rows = [by.get((control, g), _EMPTY) for g in groups]
        t_rows = [by.get((v, g), _EMPTY) for g in groups]
        for mm in metrics:
            yield v, mm, _contrast(spec, mm, c_rows, t_rows, test)


def _contrast(
    spec: ExperimentSpec,
    mm: MetricMoments,
    control_rows: Sequence[Mapping[str, Any]],
    treatment_rows: Sequence[Mapping[str, Any]],
    test: Test,
) -> ContrastArrays:
    """One metric's batched comparison of aligned control and treatment rows."""
    with np.errstate(all="ignore"):
        return compare_arrays(
            mm.metric_type,
            mm.read_rows(control_rows),
            mm.read_rows(treatment_rows),
            alpha=spec.analysis.alpha,
            test=test,
            sequential_tuning=spec.analysis.sequential_tuning,
        )


def _lift_fields(res: ContrastArrays, i: int) -> dict[str, Any]:
    """The fields daily and segment points share, from entry ``i`` of a batched contrast."""
    return {
        "control_users": int(res.control_n[i]),
        "treatment_users": int(res.treatment_n[i]),
        "control_value": float(res.control_mean[i]),
        "treatment_value": float(res.treatment_mean[i]),
        "lift": float(res.relative.estimate[i]),
        "lift_low": float(res.relative.ci_low[i]),
        "lift_high": float(res.relative.ci_high[i]),
        "p_value": float(res.relative.p_value[i]),
    }
