"""The store: tables with keys, idempotent and atomic ingestion from every source kind."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from abtest.schema import TABLES
from abtest.store import IngestError, Store, StoreError


def events_frame(n: int, start: int = 0, prefix: str = "e") -> pl.DataFrame:
    ids = range(start, start + n)
    return pl.DataFrame(
        {
            "event_id": [f"{prefix}{i:08d}" for i in ids],
            "ts": [dt.datetime(2026, 3, 2) + dt.timedelta(seconds=i) for i in ids],
            "user_id": [f"u{i % 97:04d}" for i in ids],
            "event_type": [("impression", "tap", "purchase")[i % 3] for i in ids],
            "item_id": [i % 50 + 1 for i in ids],
            "source_item_id": [i % 7 + 1 for i in ids],
            "position": [i % 5 + 1 for i in ids],
            "value": [float(i % 3 == 2) * 12.5 for i in ids],
        }
    )


@pytest.fixture()
def store(tmp_path: Path):
    with Store(tmp_path / "store.duckdb") as s:
        yield s


def table_snapshot(store: Store, table: str) -> list[tuple]:
    key = ", ".join(TABLES[table].key)
    return store.con.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall()


def test_creates_every_table_with_its_columns(store: Store) -> None:
    for name, table in TABLES.items():
        assert store.has_table(name)
        cols = [
            r[0]
            for r in store.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "ORDER BY ordinal_position",
                [name],
            ).fetchall()
        ]
        assert tuple(cols) == table.column_names
        assert set(table.key) <= set(cols)


def test_every_table_keeps_one_row_per_key(store: Store) -> None:
    """Keys are enforced by ingestion, for every table, not only events."""
    users = pl.DataFrame({"user_id": ["u1", "u2", "u1"], "platform": ["ios", "web", "android"]})
    report = store.ingest("users", users)
    assert (report.inserted, report.duplicates_in_batch) == (2, 1)
    assert store.ingest("users", users).inserted == 0
    assert store.query("SELECT platform FROM users WHERE user_id = 'u1'")["platform"][0] == "ios"
    neighbors = pl.DataFrame(
        {"encoder": ["a", "a"], "item_id": [1, 1], "rank": [1, 1], "neighbor_id": [2, 3]}
    )
    assert store.ingest("neighbors", neighbors).inserted == 1


def test_types_follow_the_schema(store: Store) -> None:
    cols = dict(
        store.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'events'"
        ).fetchall()
    )
    assert cols["ts"] == "TIMESTAMP"
    assert cols["item_id"] == "BIGINT"
    assert cols["position"] == "INTEGER"
    assert cols["value"] == "DOUBLE"


def test_ingest_counts_and_skips_duplicates_within_a_batch(store: Store) -> None:
    frame = pl.concat([events_frame(10), events_frame(3)])  # 3 event_ids twice
    report = store.ingest("events", frame)
    assert (report.rows_read, report.inserted, report.duplicates_in_batch) == (13, 10, 3)
    assert store.count("events") == 10


@pytest.mark.parametrize("kind", ["polars", "arrow", "pandas", "parquet", "csv", "jsonl"])
def test_replaying_a_source_changes_nothing(store: Store, tmp_path: Path, kind: str) -> None:
    frame = events_frame(25)
    if kind == "polars":
        source = frame
    elif kind == "arrow":
        source = frame.to_arrow()
        assert isinstance(source, pa.Table)
    elif kind == "pandas":
        source = frame.to_pandas()
    elif kind == "parquet":
        source = tmp_path / "events.parquet"
        frame.write_parquet(source)
    elif kind == "csv":
        source = tmp_path / "events.csv"
        frame.write_csv(source)
    else:
        source = tmp_path / "events.jsonl"
        frame.with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S")).write_ndjson(source)

    first = store.ingest("events", source)
    snapshot = table_snapshot(store, "events")
    second = store.ingest("events", source)
    assert first.inserted == 25
    assert second.inserted == 0 and second.already_stored == 25
    assert table_snapshot(store, "events") == snapshot
    stored = store.query("SELECT * FROM events ORDER BY event_id")
    assert stored["value"].to_list() == frame["value"].to_list()
    assert stored["ts"].to_list() == frame["ts"].to_list()


def test_overlapping_batches_store_each_event_once(store: Store) -> None:
    store.ingest("events", events_frame(100))
    report = store.ingest("events", events_frame(100, start=60))
    assert report.inserted == 60 and report.already_stored == 40
    assert store.count("events") == 160


@pytest.mark.parametrize(
    ("column", "bad", "reason"),
    [
        ("event_type", "", "a value is required"),
        ("position", "0", "must be at least 1"),
        ("position", "1.5", "expected an integer"),
        ("ts", "yesterday", "expected a timestamp"),
        ("value", "twelve", "expected a number"),
        ("item_id", "abc", "expected an integer"),
        ("event_type", "Tap Now!", "must match"),
    ],
)
def test_a_malformed_row_rejects_the_whole_csv_batch(
    store: Store, tmp_path: Path, column: str, bad: str, reason: str
) -> None:
    store.ingest("events", events_frame(5, prefix="old"))
    before = table_snapshot(store, "events")
    frame = events_frame(30).with_columns(pl.col(pl.Int64, pl.Float64, pl.Datetime).cast(pl.Utf8))
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 16)
        .then(pl.lit(bad))
        .otherwise(pl.col(column))
        .alias(column)
    )
    path = tmp_path / "bad.csv"
    frame.write_csv(path)
    with pytest.raises(IngestError) as info:
        store.ingest("events", path)
    err = info.value
    assert (err.source, err.row, err.column) == (str(path), 17, column)
    assert str(path) in str(err) and "row 17" in str(err) and repr(column) in str(err)
    assert reason in str(err)
    assert table_snapshot(store, "events") == before


def test_a_malformed_frame_row_names_row_and_column(store: Store) -> None:
    frame = events_frame(8).with_columns(
        pl.when(pl.col("event_id") == "e00000005")
        .then(-2)
        .otherwise(pl.col("position"))
        .alias("position")
    )
    with pytest.raises(IngestError, match=r"row 6, column 'position': must be at least 1"):
        store.ingest("events", frame, source_name="batch-42")
    assert store.count("events") == 0


def test_interaction_event_types_and_propensities_are_checked(store: Store) -> None:
    frame = events_frame(3).with_columns(propensity=pl.lit(0.5), policy=pl.lit("cnn-pca"))
    store.ingest("interactions", frame)
    with pytest.raises(IngestError, match="must be one of impression, tap, purchase"):
        store.ingest("interactions", frame.with_columns(event_type=pl.lit("click")))
    with pytest.raises(IngestError, match="must be at most 1"):
        store.ingest("interactions", events_frame(2, start=10).with_columns(propensity=pl.lit(1.5)))


def test_missing_required_and_unknown_columns(store: Store) -> None:
    with pytest.raises(IngestError, match="missing required column 'user_id'"):
        store.ingest("events", events_frame(3).drop("user_id"))
    with pytest.raises(IngestError, match="unknown column 'colour'"):
        store.ingest("events", events_frame(3).with_columns(colour=pl.lit("red")))
    with pytest.raises(IngestError, match="unknown table"):
        store.ingest("clicks", events_frame(3))


def test_unreadable_files(store: Store, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="file not found"):
        store.ingest("events", tmp_path / "missing.parquet")
    (tmp_path / "events.xlsx").write_text("x")
    with pytest.raises(IngestError, match="unsupported file type"):
        store.ingest("events", tmp_path / "events.xlsx")
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"event_id": "a"}) + "\n{not json\n")
    with pytest.raises(IngestError, match=r"broken\.jsonl"):
        store.ingest("events", broken)
    assert store.count("events") == 0


def test_replace_rows_swaps_one_encoders_neighbors_atomically(store: Store) -> None:
    def neighbors(encoder: str, score: float) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "encoder": [encoder] * 4,
                "item_id": [1, 1, 2, 2],
                "rank": [1, 2, 1, 2],
                "neighbor_id": [2, 3, 1, 3],
                "score": [score] * 4,
            }
        )

    store.ingest("neighbors", neighbors("a", 0.1))
    store.ingest("neighbors", neighbors("b", 0.2))
    store.replace_rows("neighbors", neighbors("a", 0.9), where="encoder = ?", params=["a"])
    got = store.query("SELECT encoder, max(score) AS s, count(*) AS n FROM neighbors GROUP BY 1")
    assert dict(zip(got["encoder"], got["s"], strict=True)) == {"a": 0.9, "b": 0.2}
    bad = neighbors("a", 0.5).with_columns(rank=pl.lit(0))
    with pytest.raises(IngestError):
        store.replace_rows("neighbors", bad, where="encoder = ?", params=["a"])
    assert store.count("neighbors", "encoder = 'a' AND score = 0.9") == 4


def test_corrupt_and_unwritable_databases(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.duckdb"
    corrupt.write_bytes(b"this is not a database" * 200)
    with pytest.raises(StoreError, match="not a DuckDB database"):
        Store(corrupt)
    with pytest.raises(StoreError, match="folder does not exist"):
        Store(tmp_path / "missing" / "x.duckdb")
    with pytest.raises(StoreError, match="database not found"):
        Store(tmp_path / "absent.duckdb", read_only=True)


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import polars as pl
    import abtest.store as store_module
    from abtest.store import Store

    store_module.INGEST_CHUNK_ROWS = 20_000
    frame = pl.read_parquet(sys.argv[2])

    def progress(done, total):
        if done > 0:  # the first chunk is inserted, the transaction is still open
            print("inserted", done, flush=True)
            time.sleep(60)

    with Store(sys.argv[1]) as store:
        store.ingest("events", frame, progress=progress)
    """
)


def test_a_process_killed_mid_ingest_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "killed.duckdb"
    with Store(db) as store:
        store.ingest("events", events_frame(1000, prefix="before"))
        before = table_snapshot(store, "events")
    batch = tmp_path / "batch.parquet"
    events_frame(100_000).write_parquet(batch)

    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(db), str(batch)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("inserted"), line
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    with Store(db) as store:
        assert table_snapshot(store, "events") == before
        report = store.ingest("events", batch)  # and the batch can simply be replayed
        assert report.inserted == 100_000


def test_ingest_many_writes_all_tables_or_none(store: Store) -> None:
    from abtest.store import Batch

    exposures = pl.DataFrame(
        {
            "experiment": ["x", "x"],
            "variant": ["a", "b"],
            "user_id": ["u1", "u2"],
            "ts": [dt.datetime(2026, 3, 2)] * 2,
        }
    )
    bad_events = events_frame(10).with_columns(pl.lit(None, pl.Utf8).alias("user_id"))
    with pytest.raises(IngestError, match="column 'user_id': a value is required"):
        store.ingest_many([Batch("exposures", exposures), Batch("events", bad_events)])
    assert store.count("exposures") == 0 and store.count("events") == 0
    reports = store.ingest_many([Batch("exposures", exposures), Batch("events", events_frame(10))])
    assert [r.inserted for r in reports] == [2, 10]
