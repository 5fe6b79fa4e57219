"""Metric filters: the analyzer's per-user values equal polars over the raw events.

Each filter counts and sums the purchases that satisfy it, on a handmade store
whose events have missing values in every column a filter reads, a team's own
text and boolean columns, events before the exposure and after the end. The
reference is a polars expression written independently for each filter (missing
values as :mod:`abtest.spec.filters` documents them), and, for the filters
without an ordering comparison on a missing value, GrowthBook's own evaluator
(:func:`abtest.conditions.eval_condition`) on each event.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from abtest.analysis import analyze
from abtest.analysis.filters import compile_filter
from abtest.conditions import eval_condition
from abtest.spec import SpecError
from abtest.store import Store
from tests.abtest.analysis.handmade import (
    END,
    assert_days_add_up,
    at,
    first_exposures,
    make_spec,
    make_store,
    staged_values,
)

EVIL = "o'neil\"; DROP TABLE events; --"
pos, src, val, brand = (pl.col(c) for c in ("position", "source_item_id", "value", "brand"))

CASES: list[tuple[dict[str, Any], pl.Expr, bool]] = [
    # (filter, the same in polars, whether eval_condition agrees on every event)
    ({"source_item_id": {"$exists": True}}, src.is_not_null(), True),
    ({"source_item_id": {"$exists": False}}, src.is_null(), True),
    ({"position": {"$lte": 2}}, (pos <= 2).fill_null(False), False),
    ({"position": {"$gt": 2}}, (pos > 2).fill_null(False), True),
    ({"position": {"$in": [1, 3]}}, pos.is_in([1, 3]).fill_null(False), True),
    ({"position": {"$in": [1, None]}}, (pos == 1).fill_null(False) | pos.is_null(), True),
    ({"position": {"$nin": [1]}}, ~(pos == 1).fill_null(False), True),
    ({"position": {"$ne": 1}}, ~(pos == 1).fill_null(False), True),
    ({"position": None}, pos.is_null(), True),
    ({"position": {"$eq": None}}, pos.is_null(), True),
    ({"position": {"$ne": None}}, pos.is_not_null(), True),
    ({"position": {"$not": {"$gt": 2}}}, ~(pos > 2).fill_null(False), True),
    ({"brand": "acme"}, (brand == "acme").fill_null(False), True),
    ({"brand": EVIL}, (brand == EVIL).fill_null(False), True),
    (
        {"brand": {"$in": ["acme", None]}},
        (brand == "acme").fill_null(False) | brand.is_null(),
        True,
    ),
    ({"brand": {"$lt": "b"}}, (brand < "b").fill_null(False), True),
    ({"discounted": True}, (pl.col("discounted") == True).fill_null(False), True),  # noqa: E712
    ({"discounted": {"$ne": True}}, ~(pl.col("discounted") == True).fill_null(False), True),  # noqa: E712
    (
        {"view_id": {"$in": ["v1", "v3"]}},
        pl.col("view_id").is_in(["v1", "v3"]).fill_null(False),
        True,
    ),
    ({"item_id": 7}, (pl.col("item_id") == 7).fill_null(False), True),
    (
        {"$or": [{"brand": {"$in": ["acme", "zeta"]}}, {"value": {"$gt": 50}}]},
        brand.is_in(["acme", "zeta"]).fill_null(False) | (val > 50).fill_null(False),
        True,
    ),
    (
        {"$and": [{"value": {"$gte": 10}}, {"value": {"$lt": 60.5}}]},
        ((val >= 10) & (val < 60.5)).fill_null(False),
        True,
    ),
    (
        {"$nor": [{"position": 1}, {"brand": "zeta"}]},
        ~((pos == 1).fill_null(False) | (brand == "zeta").fill_null(False)),
        True,
    ),
    (
        {"$not": {"source_item_id": {"$exists": True}, "position": 2}},
        ~(src.is_not_null() & (pos == 2).fill_null(False)),
        True,
    ),
    (
        {"source_item_id": {"$exists": True}, "position": {"$gte": 2, "$lte": 4}},
        src.is_not_null() & ((pos >= 2) & (pos <= 4)).fill_null(False),
        True,
    ),
]


def _events() -> tuple[list[tuple[str, str, dt.datetime]], list[dict[str, Any]]]:
    """Eight users exposed at hour 1 to 8, and 400 taps and purchases with missing values
    everywhere, some before the exposure and some after the end."""
    rng = random.Random(7)
    users = [f"u{i}" for i in range(8)]
    exposures = [(u, ("control", "treatment")[i % 2], at(1 + i)) for i, u in enumerate(users)]
    exposures.append(("u0", "control", at(30)))  # a later exposure changes nothing

    def maybe(value: Any) -> Any:
        return None if rng.random() < 0.25 else value

    events = [
        {
            "ts": at(rng.uniform(-10, 90)),
            "user_id": rng.choice(users),
            "event_type": rng.choice(["purchase", "purchase", "tap"]),
            "position": maybe(rng.randint(1, 5)),
            "source_item_id": maybe(rng.randint(1, 3)),
            "item_id": maybe(rng.randint(5, 9)),
            "value": maybe(round(rng.uniform(1, 100), 2)),
            "view_id": maybe(f"v{rng.randint(1, 4)}"),
            "brand": maybe(rng.choice(["acme", "zeta", "bolt", EVIL])),
            "discounted": maybe(rng.random() < 0.5),
        }
        for _ in range(400)
    ]
    return exposures, events


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame, pl.DataFrame]:
    exposures, events = _events()
    db = make_store(tmp_path_factory.mktemp("filters") / "f.duckdb", exposures, events)
    return db, first_exposures(exposures), pl.DataFrame(events, infer_schema_length=None)


def _spec_of_every_case() -> Any:
    definitions: dict[str, Any] = {"purchases": {"kind": "mean", "numerator": "purchase"}}
    for i, (condition, _, _) in enumerate(CASES):
        definitions[f"n{i}"] = {
            "kind": "mean",
            "numerator": {"event": "purchase", "filter": condition},
        }
        definitions[f"v{i}"] = {
            "kind": "mean",
            "numerator": {"event": "purchase", "aggregate": "sum", "filter": condition},
        }
    return make_spec(definitions)


def _reference(events: pl.DataFrame, first: pl.DataFrame, keep: pl.Expr) -> pl.DataFrame:
    """Per exposed user: purchases after the first exposure and before the end that satisfy
    ``keep``, counted and summed (users without any: 0)."""
    kept = (
        events.join(first, on="user_id")
        .filter(
            (pl.col("event_type") == "purchase")
            & (pl.col("ts") >= pl.col("exposed_at"))
            & (pl.col("ts") < END)
            & keep
        )
        .group_by("user_id")
        .agg(pl.len().alias("n"), pl.col("value").fill_null(0).sum().alias("v"))
    )
    return first.join(kept, on="user_id", how="left").fill_null(0).sort("user_id")


def test_filtered_counts_and_sums_equal_polars_on_the_raw_events(store) -> None:
    db, first, events = store
    staging = staged_values(db, _spec_of_every_case())
    values = staging.per_user
    assert values["user_id"].to_list() == first["user_id"].to_list()
    for i, (condition, keep, _) in enumerate(CASES):
        expected = _reference(events, first, keep)
        assert values[f"n{i}__x"].to_list() == expected["n"].cast(float).to_list(), condition
        assert values[f"v{i}__x"].to_list() == pytest.approx(expected["v"].to_list()), condition
    unfiltered = _reference(events, first, pl.lit(True))
    assert values["purchases__x"].to_list() == unfiltered["n"].cast(float).to_list()
    assert_days_add_up(staging)


@pytest.mark.parametrize("i", [i for i, (_, _, agrees) in enumerate(CASES) if agrees])
def test_filters_keep_the_events_growthbook_s_evaluator_keeps(store, i: int) -> None:
    _, _, events = store
    condition, keep, _ = CASES[i]
    rows = events.to_dicts()
    by_growthbook = [eval_condition(row, condition) for row in rows]
    assert events.select(keep.alias("kept"))["kept"].to_list() == by_growthbook


def test_ordering_comparisons_with_a_missing_value_are_false_unlike_growthbook(store) -> None:
    # GrowthBook reads a missing value as 0 in $lt/$lte/$gt/$gte; a metric filter does not.
    assert eval_condition({"position": None}, {"position": {"$lte": 2}})
    _, _, events = store
    kept = events.filter((pos <= 2).fill_null(False))
    assert kept["position"].null_count() == 0


def test_a_filtered_aggregate_is_its_own_column_and_values_are_bound(store) -> None:
    db, _, _ = store
    spec = make_spec(
        {
            "all": {"kind": "mean", "numerator": "purchase"},
            "evil": {"kind": "mean", "numerator": {"event": "purchase", "filter": {"brand": EVIL}}},
        }
    )
    staging = staged_values(db, spec)
    assert staging.per_user["all__x"].sum() > staging.per_user["evil__x"].sum() > 0
    compiled = compile_filter({"brand": EVIL, "position": {"$in": [1, 2]}})
    assert EVIL not in compiled.sql and "DROP" not in compiled.sql
    assert sorted(compiled.params.values(), key=str) == [1, 2, EVIL]
    with Store(db, read_only=True) as s:
        assert s.count("events") == 400  # nothing dropped


def test_the_analysis_runs_end_to_end_with_filters(store) -> None:
    db, _, _ = store
    spec = make_spec(
        {
            "module_buys": {
                "kind": "ratio",
                "numerator": {"event": "purchase", "filter": {"source_item_id": {"$exists": True}}},
                "denominator": {"event": "tap", "filter": {"brand": {"$in": ["acme", EVIL]}}},
            },
            "buyers": {
                "kind": "proportion",
                "numerator": {"event": "purchase", "filter": {"discounted": True}},
            },
        },
        cuped_pre_period_days=1,
    )
    with Store(db, read_only=True) as s:
        result = analyze(s, spec, segments=())
    assert {v.metric for v in result.values} == {"module_buys", "buyers"}
    assert result.daily


def test_a_filter_on_a_column_the_events_lack_is_refused_before_anything_is_built(store) -> None:
    db, _, _ = store
    spec = make_spec(
        {"m": {"kind": "mean", "numerator": {"event": "purchase", "filter": {"colour": "red"}}}}
    )
    with Store(db, read_only=True) as s, pytest.raises(SpecError) as caught:
        analyze(s, spec, segments=())
    (problem,) = caught.value.problems
    assert problem.path == "metric_definitions.m.numerator.filter.colour"
    assert "has no column 'colour'" in problem.message and str(db) in problem.message


def test_a_filter_comparing_an_extra_column_with_another_type_is_refused(store) -> None:
    db, _, _ = store
    spec = make_spec(
        {"m": {"kind": "mean", "numerator": {"event": "purchase", "filter": {"brand": 3}}}}
    )
    with Store(db, read_only=True) as s, pytest.raises(SpecError) as caught:
        analyze(s, spec, segments=())
    assert "metric_definitions.m.numerator.filter.brand: column 'brand' holds text" in str(
        caught.value
    )


def test_the_sql_of_filters_windows_and_ranking_is_portable_to_warehouses() -> None:
    import sqlglot

    from abtest.analysis import sql

    spec = make_spec(
        {
            "filtered": {
                "kind": "ratio",
                "numerator": {"event": "purchase", "filter": CASES[-5][0]},
                "denominator": {"event": "tap", "filter": {"brand": {"$nin": ["a", None]}}},
            },
            "windowed": {
                "kind": "mean",
                "numerator": {"event": "purchase", "aggregate": "sum"},
                "window": {"delay": "1h", "within": "2d"},
            },
            "ndcg": {"kind": "ndcg", "k": 10},
            "mrr": {"kind": "mrr", "ranking": {"gains": {"tap": 1, "purchase": 3}}},
            "taps": {"kind": "tap_position"},
            "q": {
                "kind": "quantile",
                "quantile": 0.5,
                "over": "event",
                "numerator": {"event": "purchase", "aggregate": "sum", "filter": {"position": 1}},
            },
        },
        cuped_pre_period_days=2,
    )
    start, end = dt.datetime(2026, 3, 2), dt.datetime(2026, 3, 5)
    pre = start - dt.timedelta(days=2)
    queries = [
        sql.user_totals_sql(spec, start, end, pre),
        sql.recounted_totals_sql(spec, start, end, pre),
        sql.user_days_sql(spec, start, end, pre, late_users=True),
        sql.quantile_events_sql(spec.metric("q"), start, end),
        sql.open_window_sql([spec.metric("windowed")], end),
    ]
    for query in queries:
        text = query if isinstance(query, str) else query.sql
        for dialect in ("postgres", "spark", "snowflake", "bigquery"):
            out = sqlglot.transpile(
                text, read="duckdb", write=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE
            )
            assert out and out[0]
