"""Health of the split: users per variant and per day, and one warning per anomaly."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl

from abtest.analysis.health import health
from abtest.analysis.moments import metric_moments
from abtest.analysis.staging import staged_tables
from abtest.stats import srm_test
from abtest.store import Store
from tests.abtest.analysis.builders import END, START, make_spec


def test_users_per_day_add_up_and_anomalies_are_named(db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "unknown-variant.duckdb"
    shutil.copy(db, copy)
    spec = make_spec()
    with Store(copy) as store:
        store.ingest(
            "exposures",
            pl.DataFrame(
                {
                    "experiment": ["analyzer-test"] * 2,
                    "variant": ["retired", "retired"],
                    "user_id": ["nobody-1", "nobody-2"],
                    "ts": [dt.datetime(2026, 3, 4, 9)] * 2,
                }
            ),
        )
        metrics = metric_moments(spec, cuped=False)
        with staged_tables(store, spec, metrics, (START, END), None) as staged:
            got = health(store, spec, (START, END), staged.mixed_users)
    assert staged.mixed_users == 1
    assert got.srm == srm_test(list(got.users.values()), list(spec.weights))
    for variant, users in got.users.items():
        days = [d for d in got.exposures_per_day if d.variant == variant]
        assert sum(d.new_users for d in days) == users == days[-1].cumulative_users
    assert got.warnings == (
        "1 users were exposed to more than one variant and are excluded",
        "2 exposures name a variant that is not in the spec; ignored",
    )
