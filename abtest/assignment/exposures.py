"""Exposures: the ``exposures`` rows of assigned units, and writing them to the store.

Only units assigned by hash are exposures (forced ones are QA, excluded ones
never saw a variant); analysis uses each unit's first exposure. Timestamps are
stored as naive UTC (:func:`as_timestamp`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from abtest.assignment.outcomes import Assignment, AssignmentError, BatchAssignment

if TYPE_CHECKING:
    from abtest.store import IngestReport, Store


def exposure_frame(batch: BatchAssignment, ts: Any) -> pl.DataFrame:
    """The ``exposures`` rows of a batch: units assigned by hash, at ``ts``.

    ``ts`` is one timestamp for all, or an array/Series of timestamps row for
    row with the batch.
    """
    mask = batch.exposed
    rows = np.flatnonzero(mask)
    variants = pl.Series("variant", list(batch.variants), dtype=pl.String).gather(
        pl.Series(batch.variant_index[rows].astype(np.int64))
    )
    user_id = pl.Series("user_id", batch.unit_ids, dtype=pl.String).gather(pl.Series(rows))
    return pl.DataFrame(
        {
            "experiment": pl.repeat(batch.experiment, len(rows), eager=True, dtype=pl.String),
            "variant": variants,
            "user_id": user_id,
            "ts": _timestamps(batch, ts, rows).alias("ts"),
        }
    )


def _timestamps(batch: BatchAssignment, ts: Any, rows: np.ndarray) -> pl.Series:
    """The exposure time of each of ``rows``: ``ts`` repeated, or gathered row for row."""
    if isinstance(ts, dt.datetime | dt.date | str):
        return pl.repeat(as_timestamp(ts), len(rows), eager=True, dtype=pl.Datetime("us"))
    if isinstance(ts, pl.Series):
        series = ts
    elif isinstance(ts, np.ndarray) and ts.dtype.kind == "M":
        series = pl.Series(ts)
    else:
        series = pl.Series([as_timestamp(t) for t in ts], dtype=pl.Datetime("us"))
    if len(series) != len(batch):
        raise AssignmentError(f"ts has {len(series)} values but the batch has {len(batch)} units")
    return series.cast(pl.Datetime("us")).gather(pl.Series(rows))


def as_timestamp(ts: dt.datetime | dt.date | str) -> dt.datetime:
    """A naive UTC datetime from a datetime, a date (midnight) or an ISO string."""
    if isinstance(ts, str):
        try:
            ts = dt.datetime.fromisoformat(ts)
        except ValueError:
            raise AssignmentError(f"not an ISO timestamp: {ts!r}") from None
    if isinstance(ts, dt.datetime):
        if ts.tzinfo is not None:
            ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
        return ts
    return dt.datetime(ts.year, ts.month, ts.day)


def record_exposures(store: Store, batch: BatchAssignment, ts: Any) -> IngestReport:
    """Write a batch's exposures to the ``exposures`` table (idempotent, atomic)."""
    return store.ingest("exposures", exposure_frame(batch, ts), source_name=f"<{batch.experiment}>")


def exposure_row(assignment: Assignment, ts: dt.datetime) -> dict[str, Any]:
    """One exposure row for an online assignment (forced ones are not exposures)."""
    if assignment.forced:
        raise AssignmentError(f"unit {assignment.unit_id!r} is forced; it is not an exposure")
    return {
        "experiment": assignment.experiment,
        "variant": assignment.variant,
        "user_id": assignment.unit_id,
        "ts": as_timestamp(ts),
    }
