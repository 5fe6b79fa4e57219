"""Day-by-day and per-segment breakdowns: cumulative to the overall result, partitions of
the users, equal to the engine on each segment."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from abtest.analysis import analyze
from abtest.stats import compare
from abtest.store import Store
from tests.abtest.analysis.builders import SPEC, make_spec, reference_stats, reference_values


def test_last_daily_point_is_the_overall_result(db: Path) -> None:
    with Store(db, read_only=True) as store:
        result = analyze(store, make_spec())
    for name in SPEC["metric_definitions"]:
        last = max((d for d in result.daily if d.metric == name), key=lambda d: d.day)
        overall = result.comparison(name).comparison
        assert last.lift == pytest.approx(overall.relative.estimate, rel=1e-9)
        assert last.lift_low == pytest.approx(overall.relative.ci_low, rel=1e-9)
        assert last.treatment_users == overall.treatment_n
    users = [d.control_users for d in result.daily if d.metric == "taps"]
    assert users == sorted(users)  # cumulative


def test_segments_partition_the_users(db: Path) -> None:
    with Store(db, read_only=True) as store:
        result = analyze(store, make_spec(), segments=["platform", "is_new"])
    for segment in ("platform", "is_new"):
        rows = [s for s in result.segments if s.segment == segment and s.metric == "taps"]
        assert sum(r.control_users for r in rows) == result.health.users["control"]
        assert sum(r.treatment_users for r in rows) == result.health.users["treatment"]


def test_segment_lifts_equal_the_engine_on_each_segment(db: Path) -> None:
    with Store(db, read_only=True) as store:
        result = analyze(store, make_spec(), segments=["country", "platform"], daily=False)
        users = store.query("SELECT user_id, platform, country FROM users")
    values = reference_values(db).join(users, on="user_id")
    checked = 0
    for point in result.segments:
        if point.metric not in ("taps", "tap_rate"):  # uncapped: no pooled cap to carry over
            continue
        part = values.filter(pl.col(point.segment) == point.value)
        control = reference_stats(part, "control", False)[point.metric]
        treatment = reference_stats(part, "treatment", False)[point.metric]
        expected = compare(control, treatment).relative
        assert point.lift == pytest.approx(expected.estimate, rel=1e-9, nan_ok=True)
        assert point.lift_low == pytest.approx(expected.ci_low, rel=1e-9, nan_ok=True)
        assert point.control_users == control.n
        checked += 1
    assert checked >= 8
