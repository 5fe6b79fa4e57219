"""Incremental refresh against a full analysis and tea-tasting: the analyzer's data in 14 days.

The data is :mod:`bench_analysis`'s (10M events, 1M users, 4 metrics, CUPED on
the tap-through rate, revenue winsorized at the 99th percentile), split into 14
daily ingests as a running experiment receives it: the first ingest holds the
pre-period and the first day, each next one a day of exposures and events, the
last one also the two days of traffic after the end. The rows are copied into a
fresh store with one ``INSERT ... SELECT`` per table and day (the ingest is not
what is measured). After each ingest the state is refreshed (``looklift
refresh``); the refresh is timed.

What is timed (best of ``--repeat`` interleaved rounds, each on its own copy of
the store holding days 1 to 13 and a fresh state, into which day 14 is copied):

- **day-14 refresh + analysis**: ``refresh`` then ``analyze(store, spec,
  daily=False, segments=())``, which reads the state;
- **full analysis**: the same ``analyze`` of the raw tables (``use_state=False``):
  every exposure and event of the 14 days;
- **tea-tasting end to end**: the per-user SQL over the raw tables handed to
  tea-tasting's ``analyze``, as in :mod:`bench_analysis`;

and, once, the sum of the 14 daily refreshes. The three ratios the issue sets
goals for are printed side by side, with where the day-14 refresh's time goes.
The analysis from state must equal the full analysis (1e-9 relative on every
number); the script exits 1 if it does not.

    .venv/bin/python benchmarks/bench_refresh.py [--users 1000000] [--events 10000000]
        [--repeat 3] [--db /tmp/bench-analysis.duckdb (the analyzer's data, reused)]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_analysis as data  # noqa: E402

from abtest.analysis import analyze  # noqa: E402
from abtest.analysis.state import refresh  # noqa: E402
from abtest.store import Store  # noqa: E402

DAYS = data.DAYS
PAST, FUTURE = dt.datetime(1970, 1, 1), dt.datetime(2100, 1, 1)


def day_bounds(day: int) -> tuple[dt.datetime, dt.datetime]:
    """``[lo, hi)`` of the rows of ingest ``day`` (1-based): the first also holds the
    pre-period, the last also the days after the end."""
    lo = PAST if day == 1 else data.START + dt.timedelta(days=day - 1)
    hi = FUTURE if day == DAYS else data.START + dt.timedelta(days=day)
    return lo, hi


def copy_day(store: Store, source: Path, day: int) -> None:
    """Copy ingest ``day``'s exposures and events from ``source`` into ``store``."""
    con = store.con
    lo, hi = day_bounds(day)
    con.execute(f"ATTACH '{source}' AS src (READ_ONLY)")
    try:
        for name in ("exposures", "events"):
            con.execute(
                f"INSERT INTO {name} BY NAME SELECT * FROM src.{name} WHERE ts >= ? AND ts < ?",
                [lo, hi],
            )
    finally:
        con.execute("DETACH src")
    con.execute("CHECKPOINT")


def build_until_day_13(source: Path, path: Path, spec: Any) -> list[float]:
    """A store with the users and days 1 to 13, refreshed after each day; the refreshes'
    seconds."""
    seconds = []
    with Store(path) as store:
        if "view_id" not in store.columns("events"):
            store.con.execute("ALTER TABLE events ADD COLUMN view_id VARCHAR")
        store.con.execute(f"ATTACH '{source}' AS src (READ_ONLY)")
        store.con.execute("INSERT INTO users SELECT * FROM src.users")
        store.con.execute("DETACH src")
        for day in range(1, DAYS):
            copy_day(store, source, day)
            began = time.perf_counter()
            refresh(store, spec)
            seconds.append(time.perf_counter() - began)
            print(f"  day {day:2d}: refresh {seconds[-1]:.2f} s", flush=True)
    return seconds


def day_14(snapshot: Path, work: Path, source: Path, spec: Any) -> tuple[float, Any, dict]:
    """On a copy of ``snapshot``: copy day 14 in (untimed), then time refresh + analysis.
    Returns the seconds, the analysis and where the time went."""
    shutil.copy(snapshot, work)
    with Store(work) as store:
        copy_day(store, source, DAYS)
        began = time.perf_counter()
        report = refresh(store, spec)
        refreshed = time.perf_counter()
        result = analyze(store, spec, daily=False, segments=())
        done = time.perf_counter()
    assert result.source is not None and result.source.startswith("from state"), result.source
    parts = {"refresh": refreshed - began, "analysis": done - refreshed, "report": report}
    return done - began, result, parts


def flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {
            k: v for key, item in value.items() for k, v in flat(item, f"{prefix}.{key}").items()
        }
    if isinstance(value, list | tuple):
        return {
            k: v for i, item in enumerate(value) for k, v in flat(item, f"{prefix}[{i}]").items()
        }
    return {prefix: value}


def same_numbers(ours: Any, raw: Any) -> list[str]:
    """The fields where the analysis from state differs from the raw one (1e-9 relative)."""
    a, b = flat(ours.to_dict()), flat(raw.to_dict())
    a.pop(".source"), b.pop(".source")
    bad = []
    for k, x in a.items():
        y = b.get(k)
        if isinstance(x, float) and isinstance(y, float):
            if not (math.isnan(x) and math.isnan(y)) and not math.isclose(
                x, y, rel_tol=1e-9, abs_tol=1e-12
            ):
                bad.append(f"{k}: state {x!r}, raw {y!r}")
        elif x != y:
            bad.append(f"{k}: state {x!r}, raw {y!r}")
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", type=Path, help="the analyzer's data (kept and reused if present)")
    args = parser.parse_args()
    spec = data.make_spec(False)
    with tempfile.TemporaryDirectory(prefix="bench-refresh-") as tmp:
        folder = Path(tmp)
        source = args.db or folder / "source.duckdb"
        if not source.exists():
            began = time.perf_counter()
            data.build_store(source, args.users, args.events, args.seed)
            print(f"generated {source} in {time.perf_counter() - began:.1f} s")
        snapshot = folder / "days-1-13.duckdb"
        print("14 daily ingests, each followed by a refresh:")
        refreshes = build_until_day_13(source, snapshot, spec)
        best = {"incremental": math.inf, "full": math.inf, "tea": math.inf}
        parts: dict[str, Any] = {}
        work = folder / "day-14.duckdb"
        experiment = data.tea_experiment(False)
        per_user = data.per_user_sql(spec, False)
        for _ in range(args.repeat):
            took, ours, these = day_14(snapshot, work, source, spec)
            if took < best["incremental"]:
                best["incremental"], parts = took, these
            with Store(work, read_only=True) as store:
                began = time.perf_counter()
                raw = analyze(store, spec, daily=False, segments=(), use_state=False)
                best["full"] = min(best["full"], time.perf_counter() - began)
                began = time.perf_counter()
                experiment.analyze(store.con.sql(per_user), control="control")
                best["tea"] = min(best["tea"], time.perf_counter() - began)
        refreshes.append(parts["refresh"])
        print(f"  day {DAYS:2d}: refresh {parts['refresh']:.2f} s (best round)")
        with Store(work, read_only=True) as store:
            (n_events,) = store.fetch_one("SELECT COUNT(*) FROM events") or (0,)
    print_results(best, parts, refreshes, n_events, args.repeat)
    bad = same_numbers(ours, raw)
    print(
        "\nanalysis from state vs full analysis: "
        + ("every number equal (1e-9 relative)" if not bad else f"{len(bad)} differ")
    )
    for line in bad[:10]:
        print("  " + line)
    return 1 if bad else 0


def print_results(
    best: dict[str, float],
    parts: dict[str, Any],
    refreshes: list[float],
    n_events: int,
    repeat: int,
) -> None:
    """The timings, the three ratios and their goals, and where the day-14 time goes."""
    report = parts["report"]
    print(
        f"\n{n_events:,} events in all; day 14 re-read {report.events_read:,} of them "
        f"({report.events_read / n_events:.1%}); load average {os.getloadavg()[0]:.2f}; "
        f"best of {repeat}"
    )
    rows = [
        ("day-14 refresh + analysis from state", best["incremental"]),
        ("  of which the refresh", parts["refresh"]),
        ("  of which the analysis", parts["analysis"]),
        ("full analysis of the 14 days (raw tables)", best["full"]),
        ("tea-tasting end to end (per-user SQL + analyze)", best["tea"]),
        ("sum of the 14 daily refreshes", sum(refreshes)),
    ]
    print(f"\n  {'':<50} {'seconds':>8}")
    for label, seconds in rows:
        print(f"  {label:<50} {seconds:8.3f}")
    day14 = best["incremental"] / best["full"]
    tea = best["tea"] / best["incremental"]
    total = sum(refreshes) / best["full"]
    print("\n  ratio                                               value   goal")
    for label, value, goal, met in (
        ("day-14 refresh + analysis / full analysis", day14, "<= 0.15x", day14 <= 0.15),
        ("tea-tasting / day-14 refresh + analysis", tea, ">= 5x", tea >= 5),
        ("sum of 14 refreshes / full analysis", total, "<= 2x", total <= 2),
    ):
        print(f"  {label:<50} {value:6.2f}x  {goal:<9} {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    sys.exit(main())
