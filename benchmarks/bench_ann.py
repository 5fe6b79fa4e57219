"""Approximate nearest neighbors: recall@k and speed of HNSW and IVF against exact search.

Exact search (``IndexFlatIP``) is the reference: recall@k is the share of its
top-k (the item itself excluded, as in the neighbors table) that the
approximate index also returns, on ``--queries`` sampled items. QPS is queries
per second for those items, searched as one batch (each search fetches k + 17
candidates, so HNSW's efSearch is at least that); build time is the index's.

Vectors: an encoder's embeddings from a looklift world (``--db`` and
``--encoder``) and/or synthetic clustered unit vectors (``--synthetic N``).

    .venv/bin/python benchmarks/bench_ann.py --db /tmp/enc/world.duckdb --encoder finetuned
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import faiss
import numpy as np

from encoders.artifacts import Artifacts, read_embeddings
from encoders.index import IndexSpec, build_index, measure_recall
from encoders.protocol import l2_normalize

CONFIGS = [
    IndexSpec("exact"),
    *(IndexSpec("hnsw", hnsw_m=32, ef_search=ef) for ef in (32, 64, 128, 256)),
    *(IndexSpec("ivf", nprobe=p) for p in (1, 4, 16, 64)),
]


def synthetic(n: int, d: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around 4 sqrt(n) random centres, as noisy as the centres are apart."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(8, int(4 * np.sqrt(n))), d))
    x = centres[rng.integers(0, len(centres), n)] + rng.normal(size=(n, d))
    return l2_normalize(x)


def report(label: str, vectors: np.ndarray, k: int, queries: int) -> None:
    n, d = vectors.shape
    print(f"\n{label}: {n:,} vectors of {d} dims, recall@{k} on {min(queries, n):,} items")
    print(f"{'index':<32} {'build s':>8} {'QPS':>10} {'exact QPS':>10} {'recall':>8}")
    for spec in CONFIGS:
        t0 = time.perf_counter()
        index = build_index(vectors, spec)
        build = time.perf_counter() - t0
        r = measure_recall(vectors, index, k, n_queries=queries, build_seconds=build)
        print(
            f"{spec.describe(n):<32} {build:>8.2f} {r.qps_index:>10,.0f} {r.qps_exact:>10,.0f} "
            f"{r.recall:>8.4f}",
            flush=True,
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
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)
    print(f"faiss {faiss.__version__}, {args.threads} threads")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    if args.db is not None:
        emb = read_embeddings(Artifacts.for_db(args.db).embeddings_path(args.encoder))
        report(f"{args.encoder} embeddings of {args.db.name}", emb.vectors, args.k, args.queries)
    if args.synthetic:
        report("synthetic clustered", synthetic(args.synthetic, args.dim), args.k, args.queries)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
