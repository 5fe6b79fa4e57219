"""A wrong ``--db`` says so in one line, for every verb, and creates nothing.

Verbs that read a database refuse a missing path ("database not found: PATH"),
a folder, a file that is not DuckDB, and a DuckDB file without the looklift
tables ("PATH is not a looklift database"), with exit code 2 and without
creating or changing a file. (``world`` and ``ingest`` create databases.)
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from looklift import cli

SPEC = str(Path(__file__).resolve().parents[2] / "examples" / "similar-looks.yaml")

READING_VERBS = {
    "encode": ["encode", "--encoder", "cnn-pca"],
    "finetune": ["finetune"],
    "neighbors": ["neighbors"],
    "history": ["history"],
    "offline-eval": ["offline-eval"],
    "simulate": ["simulate", SPEC],
    "analyze": ["analyze", SPEC],
    "power": ["power", SPEC],
    "report": ["report", SPEC],
    "validate": ["validate", SPEC],
    "assign": ["assign", SPEC, "--users", "users.parquet", "--out", "a.parquet"],
    "assign --record-exposures": [
        "assign",
        SPEC,
        "--users",
        "users.parquet",
        "--out",
        "a.parquet",
        "--record-exposures",
    ],
}


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def _one_line(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    code = cli.run(args)
    captured = capsys.readouterr()
    assert code == 2, (captured.out, captured.err)
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    return captured.err


@pytest.mark.parametrize("verb", list(READING_VERBS))
def test_a_missing_database_is_one_line_and_creates_nothing(
    verb: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    err = _one_line(capsys, [*READING_VERBS[verb], "--db", "shpo.duckdb"])
    assert "database not found: shpo.duckdb" in err
    assert list(tmp_path.iterdir()) == []  # no empty database, no artifacts folder


@pytest.mark.parametrize("verb", list(READING_VERBS))
def test_a_file_that_is_not_a_looklift_database_is_one_line_and_left_as_it_was(
    verb: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    con = duckdb.connect("other.duckdb")
    con.execute("CREATE TABLE sales (a INTEGER)")
    con.close()
    (tmp_path / "notes.duckdb").write_text("not a database at all\n" * 100)
    (tmp_path / "folder").mkdir()
    before = _listing(tmp_path)
    for db, message in [
        ("other.duckdb", "other.duckdb is not a looklift database"),
        ("notes.duckdb", "notes.duckdb is not a DuckDB database"),
        ("folder", "database not found: folder"),
    ]:
        err = _one_line(capsys, [*READING_VERBS[verb], "--db", db])
        assert message in err, (db, err)
    assert _listing(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "notes.duckdb", "other.duckdb"]


def test_ingest_refuses_a_folder_as_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users = tmp_path / "users.csv"
    users.write_text("user_id\na\n")
    err = _one_line(capsys, ["ingest", "users", str(users), "--db", str(tmp_path)])
    assert "is not a file" in err
