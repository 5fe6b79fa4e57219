"""The temporary tables an analysis reads, built once and always dropped.

:func:`staged_tables` creates ``user_totals`` (every exposed user once, with
their aggregates) and, for the day-by-day series, ``user_days``; it drops
users exposed to several variants, recounts users with events before their
exposure, computes the winsorization caps, and drops every table on the way
out, whatever happens. :func:`fetch_rows` runs a moments query on them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from abtest.analysis import sql
from abtest.analysis.moments import MetricMoments
from abtest.spec import ExperimentSpec
from abtest.store import Store


class Staged(NamedTuple):
    """What building an analysis' tables found out."""

    caps: dict[str, float]
    """Winsorization cap of each capped metric."""
    mixed_users: int
    """Users exposed to more than one variant (excluded from the tables)."""


@contextmanager
def staged_tables(
    store: Store,
    spec: ExperimentSpec,
    metrics: list[MetricMoments],
    window: tuple[dt.datetime, dt.datetime],
    pre_start: dt.datetime | None,
    *,
    daily: bool = False,
) -> Iterator[Staged]:
    """The analysis' temporary tables for the ``with`` block; dropped when it ends.

    ``daily`` adds the per-user-day table that the day-by-day series reads.
    """
    try:
        yield _build(store, spec, metrics, window, pre_start, daily=daily)
    finally:
        for table in (sql.USER_DAYS, sql.USER_TOTALS):
            store.con.execute(f"DROP TABLE IF EXISTS {table}")


def fetch_rows(store: Store, query: str) -> list[dict[str, Any]]:
    """The rows of a query, as ``{column: value}`` dicts."""
    cursor = store.con.execute(query)
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
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {sql.USER_TOTALS} AS "
        f"{sql.user_totals_sql(spec, start, end, pre_start)}"
    )
    (mixed,) = store.fetch_one(f"SELECT COUNT(*) FROM {sql.USER_TOTALS} WHERE mixed = 1") or (0,)
    if mixed:
        con.execute(f"DELETE FROM {sql.USER_TOTALS} WHERE mixed = 1")
    (late,) = store.fetch_one(sql.late_exposures_sql()) or (0,)
    if daily:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {sql.USER_DAYS} AS "
            f"{sql.user_days_sql(spec, start, end, pre_start, late_users=bool(late))}"
        )
    if late:  # recount users with events before their exposure, from their events
        con.execute(
            f"INSERT INTO {sql.USER_TOTALS} {sql.recounted_totals_sql(spec, start, end, pre_start)}"
        )
        con.execute(f"DELETE FROM {sql.USER_TOTALS} WHERE first_ts < exposed_at")
    return Staged(_caps(store, metrics), int(mixed))


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
