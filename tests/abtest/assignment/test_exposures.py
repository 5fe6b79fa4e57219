"""Exposures: rows of units assigned by hash, written through the store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from abtest.assignment import (
    AssignmentError,
    assign_batch,
    assign_user,
    exposure_frame,
    exposure_row,
    record_exposures,
)
from abtest.store import Store
from tests.abtest.assignment.builders import spec_of


def test_exposures_are_written_through_the_store(tmp_path: Path) -> None:
    spec = spec_of(coverage=0.6, forced={"qa": "treatment"})
    ids = [f"u{i}" for i in range(5000)] + ["qa"]
    batch = assign_batch(spec, ids)
    start = dt.datetime(2026, 3, 2)
    ts = [start + dt.timedelta(minutes=i) for i in range(len(ids))]
    frame = exposure_frame(batch, ts)
    assert frame.columns == ["experiment", "variant", "user_id", "ts"]
    assert frame.height == int(batch.exposed.sum()) and "qa" not in frame["user_id"].to_list()

    with Store(tmp_path / "x.duckdb") as store:
        report = record_exposures(store, batch, ts)
        assert report.inserted == frame.height
        assert record_exposures(store, batch, ts).inserted == 0  # replaying changes nothing
        # a later exposure of the same users is a new row; analysis takes the first
        later = record_exposures(store, batch, start + dt.timedelta(days=30))
        assert later.inserted == frame.height
        rows = store.query(
            "SELECT variant, count(DISTINCT user_id) AS users, min(ts) AS first "
            "FROM exposures WHERE experiment = ? GROUP BY variant ORDER BY variant",
            ["exp"],
        )
    exposed = np.bincount(batch.variant_index[batch.exposed], minlength=2)
    assert dict(zip(rows["variant"], rows["users"], strict=True)) == {
        "control": exposed[0],
        "treatment": exposed[1],
    }
    assert batch.counts()["treatment"] == exposed[1] + 1  # the forced QA unit
    assert rows["first"].min() == start


def test_online_exposure_row() -> None:
    spec = spec_of(forced={"qa": "control"})
    a = assign_user(spec, "u1")
    assert a is not None
    row = exposure_row(a, dt.datetime(2026, 3, 2, tzinfo=dt.UTC))
    assert row == {
        "experiment": "exp",
        "variant": a.variant,
        "user_id": "u1",
        "ts": dt.datetime(2026, 3, 2),
    }
    forced = assign_user(spec, "qa")
    assert forced is not None
    with pytest.raises(AssignmentError, match="forced"):
        exposure_row(forced, dt.datetime(2026, 3, 2))


def test_exposure_times_are_one_for_all_or_one_per_unit() -> None:
    batch = assign_batch(spec_of(), ["u1", "u2", "u3"])
    one = exposure_frame(batch, "2026-03-02T10:00:00+09:00")
    assert set(one["ts"].to_list()) == {dt.datetime(2026, 3, 2, 1)}  # naive UTC
    per_unit = np.array(["2026-03-01", "2026-03-02", "2026-03-03"], dtype="datetime64[us]")
    frame = exposure_frame(batch, per_unit)
    assert frame["ts"].to_list() == [
        dt.datetime(2026, 3, d) for d, e in zip((1, 2, 3), batch.exposed, strict=True) if e
    ]
    with pytest.raises(AssignmentError, match="ts has 2 values but the batch has 3 units"):
        exposure_frame(batch, per_unit[:2])
    with pytest.raises(AssignmentError, match="not an ISO timestamp"):
        exposure_frame(batch, "yesterday")
