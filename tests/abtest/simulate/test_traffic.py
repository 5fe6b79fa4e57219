"""Simulated experiment traffic: bucketing, serving, truth, and the fault injections."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
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
        WHERE e.ts >= TIMESTAMP '2026-03-02'
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
        "WHERE ts < TIMESTAMP '2026-03-02'",
    ).row(0, named=True)
    assert pre["n"] > 0
    assert pre["first"] >= dt.datetime(2026, 2, 27)
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


# --- concurrent experiments: one stream of traffic; nothing stored is lost ---------------

JOINT = """
key: {key}
seed: {key}-seed
namespace: {{name: looks, range: [{lo}, {hi}]}}
variants:
  - {{name: control, weight: 0.5, encoder: base, params: {{k: 5}}}}
  - {{name: treatment, weight: 0.5, encoder: better, params: {{k: {k}}}}}
metrics:
  primary: [ctr]
  secondary: [taps, purchases]
metric_definitions:
  ctr: {{kind: ratio, numerator: tap, denominator: impression}}
  taps: {{kind: mean, numerator: tap}}
  purchases: {{kind: mean, numerator: purchase}}
analysis: {{cuped_pre_period_days: 2}}
schedule: {{start: {start}, end: {end}}}
"""


def joint_spec(
    key: str,
    lo: float = 0.0,
    hi: float = 0.5,
    *,
    k: int = 5,
    start: str = "2026-03-02",
    end: str = "2026-03-06",
) -> ExperimentSpec:
    return spec(JOINT.format(key=key, lo=lo, hi=hi, k=k, start=start, end=end))


def copies(db: Path, tmp_path: Path, *names: str) -> list[Path]:
    import shutil

    out = []
    for name in names:
        shutil.copy(db, tmp_path / name)
        out.append(tmp_path / name)
    return out


def analysed(db: Path, s: ExperimentSpec) -> str:
    from abtest.analysis import analyze

    with Store(db, read_only=True) as store:
        return analyze(store, s).to_json()


def users_events(
    db: Path, experiment: str, since: str = "2026-01-01", until: str = "2027-01-01"
) -> pl.DataFrame:
    """The events of an experiment's exposed users in [since, until), without their ids
    (which name the run)."""
    return table(
        db,
        "SELECT e.* EXCLUDE (event_id) FROM events e WHERE e.user_id IN "
        f"(SELECT user_id FROM exposures WHERE experiment = '{experiment}') "
        f"AND e.ts >= TIMESTAMP '{since}' AND e.ts < TIMESTAMP '{until}' ORDER BY ALL",
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
    from abtest.simulate.traffic import simulate_experiments

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


def test_a_wider_module_elsewhere_changes_taps_but_not_views_or_exposures(
    db: Path, tmp_path: Path
) -> None:
    """The strongest true statement when another experiment shows more items than A's
    widest variant: the tap and purchase draws of a view are laid out by the run's widest
    module, so A's exposures and impressions are the same but its taps are redrawn."""
    from abtest.simulate.traffic import simulate_experiments

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


def test_replacing_part_of_a_joint_run_is_refused(db: Path) -> None:
    from abtest.simulate.traffic import simulate_experiments

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
    from abtest.simulate.traffic import simulate_experiments

    a = joint_spec("looks-a")
    b = spec(
        b_text.format(key="looks-b", lo=0.5, hi=1.0, k=5, start="2026-03-02", end="2026-03-06")
    )
    with pytest.raises(SimulationError, match=re.escape(message)):
        simulate_experiments(db, [a, b], TrafficConfig(pre_days=0))
    assert table(db, "SELECT count(*) AS n FROM events")["n"][0] == 0


def test_a_forced_user_in_two_experiments_is_refused(db: Path) -> None:
    from abtest.simulate.traffic import simulate_experiments

    user = table(db, "SELECT min(user_id) AS u FROM users")["u"][0]
    a = joint_spec("looks-a").model_copy(update={"forced": {user: "treatment"}})
    b = joint_spec("looks-b", 0.5, 1.0).model_copy(update={"forced": {user: "control"}})
    with pytest.raises(SimulationError, match=f"user '{user}' would be in both"):
        simulate_experiments(db, [a, b], TrafficConfig(pre_days=0))


def test_fault_options_name_the_experiment_when_several_have_the_variant(db: Path) -> None:
    from abtest.simulate.traffic import simulate_experiments

    a, b = joint_spec("looks-a"), joint_spec("looks-b", 0.5, 1.0)
    with pytest.raises(
        SimulationError, match=re.escape("name the experiment too, e.g. looks-a:treatment")
    ):
        simulate_experiments(db, [a, b], TrafficConfig(drop_exposures={"treatment": 0.1}))
    with pytest.raises(SimulationError, match="'nope' is not an experiment"):
        simulate_experiments(db, [a, b], TrafficConfig(module_failures={"nope:control": 0.1}))


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


def test_stored_bots_do_not_shift_the_users_of_a_later_run(db: Path) -> None:
    """Bots an earlier run stored sort before the world's users: users are matched by id."""
    s = spec()
    simulate_traffic(db, s, TrafficConfig(days=1, pre_days=0, bots=3))
    simulate_traffic(db, s, TrafficConfig(days=2, pre_days=0, traffic=3), replace=True)
    exposures = table(db, "SELECT DISTINCT user_id, variant FROM exposures")
    users = table(db, "SELECT * FROM users WHERE user_id NOT LIKE 'bot%' ORDER BY user_id")
    batch = Assigner(s).assign_frame(users).to_frame()
    joined = exposures.join(batch, on="user_id", suffix="_assigned")
    assert joined.height == exposures.height > 0
    assert (joined["variant"] == joined["variant_assigned"]).all()
