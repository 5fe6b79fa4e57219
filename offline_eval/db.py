"""Reading the looklift store: the connection, required tables and the time scope.

Every query of ``offline_eval`` is portable SQL with ``?`` parameters; this
module holds the few helpers they share.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import duckdb

from abtest.store import Store
from offline_eval.errors import OfflineEvalError

Database = Store | duckdb.DuckDBPyConnection
"""A looklift :class:`~abtest.store.Store` or a DuckDB connection to one."""

TimeLike = datetime | date | str | None


def connection(db: Database) -> duckdb.DuckDBPyConnection:
    """The DuckDB connection of a store (or the connection itself)."""
    return db.con if isinstance(db, Store) else db


def one_row(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> tuple[Any, ...]:
    """The single row of an aggregate query.

    Fetches the whole result: DuckDB 2 keeps a connection busy until a result
    is read to the end, which ``fetchone`` alone does not do.
    """
    return con.execute(sql, params or []).fetchall()[0]


def require_table(con: duckdb.DuckDBPyConnection, table: str, hint: str) -> None:
    """Raise unless ``table`` exists; ``hint`` says how to create it."""
    (n,) = one_row(
        con, "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = ?", [table]
    )
    if not n:
        raise OfflineEvalError(f"the database has no {table} table; {hint}")


@dataclass(frozen=True)
class Period:
    """A half-open time range ``[start, end)`` on ``ts``; either end may be open."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def of(cls, start: TimeLike = None, end: TimeLike = None) -> Period:
        """Parse the bounds (datetime, date = midnight, or ISO text) and check the range."""
        period = cls(_as_datetime(start, "start"), _as_datetime(end, "end"))
        if period.start is not None and period.end is not None and period.start >= period.end:
            raise OfflineEvalError(
                f"empty date range: start {period.start} is not before end {period.end} "
                "(the range is [start, end)); pass an end after the start"
            )
        return period

    def where(self) -> tuple[str, list[Any]]:
        """An SQL condition on ``ts`` (``TRUE`` when unbounded) and its parameters."""
        conditions, params = ["TRUE"], []
        if self.start is not None:
            conditions.append("ts >= CAST(? AS TIMESTAMP)")
            params.append(self.start)
        if self.end is not None:
            conditions.append("ts < CAST(? AS TIMESTAMP)")
            params.append(self.end)
        return " AND ".join(conditions), params

    def describe(self) -> str:
        """Human text for messages: "between A and B", "since A", or "in all logs"."""
        if self.start is not None and self.end is not None:
            return f"between {self.start} and {self.end}"
        if self.start is not None:
            return f"since {self.start}"
        if self.end is not None:
            return f"before {self.end}"
        return "in all logs"


def _as_datetime(value: TimeLike, name: str) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise OfflineEvalError(
            f"{name} {value!r} is not a date; use ISO format such as 2024-05-01 or 2024-05-01T12:00"
        ) from None
