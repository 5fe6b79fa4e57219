"""The staged tables: built for the block that reads them, dropped whatever happens."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from abtest.analysis.moments import metric_moments
from abtest.analysis.staging import staged_tables
from abtest.store import Store
from tests.abtest.analysis.builders import END, START, make_spec


def test_the_staged_tables_are_dropped_whatever_happens(db: Path) -> None:
    spec = make_spec(cuped_pre_period_days=3)
    metrics = metric_moments(spec, cuped=True)
    with Store(db, read_only=True) as store:
        try:
            with staged_tables(
                store, spec, metrics, (START, END), START - dt.timedelta(days=3), daily=True
            ) as staged:
                assert store.has_table("__looklift_user_totals")
                assert store.has_table("__looklift_user_days")
                assert staged.caps["impressions"] == 40.0 and staged.caps["revenue"] > 0
                raise KeyError("boom")
        except KeyError:
            pass
        assert not store.has_table("__looklift_user_totals")
        assert not store.has_table("__looklift_user_days")
