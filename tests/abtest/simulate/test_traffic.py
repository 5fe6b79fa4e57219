"""Simulated experiment traffic: bucketing, serving, truth, and the fault injections."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from abtest.assignment import Assigner
from abtest.simulate.traffic import SimulationError, TrafficConfig, simulate_traffic
from abtest.spec import ExperimentSpec, parse_spec
from abtest.store import Store
from tests.conftest import write_toy_neighbors

SPEC = """
key: toy-exp
seed: toy
variants:
  - {name: control, weight: 0.5, encoder: base, params: {k: 5}}
  - {name: treatment, weight: 0.5, encoder: better, params: {k: 5}}
metrics:
  primary: [taps]
metric_definitions:
  taps: {kind: mean, numerator: tap}
schedule: {start: 2026-03-02, end: 2026-03-09}
"""


def spec(text: str = SPEC, **changes: object) -> ExperimentSpec:
    parsed = parse_spec(yaml.safe_load(text))
    return parsed.model_copy(update=changes) if changes else parsed


@pytest.fixture(scope="module")
def served_world(small_world, tmp_path_factory) -> Path:
    """The small world with two encoders' neighbors: 'better' matches colour too."""
    import shutil

    folder = tmp_path_factory.mktemp("served")
    db = folder / small_world.db.name
    shutil.copy(small_world.db, db)
    write_toy_neighbors(db, "base", match="category")
    write_toy_neighbors(db, "better", match="colour")
    return db


@pytest.fixture()
def db(served_world: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "world.duckdb"
    shutil.copy(served_world, copy)
    return copy


def table(db: Path, sql: str) -> pl.DataFrame:
    with Store(db, read_only=True) as store:
        return store.query(sql)


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


def test_truth_comes_from_the_model_and_matches_what_is_observed(db: Path) -> None:
    summary = simulate_traffic(db, spec(), TrafficConfig(pre_days=0, traffic=4))
    observed = table(
        db,
        """
        SELECT x.variant,
               count(*) FILTER (WHERE e.event_type = 'tap') AS taps,
               count(*) FILTER (WHERE e.event_type = 'impression') AS impressions
        FROM events e
        JOIN (SELECT user_id, any_value(variant) AS variant FROM exposures GROUP BY 1) x
          USING (user_id)
        WHERE e.event_id LIKE 'x-%'
        GROUP BY 1
        """,
    )
    truth = {t.variant: t for t in summary.truth}
    assert truth["treatment"].tap_rate > truth["control"].tap_rate  # colour matches help
    for row in observed.iter_rows(named=True):
        rate = row["taps"] / row["impressions"]
        expected = truth[row["variant"]].tap_rate
        # Within 15%: the arms hold different users than the whole exposed population.
        assert rate == pytest.approx(expected, rel=0.15)
    stored = table(db, "SELECT * FROM truth_experiments WHERE experiment = 'toy-exp'")
    assert stored.height == 2


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
        "WHERE event_id LIKE 'p-%'",
    ).row(0, named=True)
    assert pre["n"] > 0
    assert pre["first"] >= dt.datetime(2026, 2, 27) and pre["last"] < dt.datetime(2026, 3, 2)
    assert table(db, "SELECT min(ts) AS t FROM exposures")["t"][0] >= dt.datetime(2026, 3, 2)


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


def test_bots_browse_and_tap_far_more_than_people(db: Path) -> None:
    simulate_traffic(db, spec(), TrafficConfig(days=2, pre_days=0, bots=3))
    per_user = table(
        db,
        "SELECT user_id LIKE 'bot%' AS bot, count(*) FILTER (WHERE event_type = 'tap') AS taps "
        "FROM events GROUP BY user_id",
    )
    bots = per_user.filter(pl.col("bot"))
    assert bots.height == 3
    assert bots["taps"].min() > 20 * per_user.filter(~pl.col("bot"))["taps"].mean()
    assert table(db, "SELECT count(*) AS n FROM users WHERE user_id LIKE 'bot%'")["n"][0] == 3


def test_novelty_raises_early_taps_of_the_new_encoder_only(db: Path) -> None:
    plain = simulate_traffic(db, spec(), TrafficConfig(days=3, pre_days=0))
    novel = simulate_traffic(
        db, spec(), TrafficConfig(days=3, pre_days=0, novelty=0.5), replace=True
    )
    assert novel.truth[0].tap_rate == pytest.approx(plain.truth[0].tap_rate)
    assert novel.truth[1].tap_rate > 1.15 * plain.truth[1].tap_rate


def test_bad_settings(db: Path) -> None:
    with pytest.raises(SimulationError, match="no neighbors for encoder 'missing'"):
        bad = spec(SPEC.replace("encoder: better", "encoder: missing"))
        simulate_traffic(db, bad, TrafficConfig(days=1))
    with pytest.raises(SimulationError, match="more than the world's"):
        simulate_traffic(db, spec(), TrafficConfig(users=10**6))
    with pytest.raises(SimulationError, match="unknown variant"):
        simulate_traffic(db, spec(), TrafficConfig(drop_exposures={"nope": 0.1}))
    simulate_traffic(db, spec(), TrafficConfig(days=1, pre_days=0))
    with pytest.raises(SimulationError, match="pass --replace"):
        simulate_traffic(db, spec(), TrafficConfig(days=1))


def test_forced_users_are_served_but_never_exposures(db: Path) -> None:
    users = table(db, "SELECT user_id FROM users ORDER BY user_id")["user_id"].to_list()
    forced = {users[0]: "treatment", users[1]: "control"}
    simulate_traffic(db, spec(forced=forced), TrafficConfig(days=3, pre_days=0, traffic=5))
    exposed = set(table(db, "SELECT DISTINCT user_id FROM exposures")["user_id"])
    assert not exposed & set(forced)
    assert table(db, f"SELECT count(*) AS n FROM events WHERE user_id = '{users[0]}'")["n"][0] > 0
