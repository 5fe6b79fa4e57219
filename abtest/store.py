"""The looklift store: one DuckDB file holding the data model of DESIGN.md.

Ingestion is idempotent and atomic:

- idempotent: a row whose key (``event_id`` for events and interactions) is
  already stored is skipped, so replaying a file changes nothing (``items`` and
  ``users`` may instead be ingested with ``update=True``: a stored row then takes
  the source's values for the columns the source has, e.g. a new attribute);
- atomic: a batch is validated in full before anything is written, then
  inserted in one transaction. A malformed row rejects the whole batch with an
  :class:`IngestError` that names the source, the row and the column; a process
  killed mid-ingest leaves the database as it was, because DuckDB only makes a
  transaction durable at commit. :meth:`Store.ingest_many` extends this to
  several sources: all of them are stored, or none.

Sources may be polars or pandas frames, arrow tables, or files: parquet, CSV
and JSON lines (``.jsonl`` / ``.ndjson``; ``.json`` may also be one array). A
path is read literally, even when it contains ``*`` or ``?`` (expanding globs
is the caller's choice: ``looklift ingest`` does it), and must be a regular
file (a FIFO would make DuckDB wait forever). A CSV file's header names its
columns and its suffix the delimiter (``.csv`` comma, ``.tsv`` tab; ``"``
quotes), never guessed, so that a row with too few or too many fields is an
error naming its line; DuckDB's reason for a read error is kept, in one line
(:func:`_duckdb_reason`). An empty file is an error that says so. Every stored
column holds single values: a JSON object or list in a column is refused,
naming row and column, rather than stored as its text.

**A team's own columns.** ``items``, ``users`` and ``events`` also keep columns
the data model does not name (a catalog's ``brand``, a user's
``app_version``): the first ingest that brings one adds it to the table
(``ALTER TABLE ... ADD COLUMN``, inside the ingest's transaction), and later
ingests must fit the stored type. Such a column's name must be an identifier
(letters, digits and ``_``, not starting with a digit or ``__``; names are
always quoted in SQL) and must not differ from another column only in case
(DuckDB's names ignore case). Its type comes from the file: parquet, JSON and
frames carry types; CSV has none, so a column is an integer, a number, true or
false, a date or a timestamp when *every* value in it reads as one (integers
with a leading zero, such as ``007``, stay text), and text otherwise. When the
files of one ingest disagree, the type widens (integer and number to number,
date and timestamp to timestamp, anything else to text). ``types=`` (``--type
COLUMN=TYPE`` on the command line) names a new column's type instead, e.g.
``app_version=text`` where every version happens to look like ``5.2``. A value
that does not fit a stored column's type rejects the batch; the store never
changes a stored column's type.

**Older databases.** A database made before the data model gained a column
(``events.view_id``) gets it, null in the rows it holds, when a store opens it
writable (:meth:`Store.create_tables`, as for a table it lacks), so that
ingesting and simulating into it work as into a new one; opened read-only it is
read as it is (the column is then missing, and only what reads it needs it).

**Time.** Timestamps are stored in UTC without a zone: a value with an offset
(``2026-03-02T10:00:00+09:00``) is converted to UTC, and one without is taken
to be UTC already, whatever the file format and whatever the machine's time
zone.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import difflib
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from abtest.schema import TABLES, Column, TableSchema

DEFAULT_DB = "looklift.duckdb"
INGEST_CHUNK_ROWS = 500_000
_NUMERIC = {"BIGINT", "INTEGER", "DOUBLE"}
_INTEGER = {"BIGINT", "INTEGER"}

EXTRA_TYPES: dict[str, str] = {
    "VARCHAR": "text",
    "BIGINT": "integer",
    "DOUBLE": "number",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
}
"""The SQL types an extra column may have, with the name people use for each."""

_TYPE_ALIASES = {
    **{v: k for k, v in EXTRA_TYPES.items()},
    **{k.lower(): k for k in EXTRA_TYPES},
    "string": "VARCHAR",
    "str": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "datetime": "TIMESTAMP",
}

_EXTRA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_GLOB_CHARS = re.compile(r"[*?\[]")
_MISSPELLING_CUTOFF = 0.85

UPDATABLE = ("items", "users")
"""Tables whose stored rows an ingest may update (``update=True``): attributes change,
while events and logs are facts, stored once per key."""


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
    columns_added: tuple[tuple[str, str], ...] = ()
    """Extra columns this batch added to the table, as (name, SQL type)."""
    updated: int = 0
    """Stored rows whose values this batch replaced (``update=True`` only)."""

    @property
    def skipped(self) -> int:
        return self.duplicates_in_batch + self.already_stored


ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(rows_done, rows_total)`` while batches are inserted."""

StatusCallback = Callable[[str], None]
"""Called with a short description of what an ingest does now ("reading x.csv")."""


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (a table or column name) so it is never code."""
    return '"' + name.replace('"', '""') + '"'


def sql_type(name: str) -> str:
    """The SQL type of an extra column from what a person writes (``text``, ``integer``...)."""
    found = _TYPE_ALIASES.get(name.strip().lower())
    if found is None:
        raise StoreError(
            f"unknown column type {name!r}; use one of {', '.join(EXTRA_TYPES.values())}"
        )
    return found


def require_database(path: str | os.PathLike[str]) -> Path:
    """Raise :class:`StoreError` in one line unless ``path`` is an existing looklift database.

    For commands that read a database they do not open themselves: a typo in
    ``--db`` then says "database not found" instead of an error about what the
    empty database lacks, and no file is created.
    """
    with Store(path, read_only=True) as store:
        return store.path


class Store:
    """A DuckDB file with the looklift tables.

    ``Store(path)`` creates the file when it does not exist (the Python API and
    the commands that make a database: ``world``, ``ingest``). With
    ``create=False`` or ``read_only=True`` the file must exist and be a looklift
    database, so that a mistyped path is refused rather than created empty.

    >>> with Store("looklift.duckdb") as store:          # doctest: +SKIP
    ...     store.ingest("events", "events.parquet")
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        read_only: bool = False,
        create: bool = True,
    ) -> None:
        self.path = Path(path)
        must_exist = read_only or not create
        # Only a regular file: DuckDB opening a FIFO or a device would wait forever.
        if str(path) in {"", ":memory:"} or (self.path.exists() and not self.path.is_file()):
            raise StoreError(f"database not found: {str(path) or '(empty path)'} is not a file")
        if must_exist and not self.path.exists():
            raise StoreError(
                f"database not found: {self.path} "
                "(create one with 'looklift ingest' or 'looklift world')"
            )
        if not read_only:
            ensure_writable_folder(self.path.parent, StoreError)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:
            raise StoreError(_describe_open_error(self.path, exc)) from None
        _use_utc(self.con)
        if must_exist and not self._has_any_table():
            self.con.close()
            raise StoreError(
                f"{self.path} is not a looklift database (it has none of the tables "
                f"{', '.join(TABLES)})"
            )
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
        """Create every table of the data model that does not exist yet, and bring the
        stored ones up to date (:meth:`_add_new_columns`)."""
        for table in TABLES.values():
            self.con.execute(table.ddl())
        self._add_new_columns()

    def _add_new_columns(self) -> None:
        """Add to the stored tables the nullable columns the data model gained since the
        database was made (``events.view_id``), in one transaction.

        A column of the team's own by that name (kept from a file before the data model
        named it) becomes the data model's: spelled as the data model spells it, and
        made text when the data model's type is text (a lossless change: its values are
        kept as they read). Anything else is left as it is.
        """
        stored: dict[tuple[str, str], tuple[str, str]] = {
            (str(t), str(c).lower()): (str(c), str(k))
            for t, c, k in self.con.execute(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_catalog = current_database() AND table_schema = 'main'"
            ).fetchall()
        }
        changes: list[str] = []
        for table in TABLES.values():
            target = quote_ident(table.name)
            for c in table.columns:
                col = quote_ident(c.name)
                found = stored.get((table.name, c.name.lower()))
                if found is None:
                    if not c.required:  # a required one cannot be added to stored rows
                        changes.append(f"ALTER TABLE {target} ADD COLUMN {col} {c.sql_type}")
                    continue
                name, kind = found
                if name != c.name:
                    changes.append(f"ALTER TABLE {target} RENAME {quote_ident(name)} TO {col}")
                if kind != c.sql_type and c.sql_type == "VARCHAR":
                    changes.append(f"ALTER TABLE {target} ALTER {col} TYPE VARCHAR")
        if changes:
            with self.transaction() as con:
                for sql in changes:
                    con.execute(sql)

    def _has_any_table(self) -> bool:
        row = self.fetch_one(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_catalog = current_database() AND table_name IN "
            f"({', '.join('?' for _ in TABLES)})",
            list(TABLES),
        )
        return bool(row and row[0])

    def fetch_one(self, sql: str, params: list[Any] | None = None) -> tuple[Any, ...] | None:
        """The first row of a query (the result is always consumed in full)."""
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0] if rows else None

    def has_table(self, name: str) -> bool:
        row = self.fetch_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        )
        return bool(row and row[0])

    def columns(self, table: str) -> dict[str, str]:
        """The stored columns of ``table`` and their SQL types, in table order."""
        rows = self.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_name = ? "
            "ORDER BY ordinal_position",
            [table],
        ).fetchall()
        return {str(name): str(kind) for name, kind in rows}

    def extra_columns(self, table: str) -> dict[str, str]:
        """The columns of ``table`` that a team brought (not in the data model), with types."""
        fixed = set(TABLES[table].column_names) if table in TABLES else set()
        return {c: t for c, t in self.columns(table).items() if c not in fixed}

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
        types: Mapping[str, str] | None = None,
        update: bool = False,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Validate and insert a batch into ``table``; rows with a stored key are skipped.

        ``source`` is a polars/pandas DataFrame, an arrow table, or a path to
        parquet, CSV or JSON lines. ``types`` names the type of new extra
        columns (``{"app_version": "text"}``). With ``update`` (``items`` and
        ``users`` only), a row whose key is stored replaces the stored values of
        the columns the source has, instead of being skipped. Raises
        :class:`IngestError` naming the source, row (1-based, in file order) and
        column of the first bad value; in that case nothing is written.
        """
        batch = Batch(table, source, source_name, types=types, update=update)
        return self.ingest_many([batch], progress=progress)[0]

    def ingest_many(
        self,
        batches: Sequence[Batch],
        *,
        progress: ProgressCallback | None = None,
        status: StatusCallback | None = None,
    ) -> list[IngestReport]:
        """Validate every batch, then write them all in one transaction.

        Either every batch is stored (each idempotently) or, on any error, none:
        extra columns are added to their tables inside the same transaction.
        ``progress`` counts the rows of all batches together.
        """
        loader = _Loader(self.con, strict=True)
        staged: list[_Staged] = []
        try:
            for i, batch in enumerate(batches):
                if status:
                    status(f"reading {batch.source_name or _source_name(batch.source)}")
                staged.append(loader.stage(batch, f"__looklift_stage{i}"))
            plan = loader.plan(staged, self.columns)
            prepared: list[_Prepared] = []
            for s in staged:
                if status:
                    status(f"checking {s.name}")
                loader.check(s, plan)
                prepared.append(self._dedupe(loader, s, plan))
            if status:
                status("writing")
            total = sum(p.unique for p in prepared)
            reports: list[IngestReport] = []
            added_by: dict[tuple[str, str], int] = {}
            for i, s in enumerate(staged):
                for col in s.extras:
                    if col in plan.new.get(s.table.name, {}):
                        added_by.setdefault((s.table.name, col), i)
            with self.transaction():
                for table, new in plan.new.items():
                    for col, kind in new.items():
                        self.con.execute(
                            f"ALTER TABLE {quote_ident(table)} ADD COLUMN {quote_ident(col)} {kind}"
                        )
                done = 0
                for i, p in enumerate(prepared):
                    added = tuple(
                        (col, plan.new[t][col]) for (t, col), j in added_by.items() if j == i
                    )
                    reports.append(self._insert(p, progress, done, total, added))
                    done += p.unique
            return reports
        finally:
            for i in range(len(batches)):
                self.con.execute(f"DROP TABLE IF EXISTS __looklift_stage{i}")
                self.con.execute(f"DROP TABLE IF EXISTS __looklift_stage{i}_typed")

    def _dedupe(self, loader: _Loader, s: _Staged, plan: _Plan) -> _Prepared:
        """One row per key within the batch (the first in file order), typed and
        numbered 1..n so that it can be inserted in chunks."""
        key = ", ".join(quote_ident(k) for k in s.table.key)
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {s.stage}_typed AS "
            f"SELECT *, row_number() OVER (ORDER BY __row) AS __n FROM ("
            f"SELECT {loader.typed_columns(s, plan)}, __row FROM {s.stage} "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY __row) = 1)"
        )
        return _Prepared(
            s.batch,
            s.table,
            f"{s.stage}_typed",
            s.name,
            s.rows_read,
            self.count(f"{s.stage}_typed"),
            (*s.table.column_names, *s.extras),
            tuple(c for c in s.present if c not in s.table.key) if s.batch.update else (),
        )

    def _insert(
        self,
        p: _Prepared,
        progress: ProgressCallback | None,
        offset: int,
        total: int,
        added: tuple[tuple[str, str], ...],
    ) -> IngestReport:
        """Insert a prepared batch, in chunks, inside the caller's transaction."""
        target = quote_ident(p.table.name)
        if p.batch.replace_where is not None:
            self.con.execute(
                f"DELETE FROM {target} WHERE {p.batch.replace_where}",
                list(p.batch.replace_params or []),
            )
        join = " AND ".join(f"t.{quote_ident(k)} = s.{quote_ident(k)}" for k in p.table.key)
        cols = ", ".join(quote_ident(c) for c in p.columns)
        updated = 0
        if p.updates:
            sets = ", ".join(f"{quote_ident(c)} = s.{quote_ident(c)}" for c in p.updates)
            rows = self.con.execute(
                f"UPDATE {target} AS t SET {sets} FROM {p.typed} AS s WHERE {join}"
            ).fetchall()
            updated = int(rows[0][0]) if rows else 0
        # Rows whose key is stored already are dropped from the batch once, with one
        # anti-join; the chunks then append without looking at the table again.
        self.con.execute(
            f"DELETE FROM {p.typed} s WHERE EXISTS (SELECT 1 FROM {target} t WHERE {join})"
        )
        before = self.count(p.table.name)
        if progress:
            progress(offset, total)
        for lo in range(0, max(p.unique, 1), INGEST_CHUNK_ROWS):
            self.con.execute(
                f"INSERT INTO {target} ({cols}) "
                f"SELECT {cols} FROM {p.typed} s WHERE s.__n > ? AND s.__n <= ?",
                [lo, lo + INGEST_CHUNK_ROWS],
            )
            if progress:
                progress(offset + min(p.unique, lo + INGEST_CHUNK_ROWS), total)
        inserted = self.count(p.table.name) - before
        return IngestReport(
            table=p.table.name,
            source=p.name,
            rows_read=p.rows_read,
            inserted=inserted,
            duplicates_in_batch=p.rows_read - p.unique,
            already_stored=p.unique - inserted - updated,
            columns_added=added,
            updated=updated,
        )


@dataclass(frozen=True)
class Batch:
    """One source for one table, as part of an atomic :meth:`Store.ingest_many`.

    With ``replace_where``, the rows of ``table`` matching it are deleted in the
    same transaction, before the batch is inserted. ``types`` names the SQL
    type (or ``text``, ``integer``...) of extra columns the table does not have yet.
    """

    table: str
    source: Any
    source_name: str | None = None
    replace_where: str | None = None
    replace_params: Sequence[Any] | None = None
    types: Mapping[str, str] | None = None
    update: bool = False


def read_frame(
    source: Any,
    *,
    table: str = "users",
    types: Mapping[str, str] | None = None,
    source_name: str | None = None,
) -> pl.DataFrame:
    """Read a file (or frame) exactly as :meth:`Store.ingest` would store it in ``table``.

    The same formats, the same checks and types for the data model's columns,
    the same typing of other columns and timestamps in UTC; rows in file order,
    duplicates kept, and no column added. Used by ``looklift assign`` so that a
    users file gives the same attributes whether it is assigned or ingested.
    Columns of types the store does not keep (lists, for GrowthBook's
    ``$elemMatch``) are passed through unchanged.
    """
    con = duckdb.connect()
    try:
        _use_utc(con)
        loader = _Loader(con, strict=False)
        staged = loader.stage(Batch(table, source, source_name, types=types), "__looklift_read")
        plan = loader.plan([staged], lambda _table: {})
        loader.check(staged, plan)
        return con.sql(
            f"SELECT {loader.typed_columns(staged, plan)} FROM {staged.stage} ORDER BY __row"
        ).pl()
    finally:
        con.close()


@dataclass(frozen=True)
class _Staged:
    """A source copied into a temporary table, with what is known of its columns."""

    batch: Batch
    table: TableSchema
    stage: str
    name: str
    columns: dict[str, str]  # the staged columns (fixed ones included) -> DuckDB type
    extras: tuple[str, ...]  # the columns the data model does not name, in file order
    text: bool  # read as text (CSV): extra columns are typed from their values
    types: dict[str, str]  # asked-for types of extra columns
    rows_read: int
    present: tuple[str, ...]  # the columns the source has (not those added as empty)
    absent: tuple[str, ...]  # the data model's columns the source lacks


@dataclass
class _Plan:
    """The type of every extra column of the batches of one ingest."""

    target: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> col -> type
    stored: dict[str, set[str]] = field(default_factory=dict)  # table -> cols already stored
    new: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> cols to add
    asked: dict[str, set[str]] = field(default_factory=dict)  # table -> cols typed by request


@dataclass(frozen=True)
class _Prepared:
    batch: Batch
    table: TableSchema
    typed: str
    name: str
    rows_read: int
    unique: int
    columns: tuple[str, ...]
    updates: tuple[str, ...]  # columns whose stored values this batch replaces


class _Loader:
    """Reads, checks and types sources on one connection (the store's, or an in-memory one).

    ``strict`` is the store's mode: column names are checked as identifiers and
    every column must have a type the store keeps. Without it (``read_frame``),
    names are free and other types pass through.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, *, strict: bool) -> None:
        self.con = con
        self.strict = strict

    @property
    def _rejected(self) -> str:
        """How a message about a bad value ends: what became of the batch."""
        return "the batch was rejected and nothing was written" if self.strict else "not read"

    def one(self, sql: str, params: list[Any] | None = None) -> tuple[Any, ...] | None:
        """The first row of a query, consuming the result (DuckDB wants it finished)."""
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0] if rows else None

    def stage(self, batch: Batch, stage: str) -> _Staged:
        """Copy the source into a temporary table with its row number, ``__row``,
        and check its column names against the table's."""
        name = printable(batch.source_name or _source_name(batch.source))
        if batch.table not in TABLES:
            raise IngestError(
                f"unknown table {batch.table!r}; tables are {', '.join(TABLES)}", source=name
            )
        table = TABLES[batch.table]
        relation_sql, registered, text = _relation_for(self.con, batch.source, name)
        if registered:
            self.con.register(registered, batch.source)
        try:
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {stage} AS "
                f"SELECT *, row_number() OVER () AS __row FROM {relation_sql}"
            )
        except duckdb.Error as exc:
            raise IngestError(f"{name}: {_duckdb_reason(exc)}", source=name) from None
        finally:
            if registered:
                self.con.unregister(registered)
        (rows_read,) = self.one(f"SELECT count(*) FROM {stage}") or (0,)
        from_file = isinstance(batch.source, str | os.PathLike)
        if not rows_read and from_file and file_kind(batch.source) in {"json", "jsonl"}:
            # DuckDB reads an empty JSON file as one column named "json": say what it is.
            raise IngestError(f"{name}: the file is empty (it holds no JSON records)", source=name)
        columns = {
            str(r[0]): str(r[1])
            for r in self.con.execute(f"DESCRIBE {stage}").fetchall()
            if r[0] != "__row"
        }
        present = tuple(columns)
        extras = self._check_names(table, columns, name)
        self._refuse_nested(table, name, stage, columns, extras if from_file else ())
        types = self._asked_types(table, batch.types or {}, name)
        if batch.update and table.name not in UPDATABLE:
            raise IngestError(
                f"{name}: only {' and '.join(UPDATABLE)} can be updated; rows of "
                f"{table.name} are stored once per key",
                source=name,
            )
        absent = tuple(c.name for c in table.columns if c.name not in columns)
        if self.strict:
            for c in table.columns:
                if c.required and c.name not in columns:
                    raise IngestError(
                        f"{name}: missing required column {c.name!r} for table {table.name}",
                        source=name,
                        column=c.name,
                    )
                if c.name not in columns:
                    self.con.execute(
                        f"ALTER TABLE {stage} ADD COLUMN {quote_ident(c.name)} VARCHAR"
                    )
                    columns[c.name] = "VARCHAR"
        return _Staged(
            batch, table, stage, name, columns, extras, text, types, int(rows_read), present, absent
        )

    def _refuse_nested(
        self,
        table: TableSchema,
        name: str,
        stage: str,
        columns: dict[str, str],
        extras: Sequence[str],
    ) -> None:
        """Refuse a JSON object or list where the store keeps one value, naming row and column.

        Every column the store keeps holds single values (text, numbers...): a JSON
        object in ``user_id`` is a mistake in the file, and is refused rather than
        stored as its text. DuckDB types a JSON column holding strings *and* objects
        as ``JSON``; once no object or list is found, such a column is turned into
        plain values (``"u"`` becomes ``u``, ``5`` becomes ``5``). Columns of your own
        in files are checked in the same way (``extras``; a frame's list
        column is refused as a whole, see :meth:`_source_type`); ``read_frame``
        passes them through.
        """
        for col, kind in list(columns.items()):
            fixed = col in table.column_names
            if not fixed and not (self.strict and col in extras):
                continue
            raw = kind.upper()
            c = quote_ident(col)
            if raw == "JSON":
                found = self.one(
                    f"SELECT __row, json_type({c}), CAST({c} AS VARCHAR) FROM {stage} "
                    f"WHERE json_type({c}) IN ('OBJECT', 'ARRAY') ORDER BY __row LIMIT 1"
                )
            elif _is_nested(raw):
                found = self.one(
                    f"SELECT __row, {_sql_string('ARRAY' if raw.endswith(']') else 'OBJECT')}, "
                    f"CAST(to_json({c}) AS VARCHAR) FROM {stage} WHERE {c} IS NOT NULL "
                    "ORDER BY __row LIMIT 1"
                )
            else:
                continue
            if found is not None:
                row_no, json_kind, value = found
                expected = _EXPECTED[table.column(col).sql_type] if fixed else "a single value"
                nested = "list" if json_kind == "ARRAY" else "object"
                raise IngestError(
                    f"{name}: row {row_no}, column {col!r}: expected {expected}, not a JSON "
                    f"{nested} (got {_shown(value)}); {self._rejected}",
                    source=name,
                    row=int(row_no),
                    column=col,
                    value=value,
                )
            if raw == "JSON":
                self.con.execute(
                    f"ALTER TABLE {stage} ALTER {c} TYPE VARCHAR "
                    f"USING json_extract_string({c}, '$')"
                )
                columns[col] = "VARCHAR"

    def _check_names(
        self, table: TableSchema, columns: dict[str, str], name: str
    ) -> tuple[str, ...]:
        fixed = {c.lower(): c for c in table.column_names}
        seen: dict[str, str] = {}
        extras: list[str] = []
        for col in columns:
            low = col.lower()
            if low in seen and self.strict:
                raise IngestError(
                    f"{name}: columns {seen[low]!r} and {col!r} differ only in case "
                    "(column names ignore case); rename one",
                    source=name,
                    column=col,
                )
            seen[low] = col
            if col in table.column_names:
                continue
            if low in fixed:
                raise IngestError(
                    f"{name}: column {col!r} should be spelled {fixed[low]!r} "
                    f"(a column of {table.name}; column names ignore case)",
                    source=name,
                    column=col,
                )
            if not self.strict:
                extras.append(col)
                continue
            if not table.extensible:
                raise IngestError(
                    f"{name}: unknown column {col!r} for table {table.name} "
                    f"(columns are {', '.join(table.column_names)})",
                    source=name,
                    column=col,
                )
            if not _EXTRA_NAME.fullmatch(col) or col.startswith("__"):
                raise IngestError(
                    f"{name}: column name {col!r} is not an identifier; use letters, digits "
                    "and '_', not starting with a digit or '__', at most 63 characters",
                    source=name,
                    column=col,
                )
            extras.append(col)
        return tuple(extras)

    def _asked_types(
        self, table: TableSchema, asked: Mapping[str, str], name: str
    ) -> dict[str, str]:
        out: dict[str, str] = {}
        for col, kind in asked.items():
            if col in table.column_names:
                raise IngestError(
                    f"{name}: {col!r} is a column of {table.name} with a fixed type "
                    f"({table.column(col).sql_type}); types are named only for other columns",
                    source=name,
                    column=col,
                )
            try:
                out[col] = sql_type(kind)
            except StoreError as exc:
                raise IngestError(f"{name}: column {col!r}: {exc}", source=name) from None
        return out

    def _check_misspelling(self, s: _Staged, col: str) -> None:
        """Refuse a new column that looks like a misspelt column of the data model the
        source lacks (``postion``); naming its type says it is meant (see :meth:`plan`)."""
        close = difflib.get_close_matches(col, s.absent, n=1, cutoff=_MISSPELLING_CUTOFF)
        if self.strict and close:
            raise IngestError(
                f"{s.name}: column {col!r} is not a column of {s.table.name}; did you mean "
                f"{close[0]!r}? (to keep it as a column of your own, name its type, "
                f"e.g. --type {col}=text)",
                source=s.name,
                column=col,
            )

    def plan(
        self, staged: Sequence[_Staged], stored_columns: Callable[[str], dict[str, str]]
    ) -> _Plan:
        """Decide the type of every extra column: the stored one, the one asked for, or
        the narrowest that holds the values of every batch that brings the column."""
        plan = _Plan()
        stored_of: dict[str, dict[str, str]] = {}
        spelled: dict[tuple[str, str], str] = {}  # (table, lowercase name) -> spelling
        asked: dict[tuple[str, str], tuple[str, str]] = {}  # (table, col) -> (type, source)
        for s in staged:
            t = s.table.name
            stored = stored_of.setdefault(t, stored_columns(t))
            stored_lower = {c.lower(): c for c in stored}
            plan.target.setdefault(t, {})
            for col in s.extras:
                other = spelled.setdefault((t, col.lower()), col)
                if other != col:
                    raise IngestError(
                        f"{s.name}: column {col!r} differs from {other!r} of another file only "
                        "in case (column names ignore case); spell it one way",
                        source=s.name,
                        column=col,
                    )
                if col not in stored and col.lower() in stored_lower:
                    raise IngestError(
                        f"{s.name}: column {col!r} should be spelled "
                        f"{stored_lower[col.lower()]!r}, as it is stored in {t} "
                        "(column names ignore case)",
                        source=s.name,
                        column=col,
                    )
            for col, kind in s.types.items():
                if col in stored and kind != stored[col]:
                    raise IngestError(
                        f"{s.name}: column {col!r} is stored in {t} as {_kind(stored[col])}; "
                        f"its type cannot be changed to {_kind(kind)}",
                        source=s.name,
                        column=col,
                    )
                before = asked.setdefault((t, col), (kind, s.name))
                if before[0] != kind:
                    raise IngestError(
                        f"{s.name}: column {col!r} is asked to be {_kind(kind)} here and "
                        f"{_kind(before[0])} for {before[1]}",
                        source=s.name,
                        column=col,
                    )
        if self.strict:
            for (t, col), (_, source) in asked.items():
                if not any(s.table.name == t and col in s.extras for s in staged):
                    raise IngestError(
                        f"a type is given for column {col!r}, which no file for {t} has",
                        source=source,
                        column=col,
                    )
        for s in staged:
            t = s.table.name
            stored = stored_of[t]
            target = plan.target[t]
            for col in s.extras:
                if col in stored:
                    target[col] = stored[col]
                    plan.stored.setdefault(t, set()).add(col)
                elif (t, col) in asked:
                    target[col] = asked[(t, col)][0]
                    plan.asked.setdefault(t, set()).add(col)
                else:
                    self._check_misspelling(s, col)
                    found = self._infer_text_type(s, col) if s.text else self._source_type(s, col)
                    target[col] = _widen(target.get(col), found)  # type: ignore[assignment]
        for t, target in plan.target.items():
            for col, kind in target.items():
                if kind is None:
                    target[col] = "VARCHAR"  # no values anywhere: text
            new = {c: k for c, k in target.items() if c not in plan.stored.get(t, set())}
            if new:
                plan.new[t] = new
        return plan

    def _source_type(self, s: _Staged, col: str) -> str | None:
        """The extra-column type of a typed source's column (parquet, JSON, frames)."""
        raw = s.columns[col].upper()
        if raw in {'"NULL"', "NULL"}:
            return None
        if raw in {
            "TINYINT",
            "SMALLINT",
            "INTEGER",
            "BIGINT",
            "UTINYINT",
            "USMALLINT",
            "UINTEGER",
            "UBIGINT",
            "HUGEINT",
            "UHUGEINT",
        }:
            return "BIGINT"
        if raw in {"FLOAT", "DOUBLE", "REAL"} or raw.startswith("DECIMAL"):
            return "DOUBLE"
        if raw in {"VARCHAR", "UUID"}:
            return "VARCHAR"
        if raw in {"BOOLEAN", "DATE"}:
            return raw
        if raw.startswith("TIMESTAMP"):
            return "TIMESTAMP"
        if not self.strict:
            return s.columns[col]  # passed through as it is
        raise IngestError(
            f"{s.name}: column {col!r} holds {s.columns[col]} values; columns of your own "
            f"must be {', '.join(EXTRA_TYPES.values())}",
            source=s.name,
            column=col,
        )

    def _infer_text_type(self, s: _Staged, col: str) -> str | None:
        """The narrowest type that reads every (non-empty) value of a text column."""
        c = quote_ident(col)
        integer = r"[+-]?(0|[1-9][0-9]*)"
        number = integer + r"(\.[0-9]+)?([eE][+-]?[0-9]+)?"
        row = self.one(
            f"""SELECT count(*),
                bool_and(regexp_full_match({c}, '{integer}')
                         AND TRY_CAST({c} AS BIGINT) IS NOT NULL),
                bool_and(regexp_full_match({c}, '{number}')
                         AND (TRY_CAST({c} AS BIGINT) IS NOT NULL
                              OR NOT regexp_full_match({c}, '{integer}'))
                         AND TRY_CAST({c} AS DOUBLE) IS NOT NULL),
                bool_and(lower({c}) IN ('true', 'false')),
                bool_and(regexp_full_match({c}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}')
                         AND TRY_CAST({c} AS DATE) IS NOT NULL),
                bool_and(regexp_matches({c}, '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}([T ]|$)')
                         AND TRY_CAST({c} AS TIMESTAMPTZ) IS NOT NULL)
            FROM (SELECT CAST({c} AS VARCHAR) AS {c} FROM {s.stage}) WHERE {c} IS NOT NULL"""
        )
        assert row is not None
        if not row[0]:
            return None
        for ok, kind in zip(
            row[1:], ("BIGINT", "DOUBLE", "BOOLEAN", "DATE", "TIMESTAMP"), strict=True
        ):
            if ok:
                return kind
        return "VARCHAR"

    def _columns(self, s: _Staged, plan: _Plan) -> list[tuple[Column, str]]:
        """Each column to check and store, with a note for the message of a bad value."""
        # read_frame leaves missing values to its caller (assignment: "no unit").
        out: list[tuple[Column, str]] = [
            (c if self.strict else dataclasses.replace(c, required=False), "")
            for c in s.table.columns
            if c.name in s.columns
        ]
        target = plan.target.get(s.table.name, {})
        for col in s.extras:
            kind = target[col]
            if kind not in EXTRA_TYPES:
                continue  # passed through (read_frame only)
            if col in plan.stored.get(s.table.name, set()):
                note = f"; {s.table.name}.{col} is stored as {_kind(kind)}"
            elif col in plan.asked.get(s.table.name, set()):
                note = f"; {col} was asked to be {_kind(kind)}"
            else:
                note = f"; the files of this ingest make {col} {_kind(kind)}"
            out.append((Column(col, kind), note))
        return out

    def check(self, s: _Staged, plan: _Plan) -> None:
        """Raise :class:`IngestError` at the first (in file order) value that does not fit."""
        checks = [
            (c, cond, why + note)
            for c, note in self._columns(s, plan)
            for cond, why in _problems(c, s.columns.get(c.name, "VARCHAR"))
        ]
        if not checks:
            return
        cases = " ".join(f"WHEN {cond} THEN {i}" for i, (_, cond, _) in enumerate(checks))
        row = self.one(
            f"SELECT __row, problem FROM (SELECT __row, CASE {cases} END AS problem "
            f"FROM {s.stage}) WHERE problem IS NOT NULL ORDER BY __row LIMIT 1"
        )
        if row is None:
            return
        row_no, idx = int(row[0]), int(row[1])
        column, _, why = checks[idx]
        (value,) = self.one(
            f"SELECT CAST({quote_ident(column.name)} AS VARCHAR) FROM {s.stage} WHERE __row = ?",
            [row_no],
        ) or (None,)
        raise IngestError(
            f"{s.name}: row {row_no}, column {column.name!r}: {why} (got {_shown(value)}); "
            f"{self._rejected}",
            source=s.name,
            row=row_no,
            column=column.name,
            value=value,
        )

    def typed_columns(self, s: _Staged, plan: _Plan) -> str:
        """The SELECT list that casts every column of the stage to its stored type (in
        the table's order for the store, in the file's order for ``read_frame``)."""
        target = plan.target.get(s.table.name, {})
        exprs = {
            c.name: _cast(quote_ident(c.name), c.sql_type, source=s.columns[c.name])
            for c in s.table.columns
            if c.name in s.columns
        }
        for col in s.extras:
            kind = target[col]
            exprs[col] = (
                _cast(quote_ident(col), kind, source=s.columns[col])
                if kind in EXTRA_TYPES
                else quote_ident(col)
            )
        names = list(exprs) if self.strict else [c for c in s.columns if c in exprs]
        return ", ".join(f"{exprs[c]} AS {quote_ident(c)}" for c in names)


def _widen(a: str | None, b: str | None) -> str | None:
    """The narrowest type that holds values of types ``a`` and ``b`` (None: no values yet)."""
    if a is None:
        return b
    if b is None or a == b:
        return a
    if {a, b} == {"BIGINT", "DOUBLE"}:
        return "DOUBLE"
    if {a, b} == {"DATE", "TIMESTAMP"}:
        return "TIMESTAMP"
    return "VARCHAR"


def _kind(sql: str) -> str:
    return EXTRA_TYPES.get(sql, sql)


def _cast(expr: str, sql: str, *, try_: bool = False, source: str = "VARCHAR") -> str:
    """SQL that converts ``expr`` (of DuckDB type ``source``) to ``sql``. Text becomes a
    timestamp through TIMESTAMPTZ, so that an offset is applied (the connection's time
    zone is UTC, see :func:`_use_utc`); typed timestamps convert directly."""
    cast = "TRY_CAST" if try_ else "CAST"
    if sql == "TIMESTAMP" and not source.upper().startswith(("TIMESTAMP", "DATE")):
        return f"{cast}({cast}({expr} AS TIMESTAMPTZ) AS TIMESTAMP)"
    return f"{cast}({expr} AS {sql})"


def _use_utc(con: duckdb.DuckDBPyConnection) -> None:
    """Make this connection's time zone UTC, so that timestamps never depend on the machine's."""
    with contextlib.suppress(duckdb.Error):  # DuckDB without ICU has no time zones at all
        con.execute("SET TimeZone = 'UTC'")


_EXPECTED = {
    "BIGINT": "an integer",
    "INTEGER": "an integer",
    "DOUBLE": "a number",
    "TIMESTAMP": "a timestamp",
    "DATE": "a date",
    "BOOLEAN": "true or false",
    "VARCHAR": "text",
}
"""What a value of each SQL type is called in messages."""

_SHOWN_LIMIT = 80


def _shown(value: Any) -> str:
    """A bad value as a message quotes it: ``empty``, or its repr cut to a few dozen
    characters (a value may be megabytes long)."""
    if value is None:
        return "empty"
    text = str(value)
    if len(text) > _SHOWN_LIMIT:
        return repr(text[:_SHOWN_LIMIT]) + f"… ({len(text):,} characters)"
    return repr(text)


def _is_nested(sql_type: str) -> bool:
    """Whether a DuckDB type holds several values (a struct, map, union or list)."""
    return sql_type.startswith(("STRUCT", "MAP", "UNION")) or sql_type.endswith("]")


def _problems(c: Column, source: str = "VARCHAR") -> list[tuple[str, str]]:
    """SQL conditions that are true for a bad value of column ``c`` (staged as DuckDB
    type ``source``), with the reason."""
    col = quote_ident(c.name)
    out: list[tuple[str, str]] = []
    if c.required:
        out.append((f"{col} IS NULL", "a value is required"))
    typed = _cast(col, c.sql_type, try_=True, source=source)
    kind = _EXPECTED[c.sql_type]
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


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\n``), so that a message naming a
    file is always one line."""
    return text if text.isprintable() else repr(text)[1:-1]


def _source_name(source: Any) -> str:
    if isinstance(source, str | os.PathLike):
        return str(source)
    return f"<{type(source).__name__}>"


FILE_KINDS = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}
"""File suffixes ingestion reads (optionally followed by ``.gz`` or ``.zst`` for text)."""


def file_kind(path: str | os.PathLike[str]) -> str | None:
    """``parquet``, ``csv``, ``tsv``, ``jsonl`` or ``json`` from a file's name, else None."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in {".gz", ".zst"}:
        suffixes = suffixes[:-1]
        if suffixes and suffixes[-1] == ".parquet":
            return None
    return FILE_KINDS.get(suffixes[-1]) if suffixes else None


def _relation_for(
    con: duckdb.DuckDBPyConnection, source: Any, name: str
) -> tuple[str, str | None, bool]:
    """SQL for reading ``source``, the name it was registered under (if any), and
    whether its columns are read as text (CSV).

    A path must be a regular file: DuckDB reading a FIFO would wait for a writer
    forever. A CSV is read with the columns its header names and the dialect its
    suffix says (``.csv``: comma, ``.tsv``: tab; ``"`` quotes), not guessed: a
    row with too few or too many fields is then an error naming its line, where
    DuckDB's dialect sniffer would read the file as one column.
    """
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.exists():
            raise IngestError(f"{name}: file not found", source=name)
        if path.is_dir():
            raise IngestError(f"{name}: is a folder, not a file", source=name)
        if not path.is_file():
            raise IngestError(
                f"{name}: is not a regular file (a FIFO, a socket or a device)",
                source=name,
            )
        # DuckDB expands * ? [ in paths; a file named so is read literally.
        escaped = _GLOB_CHARS.sub(lambda m: f"[{m.group(0)}]", str(path))
        literal = _sql_string(escaped)
        kind = file_kind(path)
        if kind == "parquet":
            return f"read_parquet({literal})", None, False
        if kind in {"csv", "tsv"}:
            delim = "\t" if kind == "tsv" else ","
            names = _csv_header(con, literal, delim, name)
            columns = ", ".join(f"{_sql_string(n)}: 'VARCHAR'" for n in names)
            return (
                f"read_csv({literal}, header=true, auto_detect=false, columns={{{columns}}}, "
                f"delim={_sql_string(delim)}, quote='\"', escape='\"', strict_mode=true)",
                None,
                True,
            )
        if kind in {"jsonl", "json"}:
            fmt = "newline_delimited" if kind == "jsonl" else "auto"
            return (
                f"read_json({literal}, format='{fmt}', auto_detect=true, sample_size=-1)",
                None,
                False,
            )
        raise IngestError(
            f"{name}: unsupported file type {''.join(path.suffixes[-2:]) or 'without a suffix'!r}"
            " (use .parquet, .csv, .tsv, .jsonl or .json)",
            source=name,
        )
    return "__looklift_src", "__looklift_src", False


def _sql_string(text: str) -> str:
    """``text`` as an SQL string literal (never code)."""
    return "'" + text.replace("'", "''") + "'"


def _csv_header(con: duckdb.DuckDBPyConnection, literal: str, delim: str, name: str) -> list[str]:
    """The column names of a CSV file's header line (DuckDB reads the line, so that
    compressed files and a byte-order mark are handled as for the data; Python's csv
    module splits it, quotes included)."""
    try:
        rows = con.execute(
            f"SELECT * FROM read_csv({literal}, header=false, auto_detect=false, "
            "columns={'line': 'VARCHAR'}, delim='\x1f', quote='', escape='', "
            "strict_mode=false) LIMIT 1"
        ).fetchall()
    except duckdb.Error as exc:
        raise IngestError(f"{name}: {_duckdb_reason(exc)}", source=name) from None
    if not rows:
        raise IngestError(
            f"{name}: the file is empty; a CSV file starts with a header line naming its columns",
            source=name,
        )
    line = rows[0][0] or ""
    try:
        names = next(csv.reader([line], delimiter=delim, quotechar='"'), [])
    except csv.Error as exc:  # a NUL byte, a name longer than 128 KiB
        raise IngestError(f"{name}: line 1 (the header): {exc}", source=name) from None
    if not any(n.strip() for n in names):
        raise IngestError(f"{name}: the first line is empty; it must name the columns", source=name)
    suffix, separator = ("tsv", "tab") if delim == "\t" else ("csv", "comma")
    other = next((d for d in ";|\t," if d != delim and len(names) == 1 and d in names[0]), None)
    if other is not None:  # e.g. a spreadsheet's export separated by semicolons
        raise IngestError(
            f"{name}: the header line is one column, {names[0][:80]!r}; the columns of a "
            f".{suffix} file are separated by {separator}s, not "
            f"{'tabs' if other == chr(9) else repr(other)}",
            source=name,
        )
    seen: set[str] = set()
    for i, column in enumerate(names, start=1):
        if not column.strip():
            raise IngestError(
                f"{name}: column {i} of the header line has no name (a stray {separator}?)",
                source=name,
            )
        if column in seen:
            raise IngestError(
                f"{name}: column {column!r} is named twice in the header line",
                source=name,
                column=column,
            )
        seen.add(column)
    return names


_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")
_REASON_LIMIT = 300


def _duckdb_reason(exc: BaseException) -> str:
    """DuckDB's reason for a read error, in one line of at most a few hundred characters.

    A CSV error spans many lines (the line's text, the reason, possible fixes, the
    dialect); this keeps the line number and the reason, and drops the rest, the
    line's own text included (it may be megabytes long). Other errors keep their
    first line. Returns e.g. ``line 3: Expected Number of Columns: 4 Found: 3`` or
    ``cannot read: Malformed JSON ...``.
    """
    lines = [part.strip() for part in str(exc).split("\n")]
    first = re.sub(r"^[A-Za-z ]*Error: ", "", lines[0] if lines else "") or type(exc).__name__
    found = _CSV_LINE.search(first)
    if found is None:
        reason = first
        where = "cannot read: "
    else:
        where = f"line {found.group(1)}: "
        kept: list[str] = []
        for part in lines[1:]:
            if part.startswith("Original Line:"):
                continue
            if part.startswith(("Possible", "* ", "file =")):
                break
            if not part:
                if kept:
                    break
                continue
            kept.append(part.rstrip("."))
        reason = "; ".join(kept) or first
    if len(reason) > _REASON_LIMIT:
        reason = reason[:_REASON_LIMIT] + "…"
    return where + printable(reason)


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
def open_store(
    path: str | os.PathLike[str], *, read_only: bool = False, create: bool = True
) -> Iterator[Store]:
    """``with open_store(path) as store:`` — a Store that closes itself."""
    store = Store(path, read_only=read_only, create=create)
    try:
        yield store
    finally:
        store.close()
