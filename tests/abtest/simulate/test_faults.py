"""Injected faults: dropped exposures, duplicated and late events, and naming a fault's variant."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from abtest.simulate.traffic import (
    SimulationError,
    TrafficConfig,
    simulate_experiments,
    simulate_traffic,
)
from tests.abtest.simulate.traffic_builders import joint_spec, spec, table


def test_dropped_exposures_shrink_one_variant(db: Path, tmp_path: Path) -> None:
    base = simulate_traffic(db, spec(), TrafficConfig(pre_days=0))
    faulty = simulate_traffic(
        db, spec(), TrafficConfig(pre_days=0, drop_exposures={"treatment": 0.4}), replace=True
    )
    assert faulty.exposed["control"] == base.exposed["control"]
    kept = faulty.exposed["treatment"] / base.exposed["treatment"]
    n = base.exposed["treatment"]
    assert abs(kept - 0.6) < 4 * np.sqrt(0.24 / n)


def test_duplicated_events_are_stored_once(db: Path) -> None:
    clean = simulate_traffic(db, spec(), TrafficConfig(days=2, pre_days=0))
    n_clean = table(db, "SELECT count(*) AS n FROM events")["n"][0]
    dup = simulate_traffic(
        db, spec(), TrafficConfig(days=2, pre_days=0, duplicate_events=0.05), replace=True
    )
    assert table(db, "SELECT count(*) AS n FROM events")["n"][0] == n_clean
    assert dup.duplicates_skipped == pytest.approx(0.05 * clean.events_written, rel=0.1)


def test_late_events_move_taps_and_purchases_later_only(db: Path, tmp_path: Path) -> None:
    simulate_traffic(db, spec(), TrafficConfig(days=3, pre_days=0))
    on_time = table(db, "SELECT event_id, event_type, ts FROM events")
    simulate_traffic(db, spec(), TrafficConfig(days=3, pre_days=0, late_events=0.3), replace=True)
    late = table(db, "SELECT event_id, ts AS late_ts FROM events")
    both = on_time.join(late, on="event_id")
    assert both.height == on_time.height
    moved = both.filter(pl.col("late_ts") != pl.col("ts"))
    assert (moved["late_ts"] > moved["ts"]).all()
    assert set(moved["event_type"]) <= {"tap", "purchase"}
    clicks = both.filter(pl.col("event_type") != "impression").height
    assert moved.height / clicks == pytest.approx(0.3, abs=0.05)


def test_fault_options_name_the_experiment_when_several_have_the_variant(db: Path) -> None:
    a, b = joint_spec("looks-a"), joint_spec("looks-b", 0.5, 1.0)
    with pytest.raises(
        SimulationError, match=re.escape("name the experiment too, e.g. looks-a:treatment")
    ):
        simulate_experiments(db, [a, b], TrafficConfig(drop_exposures={"treatment": 0.1}))
    with pytest.raises(SimulationError, match="'nope' is not an experiment"):
        simulate_experiments(db, [a, b], TrafficConfig(module_failures={"nope:control": 0.1}))
