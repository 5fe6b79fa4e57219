"""nDCG@10 on 100,000 random queries: looklift's offline_eval against ranx.

Both libraries get the same random judgments (1-10 relevant items per query,
gains 1-3) and the same run (``--depth`` ranked candidates for every judged
query, so that ranx needs no ``make_comparable`` pass; the tests cover missing
queries). Timed, for each library:

- cold: the first evaluation in this process (for ranx it includes numba's
  compilation, or loading it from numba's on-disk cache when an earlier run
  left one);
- warm: the second, identical evaluation.

ranx is timed on ``evaluate(qrels, run, "ndcg@10")``
with ``Qrels``/``Run`` already built, and again on its kernel alone (numba
typed lists already converted). offline_eval is timed on ``evaluate`` with
``Judgments``/``Run`` already built, and again including building them from
flat arrays (what ``load_judgments``/``load_run`` do after their SQL).
Building ranx's dict-based structures is timed once for reference.

The means must agree to 1e-9; the script exits 1 if they do not.

    .venv/bin/python benchmarks/bench_ranking.py [--queries 100000] [--depth 20]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np


def make_data(n_queries: int, depth: int, n_items: int, seed: int) -> dict[str, np.ndarray]:
    """Flat arrays of random judgments and a run, sorted as the SQL loaders return them."""
    rng = np.random.default_rng(seed)
    n_rel = rng.integers(1, 11, size=n_queries)
    j_query = np.repeat(np.arange(n_queries), n_rel)
    j_item = rng.integers(0, n_items, size=j_query.size)
    j_gain = rng.integers(1, 4, size=j_query.size).astype(np.float64)
    # Keep one gain per (query, item).
    keys = j_query * n_items + j_item
    _, first = np.unique(keys, return_index=True)
    j_query, j_item, j_gain = j_query[first], j_item[first], j_gain[first]

    run_queries = np.arange(n_queries)
    r_query = np.repeat(run_queries, depth)
    # Candidates: a random window of a shuffled catalog per query (no repeats
    # within a query), mixed with the query's relevant items so hits happen.
    base = rng.integers(0, n_items - depth, size=run_queries.size)
    r_item = (np.repeat(base, depth) + np.tile(np.arange(depth), run_queries.size)) % n_items
    r_item = r_item.reshape(-1, depth)
    rel_first = np.searchsorted(j_query, run_queries)
    take = rng.random(run_queries.size) < 0.7
    slot = rng.integers(0, depth, size=run_queries.size)
    candidate = j_item[rel_first]
    clash = (r_item == candidate[:, None]).any(axis=1)
    put = take & ~clash
    r_item[np.flatnonzero(put), slot[put]] = candidate[put]
    r_rank = np.tile(np.arange(1, depth + 1), run_queries.size)
    return {
        "j_query": j_query,
        "j_item": j_item,
        "j_gain": j_gain,
        "r_query": r_query,
        "r_item": r_item.ravel(),
        "r_rank": r_rank,
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def bench_offline_eval(data: dict[str, np.ndarray], k: int) -> dict[str, Any]:
    from offline_eval import Judgments, Run, evaluate

    def build() -> tuple[Judgments, Run]:
        judgments = Judgments.from_arrays(data["j_query"], data["j_item"], data["j_gain"])
        run = Run.from_arrays(data["r_query"], data["r_item"], data["r_rank"], name="bench")
        return judgments, run

    def score(judgments: Judgments, run: Run) -> float:
        ev = evaluate(judgments, run, ks=(k,), metrics=("ndcg",), catalog_size=1)
        return ev.mean("ndcg", k)

    t_build, (judgments, run) = timed(build)
    cold, mean = timed(lambda: score(judgments, run))
    warm, _ = timed(lambda: score(judgments, run))
    e2e, _ = timed(lambda: score(*build()))
    return {"build": t_build, "cold": cold, "warm": warm, "from_arrays": e2e, "mean": mean}


def bench_ranx(data: dict[str, np.ndarray], k: int) -> dict[str, Any]:
    from numba.core.errors import NumbaTypeSafetyWarning
    from ranx import Qrels, evaluate
    from ranx import Run as RanxRun
    from ranx.meta.evaluate import convert_qrels, convert_run
    from ranx.metrics import ndcg

    def build() -> tuple[Any, Any]:
        qrels: dict[str, dict[str, int]] = {}
        for q, i, g in zip(
            data["j_query"].tolist(),
            data["j_item"].tolist(),
            data["j_gain"].tolist(),
            strict=True,
        ):
            qrels.setdefault(str(q), {})[str(i)] = int(g)
        run: dict[str, dict[str, float]] = {}
        for q, i, r in zip(
            data["r_query"].tolist(),
            data["r_item"].tolist(),
            data["r_rank"].tolist(),
            strict=True,
        ):
            run.setdefault(str(q), {})[str(i)] = float(-r)
        return Qrels.from_dict(qrels), RanxRun.from_dict(run)

    # ranx hashes string ids to uint64 and casts them; the warning is harmless here.
    warnings.simplefilter("ignore", NumbaTypeSafetyWarning)
    t_build, (qrels, run) = timed(build)
    metric = f"ndcg@{k}"

    def score() -> float:
        return float(evaluate(qrels, run, metric))

    cold, mean = timed(score)
    warm, _ = timed(score)
    typed_qrels, typed_run = convert_qrels(qrels), convert_run(run)
    kernel, _ = timed(lambda: ndcg(typed_qrels, typed_run, k).mean())
    return {"build": t_build, "cold": cold, "warm": warm, "kernel": kernel, "mean": mean}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--depth", type=int, default=20, help="ranked candidates per query")
    parser.add_argument("--items", type=int, default=1_000_000, help="catalog size")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = make_data(args.queries, args.depth, args.items, args.seed)
    print(
        f"nDCG@{args.k}: {args.queries:,} queries, {data['j_query'].size:,} judgments, "
        f"{data['r_query'].size:,} run rows"
    )
    ours = bench_offline_eval(data, args.k)
    theirs = bench_ranx(data, args.k)

    print(f"{'seconds':34}{'offline_eval':>14}{'ranx':>10}{'ranx/ours':>11}")
    rows = [
        ("build structures", ours["build"], theirs["build"]),
        ("evaluate, cold", ours["cold"], theirs["cold"]),
        ("evaluate, warm", ours["warm"], theirs["warm"]),
        ("ours build+evaluate | ranx warm", ours["from_arrays"], theirs["warm"]),
        ("ours warm | ranx kernel only", ours["warm"], theirs["kernel"]),
    ]
    for label, a, b in rows:
        print(f"{label:34}{a:14.4f}{b:10.4f}{b / a:11.1f}")
    gap = abs(ours["mean"] - theirs["mean"])
    print(
        f"mean nDCG@{args.k}: offline_eval {ours['mean']:.12f}, ranx {theirs['mean']:.12f}, "
        f"|diff| {gap:.2e}"
    )
    if gap > 1e-9:
        print("MISMATCH: the means differ by more than 1e-9", file=sys.stderr)
        return 1
    verdict = "at least as fast as" if ours["warm"] <= theirs["warm"] else "SLOWER than"
    print(f"offline_eval warm is {verdict} ranx warm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
