"""What changed in the raw tables since the last refresh: rows per day, counted.

A refresh compares the rows per day of ``events`` (all of them) and of the
experiment's ``exposures`` with the counts it recorded last time. A day whose
count changed was written since, whatever the time its rows carry: an event
that arrives a week late changes the count of its day a week back. Counting
every day reads one column of the whole table, so the counts are first taken
from the watermark's day on (the days a running experiment is still writing,
which DuckDB finds without reading the others); when the tables' row counts
say that rows were added or removed before that, every day is counted.

Rows replaced one for one (a delete and an insert on the same day) keep the
count; the lookback (:func:`lookback_day`) re-reads the most recent days
whatever their counts, and ``refresh --full`` rebuilds everything.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from abtest.analysis.sql import literal
from abtest.store import Store

Counts = dict[dt.date, int]


class DayCounts(NamedTuple):
    """Rows per day of one raw table now, and which days differ from the last refresh."""

    now: Counts
    total: int
    changed: tuple[dt.date, ...]
    """Days whose row count changed, earliest first."""
    removed: tuple[dt.date, ...]
    """Days with fewer rows than at the last refresh (rows deleted)."""
    counted_all: bool
    """Whether every day was counted (rows changed before the watermark's day)."""


def _where(source: str, key: str) -> str:
    return f"experiment = {literal(key)}" if source == "exposures" else ""


def _count_days(store: Store, source: str, key: str, since: dt.date | None) -> Counts:
    conds = [c for c in (_where(source, key),) if c]
    if since is not None:
        conds.append(f"ts >= DATE {literal(since.isoformat())}")
    where = f" WHERE {' AND '.join(conds)}" if conds else ""
    rows = store.con.execute(
        f"SELECT CAST(ts AS DATE) AS day, COUNT(*) FROM {source}{where} GROUP BY 1"
    ).fetchall()
    return {day: int(n) for day, n in rows if day is not None}


def total_rows(store: Store, source: str, key: str) -> int:
    """Rows of ``events``, or of the experiment's ``exposures``."""
    where = _where(source, key)
    return store.count(source, where)


def day_counts(
    store: Store,
    source: str,
    key: str,
    recorded: Counts,
    recorded_total: int,
    since: dt.date | None,
) -> DayCounts:
    """The rows per day of ``source`` now, compared with those ``recorded`` at the last
    refresh (``recorded_total`` rows in all); ``since`` is the watermark's day (``None``:
    count every day)."""
    total = total_rows(store, source, key)
    counted_all = since is None
    if since is not None:
        recent = _count_days(store, source, key, since)
        before = {d: n for d, n in recorded.items() if d < since}
        if total - recorded_total == sum(recent.values()) - sum(
            n for d, n in recorded.items() if d >= since
        ):
            now = before | recent
        else:  # rows were added or removed before the watermark's day: count them all
            now, counted_all = _count_days(store, source, key, None), True
    else:
        now = _count_days(store, source, key, None)
    days = sorted(set(now) | set(recorded))
    changed = tuple(d for d in days if now.get(d, 0) != recorded.get(d, 0))
    removed = tuple(d for d in changed if now.get(d, 0) < recorded.get(d, 0))
    return DayCounts(now, total, changed, removed, counted_all)


def lookback_day(watermark: dt.datetime | None, lookback: dt.timedelta) -> dt.date | None:
    """The first day the lookback re-reads whatever the counts say; ``None`` without a
    lookback (or without a watermark)."""
    if watermark is None or lookback <= dt.timedelta(0):
        return None
    return (watermark - lookback).date()
