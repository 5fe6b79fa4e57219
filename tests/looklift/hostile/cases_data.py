"""Hostile data: files given to ``ingest`` and ``assign --users``, and catalog photos.

The first groups did not hold before this session's work on issue 12 (commit
d882f70, where ``looklift ingest`` did not exist yet; the ingest work fixed the
offsets and ``ev*.csv``, the rest came with this module):

- item 3, offsets: ``2026-03-03T10:00:00+09:00`` was stored as 10:00 from CSV; it is
  01:00 UTC from every format (CSV, TSV, JSON lines, parquet timestamps with a zone
  and parquet text), and an exposure time given with an offset (``assign --at``) too;
- item 6, photos: an item whose ``image_path`` is a FIFO hung the report forever, and
  a 70-byte PNG declaring 40000×40000 pixels crashed it; both now show "no photo";
- item 8, messages: a CSV row with too few or too many fields, an empty CSV or
  JSON-lines file, a Latin-1 file and a 20 MB field each say what is wrong, in one
  line naming file and line; a file literally named ``ev*.csv`` is read as named; a
  JSON object or list in a text column is refused, naming row and column;
- found on the way: an unterminated quote was read as text; a FIFO given as a file
  to ingest or as the database hung; a file name holding a newline made the error
  two lines.

The last group (SQL in names, a key stored already, a glob matching nothing...)
held already, and is kept so that it keeps holding.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import polars as pl

from tests.hostile_files import make_fifo, make_png_bomb
from tests.looklift.hostile.corpus import Case, Result

HEADER = "event_id,ts,user_id,event_type\n"
ROW = "h1,2026-03-03T10:00:00,u1,tap\n"
OFFSET = "2026-03-03T10:00:00+09:00"
UTC = dt.datetime(2026, 3, 3, 1)


def _ingest(table: str, *files: str) -> tuple[str, ...]:
    return ("ingest", table, *files, "--db", "{db}", "--format", "json")


def _query(folder: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(folder / "looklift.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _stored_in_utc(*event_ids: str) -> Callable[[Path, Result], None]:
    def check(folder: Path, result: Result) -> None:
        marks = ", ".join(f"'{e}'" for e in event_ids)
        rows = dict(_query(folder, f"SELECT event_id, ts FROM events WHERE event_id IN ({marks})"))
        assert rows == dict.fromkeys(event_ids, UTC), rows

    return check


def _offset_rows(prefix: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "event_id": [f"{prefix}1"],
            "ts": [OFFSET],
            "user_id": ["u1"],
            "event_type": ["tap"],
        }
    )


def _parquet(frame: pl.DataFrame, *, zoned: bool = False) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        out = frame.with_columns(pl.col("ts").str.to_datetime(time_zone="Asia/Tokyo"))
        (out if zoned else frame).write_parquet(path)

    return write


def _photos_are(path: str) -> Callable[[Path], None]:
    """A ``prepare`` that points every item's photo at ``path`` in the case's database."""

    def prepare(folder: Path) -> None:
        con = duckdb.connect(str(folder / "looklift.duckdb"))
        try:
            con.execute("UPDATE items SET image_path = ?", [path])
        finally:
            con.close()

    return prepare


def _no_photo_anywhere(folder: Path, result: Result) -> None:
    page = (folder / "r.html").read_text(encoding="utf-8")
    assert "no photo" in page and "data:image/jpeg" not in page


def _stored_event_as_csv(folder: Path) -> None:
    """Write ``stored.csv``: one event of the template, exactly as it is stored."""
    ((event_id, ts, user_id, event_type),) = _query(
        folder, "SELECT event_id, ts, user_id, event_type FROM events ORDER BY event_id LIMIT 1"
    )
    (folder / "stored.csv").write_text(
        f"{HEADER}{event_id},{ts.isoformat()},{user_id},{event_type}\n"
    )


def _skipped_as_stored(folder: Path, result: Result) -> None:
    summary = json.loads(result.stdout)
    assert (summary["added"], summary["skipped"]) == (0, 1), summary
    assert summary["files"][0]["skipped_already_stored"] == 1


def _read_literally(folder: Path, result: Result) -> None:
    assert json.loads(result.stdout)["added"] == 1
    stored = _query(
        folder, "SELECT event_id FROM events WHERE event_id LIKE 'star%' OR event_id LIKE 'one%'"
    )
    assert stored == [("star1",)], stored


def _exposures_at_one_utc(folder: Path, result: Result) -> None:
    stamps = _query(
        folder,
        "SELECT DISTINCT ts FROM exposures "
        "WHERE experiment = 'similar-looks' AND user_id LIKE 'z%'",
    )
    assert stamps == [(UTC,)], stamps


USERS = "user_id,platform,first_seen_at\n" + "".join(
    f"z{i},ios,2026-03-03T10:00:00+09:00\n" for i in range(60)
)

CASES = [
    # -- item 3: offsets are UTC in every format -----------------------------------------
    Case(
        "ingest-offset-from-csv-is-utc",
        _ingest("events", "tz.csv"),
        code=0,
        files={"tz.csv": f"{HEADER}tzc1,{OFFSET},u1,tap\n"},
        db_may_change=True,
        check=_stored_in_utc("tzc1"),
    ),
    Case(
        "ingest-offset-from-tsv-is-utc",
        _ingest("events", "tz.tsv"),
        code=0,
        files={"tz.tsv": HEADER.replace(",", "\t") + f"tzt1\t{OFFSET}\tu1\ttap\n"},
        db_may_change=True,
        check=_stored_in_utc("tzt1"),
    ),
    Case(
        "ingest-offset-from-json-lines-is-utc",
        _ingest("events", "tz.jsonl"),
        code=0,
        files={"tz.jsonl": _offset_rows("tzj").write_ndjson()},
        db_may_change=True,
        check=_stored_in_utc("tzj1"),
    ),
    Case(
        "ingest-offset-from-parquet-text-is-utc",
        _ingest("events", "tz.parquet"),
        code=0,
        files={"tz.parquet": _parquet(_offset_rows("tzp"))},
        db_may_change=True,
        check=_stored_in_utc("tzp1"),
    ),
    Case(
        "ingest-offset-from-a-zoned-parquet-timestamp-is-utc",
        _ingest("events", "tz.parquet"),
        code=0,
        files={"tz.parquet": _parquet(_offset_rows("tzz"), zoned=True)},
        db_may_change=True,
        check=_stored_in_utc("tzz1"),
    ),
    Case(
        "assign-exposure-time-with-an-offset-is-utc",
        (
            "assign",
            "{spec}",
            "--users",
            "users.csv",
            "--out",
            "a.parquet",
            "--db",
            "{db}",
            "--record-exposures",
            "--at",
            OFFSET,
        ),
        code=0,
        files={"users.csv": USERS},
        may_write=("a.parquet",),
        db_may_change=True,
        check=_exposures_at_one_utc,
    ),
    # -- item 6: catalog photos that are not photos ----------------------------------------
    Case(
        "report-photo-that-is-a-fifo-shows-no-photo",
        ("report", "{spec}", "--db", "{db}", "--out", "r.html", "--no-offline"),
        code=0,
        files={"photo.jpg": make_fifo},
        prepare=_photos_are("photo.jpg"),
        may_write=("r.html", "r.md", "r.json"),
        check=_no_photo_anywhere,
    ),
    Case(
        "report-photo-that-declares-40000x40000-pixels-shows-no-photo",
        ("report", "{spec}", "--db", "{db}", "--out", "r.html", "--no-offline"),
        code=0,
        files={"bomb.png": make_png_bomb},
        prepare=_photos_are("bomb.png"),
        may_write=("r.html", "r.md", "r.json"),
        check=_no_photo_anywhere,
    ),
    # -- item 8: messages that say what is wrong -------------------------------------------
    Case(
        "ingest-csv-row-with-too-few-fields",
        _ingest("events", "e.csv"),
        files={"e.csv": HEADER + ROW + "h2,2026-03-03T10:00:00,u1\n"},
        says="e.csv: line 3: Expected Number of Columns: 4 Found: 3",
    ),
    Case(
        "ingest-csv-row-with-too-many-fields",
        _ingest("events", "e.csv"),
        files={"e.csv": HEADER + "h2,2026-03-03T10:00:00,u1,tap,more\n"},
        says="e.csv: line 2: Expected Number of Columns: 4 Found: 5",
    ),
    Case(
        "ingest-csv-separated-by-semicolons",
        _ingest("users", "u.csv"),
        files={"u.csv": "user_id;platform\nz1;ios\n"},
        says="u.csv: the header line is one column, 'user_id;platform'; the columns of a .csv "
        "file are separated by commas, not ';'",
    ),
    Case(
        "ingest-empty-csv",
        _ingest("events", "e.csv"),
        files={"e.csv": ""},
        says="e.csv: the file is empty; a CSV file starts with a header line",
    ),
    Case(
        "ingest-empty-json-lines",
        _ingest("events", "e.jsonl"),
        files={"e.jsonl": ""},
        says="e.jsonl: the file is empty (it holds no JSON records)",
    ),
    Case(
        "ingest-latin-1-csv",
        _ingest("users", "u.csv"),
        files={"u.csv": "user_id,country\nJosé,ES\n".encode("latin-1")},
        says="u.csv: line 2: Invalid unicode (byte sequence mismatch) detected. This file is "
        "not utf-8 encoded",
    ),
    Case(
        "ingest-a-20-mb-field",
        _ingest("events", "e.csv"),
        files={"e.csv": HEADER + "h1,2026-03-03T10:00:00," + "x" * 20_000_000 + ",tap\n"},
        says="e.csv: line 2: Maximum line size of 2000000 bytes exceeded",
    ),
    Case(
        "ingest-unterminated-quote",
        _ingest("events", "e.csv"),
        files={"e.csv": HEADER + ROW + 'h2,2026-03-03T10:00:00,"u1,tap\n'},
        says="e.csv: line 3: Value with unterminated quote found",
    ),
    Case(
        "ingest-json-object-in-a-text-column",
        _ingest("events", "e.jsonl"),
        files={
            "e.jsonl": json.dumps(
                {
                    "event_id": "h1",
                    "ts": "2026-03-03T10:00:00",
                    "user_id": {"id": 7},
                    "event_type": "tap",
                }
            )
        },
        says="e.jsonl: row 1, column 'user_id': expected text, not a JSON object "
        """(got '{"id":7}')""",
    ),
    Case(
        "ingest-json-list-after-strings-in-a-text-column",
        _ingest("items", "i.jsonl"),
        files={
            "i.jsonl": "\n".join(
                json.dumps({"item_id": i, "title": t, "image_path": "p.jpg"})
                for i, t in ((90001, "red dress"), (90002, ["red", "dress"]))
            )
        },
        says="i.jsonl: row 2, column 'title': expected text, not a JSON list",
    ),
    Case(
        "ingest-file-named-ev-star-is-read-as-named",
        _ingest("events", "ev*.csv"),
        code=0,
        files={
            "ev*.csv": f"{HEADER}star1,2026-03-03T10:00:00,u1,tap\n",
            "ev1.csv": f"{HEADER}one1,2026-03-03T10:00:00,u1,tap\n",
        },
        db_may_change=True,
        check=_read_literally,
    ),
    Case(
        "ingest-a-fifo",
        _ingest("events", "e.csv"),
        files={"e.csv": make_fifo},
        says="e.csv: is not a regular file (a FIFO",
        timeout=30,
    ),
    Case(
        "assign-users-file-that-is-a-fifo",
        ("assign", "{spec}", "--users", "users.csv", "--out", "a.parquet"),
        files={"users.csv": make_fifo},
        says="users.csv: is not a regular file (a FIFO",
        timeout=30,
    ),
    Case(
        "analyze-a-database-that-is-a-fifo",
        ("analyze", "{spec}", "--db", "fifo.duckdb"),
        files={"fifo.duckdb": make_fifo},
        says="fifo.duckdb is not a file",
        timeout=30,
    ),
    Case(
        "ingest-a-bad-row-in-a-file-whose-name-holds-a-newline",
        _ingest("events", "{dir}/e\nvil.csv"),
        files={"e\nvil.csv": HEADER + "h1,yesterday,u1,tap\n"},
        says="e\\nvil.csv: row 1, column 'ts': expected a timestamp",
    ),
    Case(
        "ingest-a-missing-file-whose-name-holds-a-newline",
        _ingest("events", "no\nfile.csv"),
        says="file not found: no\\nfile.csv",
    ),
    # -- held already ---------------------------------------------------------------------
    Case(
        "ingest-sql-injection-in-a-column-name",
        _ingest("events", "e.csv"),
        files={
            "e.csv": 'event_id,ts,user_id,event_type,"x"" VARCHAR); DROP TABLE users; --"\n'
            "h1,2026-03-03T10:00:00,u1,tap,1\n"
        },
        says="""column name 'x" VARCHAR); DROP TABLE users; --' is not an identifier""",
    ),
    Case(
        "ingest-sql-injection-in-a-quoted-csv-header",
        _ingest("events", "e.csv"),
        files={
            "e.csv": "event_id,ts,user_id,event_type,\"a': 'VARCHAR'}); DROP TABLE users; --\"\n"
            "h1,2026-03-03T10:00:00,u1,tap,1\n"
        },
        says="is not an identifier",
    ),
    Case(
        "ingest-sql-injection-in-the-table-name",
        _ingest("events; DROP TABLE users", "e.csv"),
        files={"e.csv": HEADER + ROW},
        says="unknown table 'events; DROP TABLE users'",
    ),
    Case(
        "ingest-sql-injection-in-a-type",
        (*_ingest("users", "u.csv"), "--type", "tier=text); DROP TABLE users; --"),
        files={"u.csv": "user_id,tier\nz1,gold\n"},
        says="unknown column type",
    ),
    Case(
        "ingest-a-key-that-is-stored-already",
        _ingest("events", "stored.csv"),
        code=0,
        prepare=_stored_event_as_csv,
        db_may_change=True,
        check=_skipped_as_stored,
    ),
    Case(
        "ingest-a-bad-value-names-file-row-and-column",
        _ingest("users", "u.csv"),
        files={"u.csv": "user_id,is_new\nz1,true\nz2,perhaps\n"},
        says="u.csv: row 2, column 'is_new': expected true or false (got 'perhaps')",
    ),
    Case(
        "ingest-a-glob-that-matches-nothing",
        _ingest("events", "logs/*.csv"),
        says="no file matches logs/*.csv",
    ),
    Case(
        "ingest-an-unsupported-file-type",
        _ingest("events", "e.xlsx"),
        files={"e.xlsx": b"PK\x03\x04"},
        says="unsupported file type",
    ),
    Case(
        "ingest-malformed-json-lines",
        _ingest("events", "e.jsonl"),
        files={"e.jsonl": '{"event_id": "h1", "ts": "2026-03-03T10:00:00"\n'},
        says="e.jsonl: cannot read: Malformed JSON",
    ),
    Case(
        "ingest-a-parquet-that-is-not-parquet",
        _ingest("events", "e.parquet"),
        files={"e.parquet": b"not parquet at all"},
        says="e.parquet: cannot read:",
    ),
    Case(
        "ingest-a-missing-required-column",
        _ingest("events", "e.csv"),
        files={"e.csv": "event_id,ts,user_id\nh1,2026-03-03T10:00:00,u1\n"},
        says="missing required column 'event_type'",
    ),
]
