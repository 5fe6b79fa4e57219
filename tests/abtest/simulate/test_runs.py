"""The record of runs: each run's events found by its exact prefix (or, for version 1, the
exact shape of its ids), never another key's."""

from __future__ import annotations

from pathlib import Path

import pytest

from abtest.simulate.traffic import SimulationError, TrafficConfig, simulate_traffic
from abtest.store import Store
from tests.abtest.simulate.traffic_builders import analysed, joint_spec, table, users_events


def test_simulating_one_key_never_deletes_another_keys_events(db: Path) -> None:
    """Keys that extend another (exp, exp-v2) or hold LIKE's wildcard (exp_v2) used to
    match another experiment's events by pattern, and delete them."""
    others = {
        "exp-v2": joint_spec("exp-v2", start="2026-04-06", end="2026-04-09"),
        "exp_v2": joint_spec("exp_v2", start="2026-05-04", end="2026-05-07"),
    }
    config = TrafficConfig(pre_days=0)
    simulate_traffic(db, others["exp-v2"], config)
    kept = users_events(db, "exp-v2", "2026-04-01", "2026-05-01")
    result = analysed(db, others["exp-v2"])
    exp = joint_spec("exp")
    simulate_traffic(db, exp, config)
    simulate_traffic(db, exp, config, replace=True)
    simulate_traffic(db, others["exp_v2"], config)
    simulate_traffic(db, others["exp_v2"], config, replace=True)
    assert users_events(db, "exp-v2", "2026-04-01", "2026-05-01").equals(kept)
    assert analysed(db, others["exp-v2"]) == result
    runs = table(db, "SELECT experiment, events FROM simulation_runs ORDER BY run_id")
    assert runs["experiment"].to_list() == ["exp-v2", "exp", "exp_v2"]
    stored = table(db, "SELECT count(*) AS n FROM events")["n"][0]
    assert stored == runs["events"].sum()


def test_replace_keeps_the_run_number_and_replaces_exactly_its_events(db: Path) -> None:
    first = simulate_traffic(db, joint_spec("looks-a"), TrafficConfig(pre_days=0))
    again = simulate_traffic(
        db, joint_spec("looks-a"), TrafficConfig(pre_days=0, seed=5), replace=True
    )
    assert again.run_id == first.run_id == 1
    stored = table(db, "SELECT count(*) AS n, min(event_id) AS id FROM events").row(0)
    assert stored[0] == again.events_written and stored[1].startswith("sim-1-")


def test_a_simulation_by_the_previous_version_is_replaced_exactly(db: Path) -> None:
    """Version 1 kept no record and wrote ids x-KEY-DAY-N (p- before the start): its
    events are found by that exact shape, never another key's."""
    config = TrafficConfig(pre_days=1)
    for s in (joint_spec("exp"), joint_spec("exp-v2", start="2026-04-06", end="2026-04-09")):
        simulate_traffic(db, s, config)
    with Store(db) as store:  # what version 1 left behind
        store.con.execute(
            "UPDATE events SET event_id = (CASE WHEN ts < TIMESTAMP '2026-03-02' OR "
            "(ts >= TIMESTAMP '2026-04-05' AND ts < TIMESTAMP '2026-04-06') THEN 'p-' ELSE 'x-' "
            "END) || (CASE WHEN ts < TIMESTAMP '2026-04-01' THEN 'exp' ELSE 'exp-v2' END) "
            "|| substr(event_id, 6)"
        )
        store.con.execute("DROP TABLE simulation_runs")
    kept = users_events(db, "exp-v2", "2026-04-01", "2026-05-01")
    with pytest.raises(SimulationError, match="pass --replace"):
        simulate_traffic(db, joint_spec("exp"), config)
    simulate_traffic(db, joint_spec("exp"), config, replace=True)
    assert users_events(db, "exp-v2", "2026-04-01", "2026-05-01").equals(kept)
    ids = table(db, "SELECT event_id FROM events WHERE ts < TIMESTAMP '2026-04-01'")["event_id"]
    assert ids.str.starts_with("sim-").all()


def test_a_database_from_before_view_id_is_analysed_and_simulated_into(db: Path) -> None:
    """Events stored without ``view_id`` analyse as before (read-only, the column missing);
    a run into the database adds the column, null for them and set for its own events."""
    exp = joint_spec("exp")
    simulate_traffic(db, exp, TrafficConfig(pre_days=0))
    result = analysed(db, exp)
    with Store(db) as store:  # what the version before view_id left behind
        store.con.execute("ALTER TABLE events DROP COLUMN view_id")
    assert "view_id" not in table(db, "SELECT * FROM events LIMIT 1").columns
    assert analysed(db, exp) == result
    later = joint_spec("exp-later", start="2026-04-06", end="2026-04-09")
    simulate_traffic(db, later, TrafficConfig(pre_days=0))
    assert analysed(db, exp) == result
    ids = table(
        db,
        "SELECT substr(event_id, 1, 6) AS run, count(view_id) AS views, count(*) AS n "
        "FROM events GROUP BY run ORDER BY run",
    )
    assert ids["run"].to_list() == ["sim-1-", "sim-2-"]
    assert ids["views"][0] == 0 and 0 < ids["views"][1] < ids["n"][1]  # organic: none
