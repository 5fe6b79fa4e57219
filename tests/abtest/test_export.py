"""The parquet export: every row, partitioned by day, written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from abtest.export import ExportError, export_parquet
from abtest.simulate.traffic import TrafficConfig, simulate_traffic
from abtest.spec import parse_spec
from abtest.store import Store
from tests.abtest.analysis.builders import SPEC, START
from tests.conftest import served_copy


def test_every_row_lands_in_its_day(tmp_path: Path, small_world) -> None:
    path = served_copy(small_world, tmp_path / "store.duckdb", ("base", "better"))
    simulate_traffic(path, parse_spec(SPEC), TrafficConfig(days=3, late_events=0.05))
    with Store(path, read_only=True) as store:
        rows = export_parquet(store, tmp_path / "exports")
        expected = {t: store.count(t) for t in ("exposures", "events", "users")}
        days = {
            str(d)
            for (d,) in store.con.execute("SELECT DISTINCT CAST(ts AS DATE) FROM events").fetchall()
        }
    assert rows == expected and rows["events"] > 0
    folder = tmp_path / "exports"
    assert {p.name for p in (folder / "events").iterdir()} == {f"day={d}" for d in days}
    assert (folder / "users.parquet").is_file()
    con = duckdb.connect()
    for table in ("exposures", "events"):
        glob = str(folder / table / "*" / "*.parquet")
        (n, wrong) = con.execute(
            f"SELECT COUNT(*), COUNT(*) FILTER (WHERE CAST(ts AS DATE) <> day) "
            f"FROM read_parquet('{glob}', hive_partitioning = true)"
        ).fetchone()
        assert (n, wrong) == (expected[table], 0)
    assert START.date().isoformat() in days


def test_an_existing_folder_is_refused_and_nothing_is_left_behind(
    tmp_path: Path, small_world
) -> None:
    (tmp_path / "taken").mkdir()
    with Store(small_world.db, read_only=True) as store:
        with pytest.raises(ExportError, match="exists"):
            export_parquet(store, tmp_path / "taken")
        with pytest.raises(ExportError, match="folder does not exist"):
            export_parquet(store, tmp_path / "no" / "such")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
