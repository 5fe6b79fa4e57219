"""What a refresh reads, rebuilds and says: late rows, spec changes, removed rows, the
lookback, staleness, no schedule, and a failed refresh that leaves the state as it was."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest

from abtest.analysis import analyze
from abtest.analysis.state import read_meta, refresh
from abtest.analysis.state import refreshing as refresh_module
from abtest.spec import parse_spec
from abtest.store import Store
from tests.abtest.analysis.builders import START
from tests.abtest.analysis.state.conftest import (
    assert_same_analysis,
    ingest,
    state_data,
    state_spec,
)

SPEC = state_spec()


@pytest.fixture()
def loaded(source_rows, empty_store) -> Path:
    """Every row of the experiment ingested, the state built."""
    ingest(empty_store, source_rows)
    with Store(empty_store) as store:
        report = refresh(store, SPEC)
    assert report.mode == "built" and report.reason == "no state yet"
    return empty_store


def exact(path: Path, spec=SPEC) -> str:
    """Analyze from state and from the raw tables, assert they agree; the state's note."""
    with Store(path, read_only=True) as store:
        ours = analyze(store, spec)
        assert_same_analysis(ours, analyze(store, spec, use_state=False))
    assert ours.source is not None
    return ours.source


def test_nothing_new_is_up_to_date_and_reads_nothing(loaded: Path) -> None:
    with Store(loaded) as store:
        report = refresh(store, SPEC)
    assert (report.mode, report.events_read, report.recomputed_from) == ("up to date", 0, None)
    assert exact(loaded).startswith("from state up to ")


def test_a_late_event_recomputes_from_its_day_and_says_so(loaded: Path) -> None:
    with Store(loaded) as store:
        user = store.fetch_one("SELECT user_id FROM exposures ORDER BY ts LIMIT 1")[0]
    day = START + dt.timedelta(days=2, hours=20)
    late = pl.DataFrame(
        {
            "event_id": ["very-late"],
            "ts": [day],
            "user_id": [user],
            "event_type": ["purchase"],
            "value": [99.0],
        }
    )
    ingest(loaded, {"events": late})
    with Store(loaded, read_only=True) as store:
        note = analyze(store, SPEC, daily=False).source
    assert note is not None and note.startswith("state not used: the tables changed")
    assert "+1 events" in note
    with Store(loaded) as store:
        report = refresh(store, SPEC)
    assert report.mode == "updated"
    assert report.recomputed_from == day.date() and report.late_days == (day.date(),)
    assert "events rows changed on 1 day(s)" in report.reason
    assert exact(loaded).startswith("from state")


def test_a_spec_change_to_the_events_rebuilds_and_names_it(loaded: Path) -> None:
    data = state_data()
    data["metric_definitions"]["taps_on_top"] = {
        "kind": "mean",
        "numerator": {"event": "tap", "filter": {"position": {"$lte": 2}}},
    }
    data["metrics"]["secondary"].append("taps_on_top")
    changed = parse_spec(data)
    with Store(loaded, read_only=True) as store:
        note = analyze(store, changed, daily=False).source
    assert note is not None and "the metrics' events" in note and "looklift refresh" in note
    with Store(loaded) as store:
        report = refresh(store, changed)
    assert report.mode == "rebuilt" and "the metrics' events" in report.reason
    exact(loaded, changed)


def test_a_change_the_state_does_not_hold_keeps_it(loaded: Path) -> None:
    """Winsorization, alpha and corrections are applied by every analysis: no rebuild."""
    data = state_data()
    data["metric_definitions"]["revenue"]["winsorize"] = {"percentile": 0.5}
    data["analysis"]["alpha"] = 0.1
    changed = parse_spec(data)
    assert exact(loaded, changed).startswith("from state")


def test_removed_exposures_rebuild(loaded: Path) -> None:
    with Store(loaded) as store:
        store.con.execute(
            "DELETE FROM exposures WHERE user_id = (SELECT MIN(user_id) FROM exposures)"
        )
        report = refresh(store, SPEC)
    assert report.mode == "rebuilt" and "exposures were removed" in report.reason
    exact(loaded)


def test_full_rebuilds(loaded: Path) -> None:
    with Store(loaded) as store:
        report = refresh(store, SPEC, full=True)
    assert (report.mode, report.reason) == ("rebuilt", "--full")
    exact(loaded)


def test_rows_replaced_in_place_need_the_lookback(loaded: Path) -> None:
    """A value changed in place keeps its day's row count: without a lookback the refresh
    cannot see it (and the state is not used, as the counts agree, but wrong); with a
    lookback that covers the day, it is re-read and the analysis is exact again."""
    with Store(loaded) as store:
        meta = read_meta(store, SPEC.key)
        assert meta is not None and meta.watermark is not None
        store.con.execute(
            "UPDATE events SET value = value + 1000 WHERE event_type = 'purchase' "
            "AND ts >= ? AND ts < ?",
            [START, START + dt.timedelta(days=7)],
        )
        assert refresh(store, SPEC).mode == "up to date"
        back = meta.watermark - START  # back to the first day, not into the pre-period
        report = refresh(store, SPEC, lookback=back)
    assert report.mode == "updated" and "lookback" in report.reason
    exact(loaded)


def test_a_failed_refresh_leaves_the_state_as_it_was(
    loaded: Path, source_rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = (
        source_rows["events"]
        .filter(pl.col("ts") >= START + dt.timedelta(days=2))
        .head(50)
        .with_columns(pl.col("event_id") + "-again", pl.col("ts") + dt.timedelta(hours=1))
    )
    ingest(loaded, {"events": extra})
    with Store(loaded) as store:
        before = read_meta(store, SPEC.key)
        days = store.fetch_one('SELECT COUNT(*) FROM "looklift_state:analyzer-test:days"')

        def broken(*args, **kwargs):
            raise RuntimeError("disk full")

        monkeypatch.setattr(refresh_module, "_events_in", broken)
        with pytest.raises(RuntimeError, match="disk full"):
            refresh(store, SPEC)
        assert read_meta(store, SPEC.key) == before
        assert store.fetch_one('SELECT COUNT(*) FROM "looklift_state:analyzer-test:days"') == days
    monkeypatch.undo()
    with Store(loaded) as store:
        assert refresh(store, SPEC).mode == "updated"
    exact(loaded)


def test_without_a_schedule_the_window_grows_with_the_data(source_rows, empty_store) -> None:
    """No schedule: the window is the exposures' whole days, so it moves as days arrive."""
    data = state_data()
    del data["schedule"]
    spec = parse_spec(data)
    rows = {k: v.filter(pl.col("ts") >= START) for k, v in source_rows.items()}
    days = sorted(set(rows["exposures"].get_column("ts").dt.date().to_list()))
    for day in days[:4]:
        ingest(
            empty_store,
            {k: v.filter(pl.col("ts").dt.date() == day) for k, v in rows.items()},
        )
        with Store(empty_store) as store:
            report = refresh(store, spec)
        assert report.end == dt.datetime.combine(day, dt.time()) + dt.timedelta(days=1)
        assert exact(empty_store, spec).startswith("from state")


def test_a_copy_of_the_store_carries_its_state(loaded: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.duckdb"
    shutil.copy(loaded, copy)
    assert exact(copy).startswith("from state")
