"""The Spark engine: the same plan, the same numbers as DuckDB (1e-9), and the SQL it runs.

One local Spark session serves every test (``spark_session`` in ``tests/conftest.py``).
The data is the state tests' experiment: every metric kind the spec allows (ratio,
proportion, mean, filtered and windowed means, percentile winsorization, CUPED on 3
pre-period days, nDCG, MRR, tap position, quantiles over users and over events),
late and duplicated events, a user exposed to both arms, users with events before
their first exposure; exported as a warehouse would, events partitioned by day.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest

from abtest.analysis import analyze
from abtest.analysis.spark_sql import condition_to_spark, to_spark
from abtest.store import Store
from tests.abtest.analysis.builders import START
from tests.abtest.analysis.state.conftest import (  # the state tests' experiment
    assert_same_analysis,
    ingest,
    source_rows,  # noqa: F401 (a fixture)
    state_spec,
)


def export_tables(store_path: Path, folder: Path) -> Path:
    """``exposures`` and ``users`` as parquet files, ``events`` as a folder partitioned by
    day (``day=2026-03-02/...``), as a warehouse export would be."""
    folder.mkdir(parents=True, exist_ok=True)
    with Store(store_path, read_only=True) as store:
        con = store.con
        for name in ("exposures", "users"):
            con.execute(f"COPY {name} TO '{folder / name}.parquet' (FORMAT parquet)")
        con.execute(
            f"COPY (SELECT *, CAST(ts AS DATE) AS day FROM events) TO '{folder / 'events'}' "
            "(FORMAT parquet, PARTITION_BY (day))"
        )
    return folder


@pytest.fixture(scope="module")
def experiment(
    source_rows: dict[str, pl.DataFrame],  # noqa: F811
    served: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path]:
    """The experiment in a DuckDB store, and the same tables exported as parquet."""
    folder = tmp_path_factory.mktemp("spark")
    path = folder / "store.duckdb"
    shutil.copy(served, path)
    ingest(path, source_rows)
    return path, export_tables(path, folder / "exports")


@pytest.fixture(scope="module")
def engine(spark_session, experiment: tuple[Path, Path]):
    from abtest.analysis.spark import SparkEngine

    return SparkEngine(spark_session, experiment[1])


def test_every_number_equals_duckdb_with_segments_and_daily_points(
    engine, experiment: tuple[Path, Path]
) -> None:
    spec = state_spec()
    ours = analyze(engine, spec, segments=("platform", "is_new"))
    with Store(experiment[0], read_only=True) as store:
        raw = analyze(store, spec, segments=("platform", "is_new"), use_state=False)
    assert ours.daily and ours.segments and ours.health.mixed_users == 1
    assert_same_analysis(ours, raw)
    assert ours.source is not None and ours.source.startswith("Spark")


def test_as_of_equals_duckdb(engine, experiment: tuple[Path, Path]) -> None:
    spec = state_spec()
    as_of = (START + dt.timedelta(days=3)).date()
    ours = analyze(engine, spec, as_of=as_of, segments=(), daily=False)
    with Store(experiment[0], read_only=True) as store:
        raw = analyze(store, spec, as_of=as_of, segments=(), daily=False, use_state=False)
    assert ours.end == raw.end == dt.datetime.combine(as_of, dt.time()) + dt.timedelta(days=1)
    assert_same_analysis(ours, raw)


def test_the_percentile_cap_is_exact_on_both_engines(engine, experiment) -> None:
    """DuckDB's PERCENTILE_CONT and Spark's percentile interpolate linearly between the
    two closest ranks; sqlglot's own translation (percentile_approx) would not agree."""
    values = [0.0, 1.0, 2.0, 10.0, 1000.0]
    query = "SELECT PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY v) FROM t"
    table = f"(SELECT * FROM (VALUES {', '.join(f'({v})' for v in values)}) AS x(v))"
    text = query.replace("FROM t", f"FROM {table} t")
    assert "percentile(" in to_spark(text).lower() and "approx" not in to_spark(text).lower()
    (spark,) = engine.fetch_all(text)[0]
    import duckdb

    (duck,) = duckdb.connect().execute(text).fetchall()[0]
    assert spark == pytest.approx(float(duck), rel=1e-12)
    assert float(duck) == pytest.approx(0.6 * 990 + 10)


def test_values_are_bound_as_typed_literals_never_as_text() -> None:
    text = to_spark(
        "SELECT * FROM events WHERE user_id = $u AND ts >= $t AND value > $v AND x IN ($l)",
        {
            "u": "O'Brien'; DROP TABLE events; --",
            "t": dt.datetime(2026, 3, 2),
            "v": 0.1,
            "l": [1, 2],
        },
    )
    assert "'O\\'Brien\\'; DROP TABLE events; --'" in text or "'O''Brien''" in text
    assert "CAST('2026-03-02 00:00:00' AS TIMESTAMP" in text
    assert "CAST('0.1' AS DOUBLE)" in text
    positional = to_spark(
        "SELECT 1 FROM exposures WHERE experiment = ? AND ts < ?", ["a", dt.date(2026, 3, 2)]
    )
    assert "'a'" in positional and "CAST('2026-03-02' AS DATE)" in positional
    assert condition_to_spark("first_ts < exposed_at") == "first_ts < exposed_at"


def test_quoted_and_reserved_identifiers_survive_on_both_engines(
    spark_session, experiment: tuple[Path, Path], tmp_path: Path
) -> None:
    """A users column named ``order`` (a reserved word) and one named ``my "app"`` (a
    quote and a space) as segments, and an events column ``select`` in a metric filter:
    quoted by the generator on Spark, as on DuckDB."""
    from abtest.analysis.spark import SparkEngine
    from abtest.spec import parse_spec
    from tests.abtest.analysis.state.conftest import state_data

    path = tmp_path / "reserved.duckdb"
    shutil.copy(experiment[0], path)
    with Store(path) as store:
        store.con.execute('ALTER TABLE users ADD COLUMN "order" VARCHAR')
        store.con.execute("""UPDATE users SET "order" = CASE WHEN hash(user_id) % 2 = 0
                             THEN 'first' ELSE 'second' END""")
        store.con.execute('ALTER TABLE users ADD COLUMN "my ""app""" VARCHAR')
        store.con.execute(
            'UPDATE users SET "my ""app""" = '
            "CASE WHEN hash(user_id) % 3 = 0 THEN 'it''s' ELSE 'plain' END"
        )
        store.con.execute('ALTER TABLE events ADD COLUMN "select" BIGINT')
        store.con.execute('UPDATE events SET "select" = CAST(hash(event_id) % 3 AS BIGINT)')
    data = state_data()
    data["metric_definitions"] = {
        "picked": {
            "kind": "mean",
            "numerator": {"event": "purchase", "filter": {"select": {"$gte": 1}}},
        },
        "tap_rate": data["metric_definitions"]["tap_rate"],
    }
    data["metrics"] = {"primary": ["tap_rate"], "secondary": ["picked"]}
    spec = parse_spec(data)
    ours = analyze(
        SparkEngine(spark_session, export_tables(path, tmp_path / "exports")),
        spec,
        segments=("order", 'my "app"'),
        daily=False,
    )
    with Store(path, read_only=True) as store:
        raw = analyze(store, spec, segments=("order", 'my "app"'), daily=False)
    assert {p.value for p in raw.segments} >= {"first", "second", "it's", "plain"}
    assert_same_analysis(ours, raw)


def test_tables_of_a_catalog_database(
    spark_session, experiment: tuple[Path, Path], tmp_path: Path
) -> None:
    """``--tables analytics``: tables registered in the session's catalog (here external
    tables over the parquet exports, as a metastore would hold them)."""
    from abtest.analysis.spark import SparkEngine

    exports = experiment[1]
    spark_session.sql(f"CREATE DATABASE IF NOT EXISTS analytics LOCATION '{tmp_path}'")
    for name, where in (
        ("exposures", exports / "exposures.parquet"),
        ("events", exports / "events"),
        ("users", exports / "users.parquet"),
    ):
        spark_session.sql(
            f"CREATE TABLE IF NOT EXISTS analytics.{name} USING parquet LOCATION '{where}'"
        )
    spark_session.sql("MSCK REPAIR TABLE analytics.events")  # its day partitions
    spec = state_spec()
    try:
        ours = analyze(SparkEngine(spark_session, "analytics"), spec, segments=(), daily=False)
    finally:
        spark_session.sql("DROP DATABASE analytics CASCADE")
    with Store(experiment[0], read_only=True) as store:
        raw = analyze(store, spec, segments=(), daily=False, use_state=False)
    assert ours.source is not None and ours.source.endswith(": analytics")
    assert_same_analysis(ours, raw)
