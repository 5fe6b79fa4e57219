"""Window and store checks: every refusal names the problem; segment names are checked
against the users table and quoted."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from abtest.analysis import AnalysisError, analyze
from abtest.spec import parse_spec
from abtest.store import Store
from tests.abtest.analysis.builders import SPEC, make_spec


def test_errors_name_the_problem(db: Path, tmp_path: Path) -> None:
    with Store(db, read_only=True) as store:
        with pytest.raises(AnalysisError, match="has no exposures"):
            analyze(store, parse_spec({**SPEC, "key": "never-run"}))
        with pytest.raises(AnalysisError, match="before 'analyzer-test' started"):
            analyze(store, make_spec(), as_of=dt.date(2026, 2, 1))
    import duckdb

    from abtest.store import StoreError

    bare = tmp_path / "bare.duckdb"
    duckdb.connect(str(bare)).close()
    with pytest.raises(StoreError, match="is not a looklift database"):  # refused at open
        Store(bare, read_only=True)
    con = duckdb.connect(str(bare))
    con.execute("CREATE TABLE users (user_id VARCHAR)")  # a looklift table, no exposures
    con.close()
    with Store(bare, read_only=True) as store, pytest.raises(AnalysisError, match="no exposures"):
        analyze(store, make_spec())


def test_segment_names_are_checked_and_quoted(db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "quoted.duckdb"
    shutil.copy(db, copy)
    with Store(copy) as store:
        store.con.execute('ALTER TABLE users ADD COLUMN "app ""version""" VARCHAR')
        store.con.execute(
            'UPDATE users SET "app ""version""" = '
            "'v' || (CAST(substr(user_id, 2) AS INTEGER) % 2)"
        )
        result = analyze(store, make_spec(), segments=['app "version"'], daily=False)
        assert {s.value for s in result.segments} == {"v0", "v1"}
        with pytest.raises(AnalysisError, match="unknown segment 'platform; DROP TABLE users'"):
            analyze(store, make_spec(), segments=["platform; DROP TABLE users"])
        assert store.has_table("users")
