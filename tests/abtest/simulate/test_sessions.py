"""The events of a day's modules: ``view_id`` names each showing of the module, and adding
it left every other column of the simulated events exactly as it was."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from abtest.simulate.marketplace import Marketplace
from abtest.simulate.sessions import day_rng, draw_views, module_events, neighbor_matrix
from abtest.simulate.traffic import TrafficConfig, simulate_traffic
from abtest.store import Store
from tests.abtest.simulate.traffic_builders import joint_spec, spec, table

# sha256 of the CSV of the events without view_id, as the code wrote them before
# view_id existed (measured at 95a3b26, on the small world with the toy neighbors).
BEFORE_MODULE_EVENTS = "021f5332830c1896de557fe5b48001d6362dc956b824d6f25e6907c65cf5e7fd"
BEFORE_STORED_EVENTS = "36eab348feb1ef2e9d7016d582e2f7e32a83bb1acc5d042f940cd4b74686bca7"
FAULTY = TrafficConfig(days=3, pre_days=1, duplicate_events=0.05, late_events=0.1, seed=4)


def digest(frame: pl.DataFrame) -> str:
    return hashlib.sha256(frame.drop("view_id", strict=False).write_csv().encode()).hexdigest()


@pytest.fixture(scope="module")
def simulated(served_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy experiment's traffic with duplicated and late events, then a second run."""
    db = tmp_path_factory.mktemp("sessions") / "world.duckdb"
    shutil.copy(served_world, db)
    simulate_traffic(db, spec(), FAULTY)
    simulate_traffic(db, joint_spec("later", start="2026-04-06", end="2026-04-08"))
    return db


def one_day(served_world: Path, view_ids: bool) -> pl.DataFrame:
    """One day of modules, some narrower than others, with a column of their own."""
    with Store(served_world, read_only=True) as store:
        market = Marketplace.from_store(store)
        recs = neighbor_matrix(store, market, "better", 5)
    day = dt.date(2026, 3, 7)
    rng = day_rng(3, 21, day)
    views = draw_views(market, rng, day, traffic=2.0)
    recs = recs[views.source_idx].copy()
    recs[::7, 3:] = -1
    extra = {"propensity": np.linspace(0.1, 0.9, recs.size).reshape(recs.shape)}
    events, _ = module_events(
        market, rng, day, views, recs, id_prefix="t-run", extra=extra, view_ids=view_ids
    )
    return events


def test_view_ids_leave_every_other_column_as_it_was(served_world: Path) -> None:
    """Same rows, ids, values and order as before view_id: in a day's frame, and in what a
    run with duplicated and late events stores; ``view_id`` comes last, only when asked."""
    without, with_ids = one_day(served_world, False), one_day(served_world, True)
    assert "view_id" not in without.columns  # interactions (history) have no view_id
    assert with_ids.columns == [*without.columns, "view_id"]
    assert digest(without) == digest(with_ids) == BEFORE_MODULE_EVENTS


def test_a_runs_stored_events_are_those_from_before_view_id(simulated: Path) -> None:
    """The first run's events (the second run came after) as stored, by id."""
    stored = table(simulated, "SELECT * FROM events WHERE event_id LIKE 'sim-1-%' ORDER BY 1")
    assert stored.columns[-1] == "view_id"
    assert digest(stored) == BEFORE_STORED_EVENTS


def test_each_view_shows_positions_one_to_k_once(simulated: Path) -> None:
    """A view's impressions: one per position 1..k, one user, one viewed item, one time."""
    views = table(
        simulated,
        "SELECT view_id, count(*) AS n, list_sort(list(position)) AS positions, "
        "count(DISTINCT user_id) AS users, count(DISTINCT source_item_id) AS items, "
        "count(DISTINCT ts) AS times, any_value(strftime(ts, '%Y%m%d')) AS day, "
        "any_value(substr(event_id, 1, 6)) AS run FROM events "
        "WHERE event_type = 'impression' GROUP BY view_id",
    )
    assert views["view_id"].null_count() == 0
    assert views["positions"].to_list() == [[1, 2, 3, 4, 5]] * views.height
    assert (views.select("users", "items", "times").to_numpy() == 1).all()
    # Unique across days and runs: the run's prefix and the day, then the view's row.
    expected = pl.format("{}{}-v", "run", "day")
    assert views.select(pl.col("view_id").str.starts_with(expected).all()).item()
    assert set(views["run"]) == {"sim-1-", "sim-2-"}


def test_taps_and_purchases_carry_the_view_they_were_made_from(simulated: Path) -> None:
    """A tap carries the view of an impression at its position, of its user and item; a
    purchase from the module the view of its tap; organic purchases carry none."""
    events = table(simulated, "SELECT * FROM events")
    module = events.filter(pl.col("source_item_id").is_not_null())
    organic = events.filter(pl.col("source_item_id").is_null())
    assert module["view_id"].null_count() == 0
    assert organic.height > 0 and organic["view_id"].null_count() == organic.height
    assert (organic["event_type"] == "purchase").all()
    same = ["view_id", "position", "user_id", "item_id", "source_item_id"]
    by_kind = {k: module.filter(pl.col("event_type") == k) for k in ("impression", "tap")}
    for kind, shown_in in (("tap", "impression"), ("purchase", "tap")):
        made = module.filter(pl.col("event_type") == kind)
        found = made.join(by_kind[shown_in], on=same, how="semi")
        assert made.height > 0 and found.height == made.height, kind
