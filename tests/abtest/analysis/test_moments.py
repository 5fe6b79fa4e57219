"""The SQL-to-statistics contract: the columns a metric names are exactly those its SQL
returns, a batch of rows reads as its rows one by one, and the moments read from SQL
compare as the engine's dataclasses do."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from abtest.analysis import sql
from abtest.analysis.moments import MetricMoments, N, metric_moments
from abtest.analysis.staging import fetch_rows, staged_tables
from abtest.stats import MomentArrays, compare, compare_moments
from abtest.store import Store
from tests.abtest.analysis.builders import END, START, make_spec

WINDOW = (START, END)
CAPS = {"impressions": 40.0, "revenue": 100.0}


def columns_of(store: Store, query: str) -> list[str]:
    return [d[0] for d in store.con.execute(f"SELECT * FROM ({query}) q LIMIT 0").description]


def moment_columns(metrics: list[MetricMoments]) -> list[str]:
    return [N] + [m.column for mm in metrics for m in mm.moments]


def same_moments(a: MomentArrays, b: MomentArrays) -> None:
    for field in ("n", "sums", "cross"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


@pytest.mark.parametrize("cuped_days", [0, 3])
def test_the_columns_a_metric_names_are_those_its_sql_returns(db: Path, cuped_days: int) -> None:
    spec = make_spec(cuped_pre_period_days=cuped_days)
    metrics = metric_moments(spec, cuped=cuped_days > 0)
    pre_start = START - dt.timedelta(days=cuped_days) if cuped_days else None
    days = [START.date(), START.date() + dt.timedelta(days=1)]
    with (
        Store(db, read_only=True) as store,
        staged_tables(store, spec, metrics, WINDOW, pre_start, daily=True),
    ):
        per_user = columns_of(store, sql.per_user_sql(metrics, CAPS))
        by_variant = columns_of(store, sql.moments_by_variant_sql(metrics, CAPS))
        by_day = columns_of(store, sql.moments_by_day_sql(metrics, days, CAPS))
        by_segment = columns_of(store, sql.moments_by_segments_sql(metrics, CAPS, ["platform"]))
    assert per_user == ["user_id", "variant", "exposed_day"] + [
        c for mm in metrics for c in mm.columns
    ]
    assert by_variant == ["variant", *moment_columns(metrics)]
    assert by_day == ["variant", "day", *moment_columns(metrics)]
    assert by_segment == [
        "variant",
        sql.segment_value_column(0),
        sql.segment_grouped_column(0),
        *moment_columns(metrics),
    ]


def test_each_metric_names_its_kind_s_variables() -> None:
    metrics = {mm.name: mm for mm in metric_moments(make_spec(cuped_pre_period_days=3), True)}
    assert metrics["tap_rate"].metric_type == "cuped_ratio"
    assert metrics["tap_rate"].columns == (
        "tap_rate__num",
        "tap_rate__den",
        "tap_rate__pre_num",
        "tap_rate__pre_den",
    )
    assert metrics["buyers"].metric_type == "cuped_mean"
    assert metrics["buyers"].columns == ("buyers__x", "buyers__pre_x")
    assert [m.column for m in metrics["buyers"].moments] == [
        "s|buyers__x",
        "c|buyers__x|buyers__x",
        "c|buyers__x|buyers__pre_x",
        "s|buyers__pre_x",
        "c|buyers__pre_x|buyers__pre_x",
    ]
    plain = {mm.name: mm.metric_type for mm in metric_moments(make_spec(), cuped=False)}
    assert plain == {
        "tap_rate": "ratio",
        "buyers": "proportion",
        "taps": "mean",
        "revenue": "mean",
        "impressions": "mean",
    }
    with pytest.raises(KeyError, match="no variable 'den'"):
        metrics["buyers"].column("den")


def test_a_batch_of_rows_reads_as_its_rows(db: Path) -> None:
    """Day-by-day rows, read one by one, as a list, and as polars and Arrow batches."""
    spec = make_spec(cuped_pre_period_days=3)
    metrics = metric_moments(spec, cuped=True)
    days = [START.date() + dt.timedelta(days=i) for i in range(7)]
    pre_start = START - dt.timedelta(days=3)
    with (
        Store(db, read_only=True) as store,
        staged_tables(store, spec, metrics, WINDOW, pre_start, daily=True),
    ):
        arrow = store.con.sql(sql.moments_by_day_sql(metrics, days, CAPS)).to_arrow_table()
    rows = arrow.to_pylist()  # one result, three shapes (an engine's sums vary in the last bit)
    frame = pl.from_arrow(arrow)
    assert len(rows) == 14
    columns = {name: frame[name].to_list() for name in frame.columns}
    for mm in metrics:
        from_rows = mm.read_rows(rows)
        assert from_rows.n.shape == (14,) and from_rows.k == len(mm.kind.variables)
        for batch in (frame, arrow, columns):
            same_moments(mm.read_batch(batch), from_rows)
        for i, row in enumerate(rows):
            same_moments(mm.read_row(row), from_rows.at(i))


def test_nulls_and_missing_rows_read_as_no_users() -> None:
    mm = next(m for m in metric_moments(make_spec(), cuped=False) if m.name == "tap_rate")
    empty = mm.read_row(None)
    assert empty.n.shape == () and float(empty.n) == 0.0
    assert not empty.sums.any() and not empty.cross.any()
    rows = [{N: 0}, {N: 3, "s|tap_rate__num": None, "s|tap_rate__den": 6.0}]
    batch = pl.DataFrame(
        {N: [0, 3], "s|tap_rate__num": [None, None], "s|tap_rate__den": [None, 6.0]}
        | {m.column: [None, None] for m in mm.moments if m.right is not None}
    )
    same_moments(mm.read_batch(batch), mm.read_rows(rows))
    np.testing.assert_array_equal(mm.read_rows(rows).sums, [[0.0, 0.0], [0.0, 6.0]])


@pytest.mark.parametrize("cuped_days", [0, 3])
def test_moments_from_sql_compare_as_the_engine_s_dataclasses(db: Path, cuped_days: int) -> None:
    """The one entry point on the moments read from SQL equals ``compare`` on the
    validated dataclasses built from the same moments."""
    spec = make_spec(cuped_pre_period_days=cuped_days)
    metrics = metric_moments(spec, cuped=cuped_days > 0)
    pre_start = START - dt.timedelta(days=cuped_days) if cuped_days else None
    with (
        Store(db, read_only=True) as store,
        staged_tables(store, spec, metrics, WINDOW, pre_start) as staged,
    ):
        query = sql.moments_by_variant_sql(metrics, staged.caps)
        rows = {r["variant"]: r for r in fetch_rows(store, query)}
    for mm in metrics:
        control, treatment = mm.read_row(rows["control"]), mm.read_row(rows["treatment"])
        for test in ("welch", "sequential"):
            got = compare_moments(mm.metric_type, control, treatment, test=test)
            expected = compare(
                mm.kind.stats.from_arrays(control), mm.kind.stats.from_arrays(treatment), test=test
            )
            assert repr(got) == repr(expected), mm.name  # every field, exactly (nan as nan)
