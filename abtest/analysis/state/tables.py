"""Where an experiment's state lives in the store, and what it records about itself.

Each experiment with state has four tables beside the raw ones, named after its
key (``looklift_state:{key}:units`` and so on, always quoted):

- ``units``: per user, the first exposure to each variant (``at_0``, ``at_1``...,
  in the spec's order; ``NULL`` for a variant never seen), from which the user's
  variant, first exposure and mixed flag follow for any analysis end;
- ``days``: per user and day, the counts and sums of the metrics' events after
  the user's first exposure (plain, filtered and windowed aggregates);
- ``pre``: per user, the CUPED pre-period's counts and sums;
- ``judged``: per user, showing, position, judging event type, period and day,
  the first time of those events (what the ranking scores are computed from).

Two shared tables describe every experiment's state: :data:`META` (one row per
experiment: the fingerprint, the window, the watermark, the row counts the
state has read) and :data:`DAY_COUNTS` (rows per day of ``events`` and of the
experiment's ``exposures`` at the last refresh, which is how a refresh finds the
days that changed since).
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from abtest.store import Store, quote_ident

META = "looklift_state"
DAY_COUNTS = "looklift_state_days"
PARTS = ("units", "days", "pre", "judged")
STATE_VERSION = 1
"""Bumped when the state's layout or meaning changes: an older state is then rebuilt."""


def table(key: str, part: str) -> str:
    """The quoted name of one of an experiment's state tables."""
    if part not in PARTS:
        raise ValueError(f"unknown state table {part!r}")
    return quote_ident(f"{META}:{key}:{part}")


class StateMeta(NamedTuple):
    """What an experiment's state records about itself (a row of :data:`META`)."""

    experiment: str
    fingerprint: str
    """Of the spec parts and window the state depends on (:mod:`.fingerprint`)."""
    depends_on: str
    """Those parts as JSON, to say what changed when the fingerprint differs."""
    start: dt.datetime
    end: dt.datetime
    """The analysis window the state was built for: ``[start, end)``."""
    pre_start: dt.datetime | None
    watermark: dt.datetime | None
    """The latest event or exposure time the state has read (``None``: no rows yet)."""
    events_rows: int
    exposures_rows: int
    """Rows of ``events`` and of the experiment's ``exposures`` at the refresh."""
    lookback_minutes: int
    refreshed_at: dt.datetime


def create_meta_tables(store: Store) -> None:
    """Create :data:`META` and :data:`DAY_COUNTS` if they are missing."""
    store.con.execute(
        f"""CREATE TABLE IF NOT EXISTS {META} (
  experiment VARCHAR PRIMARY KEY, fingerprint VARCHAR NOT NULL, depends_on VARCHAR NOT NULL,
  start TIMESTAMP NOT NULL, "end" TIMESTAMP NOT NULL, pre_start TIMESTAMP,
  watermark TIMESTAMP, events_rows BIGINT NOT NULL, exposures_rows BIGINT NOT NULL,
  lookback_minutes INTEGER NOT NULL, refreshed_at TIMESTAMP NOT NULL)"""
    )
    store.con.execute(
        f"""CREATE TABLE IF NOT EXISTS {DAY_COUNTS} (
  experiment VARCHAR NOT NULL, source VARCHAR NOT NULL, day DATE NOT NULL, n BIGINT NOT NULL)"""
    )


def read_meta(store: Store, key: str) -> StateMeta | None:
    """The experiment's state record, ``None`` without state (or without state tables)."""
    if not store.has_table(META):
        return None
    row = store.fetch_one(f"SELECT * FROM {META} WHERE experiment = ?", [key])
    if row is None:
        return None
    meta = StateMeta(*row)
    if not all(store.has_table(f"{META}:{key}:{part}") for part in PARTS):
        return None
    return meta


def read_day_counts(store: Store, key: str, source: str) -> dict[dt.date, int]:
    """Rows per day of ``source`` (``events`` or ``exposures``) at the last refresh."""
    if not store.has_table(DAY_COUNTS):
        return {}
    rows = store.con.execute(
        f"SELECT day, n FROM {DAY_COUNTS} WHERE experiment = ? AND source = ?", [key, source]
    ).fetchall()
    return {day: int(n) for day, n in rows}


def write_meta(store: Store, meta: StateMeta, counts: dict[str, dict[dt.date, int]]) -> None:
    """Replace the experiment's state record and day counts (inside the caller's transaction)."""
    con = store.con
    con.execute(f"DELETE FROM {META} WHERE experiment = ?", [meta.experiment])
    con.execute(f"INSERT INTO {META} VALUES ({', '.join('?' * len(meta))})", list(meta))
    con.execute(f"DELETE FROM {DAY_COUNTS} WHERE experiment = ?", [meta.experiment])
    rows = [
        (meta.experiment, source, day, n)
        for source, by_day in counts.items()
        for day, n in sorted(by_day.items())
        if n
    ]
    if rows:
        con.executemany(f"INSERT INTO {DAY_COUNTS} VALUES (?, ?, ?, ?)", rows)


def drop_state(store: Store, key: str) -> None:
    """Remove an experiment's state tables and record (inside the caller's transaction)."""
    for part in PARTS:
        store.con.execute(f"DROP TABLE IF EXISTS {table(key, part)}")
    if store.has_table(META):
        store.con.execute(f"DELETE FROM {META} WHERE experiment = ?", [key])
    if store.has_table(DAY_COUNTS):
        store.con.execute(f"DELETE FROM {DAY_COUNTS} WHERE experiment = ?", [key])
