"""Relevance judgments: which candidates were relevant for which source item.

A *query* is a source item (the item whose "similar looks" module was shown);
a candidate's *gain* grades how relevant it was, read from the interaction
logs: by default a purchase is worth 2 and a tap 1. A candidate with several
events keeps the largest gain of them (a tapped-then-bought item counts as a
purchase, not as 3), so gains stay on the scale of the mapping.

Only candidates with a positive gain are judged relevant; a source item none
of whose candidates was relevant (shown but never tapped or bought) is not a
query. Such items are counted in :attr:`Judgments.n_no_relevant` rather than
scored 0, because a ranking cannot be good or bad for a query with nothing to
find.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import duckdb
import numpy as np
import polars as pl

from abtest.schema import EVENT_TYPES
from offline_eval.db import Database, Period, TimeLike, connection, one_row, require_table
from offline_eval.errors import OfflineEvalError
from offline_eval.runs import PAD

DEFAULT_GAINS: Mapping[str, float] = {"purchase": 2.0, "tap": 1.0}
"""Gain of a candidate per event type: a purchase is worth more than a tap."""


@dataclass(frozen=True, eq=False)
class Judgments:
    """Graded relevance per query, stored query by query (CSR layout).

    Rows are sorted by query id, then by gain descending, then by item id, so
    that the first ``k`` rows of a query are its ideal ranking at ``k``.
    Every gain is positive and every query has at least one row.
    """

    query_ids: np.ndarray
    """Sorted, unique query (source item) ids, shape ``(n_queries,)``."""
    offsets: np.ndarray
    """Query ``i`` owns rows ``offsets[i]:offsets[i + 1]``, shape ``(n_queries + 1,)``."""
    item_ids: np.ndarray
    """Judged candidate ids, shape ``(n_rows,)``."""
    gains: np.ndarray
    """Positive gains aligned with ``item_ids``."""
    n_no_relevant: int = 0
    """Source items dropped because none of their candidates was relevant."""

    @classmethod
    def from_arrays(
        cls,
        query_ids: np.ndarray,
        item_ids: np.ndarray,
        gains: np.ndarray,
        *,
        n_no_relevant: int = 0,
    ) -> Judgments:
        """Build judgments from parallel arrays, one row per (query, candidate).

        Rows with a gain of 0 or less are not relevant and dropped; queries left
        without any relevant candidate are counted in ``n_no_relevant`` (added
        to the given number). A (query, candidate) pair listed twice raises.
        """
        q = np.asarray(query_ids, dtype=np.int64).ravel()
        items = np.asarray(item_ids, dtype=np.int64).ravel()
        g = np.asarray(gains, dtype=np.float64).ravel()
        if not (len(q) == len(items) == len(g)):
            raise OfflineEvalError(
                f"judgments: query_ids, item_ids and gains differ in length "
                f"({len(q)}, {len(items)}, {len(g)}); pass one value per judged pair"
            )
        if not np.isfinite(g).all():
            raise OfflineEvalError("judgments: gains must be finite numbers; remove NaN or inf")
        if (items == PAD).any():
            raise OfflineEvalError(f"judgments: item id {PAD} is reserved; renumber that item")
        _reject_duplicates(q, items)
        relevant = g > 0
        n_all = np.unique(q).size
        q, items, g = q[relevant], items[relevant], g[relevant]
        order = np.lexsort((items, -g, q))
        q, items, g = q[order], items[order], g[order]
        starts = np.flatnonzero(np.r_[True, q[1:] != q[:-1]]) if len(q) else np.zeros(0, int)
        offsets = np.r_[starts, len(q)].astype(np.int64)
        query_ids = q[starts]
        if query_ids.size == 0:
            raise OfflineEvalError(
                "judgments: no query has a relevant candidate (every gain is 0); "
                "relevance needs taps or purchases"
            )
        return cls(
            query_ids=query_ids,
            offsets=offsets,
            item_ids=items,
            gains=g,
            n_no_relevant=int(n_no_relevant) + n_all - query_ids.size,
        )

    @property
    def n_queries(self) -> int:
        return int(self.query_ids.size)

    @property
    def n_relevant(self) -> np.ndarray:
        """Number of relevant candidates per query, shape ``(n_queries,)``."""
        return np.diff(self.offsets)

    @property
    def row_query(self) -> np.ndarray:
        """Index (into ``query_ids``) of the query of each row."""
        return np.repeat(np.arange(self.n_queries), self.n_relevant)

    def ideal(self, k: int) -> np.ndarray:
        """Gains of the ideal ranking, cut at ``k``: shape ``(n_queries, k)``, 0 padded."""
        rank = np.arange(self.item_ids.size) - np.repeat(self.offsets[:-1], self.n_relevant)
        keep = rank < k
        out = np.zeros((self.n_queries, k))
        out[self.row_query[keep], rank[keep]] = self.gains[keep]
        return out

    def to_frame(self) -> pl.DataFrame:
        """One row per judged pair: ``query_id``, ``item_id``, ``gain``."""
        return pl.DataFrame(
            {
                "query_id": np.repeat(self.query_ids, self.n_relevant),
                "item_id": self.item_ids,
                "gain": self.gains,
            }
        )


def load_judgments(
    db: Database,
    *,
    gains: Mapping[str, float] = DEFAULT_GAINS,
    start: TimeLike = None,
    end: TimeLike = None,
    logging_policy: str | None = None,
) -> Judgments:
    """Judgments from the ``interactions`` table, optionally only from ``[start, end)``.

    ``gains`` maps event types to the gain they give a candidate (default
    purchase 2, tap 1). Event types are passed to SQL as parameters, never
    pasted into it. ``logging_policy`` keeps only the logs of the policy that
    served them (e.g. a uniformly randomised one, whose judgments do not
    favour the production ranking). Raises :class:`OfflineEvalError` when the
    range is empty, holds no interactions, or holds none of the events in
    ``gains``.
    """
    gain_items = _check_gains(gains)
    period = Period.of(start, end)
    con = connection(db)
    require_table(con, "interactions", "create it with the looklift store and log history")
    where, params = period.where()
    if logging_policy is not None:
        where += " AND policy = ?"
        params.append(logging_policy)
    n_events, n_sources, first, last = one_row(
        con,
        f"SELECT COUNT(*), COUNT(DISTINCT source_item_id), MIN(ts), MAX(ts) "
        f"FROM interactions WHERE {where}",
        params,
    )
    if not n_events:
        raise OfflineEvalError(_no_interactions(con, period, logging_policy))
    values = ", ".join("(CAST(? AS VARCHAR), CAST(? AS DOUBLE))" for _ in gain_items)
    sql = f"""
        WITH gain_map (event_type, gain) AS (VALUES {values}),
        scoped AS (
            SELECT source_item_id, item_id, event_type
            FROM interactions
            WHERE {where}
        )
        SELECT s.source_item_id AS query_id, s.item_id AS item_id, MAX(g.gain) AS gain
        FROM scoped AS s
        JOIN gain_map AS g ON s.event_type = g.event_type
        GROUP BY s.source_item_id, s.item_id
    """
    flat = [v for pair in gain_items for v in pair]
    cols = con.execute(sql, flat + params).fetchnumpy()
    if cols["query_id"].size == 0:
        names = " or ".join(name for name, _ in gain_items)
        raise OfflineEvalError(
            f"no {names} events {period.describe()} ({n_events} interactions from "
            f"{first} to {last}); relevance comes from these events: log history "
            "with taps, or widen the date range"
        )
    judged = Judgments.from_arrays(cols["query_id"], cols["item_id"], cols["gain"])
    return replace(judged, n_no_relevant=int(n_sources) - judged.n_queries)


def _check_gains(gains: Mapping[str, float]) -> list[tuple[str, float]]:
    if not gains:
        raise OfflineEvalError(
            "gains is empty; map at least one event type to a gain, e.g. tap=1, purchase=2"
        )
    out = []
    for name, gain in gains.items():
        if name not in EVENT_TYPES:
            raise OfflineEvalError(
                f"unknown event type {name!r} in gains; interactions hold {', '.join(EVENT_TYPES)}"
            )
        if not isinstance(gain, int | float) or not math.isfinite(gain) or gain <= 0:
            raise OfflineEvalError(f"gain of {name!r} must be a positive number (got {gain!r})")
        out.append((name, float(gain)))
    return out


def _reject_duplicates(q: np.ndarray, items: np.ndarray) -> None:
    order = np.lexsort((items, q))
    qs, its = q[order], items[order]
    dup = np.flatnonzero((qs[1:] == qs[:-1]) & (its[1:] == its[:-1]))
    if dup.size:
        i = dup[0]
        raise OfflineEvalError(
            f"judgments: candidate {its[i]} is judged twice for query {qs[i]}; "
            "give one gain per (query, candidate), e.g. the largest"
        )


def _no_interactions(
    con: duckdb.DuckDBPyConnection, period: Period, logging_policy: str | None
) -> str:
    first, last = one_row(con, "SELECT MIN(ts), MAX(ts) FROM interactions")
    if first is None:
        return "the interactions table is empty; log history first (looklift history)"
    if logging_policy is not None:
        policies = [
            str(p)
            for (p,) in con.execute(
                "SELECT DISTINCT policy FROM interactions ORDER BY policy"
            ).fetchall()
        ]
        return (
            f"no interactions {period.describe()} from logging policy {logging_policy!r}; "
            f"the logs have policies {', '.join(policies)} from {first} to {last}"
        )
    return (
        f"no interactions {period.describe()}; the logs run from {first} to {last}: "
        "choose a date range inside them"
    )
