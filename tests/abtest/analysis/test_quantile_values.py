"""Quantile metrics: left out of the moments, their per-user and per-event values staged.

The analyzer does not compare quantiles yet; it must not crash on them, and the
staged ``user_totals`` must hold each user's value (``over: unit``), or the
events' values be readable (``over: event``), equal to polars over the raw events.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from abtest.analysis import analyze, sql
from abtest.analysis.moments import metric_moments
from abtest.analysis.staging import fetch_rows, staged_tables
from abtest.store import Store
from tests.abtest.analysis.handmade import END, START, at, make_spec, make_store

EXPOSURES = [("u0", "control", at(1)), ("u1", "treatment", at(2)), ("u2", "control", at(3))]
EVENTS = [
    {"ts": at(h), "user_id": u, "event_type": "purchase", "value": v, "source_item_id": s}
    for h, u, v, s in [
        (0.5, "u0", 100.0, 1),  # before u0's exposure
        (2, "u0", 10.0, 1),
        (5, "u0", 20.0, None),
        (30, "u0", 40.0, 1),  # after a 24 h window
        (3, "u1", 5.0, 1),
        (4, "u1", None, 1),  # no value
        (80, "u1", 7.0, 1),  # after the end
    ]
]
DEFINITIONS = {
    "buys": {"kind": "mean", "numerator": "purchase"},
    "p90_revenue": {
        "kind": "quantile",
        "quantile": 0.9,
        "numerator": {
            "event": "purchase",
            "aggregate": "sum",
            "filter": {"source_item_id": {"$exists": True}},
        },
    },
    "median_order": {
        "kind": "quantile",
        "quantile": 0.5,
        "over": "event",
        "numerator": {"event": "purchase", "aggregate": "sum"},
        "window": {"within": "24h"},
    },
}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("quantile") / "q.duckdb", EXPOSURES, EVENTS)


def test_quantiles_are_left_out_of_the_moments_and_analysed_on_their_own(db: Path) -> None:
    spec = make_spec(DEFINITIONS, cuped_pre_period_days=1)
    assert [mm.name for mm in metric_moments(spec, cuped=True)] == ["buys"]
    with Store(db, read_only=True) as store:
        result = analyze(store, spec, segments=())
    assert {m.name: m.metric_type for m in result.metrics} == {
        "buys": "cuped_mean",
        "p90_revenue": "quantile",
        "median_order": "quantile",
    }
    assert not any(d.metric != "buys" for d in result.daily)  # no daily series of quantiles


def test_per_user_and_per_event_values_of_quantiles_equal_polars(db: Path) -> None:
    spec = make_spec(DEFINITIONS)
    over_units, over_events = spec.metric("p90_revenue"), spec.metric("median_order")
    with (
        Store(db, read_only=True) as store,
        staged_tables(store, spec, metric_moments(spec, False), (START, END), None),
    ):
        per_user = pl.DataFrame(fetch_rows(store, sql.quantile_values_sql(over_units)))
        totals = store.query(f"SELECT * FROM {sql.USER_TOTALS}")
        values = pl.DataFrame(fetch_rows(store, sql.quantile_events_sql(over_events, START, END)))
    assert sql.quantile_value_column(over_units) in totals.columns
    events = pl.DataFrame(EVENTS, infer_schema_length=None)
    first = pl.DataFrame(
        {"user_id": [u for u, _, _ in EXPOSURES], "variant": [v for _, v, _ in EXPOSURES]}
    ).with_columns(exposed_at=pl.Series([t for _, _, t in EXPOSURES]))
    joined = events.join(first, on="user_id").filter(
        (pl.col("ts") >= pl.col("exposed_at")) & (pl.col("ts") < END)
    )
    expected = (
        joined.filter(pl.col("source_item_id").is_not_null())
        .group_by("user_id")
        .agg(pl.col("value").fill_null(0).sum())
    )
    expected = first.join(expected, on="user_id", how="left").fill_null(0)
    assert sorted(zip(per_user["variant"], per_user["value"], strict=True)) == sorted(
        zip(expected["variant"], expected["value"], strict=True)
    )
    in_window = joined.filter(
        (pl.col("ts") < pl.col("exposed_at") + dt.timedelta(hours=24))
        & pl.col("value").is_not_null()
    )
    assert sorted(zip(values["variant"], values["value"], strict=True)) == sorted(
        zip(in_window["variant"], in_window["value"], strict=True)
    )


def test_the_quantile_helpers_refuse_other_metrics() -> None:
    spec = make_spec(DEFINITIONS)
    with pytest.raises(ValueError, match="not a quantile over units"):
        sql.quantile_value_column(spec.metric("buys"))
    with pytest.raises(ValueError, match="not a quantile over events"):
        sql.quantile_events_sql(spec.metric("p90_revenue"), START, END)


def test_a_spec_of_quantiles_alone_stages_and_reads_no_moments(db: Path) -> None:
    spec = make_spec({"median_order": DEFINITIONS["median_order"]})
    metrics = metric_moments(spec, cuped=False)
    assert metrics == []
    with (
        Store(db, read_only=True) as store,
        staged_tables(store, spec, metrics, (START, END), None, daily=True),
    ):
        assert fetch_rows(store, sql.moments_by_variant_sql(metrics, {}))
        days = [START.date() + dt.timedelta(days=i) for i in range(3)]
        assert fetch_rows(store, sql.moments_by_day_sql(metrics, days, {})) == []
        assert len(fetch_rows(store, sql.per_user_sql(metrics, {}))) == len(EXPOSURES)
