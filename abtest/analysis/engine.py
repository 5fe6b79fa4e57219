"""Where the analysis plan runs: the seam between the analyzer's SQL and an engine.

The analyzer generates its plan once, as SQL in DuckDB's dialect with bound
parameters (:mod:`abtest.analysis.sql`), and hands each statement to an
:class:`Engine`. The plan needs very little of one: read a few rows back, stage a
temporary table (create it from a query, drop rows, append rows, drop it), and
say which tables and columns exist. :class:`DuckDBEngine` runs it on a looklift
store (the default); :class:`abtest.analysis.spark.SparkEngine` on Spark.
Everything after the rows that come back (moments, statistics, the result, the
report) is shared, and no per-row work happens outside the engine: the moments
come back as a handful of rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from abtest.analysis.filters import Query
from abtest.store import Store

Params = Mapping[str, Any] | Sequence[Any] | None


@runtime_checkable
class Engine(Protocol):
    """What the analysis plan needs of an engine. Statements are DuckDB SQL."""

    name: str
    """``duckdb`` or ``spark``."""
    where: str
    """Where the data lives, for messages (a database path, a folder of tables...)."""

    def has_table(self, table: str) -> bool:
        """Whether ``table`` exists (a table, or a view the engine registered)."""
        ...

    def columns(self, table: str) -> dict[str, str]:
        """``table``'s columns and their types, in DuckDB's names (``VARCHAR``...)."""
        ...

    def fetch_all(self, query: str | Query, params: Params = None) -> list[tuple[Any, ...]]:
        """The rows of a query, numbers as Python ``int`` and ``float``."""
        ...

    def fetch_dicts(self, query: str | Query) -> list[dict[str, Any]]:
        """The rows of a query as ``{column: value}``."""
        ...

    def stage(self, table: str, query: str | Query) -> None:
        """Create (or replace) the temporary ``table`` from a query."""
        ...

    def delete_where(self, table: str, condition: str) -> None:
        """Drop the rows of temporary ``table`` for which ``condition`` is true."""
        ...

    def append(self, table: str, query: str | Query) -> None:
        """Append a query's rows (same columns, same order) to temporary ``table``."""
        ...

    def drop(self, table: str) -> None:
        """Drop temporary ``table`` (or view) if it exists."""
        ...


def fetch_one(engine: Engine, query: str | Query, params: Params = None) -> tuple[Any, ...] | None:
    """The first row of a query, ``None`` without rows."""
    rows = engine.fetch_all(query, params)
    return rows[0] if rows else None


def as_engine(source: Store | Engine) -> Engine:
    """The engine of ``source``: a store runs on DuckDB; an engine is itself."""
    if isinstance(source, Store):
        return DuckDBEngine(source)
    return source


def store_of(source: Store | Engine) -> Store | None:
    """The DuckDB store behind ``source``, if any (the experiment's state lives there)."""
    if isinstance(source, Store):
        return source
    return source.store if isinstance(source, DuckDBEngine) else None


def split_query(query: str | Query, params: Params) -> tuple[str, Params]:
    if isinstance(query, Query):
        return query.sql, query.params
    return query, params


class DuckDBEngine:
    """The analysis plan on a looklift store's DuckDB connection, as written."""

    name = "duckdb"

    def __init__(self, store: Store) -> None:
        self.store = store
        self.where = str(store.path)

    def has_table(self, table: str) -> bool:
        return self.store.has_table(table)

    def columns(self, table: str) -> dict[str, str]:
        return self.store.columns(table)

    def fetch_all(self, query: str | Query, params: Params = None) -> list[tuple[Any, ...]]:
        text, bound = split_query(query, params)
        return self.store.con.execute(text, bound or {}).fetchall()

    def fetch_dicts(self, query: str | Query) -> list[dict[str, Any]]:
        text, bound = split_query(query, None)
        cursor = self.store.con.execute(text, bound or {})
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def stage(self, table: str, query: str | Query) -> None:
        text, bound = split_query(query, None)
        self.store.con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {text}", bound or {})

    def delete_where(self, table: str, condition: str) -> None:
        self.store.con.execute(f"DELETE FROM {table} WHERE {condition}")

    def append(self, table: str, query: str | Query) -> None:
        text, bound = split_query(query, None)
        self.store.con.execute(f"INSERT INTO {table} {text}", bound or {})

    def drop(self, table: str) -> None:
        row = self.store.fetch_one(
            "SELECT COUNT(*) FROM duckdb_views() WHERE view_name = ? AND temporary", [table]
        )
        kind = "VIEW" if row and row[0] else "TABLE"
        self.store.con.execute(f"DROP {kind} IF EXISTS {table}")
