"""``looklift refresh``: the state built and said, read by analyze; mistakes in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from looklift.cli import run
from tests.abtest.analysis.state.conftest import flat
from tests.reports.builders import build_reported_db


@pytest.fixture(scope="module")
def reported(small_world, tmp_path_factory) -> tuple[Path, Path]:
    return build_reported_db(small_world, tmp_path_factory.mktemp("cli-refresh"))


@pytest.fixture()
def db_and_spec(reported: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    db, spec = reported
    copy = tmp_path / "copy.duckdb"
    shutil.copy(db, copy)
    return copy, spec


def looklift(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_refresh_builds_then_is_up_to_date_and_analyze_reads_it(
    db_and_spec: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, spec = db_and_spec
    code, out, err = looklift(capsys, "refresh", str(spec), "--db", str(db))
    assert code == 0, err
    assert "built (no state yet)" in out and "recomputed from" in out
    code, out, err = looklift(capsys, "refresh", str(spec), "--db", str(db), "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["mode"] == "up to date" and report["events_read"] == 0
    assert report["units"] > 0 and report["lookback"] == 0.0
    code, out, _ = looklift(capsys, "analyze", str(spec), "--db", str(db), "--format", "json")
    ours = json.loads(out)
    assert code == 0 and ours["source"].startswith("from state up to ")
    code, out, _ = looklift(
        capsys, "analyze", str(spec), "--db", str(db), "--format", "json", "--no-state"
    )
    raw = json.loads(out)
    assert code == 0 and raw["source"] is None
    ours_flat, raw_flat = flat(ours["comparisons"]), flat(raw["comparisons"])
    assert ours_flat.keys() == raw_flat.keys()
    for key, value in ours_flat.items():
        if isinstance(value, float):
            assert value == pytest.approx(raw_flat[key], rel=1e-9, abs=1e-12, nan_ok=True), key
        else:
            assert value == raw_flat[key], key
    code, out, _ = looklift(capsys, "analyze", str(spec), "--db", str(db))
    assert code == 0 and "note: from state up to" in out


def test_full_and_lookback(
    db_and_spec: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, spec = db_and_spec
    assert looklift(capsys, "refresh", str(spec), "--db", str(db))[0] == 0
    code, out, _ = looklift(
        capsys, "refresh", str(spec), "--db", str(db), "--full", "--format", "json"
    )
    assert code == 0 and json.loads(out)["mode"] == "rebuilt"
    code, out, _ = looklift(
        capsys, "refresh", str(spec), "--db", str(db), "--lookback", "2d", "--format", "json"
    )
    report = json.loads(out)
    assert code == 0 and report["mode"] == "updated" and report["lookback"] == 48.0
    assert "lookback" in report["reason"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--lookback", "two days"), "--lookback 'two days': write a duration"),
        (("--db", "missing.duckdb"), "missing.duckdb"),
    ],
)
def test_mistakes_are_one_line(
    db_and_spec: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    args: tuple[str, ...],
    message: str,
) -> None:
    db, spec = db_and_spec
    full = ("--db", str(db), *args) if args[0] != "--db" else (args[0], str(tmp_path / args[1]))
    code, out, err = looklift(capsys, "refresh", str(spec), *full)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_report_reads_the_state_and_says_so_unless_told_not_to(
    db_and_spec: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db, spec = db_and_spec
    assert looklift(capsys, "refresh", str(spec), "--db", str(db))[0] == 0
    sources = {}
    for flag in ("--state", "--no-state"):
        html = tmp_path / f"report{flag}.html"
        args = ("--db", str(db), "--out", str(html), "--gallery", "0", "--no-offline", flag)
        code, _, err = looklift(capsys, "report", str(spec), *args)
        assert code == 0, err
        report = json.loads(html.with_suffix(".json").read_text(encoding="utf-8"))
        sources[flag] = (report["analysis"]["source"], html.with_suffix(".md").read_text())
    from_state, markdown = sources["--state"]
    assert from_state.startswith("from state up to ") and f"Data: {from_state}." in markdown
    raw, markdown = sources["--no-state"]
    assert raw is None and "Data: from state" not in markdown
