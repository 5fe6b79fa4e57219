"""``looklift report``: three files for an analyzed experiment, or one clear line and nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from looklift.cli import run
from tests.reports.builders import SPEC, build_reported_db


@pytest.fixture(scope="module")
def reported(small_world, tmp_path_factory) -> tuple[Path, Path]:
    return build_reported_db(small_world, tmp_path_factory.mktemp("cli-report"))


def looklift(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_writes_html_markdown_and_json(
    reported: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, spec = reported
    out = tmp_path / "report.html"
    code, stdout, stderr = looklift(
        capsys, "report", str(spec), "--db", str(db), "--out", str(out), "--format", "json"
    )
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["html"] == str(out) and summary["decision"]["verdict"] == "winner"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.json", "report.md"]
    assert summary["bytes"]["report.html"] == out.stat().st_size < 6_000_000
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["offline"]["comparisons"] and data["gallery"]["items"]
    assert data["simulator_truth"] is None  # only with --with-truth


def test_table_output_options_and_truth(
    reported: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, spec = reported
    out = tmp_path / "r.html"
    code, stdout, _ = looklift(
        capsys,
        "report",
        str(spec),
        "--db",
        str(db),
        "--out",
        str(out),
        "--with-truth",
        "--no-offline",
        "--gallery",
        "0",
    )
    assert code == 0
    assert "tap_through_rate" in stdout and f"report: {out}" in stdout
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["offline"] is None and data["gallery"] is None
    assert data["simulator_truth"]["effects"]
    assert "Simulation only" in out.with_suffix(".md").read_text()


def _empty_db(folder: Path) -> Path:
    path = folder / "empty.duckdb"
    duckdb.connect(str(path)).close()
    return path


def _never_simulated(folder: Path) -> Path:
    path = folder / "other.yaml"
    path.write_text(SPEC.replace("key: report-test", "key: never-run"))
    return path


def _not_a_db(folder: Path) -> Path:
    path = folder / "junk.duckdb"
    path.write_bytes(b"not a database" * 100)
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("never-simulated", "'never-run' has no exposures"),
        ("no-tables", "is not a looklift database"),
        ("not-a-db", "is not a DuckDB database"),
        ("missing-db", "database not found"),
        ("missing-folder", "output folder does not exist"),
        ("not-html", "must end in .html"),
        ("bad-gallery", "--gallery must be 0 or more"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    reported: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    message: str,
) -> None:
    db, spec = reported
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "report.html"
    extra: list[str] = []
    if case == "never-simulated":
        spec = _never_simulated(inputs)
    elif case == "no-tables":
        db = _empty_db(inputs)
    elif case == "not-a-db":
        db = _not_a_db(inputs)
    elif case == "missing-db":
        db = inputs / "nowhere.duckdb"
    elif case == "missing-folder":
        out = out_dir / "missing" / "report.html"
    elif case == "not-html":
        out = out_dir / "report.txt"
    elif case == "bad-gallery":
        extra = ["--gallery", "-1"]
    code, stdout, stderr = looklift(
        capsys, "report", str(spec), "--db", str(db), "--out", str(out), *extra
    )
    assert code == 2, stderr
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "Traceback" not in stderr + stdout
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("remove", "why"),
    [
        ("DROP TABLE truth_experiments", "holds no simulator truth (no truth_experiments table"),
        ("DELETE FROM truth_experiments", "'report-test' was not simulated in"),
    ],
)
def test_with_truth_on_data_without_truth_says_so(
    reported: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    remove: str,
    why: str,
) -> None:
    """--with-truth where there is none (real data) writes the report without it and
    says why in one warning, rather than silently ignoring the option."""
    db, spec = reported
    copy = tmp_path / "real.duckdb"
    shutil.copy(db, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute(remove)
    out = tmp_path / "r.html"
    code, _, stderr = looklift(
        capsys,
        "report",
        str(spec),
        "--db",
        str(copy),
        "--out",
        str(out),
        "--with-truth",
        "--no-offline",
        "--gallery",
        "0",
    )
    assert code == 0, stderr
    (line,) = stderr.strip().splitlines()
    assert line.startswith("looklift: warning: --with-truth: ") and why in line
    assert json.loads(out.with_suffix(".json").read_text())["simulator_truth"] is None
