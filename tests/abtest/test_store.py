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
from abtest.store import IngestError, Store, StoreError, read_frame
from tests.hostile_files import make_fifo, returns_within


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
    exposures = pl.DataFrame(
        {"experiment": ["x"], "variant": ["a"], "user_id": ["u1"], "ts": [dt.datetime(2026, 3, 2)]}
    )
    with pytest.raises(IngestError, match="unknown column 'colour'"):  # not extensible
        store.ingest("exposures", exposures.with_columns(colour=pl.lit("red")))
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


# -- a team's own columns ----------------------------------------------------------------


def stored_types(store: Store, table: str) -> dict[str, str]:
    return store.columns(table)


def test_users_keep_their_own_columns_typed_from_a_csv(store: Store, tmp_path: Path) -> None:
    """Extra columns are added to the table with the narrowest type every value reads as."""
    path = tmp_path / "users.csv"
    path.write_text(
        "user_id,platform,app_version,visits,zip,score,beta,signup,seen,notes\n"
        "007,ios,5.2.0,3,007,1.5,true,2026-01-02,2026-01-02T10:00:00+09:00,\n"
        "u2,web,5.10.1,,123,2,False,2026-01-03,2026-01-03 08:00:00,\n"
    )
    report = store.ingest("users", path)
    assert report.inserted == 2
    assert dict(report.columns_added) == {
        "app_version": "VARCHAR",
        "visits": "BIGINT",
        "zip": "VARCHAR",  # a leading zero: an identifier, not a number
        "score": "DOUBLE",
        "beta": "BOOLEAN",
        "signup": "DATE",
        "seen": "TIMESTAMP",
        "notes": "VARCHAR",  # no values: text
    }
    assert store.extra_columns("users") == dict(report.columns_added)
    row = store.query("SELECT * FROM users WHERE user_id = '007'").row(0, named=True)
    assert row["app_version"] == "5.2.0" and row["zip"] == "007" and row["visits"] == 3
    assert row["beta"] is True and row["signup"] == dt.date(2026, 1, 2)
    assert row["seen"] == dt.datetime(2026, 1, 2, 1, 0)  # converted to UTC


@pytest.mark.parametrize("kind", ["csv", "parquet", "jsonl", "polars"])
def test_items_and_events_keep_their_own_columns_from_every_source(
    store: Store, tmp_path: Path, kind: str
) -> None:
    items = pl.DataFrame(
        {
            "item_id": [1, 2],
            "title": ["red dress", "blue shirt"],
            "image_path": ["a.png", "b.png"],
            "brand": ["acme", "zeta"],
            "stock": [3, 0],
        }
    )
    events = events_frame(4).with_columns(screen=pl.lit("home"))
    sources: list[object] = []
    for name, frame in (("items", items), ("events", events)):
        if kind == "polars":
            sources.append(frame)
            continue
        path = tmp_path / f"{name}.{kind}"
        if kind == "csv":
            frame.write_csv(path)
        elif kind == "parquet":
            frame.write_parquet(path)
        else:
            frame.with_columns(pl.col(pl.Datetime).dt.strftime("%Y-%m-%dT%H:%M:%S")).write_ndjson(
                path
            )
        sources.append(path)
    store.ingest("items", sources[0])
    store.ingest("events", sources[1])
    assert store.extra_columns("items") == {"brand": "VARCHAR", "stock": "BIGINT"}
    assert store.extra_columns("events") == {"screen": "VARCHAR"}
    got = store.query("SELECT item_id, brand, stock FROM items ORDER BY item_id")
    assert got.to_dicts() == items.select("item_id", "brand", "stock").to_dicts()
    assert store.count("events", "screen = 'home'") == 4


def test_a_value_that_does_not_fit_a_stored_column_rejects_the_batch(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    with Store(db) as store:
        store.ingest("users", pl.DataFrame({"user_id": ["a", "b"], "visits": [1, 2]}))
    before = db.read_bytes()
    path = tmp_path / "more.csv"
    path.write_text("user_id,visits\nc,3\nd,4\ne,many\n")
    with Store(db) as store, pytest.raises(IngestError) as info:
        store.ingest("users", path)
    assert (info.value.row, info.value.column) == (3, "visits")
    assert "expected an integer" in str(info.value)
    assert "users.visits is stored as integer" in str(info.value)
    assert db.read_bytes() == before  # byte for byte
    with Store(db) as store, pytest.raises(IngestError, match="cannot be changed to text"):
        store.ingest("users", path, types={"visits": "text"})


def test_the_files_of_one_ingest_widen_a_new_columns_type(store: Store, tmp_path: Path) -> None:
    from abtest.store import Batch

    (tmp_path / "a.csv").write_text("user_id,score,tier\na,1,1\n")
    (tmp_path / "b.csv").write_text("user_id,score,tier\nb,2.5,gold\n")
    store.ingest_many([Batch("users", tmp_path / n) for n in ("a.csv", "b.csv")])
    assert store.extra_columns("users") == {"score": "DOUBLE", "tier": "VARCHAR"}
    got = store.query("SELECT user_id, score, tier FROM users ORDER BY user_id").rows()
    assert got == [("a", 1.0, "1"), ("b", 2.5, "gold")]


def test_a_type_can_be_named_for_a_new_column(store: Store, tmp_path: Path) -> None:
    """``5.2`` and ``5.10`` read as numbers (5.1 loses a digit) unless the column is text."""
    path = tmp_path / "users.csv"
    path.write_text("user_id,app_version\na,5.2\nb,5.10\n")
    store.ingest("users", path, types={"app_version": "text"})
    got = store.query("SELECT app_version FROM users ORDER BY user_id")["app_version"]
    assert got.to_list() == ["5.2", "5.10"]
    with pytest.raises(IngestError, match="fixed type"):
        store.ingest("users", path, types={"platform": "integer"})
    with pytest.raises(StoreError, match="unknown column type 'version'"):
        store.ingest("users", path, types={"app_version": "version"})


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ('x"); DROP TABLE users; --', "is not an identifier"),
        ("app version", "is not an identifier"),
        ("__row", "is not an identifier"),
        ("1st_seen", "is not an identifier"),
        ("User_ID", "should be spelled 'user_id'"),
        ("platfrom", "did you mean 'platform'"),
    ],
)
def test_own_column_names_are_identifiers(store: Store, column: str, message: str) -> None:
    frame = pl.DataFrame({"user_id": ["a"], column: ["x"]}) if column != "User_ID" else None
    if frame is None:
        frame = pl.DataFrame({"User_ID": ["a"]})
    with pytest.raises(IngestError, match=message):
        store.ingest("users", frame)
    assert store.count("users") == 0
    assert store.has_table("users")
    assert store.extra_columns("users") == {}


def test_a_misspelling_is_accepted_when_its_type_is_named(store: Store) -> None:
    store.ingest(
        "users", pl.DataFrame({"user_id": ["a"], "platfrom": ["x"]}), types={"platfrom": "text"}
    )
    assert store.extra_columns("users") == {"platfrom": "VARCHAR"}
    # once stored, the column is the team's: later files need no type
    assert store.ingest("users", pl.DataFrame({"user_id": ["b"], "platfrom": ["y"]})).inserted == 1


def test_column_names_that_differ_only_in_case_from_a_stored_one(store: Store) -> None:
    store.ingest("users", pl.DataFrame({"user_id": ["a"], "appVersion": ["5.2.0"]}))
    with pytest.raises(IngestError, match="should be spelled 'appVersion'"):
        store.ingest("users", pl.DataFrame({"user_id": ["b"], "appversion": ["5.3.0"]}))


def test_nested_values_are_refused_in_the_store(store: Store) -> None:
    frame = pl.DataFrame({"user_id": ["a"], "tags": [["x", "y"]]})
    with pytest.raises(IngestError, match="column 'tags' holds VARCHAR\\[\\] values"):
        store.ingest("users", frame)


def test_a_rejected_ingest_adds_no_column(store: Store) -> None:
    from abtest.store import Batch

    users = pl.DataFrame({"user_id": ["a"], "app_version": ["5.2.0"]})
    bad_events = events_frame(2).with_columns(screen=pl.lit("home"), position=pl.lit(0))
    with pytest.raises(IngestError, match="must be at least 1"):
        store.ingest_many([Batch("users", users), Batch("events", bad_events)])
    assert store.extra_columns("users") == {} and store.extra_columns("events") == {}


# -- time, globs, paths ----------------------------------------------------------------

_TZ_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from abtest.store import Store

    with Store(sys.argv[1]) as store:
        for path in sys.argv[2:]:
            store.ingest("events", path)
        rows = store.con.execute("SELECT event_id, ts FROM events ORDER BY event_id").fetchall()
    print(json.dumps({event_id: ts.isoformat() for event_id, ts in rows}))
    """
)


def test_timestamps_with_offsets_are_utc_from_csv_and_json_whatever_the_machine_zone(
    tmp_path: Path,
) -> None:
    stamps = ["2026-03-02T10:00:00+09:00", "2026-03-02T10:00:00Z", "2026-03-02 10:00:00"]
    want = [dt.datetime(2026, 3, 2, 1), dt.datetime(2026, 3, 2, 10), dt.datetime(2026, 3, 2, 10)]
    rows = [
        {"event_id": f"e{i}", "ts": ts, "user_id": "u", "event_type": "tap"}
        for i, ts in enumerate(stamps)
    ]
    csv = tmp_path / "events.csv"
    pl.DataFrame(rows).write_csv(csv)
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text("\n".join(json.dumps({**r, "event_id": "j" + r["event_id"]}) for r in rows))
    for zone in ("UTC", "Asia/Tokyo", "America/New_York"):
        db = tmp_path / f"{zone.replace('/', '-')}.duckdb"
        done = subprocess.run(
            [sys.executable, "-c", _TZ_SCRIPT, str(db), str(csv), str(jsonl)],
            capture_output=True,
            text=True,
            env={**os.environ, "TZ": zone, "PYTHONPATH": os.pathsep.join(sys.path)},
            check=True,
        )
        got = {k: dt.datetime.fromisoformat(v) for k, v in json.loads(done.stdout).items()}
        assert [got[f"e{i}"] for i in range(3)] == want, zone
        assert [got[f"je{i}"] for i in range(3)] == want, zone


def test_a_path_with_glob_characters_is_read_literally(store: Store, tmp_path: Path) -> None:
    events_frame(3, prefix="star").write_csv(tmp_path / "ev*.csv")
    events_frame(5, prefix="one").write_csv(tmp_path / "ev1.csv")
    events_frame(2, prefix="brk").write_csv(tmp_path / "ev[1].csv")
    assert store.ingest("events", tmp_path / "ev*.csv").inserted == 3
    assert store.ingest("events", tmp_path / "ev[1].csv").inserted == 2
    assert store.count("events", "event_id LIKE 'one%'") == 0


def test_a_database_that_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "shpo.duckdb"
    for kwargs in ({"read_only": True}, {"create": False}):
        with pytest.raises(StoreError, match=f"database not found: {missing}"):
            Store(missing, **kwargs)
        assert not missing.exists()
        with pytest.raises(StoreError, match="is not a file"):
            Store(tmp_path, **kwargs)
    other = tmp_path / "other.duckdb"
    import duckdb

    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE t (a INTEGER)")
    con.close()
    before = other.read_bytes()
    for kwargs in ({"read_only": True}, {"create": False}):
        with pytest.raises(StoreError, match="is not a looklift database"):
            Store(other, **kwargs)
    assert other.read_bytes() == before


def test_read_frame_reads_a_users_file_as_ingest_stores_it(store: Store, tmp_path: Path) -> None:
    from abtest.store import read_frame

    path = tmp_path / "users.csv"
    path.write_text(
        "user_id,is_new,app_version,visits\n007,true,5.2.0,3\nu2,false,5.10.1,4\n007,true,5.2.0,3\n"
    )
    frame = read_frame(path)
    assert frame.columns == ["user_id", "is_new", "app_version", "visits"]
    assert frame["user_id"].to_list() == ["007", "u2", "007"]  # as written, duplicates kept
    assert frame.schema["is_new"] == pl.Boolean and frame.schema["visits"] == pl.Int64
    store.ingest("users", path)
    stored = store.query("SELECT user_id, is_new, app_version, visits FROM users ORDER BY user_id")
    assert stored.to_dicts() == frame.head(2).to_dicts()
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,is_new\na,maybe\n")
    with pytest.raises(IngestError, match="row 1, column 'is_new': expected true or false"):
        read_frame(bad)


def test_users_can_be_updated_with_a_new_attribute(store: Store) -> None:
    """Attributes change (and teams add them later): ``update`` rewrites stored rows'
    values for the columns the source has, and leaves the others as they were."""
    store.ingest("users", pl.DataFrame({"user_id": ["a", "b"], "platform": ["ios", "web"]}))
    later = pl.DataFrame({"user_id": ["a", "c"], "app_version": ["5.2.0", "5.3.0"]})
    assert store.ingest("users", later).already_stored == 1  # skipped by default
    assert store.query("SELECT app_version FROM users WHERE user_id = 'a'").item() is None
    report = store.ingest("users", later, update=True)
    assert (report.updated, report.inserted, report.already_stored) == (2, 0, 0)
    got = store.query("SELECT user_id, platform, app_version FROM users ORDER BY user_id").rows()
    assert got == [("a", "ios", "5.2.0"), ("b", "web", None), ("c", None, "5.3.0")]
    with pytest.raises(IngestError, match="only items and users can be updated"):
        store.ingest("events", events_frame(1), update=True)


# -- offsets in every format, table and column --------------------------------------------

OFFSET = "2026-03-03T10:00:00+09:00"
OFFSET_UTC = dt.datetime(2026, 3, 3, 1)

_OFFSET_ROWS = {
    "events": {"event_id": "e1", "ts": OFFSET, "user_id": "u", "event_type": "tap"},
    "exposures": {"experiment": "x", "variant": "a", "user_id": "u", "ts": OFFSET},
    "interactions": {
        "event_id": "e1",
        "ts": OFFSET,
        "user_id": "u",
        "source_item_id": 1,
        "item_id": 2,
        "event_type": "tap",
    },
    "items": {"item_id": 1, "title": "t", "image_path": "p.png", "listed_at": OFFSET},
    "users": {"user_id": "u", "first_seen_at": OFFSET},
}
_TIME_COLUMN = {"items": "listed_at", "users": "first_seen_at"}


def _write_with_offsets(path: Path, kind: str, row: dict[str, object]) -> None:
    """One row in ``kind``'s format; its timestamps (``OFFSET``) as text, or, in the
    ``parquet-tz`` kind, as a parquet timestamp with a time zone (Asia/Tokyo)."""
    frame = pl.DataFrame([row])
    if kind == "csv":
        frame.write_csv(path)
    elif kind == "tsv":
        frame.write_csv(path, separator="\t")
    elif kind == "jsonl":
        path.write_text(json.dumps(row) + "\n")
    elif kind == "json":
        path.write_text(json.dumps([row]))
    elif kind == "parquet-text":
        frame.write_parquet(path)
    else:
        stamps = [c for c, v in row.items() if v == OFFSET]
        zoned = [pl.col(c).str.to_datetime(time_zone="Asia/Tokyo") for c in stamps]
        frame.with_columns(zoned).write_parquet(path)


@pytest.mark.parametrize("table", list(_OFFSET_ROWS))
@pytest.mark.parametrize("kind", ["csv", "tsv", "jsonl", "json", "parquet-text", "parquet-tz"])
def test_an_offset_is_converted_to_utc_in_every_format_table_and_column(
    store: Store, tmp_path: Path, table: str, kind: str
) -> None:
    """``2026-03-03T10:00:00+09:00`` is 01:00 UTC wherever it comes from: the data model's
    timestamps (``ts``, ``listed_at``, ``first_seen_at``), a column of one's own typed as a
    timestamp, in ``ingest`` and in ``read_frame`` (``looklift assign --users``). (CSV
    once stored it as 10:00, the offset dropped.)"""
    row = dict(_OFFSET_ROWS[table])
    extensible = TABLES[table].extensible
    if extensible:
        row["seen_at"] = OFFSET  # a column of one's own
    suffix = {"parquet-text": "parquet", "parquet-tz": "parquet"}.get(kind, kind)
    path = tmp_path / f"{table}.{suffix}"
    _write_with_offsets(path, kind, row)
    column = _TIME_COLUMN.get(table, "ts")
    store.ingest(table, path, types={"seen_at": "timestamp"} if extensible else None)
    stored = store.query(f"SELECT * FROM {table}")
    assert stored[column].to_list() == [OFFSET_UTC]
    if extensible:
        assert stored["seen_at"].to_list() == [OFFSET_UTC]
    read = read_frame(path, table=table, types={"seen_at": "timestamp"} if extensible else None)
    assert read[column].to_list() == [OFFSET_UTC]
    if extensible:
        assert read["seen_at"].to_list() == [OFFSET_UTC]


def test_a_column_of_ones_own_with_offsets_is_a_utc_timestamp_from_csv(
    store: Store, tmp_path: Path
) -> None:
    """Without ``types``, a CSV column whose values are all timestamps is a timestamp,
    offsets converted (mixed with values without an offset, taken as UTC)."""
    path = tmp_path / "users.csv"
    path.write_text(f"user_id,seen_at\na,{OFFSET}\nb,2026-03-03 10:00:00\n")
    store.ingest("users", path)
    assert store.extra_columns("users") == {"seen_at": "TIMESTAMP"}
    got = dict(store.con.execute("SELECT user_id, seen_at FROM users").fetchall())
    assert got == {"a": OFFSET_UTC, "b": dt.datetime(2026, 3, 3, 10)}


# -- messages that say what is wrong -------------------------------------------------------

_HEADER = "event_id,ts,user_id,event_type\n"
_ROW = "e1,2026-03-03T10:00:00,u,tap\n"


_MALFORMED_CSV = {
    "too-few-fields": (
        _HEADER + _ROW + "e2,2026-03-03T10:00:00,u\n",
        "line 3: Expected Number of Columns: 4 Found: 3",
    ),
    "too-many-fields": (
        _HEADER + "e2,2026-03-03T10:00:00,u,tap,x\n",
        "line 2: Expected Number of Columns: 4 Found: 5",
    ),
    "unterminated-quote": (
        _HEADER + _ROW + 'e2,2026-03-03T10:00:00,"u,tap\n',
        "line 3: Value with unterminated quote found",
    ),
    "empty": ("", "the file is empty; a CSV file starts with a header line naming its columns"),
    "blank-header": ("\n" + _ROW, "the first line is empty; it must name the columns"),
    "unnamed-column": (
        "event_id,ts,,user_id,event_type\n",
        "column 3 of the header line has no name (a stray comma?)",
    ),
    "named-twice": (
        "event_id,ts,user_id,ts,event_type\n",
        "column 'ts' is named twice in the header line",
    ),
    "semicolons": (
        "event_id;ts;user_id;event_type\ne1;2026-03-03T10:00:00;u;tap\n",
        "the header line is one column, 'event_id;ts;user_id;event_type'; the columns of a "
        ".csv file are separated by commas, not ';'",
    ),
}


@pytest.mark.parametrize(
    ("content", "message"), list(_MALFORMED_CSV.values()), ids=list(_MALFORMED_CSV)
)
def test_a_malformed_csv_is_refused_in_one_line_naming_what_is_wrong(
    store: Store, tmp_path: Path, content: str, message: str
) -> None:
    """DuckDB's dialect sniffer read a file with a short or long row as one column named
    'event_id,ts,user_id,event_type'; the header now names the columns and the suffix the
    delimiter, so the error is DuckDB's own reason for the line."""
    path = tmp_path / "events.csv"
    path.write_text(content)
    with pytest.raises(IngestError) as error:
        store.ingest("events", path)
    assert str(error.value) == f"{path}: {message}"
    assert store.count("events") == 0
    with pytest.raises(IngestError) as error:
        read_frame(path, table="events")  # looklift assign --users reads as ingest does
    assert str(error.value) == f"{path}: {message}"


def test_csv_read_errors_keep_duckdbs_reason_in_one_short_line(
    store: Store, tmp_path: Path
) -> None:
    """A Latin-1 file and a 20 MB field: DuckDB's reason (not only 'CSV Error on Line: N'),
    without the line's own text (megabytes) or DuckDB's list of options."""
    latin = tmp_path / "latin.csv"
    latin.write_bytes((_HEADER + "e1,2026-03-03T10:00:00,José,tap\n").encode("latin-1"))
    big = tmp_path / "big.csv"
    big.write_text(_HEADER + "e1,2026-03-03T10:00:00," + "x" * 20_000_000 + ",tap\n")
    for path, reason in [
        (latin, "line 2: Invalid unicode (byte sequence mismatch) detected. This file is not "
                "utf-8 encoded"),
        (big, "line 2: Maximum line size of 2000000 bytes exceeded. Actual Size:20000027 bytes"),
    ]:  # fmt: skip
        with pytest.raises(IngestError) as error:
            store.ingest("events", path)
        assert str(error.value) == f"{path}: {reason}"
    assert store.count("events") == 0


@pytest.mark.parametrize("suffix", ["jsonl", "json"])
@pytest.mark.parametrize("content", ["", "\n\n", "[]"])
def test_an_empty_json_file_says_it_is_empty(
    store: Store, tmp_path: Path, suffix: str, content: str
) -> None:
    if content == "[]" and suffix == "jsonl":
        return
    path = tmp_path / f"events.{suffix}"
    path.write_text(content)
    with pytest.raises(IngestError, match=r"the file is empty \(it holds no JSON records\)"):
        store.ingest("events", path)


def test_a_csv_with_only_its_header_adds_nothing(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(_HEADER)
    assert store.ingest("events", path).rows_read == 0 and store.count("events") == 0


@pytest.mark.parametrize(
    ("value", "kind"), [({"id": 7}, "object"), (["u1", "u2"], "list")], ids=["object", "list"]
)
@pytest.mark.parametrize("mixed", [False, True], ids=["alone", "after-a-string"])
def test_a_json_object_or_list_in_a_text_column_is_refused_naming_row_and_column(
    store: Store, tmp_path: Path, value: object, kind: str, mixed: bool
) -> None:
    """A JSON object where the store keeps one value was stored as its Python repr
    ("{'id': 7}"), and a string beside one kept its JSON quotes ('"u"'): refused, naming
    row and column, whether it is alone in the column or after plain strings."""
    rows = [{"event_id": "e1", "ts": "2026-03-03T10:00:00", "user_id": "u", "event_type": "tap"}]
    rows = (rows if mixed else []) + [{**rows[0], "event_id": "e2", "user_id": value}]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    shown = json.dumps(value, separators=(",", ":"))
    with pytest.raises(IngestError) as error:
        store.ingest("events", path)
    assert str(error.value) == (
        f"{path}: row {len(rows)}, column 'user_id': expected text, not a JSON {kind} "
        f"(got {shown!r}); the batch was rejected and nothing was written"
    )
    assert (error.value.row, error.value.column) == (len(rows), "user_id")
    own = tmp_path / "own.jsonl"
    own.write_text(json.dumps({**rows[0], "event_id": "e3", "user_id": "u", "note": value}))
    with pytest.raises(
        IngestError, match=f"row 1, column 'note': expected a single value, not a JSON {kind}"
    ):
        store.ingest("events", own)
    assert store.count("events") == 0


def test_json_strings_and_numbers_in_one_text_column_are_stored_as_plain_values(
    store: Store, tmp_path: Path
) -> None:
    """DuckDB types a column of strings and numbers as JSON; its values are stored plain
    ('u', '5'), not with JSON's quotes ('"u"')."""
    path = tmp_path / "events.jsonl"
    rows = [
        {"event_id": "a", "ts": "2026-03-03T10:00:00", "user_id": "u", "event_type": "tap"},
        {"event_id": 5, "ts": "2026-03-03T10:00:00", "user_id": 5, "event_type": "tap"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    store.ingest("events", path)
    got = store.con.execute("SELECT event_id, user_id FROM events ORDER BY event_id").fetchall()
    assert got == [("5", "5"), ("a", "u")]


def test_a_fifo_is_refused_never_waited_on(store: Store, tmp_path: Path) -> None:
    """A FIFO named as a file to ingest, or as the database: opening one to read waits
    for a writer forever; it is refused at once."""
    fifo = tmp_path / "events.csv"
    make_fifo(fifo)
    with pytest.raises(IngestError, match=r"events\.csv: is not a regular file \(a FIFO"):
        returns_within(10, lambda: store.ingest("events", fifo), fifos=(fifo,))
    with pytest.raises(IngestError, match="is not a regular file"):
        returns_within(10, lambda: read_frame(fifo), fifos=(fifo,))
    db = tmp_path / "fifo.duckdb"
    make_fifo(db)
    with pytest.raises(StoreError, match=r"fifo\.duckdb is not a file"):
        returns_within(10, lambda: Store(db, read_only=True), fifos=(db,))


def older_database(path: Path) -> Path:
    """A database as made before the data model named ``events.view_id``, holding events."""
    with Store(path) as store:
        store.ingest("events", events_frame(5))
        store.con.execute("ALTER TABLE events DROP COLUMN view_id")
    return path


def test_an_older_database_gets_view_id_when_opened_writable(tmp_path: Path) -> None:
    """Opened read-only, it is read as it is; opened writable, ``view_id`` is added last,
    null in the rows stored before, once."""
    db = older_database(tmp_path / "old.duckdb")
    with Store(db, read_only=True) as store:
        assert "view_id" not in store.columns("events")
        assert store.count("events") == 5
    with Store(db) as store:
        assert tuple(store.columns("events")) == TABLES["events"].column_names
        assert store.columns("events")["view_id"] == "VARCHAR"
        assert store.count("events", "view_id IS NULL") == 5
        assert store.extra_columns("events") == {}
    before = db.read_bytes()
    with Store(db):
        pass
    assert db.read_bytes() == before  # nothing left to add


def test_a_teams_own_view_id_becomes_the_data_models(tmp_path: Path) -> None:
    """A column a team kept as its own before the data model named it, in any case and
    type, is the data model's afterwards: renamed and made text, its values kept."""
    db = older_database(tmp_path / "old.duckdb")
    with Store(db) as store:
        store.con.execute("ALTER TABLE events DROP COLUMN view_id")
        store.con.execute('ALTER TABLE events ADD COLUMN "View_Id" BIGINT')
        store.con.execute('UPDATE events SET "View_Id" = 7')
    with Store(db) as store:
        assert store.columns("events")["view_id"] == "VARCHAR"
        assert store.extra_columns("events") == {}
        assert set(store.query("SELECT view_id FROM events")["view_id"]) == {"7"}
        store.ingest("events", events_frame(2, 10).with_columns(view_id=pl.lit("v1")))
        assert store.count("events", "view_id = 'v1'") == 2


@pytest.mark.parametrize("older", [False, True], ids=["new-db", "older-db"])
@pytest.mark.parametrize("with_view_id", [False, True], ids=["without", "with"])
def test_ingest_keeps_a_files_view_id_and_leaves_it_null_without(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], older: bool, with_view_id: bool
) -> None:
    """``looklift ingest events``: a file's ``view_id`` is stored as text (numbers too), one
    without it leaves the column null; into a new database and an older one alike."""
    from looklift import cli

    db = older_database(tmp_path / "shop.duckdb") if older else tmp_path / "shop.duckdb"
    frame = events_frame(4, start=100)
    if with_view_id:
        frame = frame.with_columns(view_id=pl.Series([11, 11, None, 12]))
    frame.write_csv(tmp_path / "events.csv")
    code = cli.run(["ingest", "events", str(tmp_path / "events.csv"), "--db", str(db)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "added 4 of 4 rows" in out and "new columns" not in out + err
    with Store(db, read_only=True) as store:
        assert store.extra_columns("events") == {}
        got = store.query("SELECT view_id FROM events WHERE event_id >= 'e00000100' ORDER BY 1")
    expected = ["11", "11", "12", None] if with_view_id else [None] * 4
    assert got["view_id"].to_list() == expected
