"""The day loop: views served by the real assignment, the same traffic for the same seed,
the pre-period, A/A, novelty, forced users, and the widest module's layout."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from abtest.assignment import Assigner
from abtest.simulate.traffic import TrafficConfig, simulate_experiments, simulate_traffic
from tests.abtest.simulate.traffic_builders import copies, joint_spec, spec, table, users_events


def test_exposures_follow_the_real_assignment(db: Path) -> None:
    s = spec()
    summary = simulate_traffic(db, s, TrafficConfig(pre_days=0))
    exposures = table(db, "SELECT * FROM exposures")
    first = exposures.group_by("user_id").agg(pl.col("variant").unique())
    assert (first["variant"].list.len() == 1).all()  # a user never changes variant
    users = table(db, "SELECT * FROM users ORDER BY user_id")
    batch = Assigner(s).assign_frame(users).to_frame()
    joined = first.explode("variant").join(batch, on="user_id", suffix="_assigned")
    assert (joined["variant"] == joined["variant_assigned"]).all()
    assert sum(summary.exposed.values()) == first.height
    assert exposures["ts"].min() >= dt.datetime(2026, 3, 2)
    assert exposures["ts"].max() < dt.datetime(2026, 3, 9)
    per_day = exposures.group_by("user_id", pl.col("ts").dt.date()).len()
    assert (per_day["len"] == 1).all()  # one exposure per user and day


def test_split_is_within_binomial_tolerance(db: Path) -> None:
    s = spec().model_copy(
        update={
            "variants": [
                spec().variants[0].model_copy(update={"weight": 0.3}),
                spec().variants[1].model_copy(update={"weight": 0.7}),
            ]
        }
    )
    summary = simulate_traffic(db, s, TrafficConfig(pre_days=0, traffic=3))
    n = sum(summary.exposed.values())
    share = summary.exposed["treatment"] / n
    assert abs(share - 0.7) < 4 * np.sqrt(0.7 * 0.3 / n)


def test_same_seed_same_traffic(db: Path, tmp_path: Path) -> None:
    import shutil

    other = tmp_path / "other.duckdb"
    shutil.copy(db, other)
    simulate_traffic(db, spec(), TrafficConfig(days=3, pre_days=2))
    simulate_traffic(other, spec(), TrafficConfig(days=3, pre_days=2))
    for sql in ("SELECT * FROM events ORDER BY event_id", "SELECT * FROM exposures ORDER BY ALL"):
        assert table(db, sql).equals(table(other, sql))


def test_aa_serves_the_same_encoder_everywhere(db: Path) -> None:
    summary = simulate_traffic(db, spec(), TrafficConfig(pre_days=0, aa=True))
    control, treatment = summary.truth
    assert control.encoder == treatment.encoder == "base"
    assert control.tap_rate == treatment.tap_rate
    assert summary.true_lift("tap_rate", "treatment") == 0.0


def test_pre_period_has_events_but_no_exposures(db: Path) -> None:
    simulate_traffic(db, spec(), TrafficConfig(days=2, pre_days=3))
    pre = table(
        db,
        "SELECT min(ts) AS first, max(ts) AS last, count(*) AS n FROM events "
        "WHERE ts < TIMESTAMP '2026-03-02'",
    ).row(0, named=True)
    assert pre["n"] > 0
    assert pre["first"] >= dt.datetime(2026, 2, 27)
    assert table(db, "SELECT min(ts) AS t FROM exposures")["t"][0] >= dt.datetime(2026, 3, 2)


def test_novelty_raises_early_taps_of_the_new_encoder_only(db: Path) -> None:
    plain = simulate_traffic(db, spec(), TrafficConfig(days=3, pre_days=0))
    novel = simulate_traffic(
        db, spec(), TrafficConfig(days=3, pre_days=0, novelty=0.5), replace=True
    )
    assert novel.truth[0].tap_rate == pytest.approx(plain.truth[0].tap_rate)
    assert novel.truth[1].tap_rate > 1.15 * plain.truth[1].tap_rate


def test_forced_users_are_served_but_never_exposures(db: Path) -> None:
    users = table(db, "SELECT user_id FROM users ORDER BY user_id")["user_id"].to_list()
    forced = {users[0]: "treatment", users[1]: "control"}
    simulate_traffic(db, spec(forced=forced), TrafficConfig(days=3, pre_days=0, traffic=5))
    exposed = set(table(db, "SELECT DISTINCT user_id FROM exposures")["user_id"])
    assert not exposed & set(forced)
    assert table(db, f"SELECT count(*) AS n FROM events WHERE user_id = '{users[0]}'")["n"][0] > 0


def test_a_wider_module_elsewhere_changes_taps_but_not_views_or_exposures(
    db: Path, tmp_path: Path
) -> None:
    """The strongest true statement when another experiment shows more items than A's
    widest variant: the tap and purchase draws of a view are laid out by the run's widest
    module, so A's exposures and impressions are the same but its taps are redrawn."""
    a, b = joint_spec("looks-a"), joint_spec("looks-b", 0.5, 1.0, k=12)
    alone, joint = copies(db, tmp_path, "a.duckdb", "joint.duckdb")
    config = TrafficConfig(pre_days=0, traffic=3)
    simulate_traffic(alone, a, config)
    simulate_experiments(joint, [a, b], config)
    sql = "SELECT * FROM exposures WHERE experiment = 'looks-a' ORDER BY ALL"
    assert table(alone, sql).equals(table(joint, sql))
    impressions = (
        "SELECT e.* EXCLUDE (event_id) FROM events e JOIN (SELECT DISTINCT user_id FROM "
        "exposures WHERE experiment = 'looks-a') USING (user_id) "
        "WHERE event_type = 'impression' ORDER BY ALL"
    )
    assert table(alone, impressions).equals(table(joint, impressions))
    assert not users_events(alone, "looks-a").equals(users_events(joint, "looks-a"))
