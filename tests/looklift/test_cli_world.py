"""``looklift world`` and the CLI's handling of user mistakes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

LOOKLIFT = [sys.executable, "-m", "looklift.cli"]


def looklift(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LOOKLIFT, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_world_writes_a_catalog_and_reports_it_as_json(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    result = looklift(
        "world", "--items", "30", "--users", "20", "--db", str(db), "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["n_items"] == 30 and summary["n_users"] == 20
    assert sum(summary["items_per_category"].values()) == 30
    assert Path(summary["contact_sheet"]).exists() and db.exists()


def test_world_prints_tables_and_paths(tmp_path: Path) -> None:
    result = looklift("world", "--items", "12", "--users", "5", "--db", str(tmp_path / "x.duckdb"))
    assert result.returncode == 0, result.stderr
    assert "category" in result.stdout and "contact sheet" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["world", "--bogus"], "No such option: --bogus"),
        (["world", "--items", "-3"], "--items must be at least 10"),
        (["world", "--items", "many"], "Invalid value for '--items'"),
        (["world", "--db", "/nonexistent-folder/x.duckdb"], "folder does not exist"),
        (["frobnicate"], "No such command"),
    ],
)
def test_user_mistakes_are_one_line_exit_2_no_traceback(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = looklift(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_existing_and_corrupt_databases(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    db.write_bytes(b"not a database" * 100)
    result = looklift("world", "--items", "12", "--users", "5", "--db", str(db))
    assert result.returncode == 2 and "already exists" in result.stderr
    assert db.read_bytes() == b"not a database" * 100


def test_unwritable_folder(tmp_path: Path) -> None:
    result = looklift("world", "--db", "/sys/looklift.duckdb")  # sysfs: read-only even for root
    assert result.returncode == 2 and "cannot write to folder /sys" in result.stderr


def test_help_explains_the_verb() -> None:
    result = looklift("world", "--help")
    assert result.returncode == 0
    assert "synthetic marketplace" in result.stdout and "--items" in result.stdout
