"""Which engine a command analyses on: the store's DuckDB (default) or Spark.

The commands' ``--engine``, ``--tables`` and ``--spark-master`` options meet here:
checked (one line for a mistake), and turned into an
:class:`~abtest.analysis.engine.Engine`.
"""

from __future__ import annotations

import enum
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from looklift.errors import UsageProblem

if TYPE_CHECKING:
    from abtest.analysis.engine import Engine as AnalysisEngine

SPARK_LOG = Path(tempfile.gettempdir()) / "looklift-spark.log"
"""Where the Java process Spark starts writes its own log lines."""


class Engine(enum.StrEnum):
    duckdb = "duckdb"
    spark = "spark"


EngineOption = Annotated[
    Engine,
    typer.Option(
        help="Where the analysis runs: duckdb (the --db file) or spark (--tables; for "
        "report, --db, if it exists, still gives the gallery, offline section and truth).",
    ),
]
TablesOption = Annotated[
    str | None,
    typer.Option(
        metavar="DIR_OR_DB",
        help="With --engine spark: a folder holding exposures, events and users as parquet "
        "(files or folders, partitioned or not), or a database of the Spark catalog holding "
        "tables of those names.",
    ),
]
SparkMasterOption = Annotated[
    str, typer.Option(metavar="URL", help="With --engine spark: the Spark master URL.")
]


def check_tables(engine: Engine, tables: str | None) -> None:
    """``--tables`` goes with ``--engine spark``, and Spark needs it."""
    if engine is Engine.duckdb and tables is not None:
        raise UsageProblem("--tables is for --engine spark; DuckDB reads --db")
    if engine is Engine.spark and tables is None:
        raise UsageProblem(
            "--engine spark needs --tables: a folder of parquet exports (exposures, "
            "events, users) or a database of the Spark catalog"
        )


def spark_engine(tables: str, master: str) -> AnalysisEngine:
    """A Spark engine on ``tables`` (a local session on ``master``, its log in
    :data:`SPARK_LOG`)."""
    try:
        from abtest.analysis.spark import SparkEngine, local_session
    except ImportError:
        raise UsageProblem(
            "the spark engine needs its extra: pip install 'looklift[spark]'"
        ) from None
    return SparkEngine(local_session(master, log=SPARK_LOG), tables)
