"""Who browses: bots, and the world's users matched to their attributes by id."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from abtest.assignment import Assigner
from abtest.simulate.traffic import TrafficConfig, simulate_traffic
from tests.abtest.simulate.traffic_builders import spec, table


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
