"""What an analysis may read: the store's tables, the time window, the segment columns.

Every check here runs before any temporary table is built, and every refusal is
an :class:`AnalysisError` that names the problem (and, where it helps, what
would have been accepted).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from abtest.spec import ExperimentSpec

if TYPE_CHECKING:
    from abtest.analysis.engine import Engine
    from abtest.store import Store

DEFAULT_SEGMENTS = ("platform", "country", "is_new")
REQUIRED_TABLES = ("exposures", "events", "users")


class AnalysisError(Exception):
    """The experiment cannot be analyzed as asked (no data, bad window, bad segment...)."""


def check_store(store: Store | Engine) -> None:
    """Refuse a database without the tables an analysis reads."""
    from abtest.analysis.engine import as_engine

    engine = as_engine(store)
    missing = [t for t in REQUIRED_TABLES if not engine.has_table(t)]
    if missing:
        raise AnalysisError(
            f"{engine.where} has no {', '.join(missing)} table(s): is it a looklift database?"
        )


def analysis_window(
    spec: ExperimentSpec, as_of: dt.date | dt.datetime | None, store: Store | Engine
) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` of the analysis: the schedule, cut at the end of the ``as_of`` day.

    Without a schedule, the whole days of the experiment's exposures.
    """
    if spec.schedule is not None:
        start, end = spec.schedule.start, spec.schedule.end
    else:
        from abtest.analysis.engine import as_engine, fetch_one

        row = fetch_one(
            as_engine(store),
            "SELECT min(ts), max(ts) FROM exposures WHERE experiment = ?",
            [spec.key],
        )
        if row is None or row[0] is None:
            raise no_exposures(spec, store)
        start = dt.datetime.combine(row[0].date(), dt.time())
        end = dt.datetime.combine(row[1].date(), dt.time()) + dt.timedelta(days=1)
    if as_of is not None:
        day = as_of_day(as_of)
        cut = dt.datetime.combine(day, dt.time()) + dt.timedelta(days=1)
        if cut <= start:
            raise AnalysisError(f"--as-of {day} is before {spec.key!r} started ({start:%Y-%m-%d})")
        end = min(end, cut)
    return start, end


def as_of_day(as_of: dt.date | dt.datetime) -> dt.date:
    """The day an ``as_of`` date or time names."""
    return as_of.date() if isinstance(as_of, dt.datetime) else as_of


def pre_period_start(spec: ExperimentSpec, start: dt.datetime) -> dt.datetime | None:
    """The start of CUPED's pre-period, ``None`` without CUPED."""
    days = spec.analysis.cuped_pre_period_days
    return start - dt.timedelta(days=days) if days > 0 else None


def require_exposures(
    store: Store | Engine, spec: ExperimentSpec, start: dt.datetime, end: dt.datetime
) -> None:
    """Refuse a window without exposures: there is nothing to measure."""
    from abtest.analysis.engine import as_engine, fetch_one

    row = fetch_one(
        as_engine(store),
        "SELECT count(*) FROM exposures WHERE experiment = ? AND ts >= ? AND ts < ?",
        [spec.key, start, end],
    )
    if not row or not row[0]:
        raise no_exposures(spec, store)


def no_exposures(spec: ExperimentSpec, store: Store | Engine) -> AnalysisError:
    """The error for an experiment without exposures, naming those that have some."""
    from abtest.analysis.engine import as_engine

    engine = as_engine(store)
    rows = engine.fetch_all("SELECT DISTINCT experiment FROM exposures ORDER BY 1")
    known = [str(r[0]) for r in rows]
    hint = f" (experiments with exposures: {', '.join(known)})" if known else ""
    return AnalysisError(
        f"experiment {spec.key!r} has no exposures in {engine.where}{hint}; "
        "was it run or simulated ('looklift simulate')?"
    )


def segment_columns(store: Store | Engine, requested: Sequence[str] | None) -> list[str]:
    """The ``users`` columns to break results down by, checked against the table.

    ``None`` asks for the defaults that exist (platform, country, is_new);
    names are deduplicated, and an unknown one (or ``user_id``) is refused.
    """
    from abtest.analysis.engine import as_engine

    columns = list(as_engine(store).columns("users"))
    if requested is None:
        return [s for s in DEFAULT_SEGMENTS if s in columns]
    requested = list(dict.fromkeys(requested))
    unknown = [s for s in requested if s not in columns or s == "user_id"]
    if unknown:
        raise AnalysisError(
            f"unknown segment {unknown[0]!r}: segments are columns of the users table "
            f"({', '.join(c for c in columns if c != 'user_id')})"
        )
    return list(requested)
