"""Approximate nearest neighbors: recall@k, speed and memory of HNSW, IVF and IVF-PQ.

Exact search (``IndexFlatIP``) is the reference: recall@k is the share of its
top-k (the item itself excluded, as in the neighbors table) that the
approximate index also returns, on ``--queries`` sampled items. Exact search is
run once on those items; QPS is queries per second for them, searched as one
batch (each search fetches k + 17 candidates, so HNSW's efSearch is at least
that; ivfpq with rerank xR fetches R times as many and re-ranks them by exact
inner product with the vectors). Build time is the index's (IVF training
included; configs that differ only in nprobe, efSearch or rerank share one
build). Memory: the bytes of the serialized index (``faiss.serialize_index``,
what ``looklift neighbors`` saves; float vectors take 512 bytes each at 128
dims, so an index that does not hold them, ivfpq, is that much smaller), and the
process's peak RSS so far (vectors, indexes and search buffers together).

The chosen config is the fastest approximate one with recall@k >= 0.95; the goal
is that it searches at least 10x as many queries per second as exact search.

Vectors: an encoder's embeddings from a looklift world (``--db`` and
``--encoder``) and/or synthetic clustered unit vectors (``--synthetic N``). At
more than 200,000 vectors HNSW is left out unless ``--hnsw`` is given (its build
takes minutes on 2 cores).

    .venv/bin/python benchmarks/bench_ann.py --synthetic 1000000
    .venv/bin/python benchmarks/bench_ann.py --db /tmp/enc/world.duckdb --encoder finetuned

``--table N`` instead times ``looklift neighbors``' own path (``write_neighbors``,
batches streamed into the store) on a throwaway database of N synthetic items,
and prints its peak RSS next to the sizes of the embeddings and the index:

    .venv/bin/python benchmarks/bench_ann.py --synthetic 0 --table 1000000 --index ivf --nlist 2048
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
import polars as pl

from encoders.artifacts import Artifacts, read_embeddings, write_embeddings
from encoders.index import (
    IndexSpec,
    build_index,
    exact_nearest,
    index_bytes,
    nearest,
    recall_at_k,
    sample_rows,
)
from encoders.protocol import l2_normalize

GOAL_RECALL = 0.95
GOAL_SPEEDUP = 10.0
HNSW_MAX_DEFAULT = 200_000
LARGE = 500_000

CONFIGS = [
    *(IndexSpec("hnsw", hnsw_m=32, ef_search=ef) for ef in (32, 64, 128, 256)),
    *(IndexSpec("ivf", nprobe=p) for p in (1, 4, 16, 64)),
    IndexSpec("ivfpq", nprobe=16, pq_m=16, rerank=0),
    IndexSpec("ivfpq", nprobe=16, pq_m=16, rerank=8),
    IndexSpec("ivfpq", nprobe=8, pq_m=32, rerank=4),
]
"""Configs for catalogs up to a few hundred thousand items (``nlist`` about 4 sqrt(n))."""

LARGE_CONFIGS = [
    IndexSpec("hnsw", hnsw_m=16, ef_construction=40, ef_search=64),
    *(IndexSpec("ivf", nlist=2048, nprobe=p) for p in (1, 4, 8, 16)),
    *(IndexSpec("ivf", nprobe=p) for p in (1, 4, 8)),
    IndexSpec("ivfpq", nlist=2048, nprobe=16, pq_m=16, rerank=0),
    IndexSpec("ivfpq", nlist=2048, nprobe=16, pq_m=16, rerank=8),
    IndexSpec("ivfpq", nlist=2048, nprobe=8, pq_m=32, rerank=0),
    IndexSpec("ivfpq", nlist=2048, nprobe=8, pq_m=32, rerank=4),
]
"""Configs from 500,000 items: 2048 lists train in ~15 s on 2 cores, the default 4 sqrt(n)
(4000 at a million, what ``looklift neighbors --index ivf`` uses) in ~80 s; HNSW with M=16
builds in minutes, so it runs only with ``--hnsw``."""


def synthetic(n: int, d: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around 4 sqrt(n) random centres, as noisy as the centres are apart."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(8, int(4 * np.sqrt(n))), d))
    labels = rng.integers(0, len(centres), n)
    x = np.empty((n, d), dtype=np.float32)
    for lo in range(0, n, 100_000):  # in slices (the same numbers): no float64 copy of them all
        hi = min(n, lo + 100_000)
        x[lo:hi] = l2_normalize(centres[labels[lo:hi]] + rng.normal(size=(hi - lo, d)))
    return x


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def report(label: str, vectors: np.ndarray, k: int, queries: int, hnsw: bool) -> None:
    n, d = vectors.shape
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    configs = [c for c in (LARGE_CONFIGS if n >= LARGE else CONFIGS) if d % c.pq_m == 0]
    if n > HNSW_MAX_DEFAULT and not hnsw:
        configs = [c for c in configs if c.kind != "hnsw"]
        print(f"(hnsw left out above {HNSW_MAX_DEFAULT:,} vectors; --hnsw to include it)")
    rows = sample_rows(n, queries)
    print(f"\n{label}: {n:,} vectors of {d} dims ({vectors.nbytes / 2**20:,.0f} MiB as float32)")
    print(f"recall@{k} against exact search on {len(rows):,} sampled items, the item excluded")
    t0 = time.perf_counter()
    _, exact = exact_nearest(vectors, rows, k)
    qps_exact = len(rows) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    flat = build_index(vectors, IndexSpec("exact"))
    results = [("exact (flat inner product)", time.perf_counter() - t0, qps_exact, 1.0)]
    header = (
        f"{'index':<58} {'build s':>8} {'QPS':>9} {'x exact':>8} {'recall':>7} "
        f"{'index MiB':>10} {'peak RSS MiB':>13}"
    )
    print(header)
    print(_row(*results[0], 1.0, index_bytes(flat)))
    del flat
    built: tuple[IndexSpec, faiss.Index, float] | None = None
    for spec in configs:
        # Configs that differ only in search knobs share one build (one index held at a time).
        same = dataclasses.replace(spec, nprobe=1, ef_search=1, rerank=0)
        if built is None or built[0] != same:
            built = index = None  # free the previous index first
            t0 = time.perf_counter()
            built = (same, build_index(vectors, spec), time.perf_counter() - t0)
        _, index, build = built
        if spec.kind == "hnsw":
            index.hnsw.efSearch = spec.ef_search
        elif spec.kind != "exact":
            index.nprobe = spec.nprobe
        t1 = time.perf_counter()
        _, found = nearest(index, vectors, rows, k, rerank=spec.search_rerank)
        qps = len(rows) / (time.perf_counter() - t1)
        recall = recall_at_k(found, exact)
        results.append((spec.describe(n), build, qps, recall))
        print(_row(spec.describe(n), build, qps, recall, qps / qps_exact, index_bytes(index)))
    built = index = None
    ok = [r for r in results[1:] if r[3] >= GOAL_RECALL]
    if not ok:
        print(
            f"chosen: none; no approximate config reaches recall@{k} >= {GOAL_RECALL}: goal not met"
        )
        return
    name, _, qps, recall = max(ok, key=lambda r: r[2])
    met = qps >= GOAL_SPEEDUP * qps_exact
    print(
        f"chosen: {name}, the fastest with recall@{k} >= {GOAL_RECALL}: recall {recall:.4f} at "
        f"{qps:,.0f} QPS = {qps / qps_exact:.1f}x exact ({qps_exact:,.0f} QPS); goal "
        f"recall >= {GOAL_RECALL} at >= {GOAL_SPEEDUP:.0f}x exact: {'met' if met else 'NOT met'}"
    )


def _row(name: str, build: float, qps: float, recall: float, ratio: float, size: int) -> str:
    return (
        f"{name:<58} {build:>8.1f} {qps:>9,.0f} {ratio:>8.1f} {recall:>7.4f} "
        f"{size / 2**20:>10,.1f} {peak_rss_mb():>13,.0f}"
    )


def rss_mb() -> float:
    """The process's resident memory now (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_table_data(db: Path, n: int, d: int) -> None:
    """A store of ``n`` items with synthetic embeddings (run in a child process, so that
    making them does not count in the peak RSS of the run that reads them)."""
    from abtest.store import Store

    ids = np.arange(1, n + 1, dtype=np.int64)
    with Store(db) as store:
        items = pl.DataFrame({"item_id": ids}).with_columns(
            title=pl.lit("item"), image_path=pl.lit("none.jpg")
        )
        store.con.register("__items", items)
        store.con.execute(
            "INSERT INTO items (item_id, title, image_path) "
            "SELECT item_id, title, image_path FROM __items"
        )
    write_embeddings(Artifacts.for_db(db).embeddings_path("synthetic"), ids, synthetic(n, d))


def table_run(n: int, d: int, k: int, spec: IndexSpec, batch_size: int, one_frame: bool) -> None:
    """``write_neighbors`` on a throwaway database of ``n`` synthetic items (or, with
    ``one_frame``, the path it replaced: the whole table as one frame, then ingested)."""
    from abtest.store import Store
    from encoders.neighbors import neighbor_frame, write_neighbors

    with tempfile.TemporaryDirectory(prefix="bench-ann-") as tmp:
        db = Path(tmp) / "catalog.duckdb"
        child = multiprocessing.get_context("spawn").Process(
            target=make_table_data, args=(db, n, d)
        )
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"making the data failed ({child.exitcode})")
        how = "the whole table as one frame, then ingested" if one_frame else "streamed"
        print(f"\nlooklift neighbors on {n:,} synthetic items, k={k}, {spec.describe(n)}, {how}")
        print(f"RSS at start: {rss_mb():,.0f} MiB")
        done = [0]

        def progress(_stage: str, i: int, total: int) -> None:
            if i >= done[0] + total // 5 or i == total:
                done[0] = i
                print(
                    f"  {i:>10,} / {total:,} items searched: RSS {rss_mb():,.0f} MiB, "
                    f"peak {peak_rss_mb():,.0f} MiB",
                    flush=True,
                )

        t0 = time.perf_counter()
        if one_frame:
            emb = read_embeddings(Artifacts.for_db(db).embeddings_path("synthetic"))
            frame = neighbor_frame(emb.item_ids, emb.vectors, k, index=spec, progress=progress)
            frame = frame.select(pl.lit("synthetic").alias("encoder"), pl.all())
            with Store(db) as store:
                store.replace_rows("neighbors", frame, where="encoder = ?", params=["synthetic"])
            n_rows, index_mb, recall = frame.height, float("nan"), None
        else:
            result = write_neighbors(
                db, "synthetic", k=k, index=spec, batch_size=batch_size, progress=progress
            )
            n_rows, recall = result.n_rows, result.recall
            index_mb = result.index_path.stat().st_size / 2**20
        seconds = time.perf_counter() - t0
        with Store(db, read_only=True) as store:
            stored = store.count("neighbors", "encoder = ?", ["synthetic"])
        print(
            f"{n_rows:,} rows written ({stored:,} stored) in {seconds:.0f} s"
            f"{'' if one_frame else f', batches of {batch_size:,} items'}; embeddings "
            f"{n * d * 4 / 2**20:,.0f} MiB as float32, index {index_mb:,.0f} MiB; "
            f"peak RSS {peak_rss_mb():,.0f} MiB"
        )
        if recall:
            print(
                f"recall@{k} {recall.recall:.4f} on {recall.n_queries:,} items; "
                f"{recall.qps_index:,.0f} QPS vs {recall.qps_exact:,.0f} exact"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--encoder", default="finetuned")
    parser.add_argument("--synthetic", type=int, default=100_000, help="0 to skip")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hnsw", action="store_true", help="include HNSW above 200,000")
    parser.add_argument("--table", type=int, default=0, help="time write_neighbors on N items")
    parser.add_argument("--index", default="ivf", help="--table: index kind")
    parser.add_argument("--nlist", type=int, default=None, help="--table: IVF lists")
    parser.add_argument("--nprobe", type=int, default=8, help="--table: IVF lists searched")
    parser.add_argument("--batch-size", type=int, default=32_768, help="--table: items per batch")
    parser.add_argument(
        "--one-frame", action="store_true", help="--table: the old path, for comparison"
    )
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)
    print(f"faiss {faiss.__version__}, {args.threads} threads")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    if args.db is not None:
        emb = read_embeddings(Artifacts.for_db(args.db).embeddings_path(args.encoder))
        label = f"{args.encoder} embeddings of {args.db.name}"
        report(label, emb.vectors, args.k, args.queries, args.hnsw)
    if args.synthetic:
        x = synthetic(args.synthetic, args.dim)
        report("synthetic clustered", x, args.k, args.queries, args.hnsw)
        del x
    if args.table:
        spec = IndexSpec(args.index, nlist=args.nlist, nprobe=args.nprobe).validate()
        table_run(args.table, args.dim, args.k, spec, args.batch_size, args.one_frame)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
