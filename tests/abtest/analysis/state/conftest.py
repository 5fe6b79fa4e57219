"""The state's test data: an experiment's raw rows, to ingest in any order.

``source_rows``: the test experiment simulated on the small world with a pre-period
(CUPED), late and duplicated events, a user exposed to both arms, and users with
events before their first exposure; its exposures and events as polars frames.
``empty_store``: the same world without traffic, a fresh copy per test, to ingest
the rows into in whatever sequence a test chooses.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from abtest.analysis import AnalysisResult
from abtest.simulate.traffic import TrafficConfig, simulate_traffic
from abtest.spec import ExperimentSpec, parse_spec
from abtest.store import Store
from tests.abtest.analysis.builders import SPEC, START

STATE_METRICS: dict[str, Any] = {
    "module_buys_24h": {
        "kind": "mean",
        "numerator": {"event": "purchase", "filter": {"source_item_id": {"$exists": True}}},
        "window": {"delay": "1h", "within": "24h"},
    },
    "ndcg5": {"kind": "ndcg", "k": 5},
    "mrr": {"kind": "mrr"},
    "tap_position": {"kind": "tap_position"},
    "p90_revenue": {
        "kind": "quantile",
        "quantile": 0.9,
        "numerator": {"event": "purchase", "aggregate": "sum"},
    },
    "median_price": {
        "kind": "quantile",
        "quantile": 0.5,
        "over": "event",
        "numerator": {"event": "purchase", "aggregate": "sum"},
        "direction": "lower_is_better",
    },
}


def state_data(**analysis: Any) -> dict[str, Any]:
    """The analyzer's test experiment with every metric kind, CUPED on 3 pre-period days,
    as the YAML's data (a fresh copy, for a test to change)."""
    data = json.loads(json.dumps(SPEC))
    data["metric_definitions"] |= json.loads(json.dumps(STATE_METRICS))
    data["metrics"]["secondary"] += list(STATE_METRICS)
    data["analysis"] |= {"cuped_pre_period_days": 3} | analysis
    return data


def state_spec(**analysis: Any) -> ExperimentSpec:
    """:func:`state_data`, parsed."""
    return parse_spec(state_data(**analysis))


@pytest.fixture(scope="session")
def source_rows(served: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.DataFrame]:
    """The experiment's exposures and events, as a team would ingest them."""
    path = tmp_path_factory.mktemp("state-source") / "world.duckdb"
    shutil.copy(served, path)
    config = TrafficConfig(pre_days=3, traffic=2, late_events=0.05, duplicate_events=0.02)
    simulate_traffic(path, state_spec(), config)
    with Store(path, read_only=True) as store:
        exposures = store.query("SELECT * FROM exposures ORDER BY ts, user_id")
        events = store.query("SELECT * FROM events ORDER BY ts, event_id")
    # One user exposed to both arms, the second exposure days later.
    first = exposures.row(0, named=True)
    other = "treatment" if first["variant"] == "control" else "control"
    mixed = {**first, "variant": other, "ts": START + dt.timedelta(days=3, hours=5)}
    exposures = pl.concat([exposures, pl.DataFrame([mixed], schema=exposures.schema)])
    # Users with events before their first exposure (a late exposure log).
    late = (
        exposures.filter(pl.col("ts") >= START + dt.timedelta(hours=3))
        .group_by("user_id")
        .agg(pl.col("ts").min().alias("exposed_at"))
        .sort("user_id")
        .head(5)
    )
    kinds = ["impression", "tap", "purchase"]
    early = pl.DataFrame(
        {
            "event_id": [f"early-{u}-{k}" for u in late["user_id"] for k in kinds],
            "ts": [t - dt.timedelta(hours=1) for t in late["exposed_at"] for _ in kinds],
            "user_id": [u for u in late["user_id"] for _ in kinds],
            "event_type": kinds * late.height,
            "value": [None, None, 250.0] * late.height,
        }
    )
    events = pl.concat([events, early], how="diagonal_relaxed")
    return {"exposures": exposures, "events": events}


@pytest.fixture()
def empty_store(served: Path, tmp_path: Path) -> Path:
    """The world without traffic: a store to ingest the experiment's rows into."""
    path = tmp_path / "state.duckdb"
    shutil.copy(served, path)
    return path


def ingest(path: Path, rows: dict[str, pl.DataFrame]) -> None:
    """Ingest a batch of exposures and events (either may be empty)."""
    with Store(path) as store:
        for table in ("exposures", "events"):
            frame = rows.get(table)
            if frame is not None and frame.height:
                store.ingest(table, frame)


def flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested result as ``{path: leaf}``."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out |= flat(v, f"{prefix}.{k}")
        return out
    if isinstance(value, list | tuple):
        out = {}
        for i, v in enumerate(value):
            out |= flat(v, f"{prefix}[{i}]")
        return out
    return {prefix: value}


def assert_same_analysis(ours: AnalysisResult, raw: AnalysisResult, rel: float = 1e-9) -> None:
    """Every number of two analyses equal to ``rel`` (relative; 1e-12 absolute near 0),
    every other field equal; ``source`` aside."""
    a, b = flat(ours.to_dict()), flat(raw.to_dict())
    a.pop(".source", None)
    b.pop(".source", None)
    assert a.keys() == b.keys()
    for path, x in a.items():
        y = b[path]
        if isinstance(x, float) and isinstance(y, float):
            same = (math.isnan(x) and math.isnan(y)) or math.isclose(
                x, y, rel_tol=rel, abs_tol=1e-12
            )
            assert same, f"{path}: state {x!r} != raw {y!r}"
        else:
            assert x == y, f"{path}: state {x!r} != raw {y!r}"
