"""The single writer: committed log batches into the store, and the log replayed on start.

One thread owns the DuckDB connection. It takes the batches the write-ahead log
has fsynced and gathers those that arrive within ``linger`` seconds. The showings'
impressions and exposures, made by the service with unique ids, are appended as
they are; the apps' taps and purchases go through
:meth:`abtest.store.Store.ingest_many`, which skips rows whose key is stored (an
event's ``event_id``): a retried event is stored once. Once a batch of segment ``s``
is stored, every older segment is, and the log deletes them. On start,
:func:`replay` stores every segment left by the previous run (a crash, or a stop
before the writer caught up): rows already stored are skipped, so a replay never
counts a row twice.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from abtest.store import Batch, Store
from serving.wal import Committed, Row, WriteAheadLog, read_segment, segments

TABLES = ("exposures", "events")
_SCHEMAS: dict[str, dict[str, Any]] = {
    "exposures": {"experiment": pl.String, "variant": pl.String, "user_id": pl.String},
    "events": {
        "event_id": pl.String,
        "user_id": pl.String,
        "event_type": pl.String,
        "item_id": pl.Int64,
        "source_item_id": pl.Int64,
        "position": pl.Int32,
        "value": pl.Float64,
        "view_id": pl.String,
    },
}


def frames(rows: Iterable[Row]) -> list[Batch]:
    """Log rows as one ingest batch per table. A ``views`` row (a showing of the module,
    as :func:`serving.app.create_app` logs it) becomes one impression per position, and
    the exposure it carries, if any."""
    by_table: dict[str, list[Row]] = {"exposures": [], "events": [], "views": []}
    for row in rows:
        by_table[row["table"]].append(row)
    views = by_table.pop("views")
    for view in views:
        if "exposure" in view:
            experiment, variant = view["exposure"]
            by_table["exposures"].append(
                {"experiment": experiment, "variant": variant, "user_id": view["user_id"]}
                | {"ts": view["ts"]}
            )
    batches = []
    for table, listed in by_table.items():
        frame = _frame(table, listed)
        if table == "events" and views:
            frame = pl.concat([frame, _impressions(views)]) if listed else _impressions(views)
        elif not listed:
            continue
        batches.append(Batch(table, frame, f"log of {table}"))
    return batches


def _frame(table: str, rows: list[Row]) -> pl.DataFrame:
    schema = _SCHEMAS[table]
    columns = {
        name: pl.Series(name, [r.get(name) for r in rows], dtype=kind)
        for name, kind in schema.items()
    }
    ts = pl.Series("ts", [r["ts"] for r in rows], dtype=pl.String).str.to_datetime(time_unit="us")
    return pl.DataFrame({**columns, "ts": ts})


def _impressions(views: list[Row]) -> pl.DataFrame:
    """One impression event per position of each showing (event id ``<view>-<position>``).
    Built from flat columns: the writer shares the interpreter with the event loop, so
    it keeps its own Python work per row small."""
    counts = np.fromiter((len(v["items"]) for v in views), dtype=np.int64, count=len(views))
    showing = np.repeat(np.arange(len(views)), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    shown = pl.DataFrame(
        {
            "view_id": pl.Series([v["view_id"] for v in views], dtype=pl.String),
            "user_id": pl.Series([v["user_id"] for v in views], dtype=pl.String),
            "source_item_id": pl.Series([v["source_item_id"] for v in views], dtype=pl.Int64),
            "ts": pl.Series([v["ts"] for v in views], dtype=pl.String),
        }
    )[showing]
    items = pl.Series(list(chain.from_iterable(v["items"] for v in views)), dtype=pl.Int64)
    position = pl.Series(np.arange(len(showing)) - starts + 1, dtype=pl.Int32)
    return shown.select(
        (pl.col("view_id") + "-" + position.cast(pl.String)).alias("event_id"),
        "user_id",
        pl.lit("impression").alias("event_type"),
        items.alias("item_id"),
        "source_item_id",
        position.alias("position"),
        pl.lit(None, dtype=pl.Float64).alias("value"),
        "view_id",
        pl.col("ts").str.to_datetime(time_unit="us"),
    )


def replay(store: Store, folder: Path) -> int:
    """Store every row of the log's segments in ``folder``; the rows read."""
    read = 0
    for number in segments(folder):
        rows = list(read_segment(folder, number))
        if rows:
            store.ingest_many(frames(rows))
        read += len(rows)
    return read


class StoreWriter:
    """The thread that stores the log's committed batches (``submit`` is the log's
    ``on_commit``)."""

    def __init__(
        self,
        store: Store,
        *,
        linger: float = 0.25,
        max_rows: int = 50_000,
        checkpoint_every: str = "1GB",
    ) -> None:
        self.store = store
        self.checkpoint_every = checkpoint_every
        self.linger = linger
        self.max_rows = max_rows
        self.wal: WriteAheadLog | None = None
        self.rows_stored = 0
        self.events_stored = 0
        self.errors = 0
        self.last_error: str | None = None
        self._queue: queue.Queue[Committed | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)

    def start(self, wal: WriteAheadLog) -> None:
        self.wal = wal
        # DuckDB checkpoints when its own log passes this: rarely while serving (each
        # checkpoint's burst of writes slows the log's fsyncs), and always on close.
        self.store.con.execute(f"SET checkpoint_threshold = '{self.checkpoint_every}'")
        self._thread.start()

    def submit(self, committed: Committed) -> None:
        self._queue.put(committed)

    @property
    def lag(self) -> int:
        """Committed batches not stored yet."""
        return self._queue.qsize()

    def _write(self, rows: list[Row]) -> None:
        """Store ``rows``: the showings' impressions and exposures, made here with unique
        ids, are appended as they are; the apps' taps and purchases go through the key
        check (a retried event is stored once). A replay (:func:`replay`) checks every key."""
        views = [r for r in rows if r["table"] == "views"]
        others = [r for r in rows if r["table"] != "views"]
        made = frames(views)
        with self.store.transaction() as con:
            for b in made:
                con.register("__served", b.source)
                try:
                    con.execute(f"INSERT INTO {b.table} BY NAME SELECT * FROM __served")
                finally:
                    con.unregister("__served")
        if others:
            self.store.ingest_many(frames(others))

    def stop(self) -> None:
        """Store what is queued, then stop."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            # Let ``linger`` seconds of commits gather: one wake-up and one transaction
            # for all of them (the thread shares the interpreter with the event loop).
            time.sleep(self.linger)
            batch, rows = [first], len(first.rows)
            while rows < self.max_rows:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
                rows += len(more.rows)
            self._store(batch)

    def _store(self, batch: list[Committed]) -> None:
        rows = [row for c in batch for row in c.rows]
        try:
            self._write(rows)
        except Exception as exc:  # kept in the log (no segment is deleted from now on):
            self.errors += 1  # the next start replays it
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.wal = None
            return
        self.rows_stored += len(rows)
        self.events_stored += sum(
            len(r["items"]) if r["table"] == "views" else r["table"] == "events" for r in rows
        )
        if self.wal is not None:
            self.wal.release(batch[-1].segment - 1)
