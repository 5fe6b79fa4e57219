"""The temporary tables an analysis reads, built once and always dropped.

:func:`staged_tables` first checks that the events table has the columns the
metrics' filters read (an unknown column is a :class:`~abtest.spec.SpecError`
naming the file and the field, before anything is built), then creates
``user_totals`` (every exposed user once, with their aggregates) and, for the
day-by-day series, ``user_days``; it drops users exposed to several variants,
recounts users with events before their exposure, computes the winsorization
caps and counts the users whose metric windows were still open at the end, and
drops every table on the way out, whatever happens. :func:`fetch_rows` runs a
moments query on them.

The SQL comes with bound parameters (:class:`~abtest.analysis.filters.Query`)
where metric filters hold values.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, NamedTuple

from abtest.analysis import sql
from abtest.analysis.filters import Query, check_event_columns
from abtest.analysis.moments import MetricMoments
from abtest.analysis.state.tables import StateMeta
from abtest.spec import ExperimentSpec
from abtest.store import Store


class Staged(NamedTuple):
    """What building an analysis' tables found out."""

    caps: dict[str, float]
    """Winsorization cap of each capped metric."""
    mixed_users: int
    """Users exposed to more than one variant (excluded from the tables)."""
    open_windows: Mapping[str, int] = MappingProxyType({})
    """Per windowed metric, the users whose window had not ended at the end of the
    analysis: they count with what they did so far (see :func:`open_window_users`)."""


@contextmanager
def staged_tables(
    store: Store,
    spec: ExperimentSpec,
    metrics: list[MetricMoments],
    window: tuple[dt.datetime, dt.datetime],
    pre_start: dt.datetime | None,
    *,
    daily: bool = False,
    state: StateMeta | None = None,
) -> Iterator[Staged]:
    """The analysis' temporary tables for the ``with`` block; dropped when it ends.

    ``daily`` adds the per-user-day table that the day-by-day series reads. With a
    fresh ``state`` (:func:`abtest.analysis.state.state_use`), the tables are read
    from it instead of from the raw ``exposures`` and ``events``: the same rows.
    """
    check_event_columns(store, spec)
    try:
        if state is not None:
            yield _build_from_state(store, spec, metrics, window, pre_start, daily=daily)
        else:
            yield _build(store, spec, metrics, window, pre_start, daily=daily)
    finally:
        for table in (sql.USER_DAYS, sql.USER_TOTALS):
            store.con.execute(f"DROP TABLE IF EXISTS {table}")


def fetch_rows(store: Store, query: str | Query) -> list[dict[str, Any]]:
    """The rows of a query (with its parameters, if any), as ``{column: value}`` dicts."""
    sql_text, params = (query.sql, query.params) if isinstance(query, Query) else (query, {})
    cursor = store.con.execute(sql_text, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def _build(
    store: Store,
    spec: ExperimentSpec,
    metrics: list[MetricMoments],
    window: tuple[dt.datetime, dt.datetime],
    pre_start: dt.datetime | None,
    *,
    daily: bool,
) -> Staged:
    """Create the tables; return the caps and the number of mixed users."""
    start, end = window
    con = store.con
    totals = sql.user_totals_sql(spec, start, end, pre_start)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {sql.USER_TOTALS} AS {totals.sql}", totals.params)
    (mixed,) = store.fetch_one(f"SELECT COUNT(*) FROM {sql.USER_TOTALS} WHERE mixed = 1") or (0,)
    if mixed:
        con.execute(f"DELETE FROM {sql.USER_TOTALS} WHERE mixed = 1")
    (late,) = store.fetch_one(sql.late_exposures_sql()) or (0,)
    if daily:
        days = sql.user_days_sql(spec, start, end, pre_start, late_users=bool(late))
        con.execute(f"CREATE OR REPLACE TEMP TABLE {sql.USER_DAYS} AS {days.sql}", days.params)
    if late:  # recount users with events before their exposure, from their events
        recount = sql.recounted_totals_sql(spec, start, end, pre_start)
        con.execute(f"INSERT INTO {sql.USER_TOTALS} {recount.sql}", recount.params)
        con.execute(f"DELETE FROM {sql.USER_TOTALS} WHERE first_ts < exposed_at")
    return Staged(_caps(store, metrics), int(mixed), open_window_users(store, spec, end))


def _build_from_state(
    store: Store,
    spec: ExperimentSpec,
    metrics: list[MetricMoments],
    window: tuple[dt.datetime, dt.datetime],
    pre_start: dt.datetime | None,
    *,
    daily: bool,
) -> Staged:
    """:func:`_build`'s tables from the experiment's state: its rows already count only
    the events after each user's exposure, so no user needs a recount."""
    from abtest.analysis.state.sql import Columns, days_from_state_sql, totals_from_state_sql

    end, con = window[1], store.con
    columns = Columns(spec, pre_start)
    totals = totals_from_state_sql(spec, columns, end)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {sql.USER_TOTALS} AS {totals}")
    (mixed,) = store.fetch_one(f"SELECT COUNT(*) FROM {sql.USER_TOTALS} WHERE mixed = 1") or (0,)
    if mixed:
        con.execute(f"DELETE FROM {sql.USER_TOTALS} WHERE mixed = 1")
    if daily:
        days = days_from_state_sql(spec, columns, end)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {sql.USER_DAYS} AS {days}")
    return Staged(_caps(store, metrics), int(mixed), open_window_users(store, spec, end))


def open_window_users(store: Store, spec: ExperimentSpec, end: dt.datetime) -> dict[str, int]:
    """Per windowed metric of ``spec``, the staged users whose window had not ended at
    ``end`` (the analysis' end): ``{metric: users}``, empty without windowed metrics.

    Windowed metrics count these users with what they did so far (GrowthBook's
    default, "include in-progress conversions"), which a report should say: a
    24-hour window of a user exposed an hour before the end holds one hour.
    Reads the staged ``user_totals`` (call it inside :func:`staged_tables`).
    """
    listed = [spec.metric(name) for _, name in spec.metrics.all()] if spec.metrics else []
    windowed = list({m.name: m for m in listed if m.window is not None}.values())
    if not windowed:
        return {}
    row = store.fetch_one(sql.open_window_sql(windowed, end)) or ()
    return {m.name: int(n or 0) for m, n in zip(windowed, row, strict=True)}


def _caps(store: Store, metrics: list[MetricMoments]) -> dict[str, float]:
    """Each winsorized metric's cap: fixed, or the pooled percentile of exposed users."""
    caps: dict[str, float] = {}
    for mm in metrics:
        w = mm.metric.winsorize
        if w is None:
            continue
        if w.upper is not None:
            caps[mm.name] = float(w.upper)
        else:
            (cap,) = store.fetch_one(sql.percentile_cap_sql(mm.metric)) or (None,)
            caps[mm.name] = float(cap) if cap is not None else math.inf
    return caps
