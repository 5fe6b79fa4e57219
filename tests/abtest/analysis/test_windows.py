"""Metric windows after each user's first exposure: per-user values equal polars.

Events count when ``exposed_at + delay <= ts < exposed_at + delay + within`` and
before the analysis' end. The handmade store has events exactly at every bound
(and a microsecond off), users exposed twice, before the start, near the end
(their window still open: counted with what they did so far), and users with
events before their exposure.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from abtest.analysis import analyze
from abtest.analysis.moments import metric_moments
from abtest.spec import SpecError, parse_spec
from abtest.store import Store
from tests.abtest.analysis.handmade import (
    END,
    START,
    assert_days_add_up,
    at,
    first_exposures,
    make_spec,
    make_store,
    staged_values,
)

US = dt.timedelta(microseconds=1)
H = dt.timedelta(hours=1)
WINDOWS: dict[str, tuple[dict[str, Any], tuple[float, float], pl.Expr]] = {
    # metric: (definition, (delay, within) in hours, which purchases it reads)
    "within_24h": ({"numerator": "purchase"}, (0, 24), pl.lit(True)),
    "revenue_2h_6h": (
        {"numerator": {"event": "purchase", "aggregate": "sum"}},
        (2, 6),
        pl.lit(True),
    ),
    "module_30m_1d": (
        {"numerator": {"event": "purchase", "filter": {"source_item_id": {"$exists": True}}}},
        (0.5, 24),
        pl.col("source_item_id").is_not_null(),
    ),
    "within_1w": ({"numerator": "purchase"}, (0, 168), pl.lit(True)),
}
EXPOSURES = [
    ("u0", "control", at(1)),
    ("u0", "control", at(30)),  # a later exposure: the window runs from the first
    ("u1", "treatment", at(2)),
    ("u2", "control", at(70)),  # exposed 2 h before the end: every window still open
    ("u3", "treatment", at(10)),  # events on every bound
    ("u4", "control", at(71.75)),  # a delayed window opens after the end
    ("u5", "treatment", at(5)),  # events before the exposure
    ("u6", "control", START - 5 * H),  # exposed before the start, then in it
    ("u6", "control", at(20)),
    ("u7", "treatment", at(3)),  # no events at all
]


def _events() -> list[dict[str, Any]]:
    rng = random.Random(11)
    bounds = [at(10) + d for d in (0 * H, 24 * H - US, 24 * H, 2 * H - US, 2 * H, 8 * H - US)]
    bounds += [at(10) + d for d in (8 * H, 0.5 * H - US, 0.5 * H, 24.5 * H - US, 24.5 * H)]
    events = [
        {"ts": t, "user_id": "u3", "event_type": "purchase", "source_item_id": 1, "value": 1.0}
        for t in bounds
    ]
    events += [
        {
            "ts": at(rng.uniform(-24, 80)),
            "user_id": rng.choice(["u0", "u1", "u2", "u4", "u5", "u6"]),
            "event_type": rng.choice(["purchase", "purchase", "tap"]),
            "source_item_id": None if rng.random() < 0.4 else 2,
            "value": round(rng.uniform(1, 50), 2),
        }
        for _ in range(300)
    ]
    events.append({"ts": at(71.999), "user_id": "u2", "event_type": "purchase", "value": 3.0})
    return events


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame]:
    events = _events()
    db = make_store(tmp_path_factory.mktemp("windows") / "w.duckdb", EXPOSURES, events)
    return db, pl.DataFrame(events, infer_schema_length=None)


def _spec(**analysis: Any) -> Any:
    definitions = {
        name: {
            "kind": "mean",
            **definition,
            "window": {"delay": f"{int(delay * 60)}m", "within": f"{int(within)}h"},
        }
        for name, (definition, (delay, within), _) in WINDOWS.items()
    }
    definitions["all_purchases"] = {"kind": "mean", "numerator": "purchase"}
    return make_spec(definitions, **analysis)


def _reference(events: pl.DataFrame, end: dt.datetime) -> pl.DataFrame:
    """Per exposed user and windowed metric, the count or value sum in the window."""
    first = first_exposures(EXPOSURES, end)
    joined = events.join(first, on="user_id").filter(pl.col("event_type") == "purchase")
    out = first
    for name, (definition, (delay, within), keep) in WINDOWS.items():
        opens = pl.col("exposed_at") + pl.duration(minutes=int(delay * 60))
        closes = opens + pl.duration(hours=within)
        inside = joined.filter((pl.col("ts") >= opens) & (pl.col("ts") < closes))
        inside = inside.filter((pl.col("ts") < end) & keep)
        summed = definition["numerator"] != "purchase" and "aggregate" in definition["numerator"]
        value = pl.col("value").sum() if summed else pl.len()
        per_user = inside.group_by("user_id").agg(value.cast(pl.Float64).alias(name))
        out = out.join(per_user, on="user_id", how="left")
    return out.fill_null(0).sort("user_id")


@pytest.mark.parametrize("end", [END, at(40)], ids=["schedule", "as-of"])
def test_windowed_values_equal_polars_on_the_raw_events(store, end: dt.datetime) -> None:
    db, events = store
    staging = staged_values(db, _spec(), end=end)
    expected = _reference(events, end)
    assert staging.per_user["user_id"].to_list() == expected["user_id"].to_list()
    for name in WINDOWS:
        got = staging.per_user[f"{name}__x"].to_list()
        assert got == pytest.approx(expected[name].to_list(), abs=1e-9), name
    assert_days_add_up(staging)


def test_events_on_the_bounds_count_from_the_opening_up_to_the_closing(store) -> None:
    db, _ = store
    u3 = staged_values(db, _spec()).per_user.filter(pl.col("user_id") == "u3").row(0, named=True)
    # [0, 24 h): 0 and 24 h - 1 us count, 24 h does not; 8 of the 11 events
    assert u3["within_24h__x"] == 8
    # [2 h, 8 h): 2 h and 8 h - 1 us; not 2 h - 1 us nor 8 h (each purchase is worth 1)
    assert u3["revenue_2h_6h__x"] == 2
    # [30 min, 24 h 30 min): not 0, 30 min - 1 us nor 24 h 30 min
    assert u3["module_30m_1d__x"] == 8


def test_users_whose_window_is_still_open_are_counted_with_what_they_did_so_far(store) -> None:
    db, _ = store
    for end in (END, at(40)):
        staging = staged_values(db, _spec(), end=end)
        first = first_exposures(EXPOSURES, end)
        for name, (_, (delay, within), _) in WINDOWS.items():
            closes = pl.col("exposed_at") + pl.duration(minutes=int((delay + within) * 60))
            expected = first.filter(closes > end).height
            assert staging.staged.open_windows[name] == expected, (name, end)
        assert "all_purchases" not in staging.staged.open_windows
    u2 = staged_values(db, _spec()).per_user.filter(pl.col("user_id") == "u2")
    assert u2["within_24h__x"].item() >= 1  # the purchase a millisecond before the end


def test_windowed_metrics_are_never_cuped_adjusted(store) -> None:
    db, _ = store
    spec = _spec(cuped_pre_period_days=2)
    types = {mm.name: mm.metric_type for mm in metric_moments(spec, cuped=True)}
    assert types["all_purchases"] == "cuped_mean"
    assert {types[name] for name in WINDOWS} == {"mean"}
    with Store(db, read_only=True) as s:
        result = analyze(s, spec, segments=())
    assert {m.metric_type for m in result.metrics if m.name in WINDOWS} == {"mean"}
    data = {
        "key": "k",
        "variants": [{"name": "a"}, {"name": "b"}],
        "metrics": {"primary": ["w"]},
        "metric_definitions": {
            "w": {"kind": "mean", "numerator": "tap", "window": {"within": "1d"}, "cuped": True}
        },
        "analysis": {"cuped_pre_period_days": 7},
    }
    with pytest.raises(SpecError, match=r"metric_definitions\.w\.cuped: .*windowed metrics"):
        parse_spec(data)
