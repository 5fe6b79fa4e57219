"""``looklift ingest``: a team's own files into the store, all or nothing, in one line on error.

Real DuckDB files and real CSV / parquet / JSON-lines files throughout.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from abtest.store import Store
from looklift import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEMO = EXAMPLES / "similar-looks.yaml"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.run(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code: int, stdout: str, err: str) -> str:
    """The message of a user mistake: exit code 2, one line on stderr, no traceback."""
    assert code == 2, (stdout, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("looklift: error: ")
    return err


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A team's own catalog and users, with columns the data model does not name."""
    (tmp_path / "catalog.csv").write_text(
        "item_id,title,image_path,category,price,brand\n"
        "1,red dress,img/1.png,dress,30,acme\n"
        "2,blue shirt,img/2.png,shirt,12.5,zeta\n"
    )
    (tmp_path / "users.csv").write_text(
        "user_id,platform,country,app_version\n007,ios,JP,5.2.0\nu2,android,US,5.10.1\n"
    )
    return tmp_path


def test_ingest_creates_a_database_and_keeps_a_teams_columns(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = files / "shop.duckdb"
    code, stdout, err = run(capsys, "ingest", "users", str(files / "users.csv"), "--db", str(db))
    assert code == 0, err
    assert "added 2 of 2 rows" in stdout and "app_version (text)" in stdout
    assert f"created {db}" in err
    code, stdout, err = run(
        capsys, "ingest", "items", str(files / "catalog.csv"), "--db", str(db), "--format", "json"
    )
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["added"] == 2 and summary["rejected"] == 0
    assert summary["columns_added"] == {"brand": "text"}
    assert summary["files"][0]["file"] == str(files / "catalog.csv")
    code, stdout, _ = run(
        capsys, "ingest", "items", str(files / "catalog.csv"), "--db", str(db), "--format", "json"
    )
    again = json.loads(stdout)
    assert (again["added"], again["skipped"], again["files"][0]["skipped_already_stored"]) == (
        0,
        2,
        2,
    )
    with Store(db, read_only=True) as store:
        assert store.extra_columns("users") == {"app_version": "VARCHAR"}
        assert store.query("SELECT user_id FROM users ORDER BY 1")["user_id"].to_list() == [
            "007",
            "u2",
        ]


def test_all_files_of_one_call_are_stored_together_or_not_at_all(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = files / "shop.duckdb"
    assert run(capsys, "ingest", "items", str(files / "catalog.csv"), "--db", str(db))[0] == 0
    before = db.read_bytes()
    (files / "more.csv").write_text(
        "item_id,title,image_path,material\n3,green coat,img/3.png,wool\n"
    )
    (files / "bad.csv").write_text(
        "item_id,title,image_path,price\n4,hat,img/4.png,9\n5,scarf,img/5.png,free\n"
    )
    err = one_line_error(
        *run(
            capsys,
            "ingest",
            "items",
            str(files / "more.csv"),
            str(files / "bad.csv"),
            "--db",
            str(db),
        )
    )
    assert f"{files / 'bad.csv'}: row 2, column 'price': expected a number (got 'free')" in err
    assert db.read_bytes() == before  # byte for byte: no row, no new column
    with Store(db, read_only=True) as store:
        assert store.count("items") == 2 and "material" not in store.columns("items")


def test_a_failed_first_ingest_leaves_no_database(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (files / "bad_users.csv").write_text("user_id,is_new\na,perhaps\n")
    db = files / "new.duckdb"
    err = one_line_error(
        *run(capsys, "ingest", "users", str(files / "bad_users.csv"), "--db", str(db))
    )
    assert "row 1, column 'is_new': expected true or false" in err
    assert sorted(p.name for p in files.iterdir()) == ["bad_users.csv", "catalog.csv", "users.csv"]


def events(n: int, prefix: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "event_id": [f"{prefix}{i}" for i in range(n)],
            "ts": [f"2026-03-0{2 + i % 5}T10:00:00Z" for i in range(n)],
            "user_id": [f"u{i % 3}" for i in range(n)],
            "event_type": ["tap"] * n,
        }
    )


def test_globs_are_expanded_only_when_no_file_has_the_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    events(3, "a").write_csv(logs / "day1.csv")
    events(4, "b").write_ndjson(logs / "day2.jsonl")
    events(5, "c").write_parquet(logs / "day3.parquet")
    events(2, "star").write_csv(logs / "ev*.csv")  # a file really named so
    db = tmp_path / "db.duckdb"

    code, stdout, err = run(
        capsys, "ingest", "events", str(logs / "ev*.csv"), "--db", str(db), "--format", "json"
    )
    assert code == 0, err
    assert json.loads(stdout)["added"] == 2  # read literally, not as a glob

    code, stdout, err = run(
        capsys,
        "ingest",
        "events",
        str(logs / "day*"),
        str(logs / "day1.csv"),  # named twice: read once
        "--db",
        str(db),
        "--format",
        "json",
    )
    assert code == 0, err
    summary = json.loads(stdout)
    assert [Path(f["file"]).name for f in summary["files"]] == [
        "day1.csv",
        "day2.jsonl",
        "day3.parquet",
    ]
    assert summary["added"] == 12

    before = db.read_bytes()
    for args, message in [
        ([str(logs / "week*.csv")], f"no file matches {logs / 'week*.csv'}"),
        ([str(logs / "day9.csv")], f"file not found: {logs / 'day9.csv'}"),
        ([str(logs)], "is a folder; give its files"),
    ]:
        err = one_line_error(*run(capsys, "ingest", "events", *args, "--db", str(db)))
        assert message in err
    (logs / "notes.txt").write_text("x")
    err = one_line_error(*run(capsys, "ingest", "events", str(logs / "notes.txt"), "--db", str(db)))
    assert "unsupported file type" in err
    assert db.read_bytes() == before
    err = one_line_error(
        *run(capsys, "ingest", "events", str(logs / "nothing*"), "--db", str(tmp_path / "x.duckdb"))
    )
    assert not (tmp_path / "x.duckdb").exists()


def test_timestamps_with_offsets_come_out_the_same_from_csv_and_json_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        {"event_id": "a", "ts": "2026-03-02T10:00:00+09:00", "user_id": "u", "event_type": "tap"},
        {"event_id": "b", "ts": "2026-03-02T10:00:00-05:00", "user_id": "u", "event_type": "tap"},
    ]
    pl.DataFrame(rows).write_csv(tmp_path / "e.csv")
    (tmp_path / "e.jsonl").write_text(
        "\n".join(json.dumps({**r, "event_id": "j" + r["event_id"]}) for r in rows)
    )
    db = tmp_path / "db.duckdb"
    assert run(capsys, "ingest", "events", str(tmp_path / "e.*"), "--db", str(db))[0] == 0
    with Store(db, read_only=True) as store:
        got = dict(store.con.execute("SELECT event_id, ts FROM events").fetchall())
    assert got["a"] == got["ja"] == dt.datetime(2026, 3, 2, 1)
    assert got["b"] == got["jb"] == dt.datetime(2026, 3, 2, 15)


def test_types_update_and_mistakes_in_options(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = files / "shop.duckdb"
    (files / "v.csv").write_text("user_id,app_version\na,5.2\nb,5.10\n")
    code, stdout, err = run(
        capsys,
        "ingest",
        "users",
        str(files / "v.csv"),
        "--db",
        str(db),
        "--type",
        "app_version=text",
    )
    assert code == 0, err
    (files / "later.csv").write_text("user_id,app_version\na,5.3\n")
    code, stdout, err = run(
        capsys, "ingest", "users", str(files / "later.csv"), "--db", str(db), "--update"
    )
    assert code == 0, err
    assert "updated 1" in stdout
    with Store(db, read_only=True) as store:
        got = store.query("SELECT user_id, app_version FROM users ORDER BY 1").rows()
    assert got == [("a", "5.3"), ("b", "5.10")]
    before = db.read_bytes()
    for args, message in [
        (["clicks", str(files / "v.csv")], "unknown table 'clicks'; tables are items, users"),
        (["users", str(files / "v.csv"), "--type", "app_version"], "--type takes COLUMN=TYPE"),
        (["users", str(files / "v.csv"), "--type", "x=version"], "unknown column type"),
        (["users", str(files / "v.csv"), "--type", "brand=text"], "which no file for users has"),
        (
            ["users", str(files / "v.csv"), "--type", "app_version=integer"],
            "its type cannot be changed to integer",
        ),
        (["events", str(files / "v.csv"), "--update"], "--update applies to items and users"),
    ]:
        err = one_line_error(*run(capsys, "ingest", *args, "--db", str(db)))
        assert message in err
    assert db.read_bytes() == before


def test_ingest_never_adds_looklift_tables_to_another_duckdb_file(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import duckdb

    other = files / "analytics.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE sales (a INTEGER)")
    con.close()
    before = other.read_bytes()
    err = one_line_error(
        *run(capsys, "ingest", "users", str(files / "users.csv"), "--db", str(other))
    )
    assert f"{other} is not a looklift database" in err
    assert other.read_bytes() == before


def test_a_teams_attribute_is_a_segment_of_the_analysis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The front door end to end: users with app_version, exposures and events from
    files, then `analyze --segments app_version` breaks the lift down by it."""
    rng = np.random.default_rng(3)
    n = 400
    users = pl.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "platform": rng.choice(["ios", "android"], n),
            "app_version": rng.choice(["5.2.0", "5.3.1"], n),
        }
    )
    users.write_csv(tmp_path / "users.csv")
    variant = rng.choice(["control", "treatment"], n)
    pl.DataFrame(
        {
            "experiment": "similar-looks",
            "variant": variant,
            "user_id": users["user_id"],
            "ts": "2026-03-03T09:00:00+09:00",
        }
    ).write_csv(tmp_path / "exposures.csv")
    rows = []
    for i, user in enumerate(users["user_id"]):
        for j in range(int(rng.integers(1, 6))):
            rows.append((f"i{i}-{j}", user, "impression", None))
            if rng.random() < 0.3:
                rows.append((f"t{i}-{j}", user, "tap", None))
            if rng.random() < 0.05:
                rows.append((f"p{i}-{j}", user, "purchase", 20.0))
    pl.DataFrame(
        {
            "event_id": [r[0] for r in rows],
            "ts": "2026-03-04T12:00:00Z",
            "user_id": [r[1] for r in rows],
            "event_type": [r[2] for r in rows],
            "value": [r[3] for r in rows],
        }
    ).write_ndjson(tmp_path / "events.jsonl")
    db = tmp_path / "shop.duckdb"
    for table, file in [
        ("users", "users.csv"),
        ("exposures", "exposures.csv"),
        ("events", "events.jsonl"),
    ]:
        code, _, err = run(capsys, "ingest", table, str(tmp_path / file), "--db", str(db))
        assert code == 0, err
    code, stdout, err = run(
        capsys,
        "analyze",
        str(DEMO),
        "--db",
        str(db),
        "--segments",
        "app_version",
        "--format",
        "json",
    )
    assert code == 0, err
    segments = json.loads(stdout)["segments"]
    assert {(s["segment"], s["value"]) for s in segments} == {
        ("app_version", "5.2.0"),
        ("app_version", "5.3.1"),
    }
    # in the terminal, and in the report, where an analyst reads it
    code, stdout, err = run(
        capsys, "analyze", str(DEMO), "--db", str(db), "--segments", "app_version"
    )
    assert code == 0, err
    assert "by segment (exploratory: p not adjusted)" in stdout
    assert sum("app_version" in line and "5.2.0" in line for line in stdout.splitlines()) == 1
    html = tmp_path / "report.html"
    code, _, err = run(
        capsys,
        "report",
        str(DEMO),
        "--db",
        str(db),
        "--segments",
        "app_version",
        "--out",
        str(html),
        "--gallery",
        "0",
    )
    assert code == 0, err
    page = html.read_text(encoding="utf-8")
    section = page[page.index('id="segments"') :]
    assert "app_version" in section and "5.3.1" in section


def test_an_attribute_added_to_a_worlds_users_is_targeted_by_the_simulator(
    world_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ingest users --update` gives stored users a new attribute; the simulator's
    assignment reads it from the users table (with bots, which lack it)."""
    from tests.conftest import write_toy_neighbors

    db = world_copy
    write_toy_neighbors(db, "cnn-pca")
    write_toy_neighbors(db, "finetuned", match="colour")
    with Store(db, read_only=True) as store:
        ids = store.query("SELECT user_id FROM users ORDER BY user_id")["user_id"].to_list()
    versions = pl.DataFrame(
        {
            "user_id": ids,
            "app_version": ["5.1.0" if i % 3 == 0 else "5.2.0" for i in range(len(ids))],
        }
    )
    versions.write_csv(tmp_path / "versions.csv")
    code, stdout, err = run(
        capsys,
        "ingest",
        "users",
        str(tmp_path / "versions.csv"),
        "--db",
        str(db),
        "--update",
        "--format",
        "json",
    )
    assert code == 0, err
    assert json.loads(stdout)["updated"] == len(ids)
    spec = tmp_path / "by-version.yaml"
    spec.write_text(
        DEMO.read_text().replace(
            "  platform: {$in: [ios, android, web]}", '  app_version: {$vgte: "5.2.0"}'
        )
    )
    code, _, err = run(capsys, "simulate", str(spec), "--db", str(db), "--days", "2", "--bots", "3")
    assert code == 0, err
    with Store(db, read_only=True) as store:
        by_version = dict(
            store.con.execute(
                "SELECT u.app_version, count(DISTINCT e.user_id) FROM exposures e "
                "JOIN users u USING (user_id) GROUP BY 1"
            ).fetchall()
        )
    assert by_version.get("5.2.0", 0) > 50 and "5.1.0" not in by_version


def test_photos_that_are_not_where_encoders_look_are_warned_about(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (files / "img").mkdir()
    (files / "img" / "1.png").write_bytes(b"png")
    db = files / "data" / "shop.duckdb"
    db.parent.mkdir()
    code, _, err = run(capsys, "ingest", "items", str(files / "catalog.csv"), "--db", str(db))
    assert code == 0
    assert "2 of 2 photos checked" in err and "relative to the database's folder" in err
    code, _, err = run(
        capsys, "ingest", "items", str(files / "catalog.csv"), "--db", str(files / "s.duckdb")
    )
    assert code == 0 and "1 of 2 photos checked" in err and "img/2.png" in err
