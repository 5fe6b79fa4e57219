"""The analyzer's SQL is portable: every query transpiles to the warehouses' dialects."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlglot

from abtest.analysis import sql as analysis_sql
from abtest.analysis.filters import Query
from abtest.analysis.moments import metric_moments
from tests.abtest.analysis.builders import END, START, make_spec


def test_sql_is_portable_to_warehouses(db: Path) -> None:
    spec = make_spec(cuped_pre_period_days=3)
    variables = metric_moments(spec, cuped=True)
    pre_start, caps = START - dt.timedelta(days=3), {"impressions": 40.0}
    queries = [
        analysis_sql.units_sql(spec, START, END),
        analysis_sql.user_totals_sql(spec, START, END, pre_start),
        analysis_sql.late_exposures_sql(),
        analysis_sql.recounted_totals_sql(spec, START, END, pre_start),
        analysis_sql.user_days_sql(spec, START, END, pre_start, late_users=True),
        analysis_sql.percentile_cap_sql(spec.metric("revenue")),
        analysis_sql.moments_by_variant_sql(variables, caps),
        analysis_sql.moments_by_segments_sql(variables, caps, ["platform", "is_new"]),
        analysis_sql.moments_by_day_sql(variables, [START.date(), END.date()], {}),
    ]
    for query in queries:
        text = query.sql if isinstance(query, Query) else query
        for dialect in ("postgres", "spark", "snowflake", "bigquery"):
            out = sqlglot.transpile(
                text, read="duckdb", write=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE
            )
            assert out and out[0]
