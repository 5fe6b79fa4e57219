"""The encoders room's "done when": fine-tuned variant vs ``cnn-pca``, nDCG@5 on latent truth.

Runs the encoder part of the demo on a synthetic marketplace and times it:

1. ``cnn-pca`` embeddings (EfficientNet-Lite0 trunk features, PCA to 128, L2);
2. fine-tuning the sigmoid-loss heads on the catalog's image-title pairs;
3. the ``finetuned`` embeddings (sharing the cached trunk features);
4. both neighbor tables (exact search, k = 20).

Relevance is the simulator's graded latent-attribute truth (read here, never
by the encoders): 0 other category, 1 same category, 2 + same colour, 3 +
same pattern. nDCG@5 uses offline_eval's conventions: linear gain,
``log2(rank + 1)`` discount, ideal DCG over every other item of the catalog.

A second fine-tune on a parquet of pairs that leaves out ``--holdout`` of the
items measures how the heads do on items they never saw (queries from the
held-out items only, against the whole catalog).

The run passes when the fine-tuned variant beats ``cnn-pca`` by at least
9.1% relative nDCG@5 (the margin of the seed system); it exits 1 otherwise.

    .venv/bin/python benchmarks/bench_encoder_quality.py --db /tmp/enc/world.duckdb
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from abtest.simulate.behaviour import graded_relevance
from abtest.simulate.marketplace import Marketplace
from abtest.simulate.world import WorldConfig, build_world
from abtest.store import Store
from encoders.artifacts import Artifacts
from encoders.encode import encode_catalog
from encoders.finetuned import FinetunedEncoder
from encoders.finetuning import FinetuneConfig, finetune
from encoders.neighbors import write_neighbors

PAPER_MARGIN = 0.091
K = 5


def ndcg_at_k(
    codes: np.ndarray, item_ids: np.ndarray, neighbors: pl.DataFrame, queries: np.ndarray, k: int
) -> float:
    """Mean nDCG@k over ``queries`` (item ids) of a neighbors table, graded by latent truth."""
    position = {int(x): i for i, x in enumerate(item_ids)}
    top = (
        neighbors.filter(pl.col("rank") <= k)
        .sort("item_id", "rank")
        .group_by("item_id", maintain_order=True)
        .agg("neighbor_id")
    )
    recs = dict(zip(top["item_id"].to_list(), top["neighbor_id"].to_list(), strict=True))
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    scores = []
    for q in queries.tolist():
        qi = position[q]
        all_gains = graded_relevance(codes[qi][None, :], codes).astype(np.float64)
        all_gains[qi] = 0.0
        ideal = np.sort(all_gains)[::-1][:k]
        idcg = float((ideal * discount[: len(ideal)]).sum())
        rec = [position[r] for r in recs.get(q, [])][:k]
        gains = graded_relevance(codes[qi][None, :], codes[rec]).astype(np.float64)
        dcg = float((gains * discount[: len(gains)]).sum())
        scores.append(dcg / idcg if idcg > 0 else 0.0)
    return float(np.mean(scores))


def timed(label: str, timings: dict[str, float], fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    timings[label] = time.perf_counter() - t0
    print(f"  {label:<34} {timings[label]:7.1f} s", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/enc/world.duckdb"))
    parser.add_argument("--items", type=int, default=5000, help="items, if the world is built")
    parser.add_argument("--seed", type=int, default=0, help="world seed, if it is built")
    parser.add_argument("--holdout", type=float, default=0.2, help="share of items held out")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--keep-cache", action="store_true", help="reuse cached trunk features")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    if not args.db.exists():
        print(f"building a {args.items}-item world (seed {args.seed}) at {args.db}")
        args.db.parent.mkdir(parents=True, exist_ok=True)
        build_world(WorldConfig(n_items=args.items, n_users=1000, seed=args.seed), args.db)
    artifacts = Artifacts.for_db(args.db)
    if not args.keep_cache:
        shutil.rmtree(artifacts.root, ignore_errors=True)
    print(f"load average before: {os.getloadavg()[0]:.2f} (2-core machine, shared)")

    timings: dict[str, float] = {}
    print("encoder part of the demo:")
    timed("cnn-pca embeddings", timings, encode_catalog, args.db, "cnn-pca")
    tuned = timed("fine-tuning (heads)", timings, finetune, args.db, FinetuneConfig())
    timed(
        "finetuned embeddings",
        timings,
        encode_catalog,
        args.db,
        FinetunedEncoder(tuned.out_dir),
        "finetuned",
    )
    timed("cnn-pca neighbors", timings, write_neighbors, args.db, "cnn-pca")
    timed("finetuned neighbors", timings, write_neighbors, args.db, "finetuned")
    total = sum(timings.values())
    print(f"  {'total':<34} {total:7.1f} s")
    print(
        f"fine-tuning: {tuned.steps} steps (best {tuned.best_step}, early stop "
        f"{tuned.stopped_early}), loss per pair {tuned.first_loss:.4f} -> {tuned.last_loss:.4f}, "
        f"{tuned.n_train} train / {tuned.n_val} val pairs"
    )

    with Store(args.db) as store:
        world = Marketplace.from_store(store)
        neighbors = store.query("SELECT * FROM neighbors WHERE encoder IN ('cnn-pca', 'finetuned')")
    codes, item_ids = world.codes, world.item_ids
    by = {e: neighbors.filter(pl.col("encoder") == e) for e in ("cnn-pca", "finetuned")}
    ndcg = {e: ndcg_at_k(codes, item_ids, frame, item_ids, K) for e, frame in by.items()}

    # Held out: fine-tune on a parquet of pairs without some items, query with those items.
    rng = np.random.default_rng(args.seed)
    held = np.sort(rng.choice(item_ids, size=int(args.holdout * len(item_ids)), replace=False))
    with Store(args.db) as store:
        items = store.query("SELECT item_id, image_path, title FROM items ORDER BY item_id")
        items = items.with_columns(
            image_path=pl.Series([str(store.resolve(p)) for p in items["image_path"]])
        )
    pairs = artifacts.root / "heldout-pairs.parquet"
    items.filter(~pl.col("item_id").is_in(held.tolist())).write_parquet(pairs)
    held_dir = artifacts.model_dir("finetuned-heldout")
    held_run = finetune(pairs, FinetuneConfig(), held_dir, cache_dir=artifacts.cache_dir)
    encode_catalog(args.db, FinetunedEncoder(held_dir), "finetuned-heldout")
    write_neighbors(args.db, "finetuned-heldout")
    with Store(args.db) as store:
        held_nb = store.query("SELECT * FROM neighbors WHERE encoder = 'finetuned-heldout'")
        store.con.execute("DELETE FROM neighbors WHERE encoder = 'finetuned-heldout'")
    held_ndcg = {
        "cnn-pca": ndcg_at_k(codes, item_ids, by["cnn-pca"], held, K),
        "finetuned (trained on all)": ndcg_at_k(codes, item_ids, by["finetuned"], held, K),
        "finetuned (items held out)": ndcg_at_k(codes, item_ids, held_nb, held, K),
    }

    lift = ndcg["finetuned"] / ndcg["cnn-pca"] - 1.0
    print(f"\nnDCG@{K} on graded latent-attribute relevance, all {len(item_ids)} items as queries:")
    for name, value in ndcg.items():
        print(f"  {name:<28} {value:.4f}")
    print(f"  relative lift              {lift:+.1%}  (needed: >= +{PAPER_MARGIN:.1%})")
    print(
        f"\nnDCG@{K} with the {len(held)} held-out items as queries "
        f"(held-out fine-tune: {held_run.steps} steps on {held_run.n_pairs} pairs):"
    )
    for name, value in held_ndcg.items():
        print(f"  {name:<28} {value:.4f}")
    held_lift = held_ndcg["finetuned (items held out)"] / held_ndcg["cnn-pca"] - 1.0
    print(f"  relative lift (held out)   {held_lift:+.1%}")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    ok = lift >= PAPER_MARGIN
    print("PASS" if ok else "FAIL", f"(encoder part took {total:.0f} s; budget about 180 s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
