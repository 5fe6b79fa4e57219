"""How the analysis' cost grows with the data: DuckDB and Spark at 1M, 10M and 100M events.

The experiment is :mod:`bench_analysis`'s (4 metrics, CUPED on the tap-through
rate, revenue winsorized at the 99th percentile; heavy-tailed users, late
arrivals). The data at each size:

- **1M events**: :func:`bench_analysis.build_store` with 100k users;
- **10M events**: the same with 1M users (the analyzer benchmark's data);
- **100M events**: the 10M data's events written ten times, each copy a minute
  later than the last and with its own event ids: the same 1M users, ten times as
  active.

Each size is a DuckDB store and the same tables exported as parquet (events and
exposures partitioned by day, :mod:`abtest.export`), which the Spark engine reads.
Each measurement runs in a fresh process, on data read once beforehand (in the
operating system's cache): the core analysis
(``analyze(..., daily=False, segments=())``, as :mod:`bench_analysis` times it),
its wall time (Spark's session start excluded and shown apart), and the peak
resident memory of the looklift process (for Spark, also of the Java process it
starts, which does the work). The exponent is the slope of log(time) against
log(events) over the three sizes: 1.0 is linear.

    .venv/bin/python benchmarks/bench_scaling.py [--work /tmp/bench-scaling (kept, reused)]
        [--engines duckdb,spark] [--sizes 1,10,100] [--master local[2]]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_analysis as data  # noqa: E402

from abtest.store import Store  # noqa: E402

USERS = {1: 100_000, 10: 1_000_000, 100: 1_000_000}
"""Users at each size (millions of events)."""


def prepare(work: Path, size: int, seed: int = 0) -> tuple[Path, Path]:
    """The store and the parquet folder of ``size`` million events (made once, kept)."""
    from abtest.export import export_parquet

    store, folder = work / f"events-{size}m.duckdb", work / f"events-{size}m"
    if not store.exists():
        began = time.perf_counter()
        if size == 100:
            ten, _ = prepare(work, 10, seed)
            replicate(ten, store, copies=10)
        else:
            data.build_store(store, USERS[size], size * 1_000_000, seed)
        print(f"  made {store.name} in {time.perf_counter() - began:.0f} s", flush=True)
    if not folder.exists():
        began = time.perf_counter()
        with Store(store, read_only=True) as s:
            export_parquet(s, folder)
        print(f"  wrote {folder.name}/ in {time.perf_counter() - began:.0f} s", flush=True)
    return store, folder


def replicate(source: Path, target: Path, copies: int) -> None:
    """``source``'s users and exposures, and its events ``copies`` times (copy ``k`` is
    ``k`` minutes later, its event ids prefixed with ``k``)."""
    with Store(target) as store:
        con = store.con
        if "view_id" not in store.columns("events"):
            con.execute("ALTER TABLE events ADD COLUMN view_id VARCHAR")
        con.execute(f"ATTACH '{source}' AS src (READ_ONLY)")
        con.execute("INSERT INTO users SELECT * FROM src.users")
        con.execute("INSERT INTO exposures SELECT * FROM src.exposures")
        for k in range(copies):
            con.execute(
                "INSERT INTO events BY NAME SELECT * REPLACE ("
                f"'{k}' || event_id AS event_id, ts + INTERVAL {k} MINUTE AS ts, "
                f"'{k}' || view_id AS view_id) FROM src.events"
            )
        con.execute("DETACH src")
        con.execute("CHECKPOINT")


def measure(engine: str, store: Path, folder: Path, master: str) -> dict[str, float]:
    """One analysis in this process (run by :func:`run_measure` in a fresh one)."""
    from abtest.analysis import analyze

    spec = data.make_spec(False)
    started = 0.0
    if engine == "spark":
        from abtest.analysis.spark import SparkEngine, local_session

        began = time.perf_counter()
        session = local_session(master, log=Path(folder).parent / "spark.log")
        source = SparkEngine(session, folder)
        started = time.perf_counter() - began
        began = time.perf_counter()
        result = analyze(source, spec, daily=False, segments=())
        seconds = time.perf_counter() - began
        java_mb = java_peak_mb(session)
        session.stop()
    else:
        java_mb = 0.0
        with Store(store, read_only=True) as s:
            began = time.perf_counter()
            result = analyze(s, spec, daily=False, segments=())
            seconds = time.perf_counter() - began
    users = sum(result.health.users.values())
    return {
        "seconds": seconds,
        "startup": started,
        "rss_mb": peak_mb(os.getpid()),
        "java_mb": java_mb,
        "users": users,
    }


def peak_mb(pid: int) -> float:
    """The peak resident memory of process ``pid`` since it started (Linux: ``VmHWM``;
    unlike ``ru_maxrss``, not inherited from the parent that forked it)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def java_peak_mb(session: object) -> float:
    """The peak resident memory of the Java process behind ``session``."""
    proc = getattr(session.sparkContext._gateway, "proc", None)  # type: ignore[attr-defined]
    return float("nan") if proc is None else peak_mb(proc.pid)


def warm(path: Path) -> None:
    """Read every byte of ``path`` once, so that each engine finds its data in the
    operating system's cache (as a second look at the same data would)."""
    for file in [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()):
        with open(file, "rb") as f:
            while f.read(1 << 24):
                pass


def run_measure(engine: str, store: Path, folder: Path, master: str) -> dict[str, float]:
    """:func:`measure` in a fresh Python process, so that peaks do not mix, on data
    read once beforehand."""
    warm(store if engine == "duckdb" else folder)
    out = subprocess.run(
        [sys.executable, __file__, "--measure", engine, str(store), str(folder), master],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-scaling"))
    parser.add_argument("--engines", default="duckdb,spark")
    parser.add_argument("--sizes", default="1,10,100")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--measure", nargs=4, metavar=("ENGINE", "STORE", "FOLDER", "MASTER"))
    args = parser.parse_args()
    if args.measure:
        engine, store, folder, master = args.measure
        print(json.dumps(measure(engine, Path(store), Path(folder), master)))
        return 0
    import numpy as np

    args.work.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    engines = args.engines.split(",")
    print(f"data under {args.work} (kept and reused); {os.cpu_count()} cores")
    paths = {size: prepare(args.work, size) for size in sizes}
    rows = []
    for engine in engines:
        for size in sizes:
            store, folder = paths[size]
            m = run_measure(engine, store, folder, args.master)
            data_mb = size_mb(store if engine == "duckdb" else folder)
            rows.append((engine, size, m, data_mb))
            print(f"  {engine:6} {size:4d}M events: {m['seconds']:7.2f} s", flush=True)
    print(
        f"\n  {'engine':<14} {'events':>7} {'users':>9} {'seconds':>8} {'s / 10M':>8} "
        f"{'data MB':>8} {'peak RSS MB':>11} {'Java MB':>8}"
    )
    for engine, size, m, data_mb in rows:
        label = engine if engine == "duckdb" else f"spark {args.master}"
        java = f"{m['java_mb']:8.0f}" if engine == "spark" else f"{'':>8}"
        print(
            f"  {label:<14} {size:>6}M {int(m['users']):>9,} {m['seconds']:8.2f} "
            f"{m['seconds'] / size * 10:8.2f} {data_mb:8.0f} {m['rss_mb']:11.0f} {java}"
        )
    print()
    for engine in engines:
        points = [(size, m["seconds"]) for e, size, m, _ in rows if e == engine]
        if len(points) >= 2:
            x = np.log([p[0] for p in points])
            y = np.log([p[1] for p in points])
            slope = float(np.polyfit(x, y, 1)[0])
            verdict = "met" if slope <= 1.1 else "MISSED"
            print(f"  {engine}: time ~ events^{slope:.2f} (goal <= 1.1: {verdict})")
        startups = [m["startup"] for e, _, m, _ in rows if e == engine and m["startup"]]
        if startups:
            span = f"{min(startups):.1f}-{max(startups):.1f} s"
            print(f"  {engine}: session start {span} (not in the times above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
