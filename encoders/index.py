"""FAISS indexes over L2-normalised embeddings (inner product = cosine similarity).

``exact`` (``IndexFlatIP``) is the default and what the neighbors tables of an
experiment should use unless the catalog is large; ``hnsw`` and ``ivf`` are
approximate, and :func:`measure_recall` says how much they miss: the share of
the exact top-k that the index returns, on a sample of catalog items.

``ivfpq`` is compressed (``IndexIVFPQ``): each vector is kept as ``pq_m`` bytes
of product-quantizer codes (16 by default, against 512 bytes for a 128-d float
vector), for catalogs whose vectors do not fit in memory beside the index. Its
scores are approximate, so by default (``rerank``) it fetches ``rerank`` times
as many candidates and re-ranks them by their exact inner product with the
vectors (which may then be a memory-mapped array: only the candidates' rows are
read); ``rerank=0`` keeps the quantized scores and order.

IVF indexes train their lists on at most 64 vectors per list (a fixed-seed
sample), so that training a million-vector catalog takes seconds, not minutes;
catalogs with fewer vectors than that train on all of them, as before.

Searches are deterministic: every item's own vector is excluded from its
results, and equal scores (to 1e-6) are ordered by row, i.e. by item id.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from encoders.errors import EncoderError

INDEX_KINDS = ("exact", "hnsw", "ivf", "ivfpq")
SCORE_DECIMALS = 6
"""Scores are rounded to this many decimals, so that float noise never reorders ties."""
_EXTRA = 16
"""Candidates fetched beyond k + 1, so that self-exclusion and ties never run short."""
_TRAIN_PER_LIST = 64
"""IVF training sample: at most this many vectors per list (faiss itself caps at 256)."""
_RERANK_ROWS = 256
"""Queries re-ranked at a time (bounds the gathered candidate vectors to tens of MB)."""


@dataclass(frozen=True)
class IndexSpec:
    """Which FAISS index to build, with its knobs."""

    kind: str = "exact"
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 64
    nlist: int | None = None
    nprobe: int = 8
    pq_m: int = 16
    """ivfpq: sub-quantizers, i.e. bytes of code per vector (the dimension must divide by it)."""
    pq_bits: int = 8
    rerank: int = 8
    """ivfpq: re-rank ``rerank`` x the candidates by exact inner product (0: keep PQ scores)."""

    def validate(self) -> IndexSpec:
        if self.kind not in INDEX_KINDS:
            raise EncoderError(f"unknown index {self.kind!r}; choose from {', '.join(INDEX_KINDS)}")
        for field in ("hnsw_m", "ef_construction", "ef_search", "nprobe", "pq_m"):
            if getattr(self, field) < 1:
                raise EncoderError(f"index option {field} must be at least 1")
        if not 1 <= self.pq_bits <= 16:
            raise EncoderError("index option pq_bits must be between 1 and 16")
        if self.rerank < 0:
            raise EncoderError("index option rerank must be at least 0 (0: no re-ranking)")
        if self.nlist is not None and self.nlist < 1:
            raise EncoderError("index option nlist must be at least 1")
        return self

    def lists_for(self, n: int) -> int:
        """IVF lists for ``n`` vectors: ``nlist`` or about 4 sqrt(n), with >= 39 vectors each."""
        wanted = self.nlist if self.nlist is not None else round(4 * math.sqrt(n))
        return max(1, min(wanted, n // 39 if self.nlist is None else n))

    @property
    def search_rerank(self) -> int:
        """The re-ranking factor searches of this index use (``rerank`` for ivfpq, else 0)."""
        return self.rerank if self.kind == "ivfpq" else 0

    def describe(self, n: int | None = None) -> str:
        if self.kind == "hnsw":
            return f"hnsw (M={self.hnsw_m}, efSearch={self.ef_search})"
        lists = self.lists_for(n) if n is not None else self.nlist or "auto"
        if self.kind == "ivf":
            return f"ivf (nlist={lists}, nprobe={self.nprobe})"
        if self.kind == "ivfpq":
            rerank = f"rerank x{self.rerank}" if self.rerank else "no rerank"
            return (
                f"ivfpq (nlist={lists}, nprobe={self.nprobe}, "
                f"m={self.pq_m}x{self.pq_bits}b, {rerank})"
            )
        return "exact (flat inner product)"


def build_index(vectors: np.ndarray, spec: IndexSpec | None = None) -> faiss.Index:
    """An index over ``vectors`` (rows are ids 0..n-1)."""
    spec = (spec or IndexSpec()).validate()
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise EncoderError("cannot build an index over no vectors")
    n, d = x.shape
    if spec.kind == "exact":
        index: faiss.Index = faiss.IndexFlatIP(d)
    elif spec.kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, spec.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = spec.ef_construction
        index.hnsw.efSearch = spec.ef_search
    else:
        lists = spec.lists_for(n)
        quantizer = faiss.IndexFlatIP(d)
        if spec.kind == "ivf":
            index = faiss.IndexIVFFlat(quantizer, d, lists, faiss.METRIC_INNER_PRODUCT)
        else:
            if d % spec.pq_m:
                raise EncoderError(
                    f"ivfpq: the vectors' dimension {d} does not divide into pq_m={spec.pq_m} "
                    "sub-quantizers; choose a divisor of it"
                )
            index = faiss.IndexIVFPQ(
                quantizer, d, lists, spec.pq_m, spec.pq_bits, faiss.METRIC_INNER_PRODUCT
            )
            # Small catalogs train the 2^bits codes of each sub-quantizer on fewer than
            # faiss's 39 points per code; it still works, so no warning per sub-quantizer.
            index.pq.cp.min_points_per_centroid = 1
        index.train(_training_sample(x, lists))
        index.nprobe = spec.nprobe
    index.add(x)
    return index


def _training_sample(x: np.ndarray, lists: int) -> np.ndarray:
    """At most ``_TRAIN_PER_LIST`` vectors per list, drawn with a fixed seed; all if fewer."""
    cap = _TRAIN_PER_LIST * lists
    if len(x) <= cap:
        return x
    rows = np.sort(np.random.default_rng(0).choice(len(x), size=cap, replace=False))
    return x[rows]


def index_bytes(index: faiss.Index) -> int:
    """The index's size: the bytes of its serialized form (what ``save_index`` writes)."""
    return int(faiss.serialize_index(index).nbytes)


def save_index(index: faiss.Index, path: str | os.PathLike[str]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    faiss.write_index(index, str(tmp))
    os.replace(tmp, path)


def load_index(path: str | os.PathLike[str]) -> faiss.Index:
    if not Path(path).is_file():
        raise EncoderError(f"index not found: {path}; run 'looklift neighbors' to build it")
    return faiss.read_index(str(path))


def _search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = max(index.hnsw.efSearch, k)
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), k)


def _rescore(vectors: np.ndarray, queries: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Exact inner products of each query with its candidates (-inf where none)."""
    out = np.full(pos.shape, -np.inf, dtype=np.float32)
    for lo in range(0, len(pos), _RERANK_ROWS):
        p = pos[lo : lo + _RERANK_ROWS]
        cand = np.asarray(vectors[np.maximum(p, 0).ravel()], dtype=np.float32)
        cand = cand.reshape(*p.shape, -1)
        s = np.einsum("qd,qcd->qc", queries[lo : lo + _RERANK_ROWS], cand)
        out[lo : lo + _RERANK_ROWS] = np.where(p >= 0, s, -np.inf)
    return out


def nearest(
    index: faiss.Index, vectors: np.ndarray, rows: np.ndarray, k: int, *, rerank: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` other rows for each of ``rows``: ``(scores, positions)``, both ``(len(rows), k)``.

    The query row itself is excluded; scores are rounded to 1e-6 and ties
    ordered by position. Missing results (fewer than k found) are -1 / NaN.
    With ``rerank`` (ivfpq), ``rerank`` times the candidates are fetched and
    scored exactly against ``vectors``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    fetch = min(index.ntotal, (k + 1 + _EXTRA) * max(rerank, 1))
    queries = np.ascontiguousarray(vectors[rows], dtype=np.float32)
    scores, pos = _search(index, queries, fetch)
    if rerank:
        scores = _rescore(vectors, queries, pos)
    return _top(scores, pos, rows, k)


def exact_nearest(vectors: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """What ``nearest`` gives with an exact index, without copying ``vectors`` into one."""
    rows = np.asarray(rows, dtype=np.int64)
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    fetch = min(len(x), k + 1 + _EXTRA)
    scores, pos = faiss.knn(
        np.ascontiguousarray(x[rows]), x, fetch, metric=faiss.METRIC_INNER_PRODUCT
    )
    return _top(scores, pos, rows, k)


def _top(
    scores: np.ndarray, pos: np.ndarray, rows: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Self and missing results dropped, scores rounded, ties by position, padded to k."""
    scores = np.round(scores.astype(np.float64), SCORE_DECIMALS)
    invalid = (pos < 0) | (pos == rows[:, None])
    scores = np.where(invalid, -np.inf, scores)
    big = np.iinfo(np.int64).max
    order = np.lexsort((np.where(invalid, big, pos), -scores), axis=1)[:, :k]
    top_pos = np.take_along_axis(pos, order, axis=1)
    top_scores = np.take_along_axis(scores, order, axis=1)
    missing = ~np.isfinite(top_scores)
    top_pos = np.where(missing, -1, top_pos)
    top_scores = np.where(missing, np.nan, top_scores)
    if top_pos.shape[1] < k:  # tiny catalogs: fewer rows than k
        pad = k - top_pos.shape[1]
        top_pos = np.pad(top_pos, ((0, 0), (0, pad)), constant_values=-1)
        top_scores = np.pad(top_scores, ((0, 0), (0, pad)), constant_values=np.nan)
    return top_scores, top_pos


def sample_rows(n: int, n_queries: int, seed: int = 0) -> np.ndarray:
    """The sorted rows :func:`measure_recall` queries: ``n_queries`` of ``n``, fixed seed."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=min(n_queries, n), replace=False))


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each row's exact top-k (ignoring -1) that ``found`` also has."""
    hits, total = 0, 0
    for f, e in zip(found, exact, strict=True):
        truth = set(e[e >= 0].tolist())
        hits += len(truth & set(f[f >= 0].tolist()))
        total += len(truth)
    return hits / total if total else 1.0


@dataclass(frozen=True)
class RecallReport:
    """How an approximate index compares with exact search on a sample of items."""

    index: str
    k: int
    n_queries: int
    recall: float
    qps_index: float
    qps_exact: float
    build_seconds: float


def measure_recall(
    vectors: np.ndarray,
    index: faiss.Index,
    k: int,
    *,
    description: str = "",
    build_seconds: float = 0.0,
    n_queries: int = 1000,
    seed: int = 0,
    rerank: int = 0,
) -> RecallReport:
    """Recall@k of ``index`` against exact search, and both search speeds (queries/s).

    Exact search is brute force over ``vectors`` (``faiss.knn``, what ``IndexFlatIP``
    runs) without a second copy of them; ``rerank`` is passed to :func:`nearest`.
    """
    n = len(vectors)
    rows = sample_rows(n, n_queries, seed)
    t0 = time.perf_counter()
    _, exact = exact_nearest(vectors, rows, k)
    t1 = time.perf_counter()
    _, found = nearest(index, vectors, rows, k, rerank=rerank)
    t2 = time.perf_counter()
    return RecallReport(
        index=description,
        k=k,
        n_queries=len(rows),
        recall=recall_at_k(found, exact),
        qps_index=len(rows) / max(t2 - t1, 1e-9),
        qps_exact=len(rows) / max(t1 - t0, 1e-9),
        build_seconds=build_seconds,
    )
