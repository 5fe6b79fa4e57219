"""A store with the demo encoders' neighbors and an experiment to serve from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from abtest.spec import ExperimentSpec, parse_spec
from tests.conftest import served_copy

SPEC: dict[str, Any] = {
    "key": "live-looks",
    "unit": "user_id",
    "variants": [
        {"name": "control", "weight": 0.5, "encoder": "cnn-pca"},
        {"name": "treatment", "weight": 0.5, "encoder": "finetuned"},
    ],
    "targeting": {"platform": {"$ne": "tv"}},
    "forced": {"qa-user": "treatment"},
}


def live_spec(**changes: Any) -> ExperimentSpec:
    return parse_spec({**SPEC, **changes})


@pytest.fixture()
def live_db(small_world, tmp_path: Path) -> Path:
    """A fresh copy of the small world with neighbors and no traffic."""
    return served_copy(small_world, tmp_path / "live.duckdb")


@pytest.fixture()
def item_id(live_db: Path) -> int:
    from abtest.store import Store

    with Store(live_db, read_only=True) as store:
        row = store.fetch_one("SELECT MIN(item_id) FROM neighbors WHERE encoder = 'finetuned'")
    assert row is not None
    return int(row[0])
