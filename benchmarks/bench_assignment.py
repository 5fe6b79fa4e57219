"""Assigning 1,000,000 users: looklift's batch path against the ``growthbook`` Python SDK,
for populations of ids of mixed lengths.

Both evaluate the demo experiment (``examples/similar-looks.yaml``: hash
version 2, a namespace range, targeting on ``platform``, 50/50) for the same
users, who have a ``user_id`` and a ``platform``. Four populations of
``--users`` ids, the last three built from the same uuids:

- ``short ids``: ``u`` and up to 12 digits (2 to 13 characters);
- ``uuids``: 36-character uuid4 strings;
- ``uuids + one 250-char id``: one uuid replaced by a 250-character id (every
  row used to be padded to the longest id: 25x slower);
- ``uuids + 33k long ids``: 33,000 uuids replaced by ids of 257 to 1,024
  characters (ids over 256 bytes used to be hashed one by one in Python).

For each, in one run:

- looklift batch: :meth:`abtest.assignment.Assigner.assign_frame` on a polars
  frame of all users, best of ``--repeat`` runs, after one small warm-up call
  (the ids are packed and laid out inside each run); and
  :meth:`~abtest.assignment.Assigner.assign_batch` on a plain Python list of ids
  (which adds packing the strings into arrow buffers);
- growthbook SDK: one ``GrowthBook`` instance, ``set_attributes`` then ``run``
  for each user, as a server evaluating users one by one would. It is timed on
  a random sample of ``--sample`` users (plus the long id of the third
  population) and scaled linearly to the full population: a sample of the
  last population holds its share of long ids;
- looklift online: :meth:`Assigner.assign` on the same sample, for reference.

The variants must be identical on the sample (SDK vs batch, and online vs
batch); the script exits 1 if they are not. Goal: batch >= 100x the SDK on
every population.

    .venv/bin/python benchmarks/bench_assignment.py [--users 1000000] [--sample 20000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from abtest.assignment import Assigner  # noqa: E402
from abtest.spec import ExperimentSpec, load_spec  # noqa: E402

HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


class Population(NamedTuple):
    """A named population of users and the rows its SDK sample must include."""

    name: str
    users: pl.DataFrame
    must_sample: tuple[int, ...]


class Timing(NamedTuple):
    """One population's figures: seconds for all users (per-user paths scaled)."""

    name: str
    n: int
    batch: float
    batch_list: float
    online: float
    sdk: float
    sample: int
    same_sdk: int
    same_online: int


def uuids(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` random uuid4 strings (8-4-4-4-12 hex digits), made in numpy."""
    digits = HEX[rng.integers(0, 16, (n, 32))]
    digits[:, 12] = ord("4")
    dashed = np.full((n, 36), ord("-"), dtype=np.uint8)
    for lo, hi, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        dashed[:, at : at + hi - lo] = digits[:, lo:hi]
    return dashed.view("S36").ravel().astype(str).tolist()


def long_ids(lengths: np.ndarray, rng: np.random.Generator) -> list[str]:
    """Hex ids of the given lengths."""
    return [HEX[rng.integers(0, 16, int(k))].tobytes().decode() for k in lengths]


def populations(n: int, seed: int) -> list[Population]:
    """The four populations of ``n`` users, sharing one ``platform`` column."""
    rng = np.random.default_rng(seed)
    platform = pl.Series(
        "platform", rng.choice(["ios", "android", "web", "tv"], n, p=[0.45, 0.4, 0.13, 0.02])
    )

    def frame(ids: list[str]) -> pl.DataFrame:
        return pl.DataFrame([pl.Series("user_id", ids, dtype=pl.String), platform])

    short = [f"u{x}" for x in rng.choice(10**12, size=n, replace=False)]
    base = uuids(n, rng)
    one_long = list(base)
    where = int(rng.integers(0, n))
    one_long[where] = long_ids(np.array([250]), rng)[0]
    many_long = list(base)
    n_long = max(1, round(n * 0.033))  # 33,000 of a million
    for row, text in zip(
        rng.choice(n, n_long, replace=False).tolist(),
        long_ids(rng.integers(257, 1025, n_long), rng),
        strict=True,
    ):
        many_long[row] = text
    return [
        Population("short ids (u + digits)", frame(short), ()),
        Population("uuids", frame(base), ()),
        Population("uuids + one 250-char id", frame(one_long), (where,)),
        Population(f"uuids + {n_long:,} ids of 257-1024 chars", frame(many_long), ()),
    ]


def growthbook_experiment(spec: ExperimentSpec):  # type: ignore[no-untyped-def]
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


def measure(
    spec: ExperimentSpec, assigner: Assigner, population: Population, args: argparse.Namespace
) -> Timing:
    """Time one population on every path and compare the variants on the sample."""
    from growthbook import GrowthBook

    users = population.users
    n = users.height
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
    rows = rng.choice(n, size=min(args.sample, n), replace=False)
    sample_rows = np.unique(np.concatenate([rows, np.array(population.must_sample, dtype=int)]))
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
    scale = n / len(sample)
    return Timing(
        population.name,
        n,
        best,
        from_list,
        online * scale,
        sdk * scale,
        len(sample),
        int((sdk_index == batch_index).sum()),
        int((online_index == batch_index).sum()),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--spec", type=Path, default=ROOT / "examples" / "similar-looks.yaml")
    args = parser.parse_args()

    spec = load_spec(args.spec)
    if spec.holdout is not None or spec.forced:
        # The SDK has no per-experiment holdout or per-unit forcing; compare the rest.
        spec = spec.model_copy(update={"holdout": None, "forced": {}})
    assigner = Assigner(spec)
    results = [measure(spec, assigner, p, args) for p in populations(args.users, args.seed)]

    n = args.users
    print(
        f"Assignment of {n:,} users to {spec.key!r} (hash v{spec.hash_version}, "
        f"{len(spec.variants)} variants, namespace {spec.namespace.as_tuple() if spec.namespace else None}, "  # noqa: E501
        f"targeting {spec.targeting})"
    )
    print(
        f"per-user paths (SDK, looklift online) timed on a random sample of {args.sample:,} "
        f"users and scaled to {n:,}; batch: best of {args.repeat}"
    )
    header = (
        f"{'population':36s} {'batch s':>8s} {'list s':>8s} {'online s':>9s} "
        f"{'SDK s':>8s} {'SDK/batch':>10s} {'identical':>15s}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        same = f"{min(r.same_sdk, r.same_online):,}/{r.sample:,}"
        print(
            f"{r.name:36s} {r.batch:8.3f} {r.batch_list:8.3f} {r.online:9.2f} "
            f"{r.sdk:8.2f} {r.sdk / r.batch:9.0f}x {same:>15s}"
        )
    print("-" * len(header))
    base = next(r for r in results if r.name == "uuids")
    for r in results:
        if r is not base:
            print(
                f"{r.name}: batch {r.batch / base.batch:.2f}x the uuids' time, "
                f"SDK {r.sdk / base.sdk:.2f}x"
            )
    ok = all(r.same_sdk == r.sample and r.same_online == r.sample for r in results)
    worst = min(r.sdk / r.batch for r in results)
    print(
        f"identical variants (SDK vs batch and online vs batch) on every sample: {ok}; "
        f"slowest speed-up of batch over the SDK: {worst:.0f}x (goal >= 100x): "
        f"{'met' if worst >= 100 else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
