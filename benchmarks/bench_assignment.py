"""Assigning 1,000,000 users: looklift's batch path against the ``growthbook`` Python SDK.

Both evaluate the demo experiment (``examples/similar-looks.yaml``: hash
version 2, a namespace range, targeting on ``platform``, 50/50) for the same
users, who have a ``user_id`` and a ``platform``.

- looklift batch: :meth:`abtest.assignment.Assigner.assign_frame` on a polars
  frame of all 1M users, and :meth:`~abtest.assignment.Assigner.assign_batch`
  on a plain Python list of ids (which adds packing the strings into arrow
  buffers); best of ``--repeat`` runs each, after one small warm-up call;
- growthbook SDK: one ``GrowthBook`` instance, ``set_attributes`` then ``run``
  for each user, as a server evaluating users one by one would. It is timed on
  a random sample of ``--sample`` users (20,000 by default) and the time is
  scaled linearly to the full population; the scaling is stated in the table;
- looklift online: :meth:`Assigner.assign` on the same sample, for reference.

The variants must be identical on the sample (SDK vs batch, and online vs
batch); the script exits 1 if they are not. Goal: batch >= 100x the SDK.

    .venv/bin/python benchmarks/bench_assignment.py [--users 1000000] [--sample 20000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from abtest.assignment import Assigner  # noqa: E402
from abtest.spec import load_spec  # noqa: E402


def make_users(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    ids = rng.choice(10**12, size=n, replace=False)
    return pl.DataFrame(
        {
            "user_id": pl.Series([f"u{x}" for x in ids], dtype=pl.String),
            "platform": pl.Series(
                rng.choice(["ios", "android", "web", "tv"], n, p=[0.45, 0.4, 0.13, 0.02])
            ),
        }
    )


def growthbook_experiment(spec):  # type: ignore[no-untyped-def]
    from growthbook import Experiment

    return Experiment(
        key=spec.key,
        variations=list(range(len(spec.variants))),
        weights=list(spec.weights),
        coverage=spec.coverage,
        hashAttribute=spec.unit,
        hashVersion=spec.hash_version,
        seed=spec.hash_seed,
        namespace=spec.namespace.as_tuple() if spec.namespace else None,
        condition=spec.targeting,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--spec", type=Path, default=ROOT / "examples" / "similar-looks.yaml")
    args = parser.parse_args()

    from growthbook import GrowthBook

    spec = load_spec(args.spec)
    if spec.holdout is not None or spec.forced:
        # The SDK has no per-experiment holdout or per-unit forcing; compare the rest.
        spec = spec.model_copy(update={"holdout": None, "forced": {}})
    users = make_users(args.users, args.seed)
    assigner = Assigner(spec)

    assigner.assign_frame(users.head(1000))  # warm the lookup tables
    batch, best = None, float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        batch = assigner.assign_frame(users)
        best = min(best, time.perf_counter() - t0)
    assert batch is not None
    ids_list = users["user_id"].to_list()
    attrs = {"platform": users["platform"]}
    from_list = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        batch_from_list = assigner.assign_batch(ids_list, attrs)
        from_list = min(from_list, time.perf_counter() - t0)
    assert np.array_equal(batch.variant_index, batch_from_list.variant_index)

    rng = np.random.default_rng(args.seed + 1)
    sample_rows = np.sort(rng.choice(args.users, size=min(args.sample, args.users), replace=False))
    sample = [users.row(int(i), named=True) for i in sample_rows]

    gb = GrowthBook()
    experiment = growthbook_experiment(spec)
    sdk_index = np.empty(len(sample), dtype=np.int64)
    t0 = time.perf_counter()
    for j, attributes in enumerate(sample):
        gb.set_attributes(attributes)
        result = gb.run(experiment)
        sdk_index[j] = result.variationId if result.inExperiment else -1
    sdk = time.perf_counter() - t0
    # (no gb.destroy(): it clears the last attributes dict in place, which is ours)

    online_index = np.empty(len(sample), dtype=np.int64)
    t0 = time.perf_counter()
    for j, attributes in enumerate(sample):
        a = assigner.assign(attributes)
        online_index[j] = a.variant_index if a is not None else -1
    online = time.perf_counter() - t0

    batch_index = batch.variant_index[sample_rows].astype(np.int64)
    same_sdk = int((sdk_index == batch_index).sum())
    same_online = int((online_index == batch_index).sum())

    n, m = args.users, len(sample)
    scale = n / m
    sdk_full = sdk * scale
    rows = [
        ("looklift batch (polars frame)", f"{n:,}", best, best / n, best, sdk_full / best),
        (
            "looklift batch (Python list)",
            f"{n:,}",
            from_list,
            from_list / n,
            from_list,
            sdk_full / from_list,
        ),
        (
            "looklift online, per user",
            f"{m:,}",
            online,
            online / m,
            online * scale,
            sdk_full / (online * scale),
        ),
        ("growthbook SDK, per user", f"{m:,}", sdk, sdk / m, sdk_full, 1.0),
    ]
    print(
        f"Assignment of {n:,} users to {spec.key!r} (hash v{spec.hash_version}, "
        f"{len(spec.variants)} variants, namespace {spec.namespace.as_tuple() if spec.namespace else None}, "  # noqa: E501
        f"targeting {spec.targeting})"
    )
    print(f"per-user paths timed on a random sample of {m:,} users and scaled x{scale:g} to {n:,}")
    header = (
        f"{'path':32s} {'timed on':>10s} {'seconds':>9s} {'us/user':>9s} "
        f"{'1M-users s':>11s} {'vs SDK':>9s}"
    )
    print(header)
    print("-" * len(header))
    for name, timed, secs, per, full, ratio in rows:
        print(f"{name:32s} {timed:>10s} {secs:9.3f} {per * 1e6:9.3f} {full:11.2f} {ratio:8.0f}x")
    print("-" * len(header))
    counts = batch.counts()
    print(
        f"in experiment: {int(batch.in_experiment.sum()):,} of {n:,} ({counts}); "
        f"reasons {batch.reason_counts()}"
    )
    print(
        f"identical variants on the sample: SDK vs batch {same_sdk:,}/{m:,}, "
        f"online vs batch {same_online:,}/{m:,}"
    )
    ratio = sdk_full / best
    print(
        f"speed-up of batch over the SDK: {ratio:.0f}x (goal >= 100x): "
        f"{'met' if ratio >= 100 else 'NOT met'}"
    )
    return 0 if same_sdk == m and same_online == m else 1


if __name__ == "__main__":
    sys.exit(main())
