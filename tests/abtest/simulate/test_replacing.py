"""Nothing stored is lost: dates that hold other traffic, and part of a joint run, are refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from abtest.simulate.traffic import (
    SimulationError,
    TrafficConfig,
    simulate_experiments,
    simulate_traffic,
)
from abtest.store import Store
from tests.abtest.simulate.traffic_builders import joint_spec, table


def test_a_second_experiment_on_the_same_dates_is_refused(db: Path) -> None:
    """Simulated one after the other, B's traffic would be a second stream for every user
    (A's analysis would read doubled events): refused, naming A, and nothing written."""
    simulate_traffic(db, joint_spec("looks-a"), TrafficConfig(pre_days=0))
    before = table(db, "SELECT count(*) AS n FROM events")["n"][0]
    for replace in (False, True):
        with pytest.raises(
            SimulationError, match="already hold the traffic simulated for 'looks-a'"
        ):
            simulate_traffic(
                db, joint_spec("looks-b", 0.5, 1.0), TrafficConfig(pre_days=0), replace=replace
            )
    assert table(db, "SELECT count(*) AS n FROM events")["n"][0] == before
    assert (
        table(db, "SELECT count(*) AS n FROM exposures WHERE experiment = 'looks-b'")["n"][0] == 0
    )
    # A pre-period that reaches into stored traffic overlaps it too.
    with pytest.raises(SimulationError, match="2026-03-04 to 2026-03-09"):
        simulate_traffic(
            db,
            joint_spec("looks-b", 0.5, 1.0, start="2026-03-06", end="2026-03-10"),
            TrafficConfig(pre_days=2),
        )
    # Dates of their own are fine.
    later = joint_spec("looks-b", 0.5, 1.0, start="2026-03-06", end="2026-03-10")
    simulate_traffic(db, later, TrafficConfig(pre_days=0))


def test_events_that_no_simulation_wrote_are_never_mixed_with(db: Path) -> None:
    with Store(db) as store:
        store.ingest(
            "events",
            pl.DataFrame(
                {
                    "event_id": ["real-1"],
                    "ts": [dt.datetime(2026, 3, 3, 12)],
                    "user_id": ["u0000001"],
                    "event_type": ["impression"],
                }
            ),
        )
    for replace in (False, True):
        with pytest.raises(
            SimulationError, match="1 events from 2026-03-02 to 2026-03-05 were not"
        ):
            simulate_traffic(db, joint_spec("looks-a"), TrafficConfig(pre_days=0), replace=replace)
    assert table(db, "SELECT count(*) AS n FROM events")["n"][0] == 1


def test_replacing_part_of_a_joint_run_is_refused(db: Path) -> None:
    a, b = joint_spec("looks-a"), joint_spec("looks-b", 0.5, 1.0)
    simulate_experiments(db, [a, b], TrafficConfig(pre_days=0))
    before = table(db, "SELECT count(*) AS n FROM events")["n"][0]
    with pytest.raises(SimulationError, match="'looks-a' was simulated together with 'looks-b'"):
        simulate_traffic(db, a, TrafficConfig(pre_days=0), replace=True)
    with pytest.raises(SimulationError, match="pass --replace"):
        simulate_experiments(db, [b, a], TrafficConfig(pre_days=0))
    assert table(db, "SELECT count(*) AS n FROM events")["n"][0] == before
    run = simulate_experiments(db, [b, a], TrafficConfig(pre_days=0, seed=3), replace=True)
    assert run.replaced == ("the earlier run 1 ('looks-a', 'looks-b')",)
    assert table(db, "SELECT count(*) AS n FROM events")["n"][0] == run.events_written
