"""The analyzer's test databases, built once per session and read-only for the tests.

``served``: the small world with two encoders' neighbors and no traffic;
``db``: the test experiment simulated on it, with one user exposed to both arms
and a few users with events before their exposure; ``harmed``: the same
experiment with the treatment's module failing on 10% of views; ``analysed``:
the analysis of ``db``, without breakdowns.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest

from abtest.analysis import AnalysisResult, analyze
from abtest.simulate.traffic import TrafficConfig, simulate_traffic
from abtest.store import Store
from tests.abtest.analysis.builders import START, make_spec
from tests.conftest import served_copy


@pytest.fixture(scope="session")
def served(small_world, tmp_path_factory) -> Path:
    """The small world with the two encoders' neighbors and no traffic yet."""
    path = tmp_path_factory.mktemp("analyzer-served") / "world.duckdb"
    return served_copy(small_world, path, ("base", "better"))


@pytest.fixture(scope="session")
def db(served: Path, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("analyzer")
    path = folder / "world.duckdb"
    shutil.copy(served, path)
    simulate_traffic(path, make_spec(), TrafficConfig(pre_days=3, traffic=3))
    with Store(path) as store:  # one user exposed to both arms: must be excluded
        mixed = store.query("SELECT user_id, variant FROM exposures ORDER BY user_id LIMIT 1").row(
            0, named=True
        )
        other = "treatment" if mixed["variant"] == "control" else "control"
        store.ingest(
            "exposures",
            pl.DataFrame(
                {
                    "experiment": ["analyzer-test"],
                    "variant": [other],
                    "user_id": [mixed["user_id"]],
                    "ts": [dt.datetime(2026, 3, 5, 12)],
                }
            ),
        )
        # Users with events in the window before their first exposure (a late exposure
        # log): those events must not count.
        late = store.query(
            "SELECT user_id, MIN(ts) AS exposed_at FROM exposures "
            "WHERE experiment = 'analyzer-test' AND user_id <> ? GROUP BY user_id "
            "HAVING MIN(ts) >= ? ORDER BY user_id LIMIT 5",
            [mixed["user_id"], START + dt.timedelta(hours=2)],
        )
        kinds = ["impression", "tap", "purchase"]
        store.ingest(
            "events",
            pl.DataFrame(
                {
                    "event_id": [f"late-{u}-{k}" for u in late["user_id"] for k in kinds],
                    "ts": [t - dt.timedelta(hours=1) for t in late["exposed_at"] for _ in kinds],
                    "user_id": [u for u in late["user_id"] for _ in kinds],
                    "event_type": kinds * late.height,
                    "value": [None, None, 250.0] * late.height,
                }
            ),
        )
    return path


@pytest.fixture(scope="session")
def harmed(served: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same experiment, with the treatment's module failing to render on 10% of views."""
    copy = tmp_path_factory.mktemp("harmed") / "world.duckdb"
    shutil.copy(served, copy)
    simulate_traffic(
        copy,
        make_spec(),
        TrafficConfig(pre_days=0, traffic=3, module_failures={"treatment": 0.1}),
    )
    return copy


@pytest.fixture(scope="session")
def analysed(db: Path) -> AnalysisResult:
    """The test experiment analysed as the spec asks, without daily or segment breakdowns."""
    with Store(db, read_only=True) as store:
        return analyze(store, make_spec(), daily=False, segments=())
