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
from abtest.analysis.engine import Engine, as_engine, fetch_one, store_of
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
    store: Store | Engine,
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
    from it instead of from the raw ``exposures`` and ``events``: the same rows (the
    state lives in a DuckDB store: another engine always reads its tables).
    """
    engine = as_engine(store)
    check_event_columns(engine, spec)
    duck = store_of(engine)
    try:
        if state is not None and duck is not None:
            yield _build_from_state(duck, spec, metrics, window, pre_start, daily, state)
        else:
            yield _build(engine, spec, metrics, window, pre_start, daily=daily)
    finally:
        for table in (sql.USER_DAYS, sql.USER_TOTALS):
            engine.drop(table)


def fetch_rows(store: Store | Engine, query: str | Query) -> list[dict[str, Any]]:
    """The rows of a query (with its parameters, if any), as ``{column: value}`` dicts."""
    return as_engine(store).fetch_dicts(query)


def _build(
    engine: Engine,
    spec: ExperimentSpec,
    metrics: list[MetricMoments],
    window: tuple[dt.datetime, dt.datetime],
    pre_start: dt.datetime | None,
    *,
    daily: bool,
) -> Staged:
    """Create the tables; return the caps and the number of mixed users."""
    start, end = window
    engine.stage(sql.USER_TOTALS, sql.user_totals_sql(spec, start, end, pre_start))
    count = f"SELECT COUNT(*) FROM {sql.USER_TOTALS} WHERE mixed = 1"
    (mixed,) = fetch_one(engine, count) or (0,)
    if mixed:
        engine.delete_where(sql.USER_TOTALS, "mixed = 1")
    (late,) = fetch_one(engine, sql.late_exposures_sql()) or (0,)
    if daily:
        days = sql.user_days_sql(spec, start, end, pre_start, late_users=bool(late))
        engine.stage(sql.USER_DAYS, days)
    if late:  # recount users with events before their exposure, from their events
        engine.append(sql.USER_TOTALS, sql.recounted_totals_sql(spec, start, end, pre_start))
        engine.delete_where(sql.USER_TOTALS, "first_ts < exposed_at")
    return Staged(_caps(engine, metrics), int(mixed), open_window_users(engine, spec, end))


def _build_from_state(
    store: Store,
    spec: ExperimentSpec,
    metrics: list[MetricMoments],
    window: tuple[dt.datetime, dt.datetime],
    pre_start: dt.datetime | None,
    daily: bool,
    state: StateMeta,
) -> Staged:
    """:func:`_build`'s tables from the experiment's state: its rows already count only
    the events after each user's exposure, so no user needs a recount. An analysis that
    ends where the state ends reads the state's units as they are (a view; with ranking
    scores, joined to the scores of its showings); one that ends earlier (``as_of``)
    sums the state's days before its end."""
    from abtest.analysis.state import sql as state_sql

    end, con, key = window[1], store.con, spec.key
    columns = state_sql.Columns(spec, pre_start)
    units = state_sql.table(key, "units")
    if end == state.end and not columns.scores:
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {sql.USER_TOTALS} AS "
            f"{state_sql.totals_view_sql(key, columns)}"
        )
        (mixed,) = store.fetch_one(f"SELECT COUNT(*) FROM {units} WHERE mixed = 1") or (0,)
    else:
        if end == state.end:
            totals = state_sql.totals_with_scores_sql(key, columns, end)
            (mixed,) = store.fetch_one(f"SELECT COUNT(*) FROM {units} WHERE mixed = 1") or (0,)
        else:
            totals = state_sql.totals_from_state_sql(spec, columns, end)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {sql.USER_TOTALS} AS {totals}")
        if end != state.end:
            (mixed,) = store.fetch_one(
                f"SELECT COUNT(*) FROM {sql.USER_TOTALS} WHERE mixed = 1"
            ) or (0,)
            con.execute(f"DELETE FROM {sql.USER_TOTALS} WHERE mixed = 1")
    if daily:
        days = state_sql.days_from_state_sql(spec, columns, end)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {sql.USER_DAYS} AS {days}")
    engine = as_engine(store)
    return Staged(_caps(engine, metrics), int(mixed), open_window_users(engine, spec, end))


def open_window_users(
    store: Store | Engine, spec: ExperimentSpec, end: dt.datetime
) -> dict[str, int]:
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
    row = fetch_one(as_engine(store), sql.open_window_sql(windowed, end)) or ()
    return {m.name: int(n or 0) for m, n in zip(windowed, row, strict=True)}


def _caps(engine: Engine, metrics: list[MetricMoments]) -> dict[str, float]:
    """Each winsorized metric's cap: fixed, or the pooled percentile of exposed users."""
    caps: dict[str, float] = {}
    for mm in metrics:
        w = mm.metric.winsorize
        if w is None:
            continue
        if w.upper is not None:
            caps[mm.name] = float(w.upper)
        else:
            (cap,) = fetch_one(engine, sql.percentile_cap_sql(mm.metric)) or (None,)
            caps[mm.name] = float(cap) if cap is not None else math.inf
    return caps
