"""Ranking metrics of a run against judgments, vectorised over queries.

Conventions are those of trec_eval and ranx (checked against ranx to 1e-9):

- ``ndcg@k``: linear gain, ``log2(rank + 1)`` discount; the ideal DCG ranks
  *all* judged relevant items by gain and cuts at k. ``ndcg_burges@k`` uses the
  exponential gain ``2^gain - 1`` (ranx ``ndcg_burges``).
- ``precision@k`` divides by k even when fewer than k were retrieved;
  ``recall@k`` divides by the number of relevant items (all of them, even
  when there are more than k); ``mrr@k`` is the reciprocal rank of the first
  relevant item within the top k (0 if none); ``hit_rate@k`` is 1 if any of
  the top k is relevant.
- A candidate is relevant when its gain is positive. Queries without any
  relevant candidate are not in the judgments (see ``judgments``); judged
  queries missing from the run score 0 and are counted.

How: the run's top k of every judged query is a dense ``(n_queries, k)``
matrix of item ids; a loop over the k *rank columns* (never over queries)
finds where each judged pair sits, giving a dense gain matrix from which every
metric at every cutoff is a column slice.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType

import numpy as np

from offline_eval.db import Database
from offline_eval.errors import OfflineEvalError
from offline_eval.judgments import Judgments
from offline_eval.results import RunEvaluation, metric_key
from offline_eval.runs import PAD, Run, catalog_size, load_run

METRICS = ("ndcg", "ndcg_burges", "precision", "recall", "mrr", "hit_rate")
"""Metric names, as ranx spells them."""
DEFAULT_KS = (1, 3, 5, 10)


def check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    """Cutoffs as a sorted tuple of distinct positive integers."""
    ks = tuple(ks)
    if not ks:
        raise OfflineEvalError("no cutoff k given; pass at least one, e.g. k=1,3,5,10")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k <= 0:
            raise OfflineEvalError(
                f"k must be a positive integer (got {k!r}); use cutoffs such as 1,3,5,10"
            )
    return tuple(sorted({int(k) for k in ks}))


def check_metrics(metrics: Iterable[str]) -> tuple[str, ...]:
    """Metric names, checked against :data:`METRICS`, without repeats."""
    metrics = tuple(dict.fromkeys(metrics))
    if not metrics:
        raise OfflineEvalError(f"no metric given; choose from {', '.join(METRICS)}")
    for m in metrics:
        if m not in METRICS:
            raise OfflineEvalError(f"unknown metric {m!r}; choose from {', '.join(METRICS)}")
    return metrics


def evaluate(
    judgments: Judgments,
    run: Run,
    *,
    ks: Iterable[int] = DEFAULT_KS,
    metrics: Iterable[str] = METRICS,
    catalog_size: int | None = None,
) -> RunEvaluation:
    """Score ``run`` against ``judgments`` for every metric at every k.

    Catalog coverage is computed when ``catalog_size`` (its denominator) is
    given; it covers every query of the run, judged or not.
    """
    ks, metrics = check_ks(ks), check_metrics(metrics)
    kmax = ks[-1]
    rows = np.searchsorted(run.query_ids, judgments.query_ids).clip(max=run.n_queries - 1)
    present = run.query_ids[rows] == judgments.query_ids
    top = run.top(kmax)[rows]
    top[~present] = PAD
    gains = _gain_matrix(judgments, top)
    ideal = judgments.ideal(kmax)
    scores = _scores(gains, ideal, judgments.n_relevant, ks, metrics)
    n_judged_in_run = int(np.count_nonzero(present))
    return RunEvaluation(
        name=run.name,
        query_ids=judgments.query_ids,
        scores=MappingProxyType(scores),
        metrics=metrics,
        ks=ks,
        coverage=MappingProxyType(
            {} if catalog_size is None else {k: run.coverage(k, catalog_size) for k in ks}
        ),
        catalog_size=catalog_size,
        n_missing=judgments.n_queries - n_judged_in_run,
        n_no_relevant=judgments.n_no_relevant,
        n_unjudged=run.n_queries - n_judged_in_run,
    )


def evaluate_encoder(
    db: Database,
    encoder: str,
    judgments: Judgments,
    *,
    ks: Iterable[int] = DEFAULT_KS,
    metrics: Iterable[str] = METRICS,
) -> RunEvaluation:
    """Score the ``neighbors`` of ``encoder`` in the store; coverage is over ``items``."""
    ks, metrics = check_ks(ks), check_metrics(metrics)
    run = load_run(db, encoder)
    return evaluate(judgments, run, ks=ks, metrics=metrics, catalog_size=catalog_size(db))


def _gain_matrix(judgments: Judgments, top: np.ndarray) -> np.ndarray:
    """Gain of the candidate at each (query, rank) of ``top``; 0 where not relevant."""
    n_queries, kmax = top.shape
    row_query, items = judgments.row_query, judgments.item_ids
    columns = np.ascontiguousarray(top.T)
    rank = np.full(items.size, -1, dtype=np.int64)
    for j in range(kmax):  # over rank columns, each one vectorised over all judged pairs
        rank[columns[j][row_query] == items] = j
    found = np.flatnonzero(rank >= 0)
    out = np.zeros((n_queries, kmax))
    out[row_query[found], rank[found]] = judgments.gains[found]
    return out


def _scores(
    gains: np.ndarray,
    ideal: np.ndarray,
    n_relevant: np.ndarray,
    ks: tuple[int, ...],
    metrics: tuple[str, ...],
) -> dict[str, np.ndarray]:
    """Per-query scores of every metric at every k from the dense gain matrices."""
    kmax = gains.shape[1]
    discount = 1.0 / np.log2(np.arange(2, kmax + 2))
    relevant = gains > 0
    # 0-based rank of the first relevant candidate, kmax when there is none.
    first = np.where(relevant.any(axis=1), np.argmax(relevant, axis=1), kmax)
    if "ndcg_burges" in metrics:
        exp_gains, exp_ideal = np.exp2(gains) - 1, np.exp2(ideal) - 1
    out: dict[str, np.ndarray] = {}
    for m in metrics:
        for k in ks:
            if m == "ndcg":
                score = _ndcg(gains, ideal, discount, k)
            elif m == "ndcg_burges":
                score = _ndcg(exp_gains, exp_ideal, discount, k)
            elif m == "precision":
                score = np.count_nonzero(relevant[:, :k], axis=1) / k
            elif m == "recall":
                score = np.count_nonzero(relevant[:, :k], axis=1) / n_relevant
            elif m == "mrr":
                score = np.where(first < k, 1.0 / (first + 1), 0.0)
            else:  # hit_rate
                score = (first < k).astype(np.float64)
            out[metric_key(m, k)] = score
    return out


def _ndcg(gains: np.ndarray, ideal: np.ndarray, discount: np.ndarray, k: int) -> np.ndarray:
    # einsum: a plain row-weighted sum, much faster than BLAS gemv on short rows.
    dcg = np.einsum("ij,j->i", gains[:, :k], discount[:k])
    return dcg / np.einsum("ij,j->i", ideal[:, :k], discount[:k])
