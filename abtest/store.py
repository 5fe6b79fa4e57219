"""The looklift store: one DuckDB file holding the data model of DESIGN.md.

Ingestion is idempotent and atomic:

- idempotent: a row whose key (``event_id`` for events and interactions) is
  already stored is skipped, so replaying a file changes nothing;
- atomic: a batch is validated in full before anything is written, then
  inserted in one transaction. A malformed row rejects the whole batch with an
  :class:`IngestError` that names the source, the row and the column; a process
  killed mid-ingest leaves the database as it was, because DuckDB only makes a
  transaction durable at commit.

Sources may be polars or pandas frames, arrow tables, or files: parquet, CSV
and JSON lines (``.jsonl`` / ``.ndjson`` / ``.json``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from abtest.schema import TABLES, Column, Table

DEFAULT_DB = "looklift.duckdb"
INGEST_CHUNK_ROWS = 500_000
_NUMERIC = {"BIGINT", "INTEGER", "DOUBLE"}
_INTEGER = {"BIGINT", "INTEGER"}


class StoreError(Exception):
    """A problem with the database file itself (missing, corrupt, unwritable)."""


class IngestError(StoreError):
    """A batch was rejected; nothing of it was written.

    Carries where the first problem is, so that a person can fix the file.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str,
        row: int | None = None,
        column: str | None = None,
        value: Any = None,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.row = row
        self.column = column
        self.value = value


@dataclass(frozen=True)
class IngestReport:
    """What one ingest did."""

    table: str
    source: str
    rows_read: int
    inserted: int
    duplicates_in_batch: int
    already_stored: int

    @property
    def skipped(self) -> int:
        return self.duplicates_in_batch + self.already_stored


ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(rows_done, rows_total)`` while a batch is inserted."""


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (a table or column name) so it is never code."""
    return '"' + name.replace('"', '""') + '"'


class Store:
    """A DuckDB file with the looklift tables.

    >>> with Store("looklift.duckdb") as store:          # doctest: +SKIP
    ...     store.ingest("events", "events.parquet")
    """

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False) -> None:
        self.path = Path(path)
        if read_only and not self.path.exists():
            raise StoreError(f"database not found: {self.path}")
        if not read_only:
            ensure_writable_folder(self.path.parent, StoreError)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:
            raise StoreError(_describe_open_error(self.path, exc)) from None
        if not read_only:
            self.create_tables()

    # -- lifecycle -----------------------------------------------------------------
    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def root(self) -> Path:
        """The folder relative paths in the store (such as ``image_path``) start from."""
        return self.path.resolve().parent

    def resolve(self, relative: str) -> Path:
        """An absolute path for a path stored relative to the database's folder."""
        p = Path(relative)
        return p if p.is_absolute() else self.root / p

    # -- schema ---------------------------------------------------------------------
    def create_tables(self) -> None:
        """Create every table of the data model that does not exist yet."""
        for table in TABLES.values():
            self.con.execute(table.ddl())

    def fetch_one(self, sql: str, params: list[Any] | None = None) -> tuple[Any, ...] | None:
        """The first row of a query (the result is always consumed in full)."""
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0] if rows else None

    def has_table(self, name: str) -> bool:
        row = self.fetch_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        )
        return bool(row and row[0])

    def count(self, table: str, where: str = "", params: list[Any] | None = None) -> int:
        sql = f"SELECT count(*) FROM {quote_ident(table)}"
        if where:
            sql += f" WHERE {where}"
        row = self.fetch_one(sql, params)
        return int(row[0]) if row else 0

    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Run a query and return its result as a polars DataFrame."""
        return self.con.sql(sql, params=params or None).pl()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All statements inside commit together or not at all."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")

    # -- writing --------------------------------------------------------------------
    def replace_table(self, name: str, frame: Any) -> None:
        """Create or replace a free-form table (such as ``truth_*``) from a frame."""
        self.con.register("__replace_src", frame)
        try:
            self.con.execute(
                f"CREATE OR REPLACE TABLE {quote_ident(name)} AS SELECT * FROM __replace_src"
            )
        finally:
            self.con.unregister("__replace_src")

    def replace_rows(
        self,
        table: str,
        source: Any,
        *,
        where: str,
        params: list[Any] | None = None,
        source_name: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Atomically delete the rows matching ``where`` and ingest ``source``.

        Used to rewrite one encoder's neighbors: readers see either the old
        rows or the new ones, never a mix.
        """
        batch = Batch(table, source, source_name, replace_where=where, replace_params=params)
        return self.ingest_many([batch], progress=progress)[0]

    def ingest(
        self,
        table: str,
        source: Any,
        *,
        source_name: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Validate and insert a batch into ``table``; rows with a stored key are skipped.

        ``source`` is a polars/pandas DataFrame, an arrow table, or a path to
        parquet, CSV or JSON lines. Raises :class:`IngestError` naming the
        source, row (1-based, in file order) and column of the first bad value;
        in that case nothing is written.
        """
        return self.ingest_many([Batch(table, source, source_name)], progress=progress)[0]

    def ingest_many(
        self, batches: Sequence[Batch], *, progress: ProgressCallback | None = None
    ) -> list[IngestReport]:
        """Validate every batch, then write them all in one transaction.

        Either every batch is stored (each idempotently) or, on any error, none.
        """
        prepared: list[_Prepared] = []
        try:
            for i, batch in enumerate(batches):
                prepared.append(self._prepare(batch, f"__looklift_stage{i}"))
            with self.transaction():
                return [self._insert(p, progress) for p in prepared]
        finally:
            for i in range(len(batches)):
                self.con.execute(f"DROP TABLE IF EXISTS __looklift_stage{i}")
                self.con.execute(f"DROP TABLE IF EXISTS __looklift_stage{i}_typed")

    def _prepare(self, batch: Batch, stage: str) -> _Prepared:
        """Stage, check and deduplicate one batch in temporary tables; write nothing."""
        name = batch.source_name or _source_name(batch.source)
        if batch.table not in TABLES:
            raise IngestError(
                f"unknown table {batch.table!r}; tables are {', '.join(TABLES)}", source=name
            )
        table = TABLES[batch.table]
        self._stage(batch.source, name, stage)
        self._check_columns(table, stage, name)
        rows_read = self.count(stage)
        self._validate(table, stage, name)
        key = ", ".join(quote_ident(k) for k in table.key)
        casts = ", ".join(
            f"CAST({quote_ident(c.name)} AS {c.sql_type}) AS {quote_ident(c.name)}"
            for c in table.columns
        )
        # One row per key within the batch (the first in file order), typed and
        # numbered 1..n so that it can be inserted in chunks.
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {stage}_typed AS "
            f"SELECT *, row_number() OVER (ORDER BY __row) AS __n FROM ("
            f"SELECT {casts}, __row FROM {stage} "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY __row) = 1)"
        )
        return _Prepared(
            batch, table, f"{stage}_typed", name, rows_read, self.count(f"{stage}_typed")
        )

    def _stage(self, source: Any, name: str, stage: str) -> None:
        """Copy the source into a temporary table with its row number, ``__row``."""
        relation_sql, registered = _relation_for(source, name)
        if registered:
            self.con.register(registered, source)
        try:
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {stage} AS "
                f"SELECT *, row_number() OVER () AS __row FROM {relation_sql}"
            )
        except duckdb.Error as exc:
            raise IngestError(f"{name}: cannot read: {_first_line(exc)}", source=name) from None
        finally:
            if registered:
                self.con.unregister(registered)

    def _check_columns(self, table: Table, stage: str, name: str) -> None:
        present = [
            r[0] for r in self.con.execute(f"DESCRIBE {stage}").fetchall() if r[0] != "__row"
        ]
        unknown = [c for c in present if c not in table.column_names]
        if unknown:
            raise IngestError(
                f"{name}: unknown column {unknown[0]!r} for table {table.name} "
                f"(columns are {', '.join(table.column_names)})",
                source=name,
                column=unknown[0],
            )
        for c in table.columns:
            if c.required and c.name not in present:
                raise IngestError(
                    f"{name}: missing required column {c.name!r} for table {table.name}",
                    source=name,
                    column=c.name,
                )
            if c.name not in present:
                self.con.execute(f"ALTER TABLE {stage} ADD COLUMN {quote_ident(c.name)} VARCHAR")

    def _validate(self, table: Table, stage: str, name: str) -> None:
        checks = [(c, cond, why) for c in table.columns for cond, why in _problems(c)]
        if not checks:
            return
        cases = " ".join(f"WHEN {cond} THEN {i}" for i, (_, cond, _) in enumerate(checks))
        row = self.fetch_one(
            f"SELECT __row, problem FROM (SELECT __row, CASE {cases} END AS problem "
            f"FROM {stage}) WHERE problem IS NOT NULL ORDER BY __row LIMIT 1"
        )
        if row is None:
            return
        row_no, idx = int(row[0]), int(row[1])
        column, _, why = checks[idx]
        (value,) = self.fetch_one(
            f"SELECT CAST({quote_ident(column.name)} AS VARCHAR) FROM {stage} WHERE __row = ?",
            [row_no],
        ) or (None,)
        shown = "empty" if value is None else repr(value)
        raise IngestError(
            f"{name}: row {row_no}, column {column.name!r}: {why} (got {shown}); "
            "the batch was rejected and nothing was written",
            source=name,
            row=row_no,
            column=column.name,
            value=value,
        )

    def _insert(self, p: _Prepared, progress: ProgressCallback | None) -> IngestReport:
        """Insert a prepared batch, in chunks, inside the caller's transaction."""
        target = quote_ident(p.table.name)
        if p.batch.replace_where is not None:
            self.con.execute(
                f"DELETE FROM {target} WHERE {p.batch.replace_where}",
                list(p.batch.replace_params or []),
            )
        join = " AND ".join(f"t.{quote_ident(k)} = s.{quote_ident(k)}" for k in p.table.key)
        cols = ", ".join(quote_ident(c) for c in p.table.column_names)
        # Rows whose key is stored already are dropped from the batch once, with one
        # anti-join; the chunks then append without looking at the table again.
        self.con.execute(
            f"DELETE FROM {p.typed} s WHERE EXISTS (SELECT 1 FROM {target} t WHERE {join})"
        )
        before = self.count(p.table.name)
        if progress:
            progress(0, p.unique)
        for lo in range(0, max(p.unique, 1), INGEST_CHUNK_ROWS):
            self.con.execute(
                f"INSERT INTO {target} ({cols}) "
                f"SELECT {cols} FROM {p.typed} s WHERE s.__n > ? AND s.__n <= ?",
                [lo, lo + INGEST_CHUNK_ROWS],
            )
            if progress:
                progress(min(p.unique, lo + INGEST_CHUNK_ROWS), p.unique)
        inserted = self.count(p.table.name) - before
        return IngestReport(
            table=p.table.name,
            source=p.name,
            rows_read=p.rows_read,
            inserted=inserted,
            duplicates_in_batch=p.rows_read - p.unique,
            already_stored=p.unique - inserted,
        )


@dataclass(frozen=True)
class Batch:
    """One source for one table, as part of an atomic :meth:`Store.ingest_many`.

    With ``replace_where``, the rows of ``table`` matching it are deleted in the
    same transaction, before the batch is inserted.
    """

    table: str
    source: Any
    source_name: str | None = None
    replace_where: str | None = None
    replace_params: Sequence[Any] | None = None


@dataclass(frozen=True)
class _Prepared:
    batch: Batch
    table: Table
    typed: str
    name: str
    rows_read: int
    unique: int


def _problems(c: Column) -> list[tuple[str, str]]:
    """SQL conditions that are true for a bad value of column ``c``, with the reason."""
    col = quote_ident(c.name)
    out: list[tuple[str, str]] = []
    if c.required:
        out.append((f"{col} IS NULL", "a value is required"))
    typed = f"TRY_CAST({col} AS {c.sql_type})"
    kind = {
        "BIGINT": "an integer",
        "INTEGER": "an integer",
        "DOUBLE": "a number",
        "TIMESTAMP": "a timestamp",
        "BOOLEAN": "true or false",
        "VARCHAR": "text",
    }[c.sql_type]
    if c.sql_type != "VARCHAR":
        out.append((f"{col} IS NOT NULL AND {typed} IS NULL", f"expected {kind}"))
    if c.sql_type in _INTEGER:
        out.append(
            (
                f"{col} IS NOT NULL AND TRY_CAST({col} AS DOUBLE) <> {typed}",
                f"expected {kind}",
            )
        )
    if c.sql_type == "DOUBLE":
        out.append((f"isnan({typed}) OR isinf({typed})", "expected a finite number"))
    if c.minimum is not None and c.sql_type in _NUMERIC:
        out.append((f"{typed} < {c.minimum!r}", f"must be at least {c.minimum:g}"))
    if c.maximum is not None and c.sql_type in _NUMERIC:
        out.append((f"{typed} > {c.maximum!r}", f"must be at most {c.maximum:g}"))
    if c.allowed is not None:
        allowed = ", ".join("'" + a.replace("'", "''") + "'" for a in c.allowed)
        out.append(
            (
                f"{col} IS NOT NULL AND CAST({col} AS VARCHAR) NOT IN ({allowed})",
                f"must be one of {', '.join(c.allowed)}",
            )
        )
    if c.pattern is not None:
        pattern = c.pattern.replace("'", "''")
        out.append(
            (
                f"{col} IS NOT NULL AND NOT regexp_full_match(CAST({col} AS VARCHAR), '{pattern}')",
                f"must match {c.pattern}",
            )
        )
    return out


def ensure_writable_folder(folder: Path, error: type[Exception] = StoreError) -> None:
    """Raise ``error`` unless files can be created in ``folder`` (tried, not guessed)."""
    if not folder.is_dir():
        raise error(f"folder does not exist: {folder}")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise error(f"cannot write to folder {folder}: {exc.strerror or exc}") from None


def _source_name(source: Any) -> str:
    if isinstance(source, str | os.PathLike):
        return str(source)
    return f"<{type(source).__name__}>"


def _relation_for(source: Any, name: str) -> tuple[str, str | None]:
    """SQL for reading ``source``, and the name it was registered under (if any)."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.exists():
            raise IngestError(f"{name}: file not found", source=name)
        literal = "'" + str(path).replace("'", "''") + "'"
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            return f"read_parquet({literal})", None
        if suffix in {".csv", ".tsv"}:
            return (
                f"read_csv({literal}, header=true, all_varchar=true, strict_mode=true"
                f"{', delim=' + repr(chr(9)) if suffix == '.tsv' else ''})",
                None,
            )
        if suffix in {".jsonl", ".ndjson", ".json"}:
            return f"read_json({literal}, format='newline_delimited', auto_detect=true)", None
        raise IngestError(
            f"{name}: unsupported file type {suffix!r} (use .parquet, .csv or .jsonl)",
            source=name,
        )
    return "__looklift_src", "__looklift_src"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _describe_open_error(path: Path, exc: BaseException) -> str:
    text = str(exc)
    if "not a valid DuckDB database" in text or "Unrecognized" in text or "magic" in text.lower():
        return f"{path} is not a DuckDB database (the file is corrupt or of another kind)"
    if "lock" in text.lower():
        return f"{path} is in use by another process"
    return f"cannot open database {path}: {_first_line(exc)}"


@contextmanager
def open_store(path: str | os.PathLike[str], *, read_only: bool = False) -> Iterator[Store]:
    """``with open_store(path) as store:`` — a Store that closes itself."""
    store = Store(path, read_only=read_only)
    try:
        yield store
    finally:
        store.close()
