"""The analysis plan on Spark: where a marketplace's events already live.

:class:`SparkEngine` runs the analyzer's plan (DuckDB SQL, carried to Spark SQL by
:mod:`abtest.analysis.spark_sql`) on a ``SparkSession``, a user's own or a local
one (:func:`local_session`). It reads ``exposures``, ``events`` and ``users``
from parquet (a folder holding each as a file or a folder of files, partitioned
by day or not, as a warehouse exports them) or from tables registered in the
session's catalog (Hive metastore or otherwise), and registers them as temporary
views of those names. The per-user tables the plan stages are checkpointed
DataFrames; what comes back to Python is a handful of rows of moments, never
the events.

    from abtest.analysis import analyze
    from abtest.analysis.spark import SparkEngine, local_session

    engine = SparkEngine(local_session(), "exports/")   # or SparkEngine(spark, "analytics")
    result = analyze(engine, spec)
"""

from __future__ import annotations

import contextlib
import decimal
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abtest.analysis.engine import Params, split_query
from abtest.analysis.filters import Query
from abtest.analysis.spark_sql import condition_to_spark, to_spark

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

TABLES = ("exposures", "events", "users")
"""The tables an analysis reads, registered as temporary views of these names."""

_DUCKDB_TYPES = {
    "string": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "timestamp_ntz": "TIMESTAMP",
    "binary": "BLOB",
}


class SparkError(Exception):
    """Spark cannot run the analysis as asked (pyspark or Java missing, no such tables)."""


def local_session(
    master: str = "local[*]", app_name: str = "looklift", log: Path | None = None
) -> SparkSession:
    """A Spark session for looklift: UTC, no web UI; on a local master, the driver on
    loopback and few shuffle partitions (an analysis shuffles per-user rows, not raw
    events; a cluster keeps Spark's defaults and adaptive execution). ``master`` is any
    Spark master URL (``local[2]``, ``spark://host:7077``...).

    With ``log``, the Java process Spark starts writes its own output (log4j lines,
    warnings) to that file instead of the terminal, so that a command's output stays
    its own. An already running session is returned as it is."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkError(
            "the spark engine needs pyspark: pip install 'looklift[spark]' "
            "(and a Java runtime, 17 or later)"
        ) from None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.inferTimestampNTZ.enabled", "true")
    )
    if master.startswith("local"):
        builder = (
            builder.config("spark.sql.shuffle.partitions", "8")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
        )
    try:
        with _stderr_to(log):
            session = builder.getOrCreate()
    except Exception as exc:  # Java missing or broken: say so in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = f"; see {log}" if log is not None else ""
        raise SparkError(f"could not start Spark ({master}): {first}{where}") from None
    session.sparkContext.setLogLevel("ERROR")
    return session


@contextlib.contextmanager
def _stderr_to(log: Path | None) -> Iterator[None]:
    """Point file descriptor 2 at ``log`` while Spark starts its Java process, which
    inherits it; Python's own stderr is restored afterwards."""
    if log is None:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with open(log, "ab") as target:
        os.dup2(target.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class SparkEngine:
    """The analysis plan on a ``SparkSession``.

    ``tables`` is a folder holding ``exposures``, ``events`` and ``users`` as parquet
    (``events/`` or ``events.parquet``; partition folders such as ``day=2026-03-02``
    are read as Spark reads them), or the name of a database in the session's
    catalog holding tables of those names; ``None`` uses tables or views of those
    names that the session already has. The session's time zone is set to UTC, the
    store's: days and windows are cut in UTC on both engines.
    """

    name = "spark"

    def __init__(self, session: SparkSession, tables: str | Path | None = None) -> None:
        self.session = session
        session.conf.set("spark.sql.session.timeZone", "UTC")
        master = session.sparkContext.master
        source = "the session's tables" if tables is None else str(tables)
        self.where = f"Spark ({master}): {source}"
        self._staged: dict[str, DataFrame] = {}
        if tables is not None:
            self._register(tables)

    def _register(self, tables: str | Path) -> None:
        """Register the tables found as temporary views; forget those of an earlier
        engine on the same session."""
        for name in TABLES:
            self.session.catalog.dropTempView(name)
        folder = Path(tables)
        if folder.is_dir():
            for name in TABLES:
                path = next(
                    (p for p in (folder / name, folder / f"{name}.parquet") if p.exists()), None
                )
                if path is not None:
                    self.session.read.parquet(str(path)).createOrReplaceTempView(name)
            return
        if any(sep in str(tables) for sep in ("/", "\\")) or str(tables).endswith(".parquet"):
            raise SparkError(f"--tables {tables}: no such folder")
        catalog = self.session.catalog
        if not catalog.databaseExists(str(tables)):
            raise SparkError(
                f"--tables {tables}: neither a folder nor a database of the Spark catalog"
            )
        for name in TABLES:
            if catalog.tableExists(f"`{tables}`.`{name}`"):
                self.session.table(f"`{tables}`.`{name}`").createOrReplaceTempView(name)

    # -- what the plan needs ------------------------------------------------------------
    def has_table(self, table: str) -> bool:
        return bool(self.session.catalog.tableExists(table))

    def columns(self, table: str) -> dict[str, str]:
        fields = self.session.table(table).schema.fields
        return {f.name: _duckdb_type(f.dataType.simpleString()) for f in fields}

    def fetch_all(self, query: str | Query, params: Params = None) -> list[tuple[Any, ...]]:
        text, bound = split_query(query, params)
        rows = self.session.sql(to_spark(text, bound)).collect()
        return [tuple(_python(v) for v in row) for row in rows]

    def fetch_dicts(self, query: str | Query) -> list[dict[str, Any]]:
        text, bound = split_query(query, None)
        frame = self.session.sql(to_spark(text, bound))
        names = frame.columns
        return [dict(zip(names, (_python(v) for v in row), strict=True)) for row in frame.collect()]

    def stage(self, table: str, query: str | Query) -> None:
        text, bound = split_query(query, None)
        self._keep(table, self.session.sql(to_spark(text, bound)))

    def delete_where(self, table: str, condition: str) -> None:
        kept = self.session.table(table).where(
            f"NOT COALESCE(({condition_to_spark(condition)}), FALSE)"
        )
        self._keep(table, kept)

    def append(self, table: str, query: str | Query) -> None:
        text, bound = split_query(query, None)
        rows = self.session.sql(to_spark(text, bound))
        self._keep(table, self.session.table(table).union(rows))

    def drop(self, table: str) -> None:
        self.session.catalog.dropTempView(table)
        frame = self._staged.pop(table, None)
        if frame is not None:
            frame.unpersist()

    def _keep(self, table: str, frame: DataFrame) -> None:
        """Materialise ``frame`` (its lineage cut, so later steps do not recompute it)
        and register it as ``table``."""
        kept = frame.localCheckpoint(eager=True)
        kept.createOrReplaceTempView(table)
        old = self._staged.pop(table, None)
        self._staged[table] = kept
        if old is not None:
            old.unpersist()


def _duckdb_type(spark_type: str) -> str:
    """A Spark type's DuckDB name (decimals and nested types keep Spark's)."""
    return _DUCKDB_TYPES.get(spark_type, spark_type.upper())


def _python(value: Any) -> Any:
    """A value as DuckDB's Python client returns it: decimals as floats, arrays as lists."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, list):
        return [_python(v) for v in value]
    return value
