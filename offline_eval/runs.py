"""Runs: the ranked candidates an encoder recommends for each query.

A run is held as a dense matrix, one row per query and one column per rank,
so that metrics at any ``k`` are column slices and never a per-query loop.
Neighbor tables are (nearly) rectangular, so the padding costs little.

Order within a query: by the given rank, ties broken by item id (ascending),
so the same input always gives the same ranking. An item listed twice for one
query is an error (trec_eval rejects such runs too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from offline_eval.db import Database, connection, one_row, require_table
from offline_eval.errors import OfflineEvalError

PAD = np.iinfo(np.int64).min
"""Fills the matrix after the last candidate of a query; never a valid item id."""


@dataclass(frozen=True, eq=False)
class Run:
    """Ranked candidates per query."""

    name: str
    """The encoder (or any label) that produced the ranking."""
    query_ids: np.ndarray
    """Sorted, unique query ids, shape ``(n_queries,)``."""
    items: np.ndarray
    """Candidate ids in rank order, shape ``(n_queries, width)``, :data:`PAD` after the end."""

    @classmethod
    def from_arrays(
        cls,
        query_ids: np.ndarray,
        item_ids: np.ndarray,
        ranks: np.ndarray | None = None,
        *,
        name: str = "run",
    ) -> Run:
        """Build a run from parallel arrays, one row per (query, candidate).

        ``ranks`` orders candidates within a query (smaller is better; ties by
        item id); without it the given order is the ranking. Input already
        sorted by (query, rank, item), as ``load_run`` reads it, is not sorted
        again.
        """
        q = np.asarray(query_ids, dtype=np.int64).ravel()
        items = np.asarray(item_ids, dtype=np.int64).ravel()
        r = np.arange(q.size) if ranks is None else np.asarray(ranks, dtype=np.float64).ravel()
        if not (len(q) == len(items) == len(r)):
            raise OfflineEvalError(
                f"run {name}: query_ids, item_ids and ranks differ in length "
                f"({len(q)}, {len(items)}, {len(r)}); pass one value per candidate"
            )
        if q.size == 0:
            raise OfflineEvalError(f"run {name} is empty; it needs at least one candidate")
        if (items == PAD).any():
            raise OfflineEvalError(f"run {name}: item id {PAD} is reserved; renumber that item")
        if not _is_sorted(q, r, items):
            order = np.lexsort((items, r, q))
            q, items = q[order], items[order]
        starts = np.flatnonzero(np.r_[True, q[1:] != q[:-1]])
        counts = np.diff(np.r_[starts, q.size])
        position = np.arange(q.size) - np.repeat(starts, counts)
        matrix = np.full((starts.size, int(counts.max())), PAD, dtype=np.int64)
        matrix[np.repeat(np.arange(starts.size), counts), position] = items
        run = cls(name=name, query_ids=q[starts], items=matrix)
        run._reject_duplicates()
        return run

    @property
    def n_queries(self) -> int:
        return int(self.query_ids.size)

    def top(self, k: int) -> np.ndarray:
        """The first ``k`` candidates of every query, shape ``(n_queries, k)``, PAD filled."""
        out = np.full((self.n_queries, k), PAD, dtype=np.int64)
        width = min(k, self.items.shape[1])
        out[:, :width] = self.items[:, :width]
        return out

    def coverage(self, k: int, catalog_size: int) -> float:
        """Catalog coverage at ``k``: share of the catalog in at least one query's top ``k``."""
        if catalog_size <= 0:
            raise OfflineEvalError(
                f"catalog size must be positive (got {catalog_size}); fill the items table"
            )
        top = np.sort(self.items[:, :k], axis=None)
        top = top[top != PAD]
        distinct = int(top.size > 0) + int(np.count_nonzero(top[1:] != top[:-1]))
        return distinct / catalog_size

    def _reject_duplicates(self) -> None:
        ordered = np.sort(self.items, axis=1)
        dup = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] != PAD)
        if dup.any():
            row, col = np.argwhere(dup)[0]
            raise OfflineEvalError(
                f"run {self.name}: candidate {ordered[row, col]} is listed twice for query "
                f"{self.query_ids[row]}; each ranking must list a candidate once"
            )


def load_run(db: Database, encoder: str) -> Run:
    """The neighbors of ``encoder`` as a run: query = ``item_id``, candidate = ``neighbor_id``."""
    con = connection(db)
    require_encoder(con, encoder)
    cols = con.execute(
        "SELECT item_id, rank, neighbor_id FROM neighbors WHERE encoder = ? "
        "ORDER BY item_id, rank, neighbor_id",
        [encoder],
    ).fetchnumpy()
    return Run.from_arrays(cols["item_id"], cols["neighbor_id"], cols["rank"], name=encoder)


def require_encoder(db: Database, encoder: str) -> None:
    """Raise unless the ``neighbors`` table has rows for ``encoder``, naming those it has."""
    con = connection(db)
    require_table(con, "neighbors", "build the encoders' neighbor tables first")
    (n,) = one_row(con, "SELECT COUNT(*) FROM neighbors WHERE encoder = ?", [encoder])
    if n:
        return
    known = [
        f"{name} ({rows} rows)"
        for name, rows in con.execute(
            "SELECT encoder, COUNT(*) FROM neighbors GROUP BY encoder ORDER BY encoder"
        ).fetchall()
    ]
    have = f"it has {', '.join(known)}" if known else "it is empty"
    raise OfflineEvalError(
        f"unknown encoder {encoder!r}: the neighbors table has no rows for it ({have}); "
        "check the name or build that encoder's neighbors first"
    )


def catalog_size(db: Database) -> int:
    """Items in the catalog: rows of ``items``, or, while it is empty, distinct items of
    ``neighbors`` (as sources or as neighbors)."""
    con = connection(db)
    require_table(con, "items", "create it with the looklift store")
    (n,) = one_row(con, "SELECT COUNT(*) FROM items")
    if n:
        return int(n)
    (n,) = one_row(
        con,
        "SELECT COUNT(*) FROM (SELECT item_id FROM neighbors UNION SELECT neighbor_id "
        "FROM neighbors) AS catalog",
    )
    return int(n)


def _is_sorted(q: np.ndarray, r: np.ndarray, items: np.ndarray) -> bool:
    """Whether rows are strictly ordered by (query, rank, item)."""
    dq, dr, di = np.diff(q), np.diff(r), np.diff(items)
    return bool(np.all((dq > 0) | ((dq == 0) & ((dr > 0) | ((dr == 0) & (di > 0))))))
