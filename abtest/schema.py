"""The tables of the looklift store, described as data.

One description serves three purposes: the DDL that creates the tables, the
validation of every ingested batch (types, required columns, allowed values),
and the documentation of the data model (DESIGN.md, "Data model").

Types are portable SQL types (BIGINT, VARCHAR, DOUBLE, INTEGER, TIMESTAMP,
BOOLEAN) so that the same tables can live in a warehouse.

``items``, ``users`` and ``events`` are *extensible*: besides the columns
described here they keep any a team brings (a catalog's ``brand``, a user's
``app_version``), typed from the file on first ingest. Those are usable in
targeting and as segments like the described ones; the described columns are
always checked as below.

Each table has a key (the columns that identify a row). The store enforces it
on every ingest — a row whose key is stored already is skipped — rather than
with a PRIMARY KEY constraint: DuckDB's constraint index made replacing a
million keys in one transaction take 20 s at commit instead of 0.03 s
(measured), and warehouses do not enforce keys either.

A column added to the data model after databases were made with it (such as
``events.view_id``) is nullable and comes last: the store adds it to an older
database's table when it opens the database writable (see
:meth:`abtest.store.Store.create_tables`), so that new and old tables have the
same columns in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass

EVENT_TYPES = ("impression", "tap", "purchase")
"""Event types of the "similar looks" module, in funnel order."""


@dataclass(frozen=True)
class Column:
    """One column: its SQL type and what a valid value looks like."""

    name: str
    sql_type: str
    required: bool = False
    allowed: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    doc: str = ""


@dataclass(frozen=True)
class TableSchema:
    """One table of the store and the columns that identify a row."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    doc: str = ""
    extensible: bool = False
    """Whether the table also keeps columns a team brings (``brand``, ``app_version``):
    typed from the file and added on first ingest (see :mod:`abtest.store`)."""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def ddl(self) -> str:
        cols = [f"{c.name} {c.sql_type}{' NOT NULL' if c.required else ''}" for c in self.columns]
        body = ",\n    ".join(cols)
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n    {body}\n)"


_EVENT_NAME = r"^[a-z][a-z0-9_]{0,63}$"

ITEMS = TableSchema(
    "items",
    (
        Column("item_id", "BIGINT", required=True, minimum=0),
        Column("title", "VARCHAR", required=True),
        Column("image_path", "VARCHAR", required=True, doc="relative to the database's folder"),
        Column("category", "VARCHAR"),
        Column("price", "DOUBLE", minimum=0),
        Column("seller_id", "VARCHAR"),
        Column("listed_at", "TIMESTAMP"),
    ),
    key=("item_id",),
    doc="The catalog: one row per listed item.",
    extensible=True,
)

USERS = TableSchema(
    "users",
    (
        Column("user_id", "VARCHAR", required=True),
        Column("platform", "VARCHAR"),
        Column("country", "VARCHAR"),
        Column("is_new", "BOOLEAN"),
        Column("first_seen_at", "TIMESTAMP"),
    ),
    key=("user_id",),
    doc="Users and the segment attributes that targeting and breakdowns use.",
    extensible=True,
)

NEIGHBORS = TableSchema(
    "neighbors",
    (
        Column("encoder", "VARCHAR", required=True),
        Column("item_id", "BIGINT", required=True),
        Column("rank", "INTEGER", required=True, minimum=1),
        Column("neighbor_id", "BIGINT", required=True),
        Column("score", "DOUBLE"),
    ),
    key=("encoder", "item_id", "rank"),
    doc="Recommendations: the ranked nearest neighbors of each item, per encoder.",
)

INTERACTIONS = TableSchema(
    "interactions",
    (
        Column("event_id", "VARCHAR", required=True),
        Column("ts", "TIMESTAMP", required=True),
        Column("user_id", "VARCHAR", required=True),
        Column("source_item_id", "BIGINT", required=True),
        Column("item_id", "BIGINT", required=True),
        Column("event_type", "VARCHAR", required=True, allowed=EVENT_TYPES),
        Column("position", "INTEGER", minimum=1),
        Column("value", "DOUBLE"),
        Column("policy", "VARCHAR", doc="the encoder that served the module"),
        Column(
            "propensity",
            "DOUBLE",
            minimum=0,
            maximum=1,
            doc="probability that the logging policy showed this item at this position",
        ),
    ),
    key=("event_id",),
    doc="Historical logs of the module, the input of offline evaluation.",
)

EVENTS = TableSchema(
    "events",
    (
        Column("event_id", "VARCHAR", required=True),
        Column("ts", "TIMESTAMP", required=True),
        Column("user_id", "VARCHAR", required=True),
        Column("event_type", "VARCHAR", required=True, pattern=_EVENT_NAME),
        Column("item_id", "BIGINT"),
        Column("source_item_id", "BIGINT"),
        Column("position", "INTEGER", minimum=1),
        Column("value", "DOUBLE"),
        Column(
            "view_id",
            "VARCHAR",
            doc="the id of one showing of the module: its impressions, and the taps and "
            "purchases made from it, share it; null for other events, e.g. organic purchases",
        ),
    ),
    key=("event_id",),
    doc="What users did during (and before) experiments; metrics are defined over it.",
    extensible=True,
)

EXPOSURES = TableSchema(
    "exposures",
    (
        Column("experiment", "VARCHAR", required=True),
        Column("variant", "VARCHAR", required=True),
        Column("user_id", "VARCHAR", required=True),
        Column("ts", "TIMESTAMP", required=True),
    ),
    key=("experiment", "user_id", "variant", "ts"),
    doc="Each time a user was shown their variant; analysis uses the first per user.",
)

TABLES: dict[str, TableSchema] = {
    t.name: t for t in (ITEMS, USERS, NEIGHBORS, INTERACTIONS, EVENTS, EXPOSURES)
}
"""Every table of the data model, by name."""
