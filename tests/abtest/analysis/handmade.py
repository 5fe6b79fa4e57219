"""Small hand-made stores for the analyzer's filter, window and ranking tests.

A real DuckDB file holding a few exposures and events written out by hand (the
events with ``view_id`` and a team's own columns), a spec around the metrics a
test defines, and the per-user values the analyzer stages for them, to be
compared with an independent polars computation over the same rows.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl
import pytest

from abtest.analysis import sql
from abtest.analysis.moments import metric_moments
from abtest.analysis.staging import Staged, fetch_rows, staged_tables
from abtest.spec import ExperimentSpec, parse_spec
from abtest.store import Store

START = dt.datetime(2026, 3, 2)
END = dt.datetime(2026, 3, 5)
KEY = "handmade"


def at(hours: float) -> dt.datetime:
    """``hours`` after the start of the handmade experiment."""
    return START + dt.timedelta(hours=hours)


def make_store(
    path: Path, exposures: list[tuple[str, str, dt.datetime]], events: list[dict[str, Any]]
) -> Path:
    """A store at ``path`` with ``exposures`` (user, variant, time) and ``events`` (dicts
    with ``ts``, ``user_id``, ``event_type`` and any other columns; ``event_id`` is added)."""
    with Store(path) as store:
        store.create_tables()
        store.ingest(
            "exposures",
            pl.DataFrame(
                {
                    "experiment": [KEY] * len(exposures),
                    "variant": [v for _, v, _ in exposures],
                    "user_id": [u for u, _, _ in exposures],
                    "ts": [t for _, _, t in exposures],
                }
            ),
        )
        frame = pl.DataFrame(events, infer_schema_length=None).with_columns(
            event_id=pl.format("e{}", pl.int_range(pl.len()))
        )
        for column, kind in (("position", pl.Int32), ("item_id", pl.Int64), ("value", pl.Float64)):
            if column in frame.columns:
                frame = frame.with_columns(pl.col(column).cast(kind))
        store.ingest("events", frame)
    return path


def make_spec(definitions: dict[str, Any], **analysis: Any) -> ExperimentSpec:
    """A two-variant spec over ``[START, END)`` whose metrics are ``definitions``."""
    names = list(definitions)
    return parse_spec(
        {
            "key": KEY,
            "variants": [{"name": "control"}, {"name": "treatment"}],
            "metrics": {"primary": names[:1], "secondary": names[1:]},
            "metric_definitions": definitions,
            "analysis": {"correction": "none", **analysis},
            "schedule": {"start": START.date().isoformat(), "end": END.date().isoformat()},
        }
    )


class Staging(NamedTuple):
    """What the analyzer staged for a spec on a handmade store."""

    per_user: pl.DataFrame
    """Each exposed user's metric variables (``{metric}__{variable}``), sorted by user."""
    totals: pl.DataFrame
    """The staged per-user totals (every aggregate column), sorted by user."""
    by_day: pl.DataFrame
    """The day-by-day table's post-exposure aggregates summed per user, sorted by user."""
    staged: Staged


def staged_values(
    db: Path,
    spec: ExperimentSpec,
    *,
    end: dt.datetime = END,
    pre_start: dt.datetime | None = None,
) -> Staging:
    """Stage ``spec`` on ``db`` (with the day-by-day table) and read what it built."""
    metrics = metric_moments(spec, pre_start is not None)
    with (
        Store(db, read_only=True) as store,
        staged_tables(store, spec, metrics, (START, end), pre_start, daily=True) as staged,
    ):
        per_user = pl.DataFrame(fetch_rows(store, sql.per_user_sql(metrics, staged.caps)))
        totals = store.query(f"SELECT * FROM {sql.USER_TOTALS}")
        days = store.query(f"SELECT * FROM {sql.USER_DAYS}")
    post = [c for c in totals.columns if c.startswith("post__")]
    by_day = days.group_by("user_id").agg(pl.col(post).sum())
    return Staging(per_user.sort("user_id"), totals.sort("user_id"), by_day.sort("user_id"), staged)


def assert_days_add_up(staging: Staging) -> None:
    """The day-by-day rows of every user add up to their totals (users without post-exposure
    events have no day rows and zero totals)."""
    post = [c for c in staging.totals.columns if c.startswith("post__")]
    totals = staging.totals.select("user_id", *post)
    joined = totals.join(staging.by_day, on="user_id", how="left", suffix="|days").fill_null(0)
    for column in post:
        assert joined[column].cast(pl.Float64).to_list() == pytest.approx(
            joined[f"{column}|days"].cast(pl.Float64).to_list(), rel=1e-12, abs=1e-12
        ), column


def first_exposures(
    exposures: list[tuple[str, str, dt.datetime]], end: dt.datetime = END
) -> pl.DataFrame:
    """Each user's variant and first exposure in ``[START, end)``, independently."""
    frame = pl.DataFrame(
        {
            "user_id": [u for u, _, _ in exposures],
            "variant": [v for _, v, _ in exposures],
            "ts": [t for _, _, t in exposures],
        }
    )
    return (
        frame.filter((pl.col("ts") >= START) & (pl.col("ts") < end))
        .sort("ts")
        .group_by("user_id")
        .agg(pl.col("variant").first(), pl.col("ts").first().alias("exposed_at"))
        .sort("user_id")
    )
