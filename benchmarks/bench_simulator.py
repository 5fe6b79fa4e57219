"""Simulator throughput: events per second generated, and written to the store.

The world: ``--items`` items (5,000) and ``--users`` users (200,000), built by
:func:`abtest.simulate.world.build_world` (32-pixel photos: the traffic never
looks at them) with two toy neighbour tables named like the demo's encoders
(``cnn-pca`` recommends random items of the same category, ``finetuned`` prefers
the same colour too; ``tests/conftest.py::write_toy_neighbors``). The
experiment is the demo's, ``examples/similar-looks.yaml`` unchanged (two arms,
k = 10, a 70% namespace range: the other users get the default module), run
for ``--days`` days (7) after ``--pre-days`` days (0) of pre-period.

Two measurements of :func:`abtest.simulate.traffic.simulate_traffic`, the real
code path, each on a fresh copy of the world:

- **generation**: everything before writing (loading the world, the batch
  assignment, the neighbour matrices, then day by day the views, the behaviour
  model's probabilities under every arm, the impressions, taps and purchases as
  polars frames, the exposures and the truth), with a store whose
  ``ingest_many`` only counts the rows; best of ``--repeat`` (3). The goal,
  >= 1M events/s, is read on this row. The progress callback also gives the
  steady-state rate of the days after the first (which carries the set-up);
- **writing**: one run with the real store: total time minus the time at which
  the last day was generated (validation, in-batch deduplication and the
  idempotent insert of events and exposures in one transaction, then the truth
  table); best of ``--write-repeat`` (1: each run writes millions of rows).

    .venv/bin/python benchmarks/bench_simulator.py [--users 200000] [--items 5000]
        [--days 7] [--pre-days 0] [--world /tmp/bench-world.duckdb (kept and reused)]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from abtest.simulate.traffic import TrafficConfig, simulate_traffic  # noqa: E402
from abtest.simulate.world import WorldConfig, build_world  # noqa: E402
from abtest.spec import ExperimentSpec, load_spec  # noqa: E402
from abtest.store import Batch, IngestReport, Store  # noqa: E402
from tests.conftest import write_toy_neighbors  # noqa: E402

SPEC = ROOT / "examples" / "similar-looks.yaml"


class CountingStore(Store):
    """A store that generates nothing differently but writes no batch: it counts rows.

    It keeps the events frame of the last call so that the benchmark can count
    events per day.
    """

    events: pl.DataFrame | None = None

    def ingest_many(self, batches: Sequence[Batch], *, progress=None) -> list[IngestReport]:  # type: ignore[no-untyped-def,override]
        reports = []
        for b in batches:
            if b.table == "events":
                self.events = b.source
            n = b.source.height
            reports.append(IngestReport(b.table, b.source_name or b.table, n, n, 0, 0))
        return reports


def make_world(path: Path, items: int, users: int, spec: ExperimentSpec) -> None:
    started = time.perf_counter()
    build_world(WorldConfig(n_items=items, n_users=users, seed=0, image_size=32), path)
    for variant, match in zip(spec.variants, ("category", "colour"), strict=True):
        write_toy_neighbors(path, variant.encoder, k=10, match=match)
    print(f"built the world {path} in {time.perf_counter() - started:.1f} s")


def run(
    world: Path, folder: Path, spec: ExperimentSpec, config: TrafficConfig, dry: bool
) -> tuple[float, list[float], int, Store]:
    """One simulation on a fresh copy of the world: (total s, day marks, events, store)."""
    db = folder / "run.duckdb"
    shutil.copy(world, db)
    store = (CountingStore if dry else Store)(db)
    marks: list[float] = []
    started = time.perf_counter()
    try:
        summary = simulate_traffic(
            store,
            spec,
            config,
            replace=True,
            progress=lambda done, total: marks.append(time.perf_counter() - started),
        )
        total = time.perf_counter() - started
    finally:
        store.close()
    return total, marks, summary.events_written, store


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--pre-days", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write-repeat", type=int, default=1)
    parser.add_argument("--world", type=Path, help="keep the world here (reused if present)")
    args = parser.parse_args()

    spec = load_spec(SPEC)
    config = TrafficConfig(days=args.days, pre_days=args.pre_days, seed=0)
    with tempfile.TemporaryDirectory(prefix="bench-simulator-") as tmp:
        folder = Path(tmp)
        world = args.world or folder / "world.duckdb"
        if not world.exists():
            make_world(world, args.items, args.users, spec)
        print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")

        gen_s, marks, events, store = min(
            (run(world, folder, spec, config, dry=True) for _ in range(args.repeat)),
            key=lambda r: r[0],
        )
        assert isinstance(store, CountingStore) and store.events is not None
        per_day = store.events.group_by(pl.col("ts").dt.date()).len().sort("ts")["len"].to_list()
        later_events = sum(per_day[1:])
        later_s = marks[-1] - marks[0]
        first_s = marks[0]

        write_runs = [run(world, folder, spec, config, dry=False) for _ in range(args.write_repeat)]
        total_s, write_marks, written, _ = min(write_runs, key=lambda r: r[0])
        write_s = total_s - write_marks[-1]

    days = args.pre_days + args.days
    print(
        f"\n{args.users:,} users, {args.items:,} items, {days} days "
        f"({args.pre_days} pre-period): {events:,} events generated, {written:,} written"
    )
    rows = [
        (f"generation, all {days} days (best of {args.repeat})", gen_s, events),
        ("  first day, with loading, assignment, neighbours", first_s, per_day[0]),
        (f"  days 2..{days}, steady state", later_s, later_events),
        ("writing to the store (ingest_many, truth)", write_s, written),
        ("overall: generation + writing (one run)", total_s, written),
    ]
    print(f"  {'':<50} {'seconds':>8} {'events':>12} {'events/s':>11}")
    for label, seconds, n in rows:
        print(f"  {label:<50} {seconds:8.2f} {n:12,} {n / seconds / 1e6:9.2f}M")
    rate = events / gen_s
    verdict = "met" if rate >= 1e6 else "MISSED"
    print(f"\ngoal: generation >= 1M events/s: {rate / 1e6:.2f}M ({verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
