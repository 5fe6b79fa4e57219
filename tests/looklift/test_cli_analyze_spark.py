"""``looklift analyze --engine spark``: the same JSON as DuckDB's; mistakes in one line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from looklift.cli import run
from tests.abtest.analysis.state.conftest import flat
from tests.abtest.analysis.test_spark import export_tables
from tests.reports.builders import build_reported_db


@pytest.fixture(scope="module")
def reported(small_world, tmp_path_factory) -> tuple[Path, Path, Path]:
    db, spec = build_reported_db(small_world, tmp_path_factory.mktemp("cli-spark"))
    return db, spec, export_tables(db, db.parent / "exports")


def assert_same_json(ours: dict, raw: dict) -> None:
    """The same fields; numbers equal to 1e-9 relative, everything else exactly."""
    a, b = flat(ours), flat(raw)
    assert a.keys() == b.keys()
    for key, value in a.items():
        if isinstance(value, float) and isinstance(b[key], float):
            assert math.isclose(value, b[key], rel_tol=1e-9, abs_tol=1e-12), key
        else:
            assert value == b[key], key


def looklift(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_spark_prints_the_same_analysis_as_duckdb(
    spark_session, reported: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, spec, exports = reported
    code, out, err = looklift(
        capsys, "analyze", str(spec), "--engine", "spark", "--tables", str(exports),
        "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    ours = json.loads(out)
    code, out, err = looklift(capsys, "analyze", str(spec), "--db", str(db), "--format", "json")
    assert code == 0, err
    raw = json.loads(out)
    assert ours.pop("source").startswith("Spark (local") and raw.pop("source") is None
    assert_same_json(ours, raw)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--engine", "spark"), "--engine spark needs --tables"),
        (("--tables", "exports"), "--tables is for --engine spark"),
        (("--engine", "spark", "--tables", "no/such/folder"), "no/such/folder: no such folder"),
        (("--engine", "spark", "--tables", "nodb"), "neither a folder nor a database"),
    ],
)
def test_mistakes_are_one_line(
    spark_session,
    reported: tuple[Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    code, out, err = looklift(capsys, "analyze", str(reported[1]), *args)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_folder_without_the_tables_is_named(
    spark_session, reported: tuple[Path, Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    code, out, err = looklift(
        capsys, "analyze", str(reported[1]), "--engine", "spark", "--tables", str(tmp_path)
    )
    assert code == 2 and out == ""
    assert "has no exposures, events, users table(s)" in err


def test_report_on_spark_shows_the_same_analysis(
    spark_session,
    reported: tuple[Path, Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db, spec, exports = reported
    reports = {}
    for name, args in (
        ("spark", ("--engine", "spark", "--tables", str(exports), "--db", str(db))),
        ("spark-alone", ("--engine", "spark", "--tables", str(exports), "--db", "none.duckdb")),
        ("duckdb", ("--db", str(db))),
    ):
        html = tmp_path / f"{name}.html"
        code, _, err = looklift(
            capsys, "report", str(spec), *args, "--out", str(html), "--no-offline"
        )
        assert code == 0, err
        reports[name] = json.loads(html.with_suffix(".json").read_text(encoding="utf-8"))
    raw = reports["duckdb"]
    assert raw["gallery"] and reports["spark"]["gallery"] == raw["gallery"]
    assert reports["spark-alone"]["gallery"] is None
    for name in ("spark", "spark-alone"):
        ours = reports[name]["analysis"]
        assert ours.pop("source").startswith("Spark (local") and raw["analysis"]["source"] is None
        assert_same_json(ours, {k: v for k, v in raw["analysis"].items() if k != "source"})
