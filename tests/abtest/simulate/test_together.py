"""Concurrent experiments on one stream of traffic: each as it would be alone, and refused
when two could hold the same user on a day."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import pytest

from abtest.simulate.traffic import (
    SimulationError,
    TrafficConfig,
    simulate_experiments,
    simulate_traffic,
)
from tests.abtest.simulate.traffic_builders import (
    JOINT,
    analysed,
    copies,
    joint_spec,
    spec,
    table,
    users_events,
)


@pytest.mark.parametrize(
    ("b_start", "b_end"),
    [("2026-03-02", "2026-03-06"), ("2026-03-04", "2026-03-09")],
    ids=["same-dates", "b-pre-period-during-a"],
)
def test_two_experiments_simulated_together_analyse_as_each_would_alone(
    db: Path, tmp_path: Path, b_start: str, b_end: str
) -> None:
    """One stream of traffic: A simulated with B gets exactly the views, exposures,
    events, truth and analysis it gets alone (only its event ids differ), and each
    user sees one experiment's module; also when B's pre-period falls in A's days."""
    a, b = joint_spec("looks-a"), joint_spec("looks-b", 0.5, 1.0, start=b_start, end=b_end)
    config = TrafficConfig(
        pre_days=2,
        traffic=3,
        bots=2,
        drop_exposures={"looks-a:treatment": 0.2},
        module_failures={"looks-a:treatment": 0.1, "looks-b:control": 0.3},
    )
    alone_a, alone_b, joint = copies(db, tmp_path, "a.duckdb", "b.duckdb", "joint.duckdb")
    a_alone = simulate_traffic(
        alone_a, a, dataclasses.replace(config, module_failures={"treatment": 0.1})
    )
    b_alone = simulate_traffic(
        alone_b, b, dataclasses.replace(config, drop_exposures={}, module_failures={"control": 0.3})
    )
    run = simulate_experiments(joint, [a, b], config)
    together = {s.experiment: s for s in run.experiments}

    for alone, s, summary in ((alone_a, a, a_alone), (alone_b, b, b_alone)):
        sql = f"SELECT * FROM exposures WHERE experiment = '{s.key}' ORDER BY ALL"
        assert table(alone, sql).equals(table(joint, sql))
        # Within the days A alone simulates (the joint run covers B's days too).
        assert s.schedule is not None
        days = (
            f"{s.schedule.start - dt.timedelta(days=2):%Y-%m-%d}",
            f"{s.schedule.end:%Y-%m-%d}",
        )
        assert users_events(alone, s.key, *days).equals(users_events(joint, s.key, *days))
        assert together[s.key].truth == summary.truth
        assert together[s.key].exposed == summary.exposed
        assert analysed(alone, s) == analysed(joint, s)
    # Users are simulated once: the joint run has one stream, not two.
    assert run.events_written < a_alone.events_written + b_alone.events_written
    shared = table(
        joint,
        "SELECT count(DISTINCT user_id) AS n FROM exposures GROUP BY user_id "
        "HAVING count(DISTINCT experiment) > 1",
    )
    assert shared.height == 0
    runs = table(joint, "SELECT * FROM simulation_runs ORDER BY experiment")
    assert runs["experiment"].to_list() == ["looks-a", "looks-b"]
    assert set(runs["event_prefix"]) == {run.event_prefix}
    assert table(
        joint, "SELECT count(*) AS n FROM truth_experiments GROUP BY experiment ORDER BY 1"
    )["n"].to_list() == [2, 2]


@pytest.mark.parametrize(
    ("b_text", "message"),
    [
        (JOINT.replace("namespace: {{name: looks, range: [{lo}, {hi}]}}\n", ""), "no namespace"),
        (JOINT.replace("name: looks", "name: other"), "are hashed apart"),
        (JOINT.replace("[{lo}, {hi}]", "[0.4, 1]"), "[0, 0.5) and [0.4, 1) of namespace"),
        (JOINT.replace("encoder: base", "encoder: better"), "different first variants"),
    ],
)
def test_experiments_that_cannot_share_one_stream_are_refused(
    db: Path, b_text: str, message: str
) -> None:
    a = joint_spec("looks-a")
    b = spec(
        b_text.format(key="looks-b", lo=0.5, hi=1.0, k=5, start="2026-03-02", end="2026-03-06")
    )
    with pytest.raises(SimulationError, match=re.escape(message)):
        simulate_experiments(db, [a, b], TrafficConfig(pre_days=0))
    assert table(db, "SELECT count(*) AS n FROM events")["n"][0] == 0


def test_a_forced_user_in_two_experiments_is_refused(db: Path) -> None:
    user = table(db, "SELECT min(user_id) AS u FROM users")["u"][0]
    a = joint_spec("looks-a").model_copy(update={"forced": {user: "treatment"}})
    b = joint_spec("looks-b", 0.5, 1.0).model_copy(update={"forced": {user: "control"}})
    with pytest.raises(SimulationError, match=f"user '{user}' would be in both"):
        simulate_experiments(db, [a, b], TrafficConfig(pre_days=0))
