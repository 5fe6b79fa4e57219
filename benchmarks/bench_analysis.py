"""Analyzing 10M events for 1M users: looklift against a bare DuckDB GROUP BY and tea-tasting.

The data: a DuckDB store (under a temporary folder) with ``--events`` events
(10M) of ``--users`` users (1M), all exposed to a 50/50 experiment of 14 days,
with a 7-day pre-period for CUPED and 2 days of traffic after the end (which
every analysis must filter out). It is drawn with numpy and written with one
DuckDB ``INSERT ... SELECT`` (not through the simulator, to keep it fast), and
it is shaped like module traffic:

- each user's daily activity is log-normal (sigma 1.2): heavy-tailed events per
  user, a few users with hundreds of events, a third with none after exposure;
- users arrive over the experiment (first exposure early for most, late for
  some) and are exposed again on later visits (about 1.8M exposure rows);
- impressions, then taps (a per-user tap rate, +5% in treatment) and purchases
  of taps with a log-normal price as ``value``; events are stored in time order,
  as a log is, with string ``event_id`` and ``user_id`` as in the schema.

The experiment has 4 metrics, one of them CUPED-adjusted with the pre-period
as the issue asks: tap-through rate (ratio taps / impressions, with CUPED),
purchase conversion (proportion), purchases per user (mean) and revenue per
user (mean of the purchase value sum, winsorized at the 99th percentile).
``--all-cuped`` adjusts all four (a heavier workload: more pre-period
aggregates per user, for looklift and tea-tasting alike). What is timed (best
of ``--repeat`` interleaved rounds, on one warm connection, results
materialised inside DuckDB or fetched in full):

- **bare GROUP BY**: ``CREATE TEMP TABLE AS SELECT user_id, event_type,
  COUNT(*), SUM(value) FROM events GROUP BY user_id, event_type``: one scan of
  all events, per user and event type counts and value sums, with no join to
  exposures, no time window, no per-user metric and no statistics. The least
  any analysis of these metrics has to do;
- **looklift core**: ``analyze(store, spec, daily=False, segments=())``: first
  exposures, the one scan of events, the percentile cap, per-user variables,
  moments by variant, SRM, the comparisons, Holm. The goal (<= 1.5x the bare
  GROUP BY) applies to this;
- **its parts** (for information): the core's one scan of the events grouped
  by user (``user_events_sql``) and its first exposures (``units_sql``), each
  alone into a table: their sum, before the join of their million-row results,
  is the least this plan can cost;
- **looklift full**: ``analyze(store, spec)``: the core plus the cumulative
  day-by-day series (14 days) and the breakdowns by platform, country and
  is_new (for information);
- **tea-tasting end to end**: the per-user table a tea-tasting user has to
  write (the same first exposure, window, pre-period and 99th-percentile cap,
  in one SQL query over the same DuckDB tables) handed as an ibis table to
  ``tt.Experiment(...).analyze``, which pushes its aggregation into DuckDB: the
  aggregation step IS included, as it is for looklift. The goal (looklift >= 2x
  faster) is read on this row;
- **tea-tasting, per-user table given**: ``analyze`` on that per-user table
  already materialised as a polars frame (the aggregation step is NOT included:
  tea-tasting only computes means, variances and covariances of 1M rows), for
  information, with the per-user query alone (materialised in DuckDB).

The analysis compares unadjusted intervals (``correction: none``) so that they
can be compared with tea-tasting's; the correction costs nothing measurable.

The effects, intervals and p-values of all 4 metrics must agree between
looklift and tea-tasting (relative 1e-6); the script exits 1 if they do not.

    .venv/bin/python benchmarks/bench_analysis.py [--users 1000000] [--events 10000000]
        [--repeat 3] [--all-cuped] [--db /tmp/bench-analysis.duckdb (kept and reused)]
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from abtest.analysis import analyze  # noqa: E402
from abtest.analysis import sql as analysis_sql  # noqa: E402
from abtest.spec import ExperimentSpec, parse_spec  # noqa: E402
from abtest.store import Store  # noqa: E402

START = dt.datetime(2026, 3, 2)
DAYS, PRE_DAYS, AFTER_DAYS = 14, 7, 2
END = START + dt.timedelta(days=DAYS)
PRE_START = START - dt.timedelta(days=PRE_DAYS)
TAP_LIFT = 0.05
SPEC = {
    "key": "bench-analysis",
    "variants": [{"name": "control", "weight": 0.5}, {"name": "treatment", "weight": 0.5}],
    "metrics": {
        "primary": ["tap_through_rate"],
        "secondary": ["purchase_conversion", "purchases_per_user", "revenue_per_user"],
    },
    "metric_definitions": {
        "tap_through_rate": {"kind": "ratio", "numerator": "tap", "denominator": "impression"},
        "purchase_conversion": {"kind": "proportion", "numerator": "purchase"},
        "purchases_per_user": {"kind": "mean", "numerator": "purchase"},
        "revenue_per_user": {
            "kind": "mean",
            "numerator": {"event": "purchase", "aggregate": "sum"},
            "winsorize": {"percentile": 0.99},
        },
    },
    "analysis": {"cuped_pre_period_days": PRE_DAYS, "correction": "none"},
    "schedule": {"start": START.date().isoformat(), "end": END.date().isoformat()},
}
US_PER_DAY = 86_400_000_000
CUPED_METRIC = "tap_through_rate"
VIEW_SIZE = 10
POSITION_DECAY = 1.6 / np.sqrt(np.arange(1, VIEW_SIZE + 1))
"""Taps per impression by position, relative to a user's tap rate: the top is tapped more."""
NEW_METRICS = {
    "module_purchases_24h": {
        "kind": "mean",
        "numerator": {"event": "purchase", "filter": {"source_item_id": {"$exists": True}}},
        "window": {"delay": "0h", "within": "24h"},
        "cuped": False,
    },
    "ndcg_at_10": {"kind": "ndcg", "k": 10, "cuped": False},
}
"""The metrics the issue adds, on top of today's 4: a filtered and windowed one, nDCG@10."""


def make_spec(all_cuped: bool, new_metrics: bool = False) -> ExperimentSpec:
    """The benchmark's experiment: CUPED on the tap-through rate only, or on all 4 metrics;
    with ``new_metrics``, also a filtered and windowed mean and nDCG@10 (:data:`NEW_METRICS`,
    secondary; with ``all_cuped`` the nDCG is CUPED-adjusted too, the windowed mean never)."""
    data = copy.deepcopy(SPEC)
    if not all_cuped:
        for name, definition in data["metric_definitions"].items():
            if name != CUPED_METRIC:
                definition["cuped"] = False
    if new_metrics:
        extra = copy.deepcopy(NEW_METRICS)
        if all_cuped:
            del extra["ndcg_at_10"]["cuped"]
        data["metric_definitions"].update(extra)
        data["metrics"]["secondary"] += list(extra)
    return parse_spec(data)


# ---------------------------------------------------------------------------------------
# The data
# ---------------------------------------------------------------------------------------
def draw_showings(
    rng: np.random.Generator,
    period: tuple[np.ndarray, np.ndarray],
    impressions: np.ndarray,
    p_tap: np.ndarray,
    buy_rate: np.ndarray,
    first_view: int,
) -> dict[str, np.ndarray]:
    """One period's module events: showings of VIEW_SIZE impressions (positions 1..VIEW_SIZE,
    one time each), taps on some (fewer lower down) and purchases of some taps, all within
    the period (as the pre-period's events end at the start).

    ``impressions`` is each user's expected impressions in the period; showings are
    numbered from ``first_view`` (the impressions of earlier periods' showings, an upper
    bound that keeps them apart). Returns the columns ``u``, ``ts``, ``view``,
    ``position`` and ``kind`` (0 impression, 1 tap, 2 purchase).
    """
    lo, hi = period
    n_users = len(impressions)
    n_views = rng.poisson(impressions / VIEW_SIZE)
    vu = np.repeat(np.arange(n_users, dtype=np.int32), n_views)
    vts = lo[vu] + (rng.random(len(vu)) * (hi[vu] - lo[vu])).astype(np.int64)
    view = first_view + np.arange(len(vu), dtype=np.int64)
    iu, its, iview = (np.repeat(x, VIEW_SIZE) for x in (vu, vts, view))
    ipos = np.tile(np.arange(1, VIEW_SIZE + 1, dtype=np.int32), len(vu))
    tapped = rng.random(len(iu)) < np.minimum(p_tap[iu] * POSITION_DECAY[ipos - 1], 1.0)
    ends = hi[iu[tapped]] - 1
    tts = np.minimum(its[tapped] + rng.exponential(60e6, tapped.sum()).astype(np.int64), ends)
    bought = rng.random(tapped.sum()) < buy_rate[iu[tapped]]
    bts = np.minimum(
        tts[bought] + rng.exponential(600e6, bought.sum()).astype(np.int64), ends[bought]
    )
    parts = (
        (iu, its, iview, ipos),
        (iu[tapped], tts, iview[tapped], ipos[tapped]),
        (iu[tapped][bought], bts, iview[tapped][bought], ipos[tapped][bought]),
    )
    out = {
        key: np.concatenate([part[i] for part in parts])
        for i, key in enumerate(("u", "ts", "view", "position"))
    }
    out["kind"] = np.concatenate(
        [np.full(len(part[0]), code, dtype=np.int8) for code, part in enumerate(parts)]
    )
    return out


def draw_events(n_users: int, n_events: int, seed: int) -> tuple[pl.DataFrame, ...]:
    """Users, exposures and events as frames with integer user indices (strings come later)."""
    rng = np.random.default_rng(seed)
    start_us = int(np.datetime64(START, "us").astype(np.int64))
    treatment = rng.random(n_users) < 0.5
    # Arrival: most users are exposed in the first days, some late.
    exposed_at = start_us + np.minimum(rng.exponential(3.0, n_users), DAYS - 0.01) * US_PER_DAY
    exposed_at = exposed_at.astype(np.int64)
    end_us = start_us + DAYS * US_PER_DAY
    # Heavy-tailed activity; the per-user tap and purchase rates are persistent, so the
    # pre-period predicts the experiment (what CUPED exploits).
    activity = rng.lognormal(0.0, 1.2, n_users)
    tap_rate = rng.beta(2.0, 25.0, n_users)
    buy_rate = rng.beta(1.0, 12.0, n_users)
    periods = (  # (start, end) per user, microseconds
        (np.full(n_users, start_us - PRE_DAYS * US_PER_DAY), np.full(n_users, start_us)),
        (exposed_at, np.full(n_users, end_us)),
        (np.full(n_users, end_us), np.full(n_users, end_us + AFTER_DAYS * US_PER_DAY)),
    )
    days = [(hi - lo) / US_PER_DAY for lo, hi in periods]
    # Scale the daily rate so that the expected total is the asked number of events.
    per_impression = 1 + tap_rate * POSITION_DECAY.mean() * (1 + TAP_LIFT * treatment) * (
        1 + buy_rate
    )
    expected = (activity * sum(days) * per_impression).sum()
    rate = activity * n_events / expected

    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("u", "kind", "ts", "view", "position")}
    for p, ((lo, hi), length) in enumerate(zip(periods, days, strict=True)):
        p_tap = tap_rate * (1 + TAP_LIFT * (treatment & (p == 1)))
        first_view = sum(len(v) for v in columns["view"])
        rows = draw_showings(rng, (lo, hi), rate * length, p_tap, buy_rate, first_view)
        for key, values in rows.items():
            columns[key].append(values)
    user, kind, ts, view, position = (
        np.concatenate(columns[k]) for k in ("u", "kind", "ts", "view", "position")
    )
    n = len(user)
    item = rng.zipf(1.3, n) % 50_000
    events = pl.DataFrame(
        {
            "ts": ts.astype("datetime64[us]"),
            "u": user,
            "kind": kind,
            "item_id": item.astype(np.int64),
            "source_item_id": ((item * 7919 + rng.integers(0, 40, n)) % 50_000).astype(np.int64),
            "position": position,
            "value": np.where(kind == 2, np.round(rng.lognormal(3.2, 0.9, n), 2), np.nan),
            "view": view,
        }
    ).sort("ts")

    # One exposure at arrival, more on later visits within the experiment.
    repeats = np.minimum(rng.poisson(0.8 * np.sqrt(activity)), 12)
    u = np.concatenate([np.arange(n_users), np.repeat(np.arange(n_users), repeats)])
    lo = exposed_at[u]
    later = lo + (rng.random(len(u)) * (end_us - lo)).astype(np.int64)
    ts = np.where(np.arange(len(u)) < n_users, lo, later)
    exposures = pl.DataFrame(
        {"ts": ts.astype("datetime64[us]"), "u": u.astype(np.int32), "t": treatment[u]}
    ).sort("ts")

    users_frame = pl.DataFrame(
        {
            "u": np.arange(n_users, dtype=np.int32),
            "platform": rng.choice(["ios", "android", "web"], n_users, p=[0.45, 0.4, 0.15]),
            "country": rng.choice(["JP", "US", "GB", "FR", "DE"], n_users),
            "is_new": rng.random(n_users) < 0.2,
            "first_seen_at": (exposed_at - rng.integers(0, 400, n_users) * US_PER_DAY).astype(
                "datetime64[us]"
            ),
        }
    )
    return users_frame, exposures, events


def build_store(path: Path, n_users: int, n_events: int, seed: int) -> None:
    """Write users, exposures and events into a new store at ``path``."""
    users, exposures, events = draw_events(n_users, n_events, seed)
    with Store(path) as store:
        con = store.con
        con.register("__users", users)
        con.register("__exposures", exposures)
        con.register("__events", events)
        key = SPEC["key"]
        con.execute(
            "INSERT INTO users SELECT printf('u%07d', u), platform, country, is_new, "
            "first_seen_at FROM __users"
        )
        con.execute(
            f"INSERT INTO exposures SELECT '{key}', "
            "CASE WHEN t THEN 'treatment' ELSE 'control' END, printf('u%07d', u), ts "
            "FROM __exposures"
        )
        if "view_id" not in store.columns("events"):  # a data model without it yet
            con.execute("ALTER TABLE events ADD COLUMN view_id VARCHAR")
        con.execute(
            "INSERT INTO events BY NAME SELECT printf('e%010d', row_number() OVER ()) AS event_id, "
            "ts, printf('u%07d', u) AS user_id, CASE kind WHEN 0 THEN 'impression' WHEN 1 "
            "THEN 'tap' ELSE 'purchase' END AS event_type, item_id, source_item_id, position, "
            "value, printf('v%010d', view) AS view_id FROM __events"
        )
        for name in ("__users", "__exposures", "__events"):
            con.unregister(name)
        con.execute("CHECKPOINT")


# ---------------------------------------------------------------------------------------
# What is timed
# ---------------------------------------------------------------------------------------
BARE_SQL = """
CREATE OR REPLACE TEMP TABLE __bench_bare AS
SELECT user_id, event_type, COUNT(*) AS n, SUM(value) AS value
FROM events
GROUP BY user_id, event_type"""


def _tea_columns(all_cuped: bool) -> tuple[list[str], list[str], list[str]]:
    """The per-user SQL's sums over the events, per-user values and output columns."""
    ts = lambda d: f"TIMESTAMP '{d:%Y-%m-%d %H:%M:%S}'"  # noqa: E731
    post = f"e.ts >= f.exposed_at AND e.ts < {ts(END)}"
    pre = f"e.ts >= {ts(PRE_START)} AND e.ts < {ts(START)}"

    def total(event: str, period: str, what: str = "1") -> str:
        return f"SUM(CASE WHEN e.event_type = '{event}' AND {period} THEN {what} ELSE 0 END)"

    def count(column: str) -> str:
        return f"CAST(COALESCE(s.{column}, 0) AS DOUBLE) AS {column}"

    def converted(column: str, name: str) -> str:
        return f"CASE WHEN COALESCE(s.{column}, 0) > 0 THEN 1.0 ELSE 0.0 END AS {name}"

    sums = [
        f"{total('impression', post)} AS impressions",
        f"{total('tap', post)} AS taps",
        f"{total('purchase', post)} AS purchases",
        f"{total('purchase', post, 'COALESCE(e.value, 0)')} AS revenue",
        f"{total('impression', pre)} AS pre_impressions",
        f"{total('tap', pre)} AS pre_taps",
    ]
    values = [
        count("impressions"),
        count("taps"),
        converted("purchases", "converted"),
        count("purchases"),
        count("revenue"),
        count("pre_impressions"),
        count("pre_taps"),
    ]
    outputs = [
        "p.impressions, p.taps, p.converted, p.purchases, LEAST(p.revenue, cap.cap) AS revenue",
        "p.pre_impressions, p.pre_taps",
    ]
    if all_cuped:
        sums += [
            f"{total('purchase', pre)} AS pre_purchases",
            f"{total('purchase', pre, 'COALESCE(e.value, 0)')} AS pre_revenue",
        ]
        values += [
            converted("pre_purchases", "pre_converted"),
            count("pre_purchases"),
            count("pre_revenue"),
        ]
        outputs.append(
            "p.pre_converted, p.pre_purchases, LEAST(p.pre_revenue, cap.cap) AS pre_revenue"
        )
    return sums, values, outputs


def per_user_sql(spec: ExperimentSpec, all_cuped: bool) -> str:
    """The per-user table a tea-tasting user writes: the same semantics as looklift's.

    First exposure per user in the window (users seen in two variants dropped),
    events from the first exposure to the end, pre-period events for the
    covariates (of the tap-through rate, or of every metric with
    ``all_cuped``), zeros for users without events, revenue capped at the
    pooled 99th percentile of the exposed users' revenue.
    """
    ts = lambda d: f"TIMESTAMP '{d:%Y-%m-%d %H:%M:%S}'"  # noqa: E731
    sums, values, outputs = _tea_columns(all_cuped)
    sums_sql, values_sql, outputs_sql = (",\n    ".join(x) for x in (sums, values, outputs))
    return f"""
WITH first_exposure AS (
  SELECT user_id, MIN(variant) AS variant, MIN(ts) AS exposed_at
  FROM exposures
  WHERE experiment = '{spec.key}' AND ts >= {ts(START)} AND ts < {ts(END)}
  GROUP BY user_id
  HAVING MIN(variant) = MAX(variant)
),
sums AS (
  SELECT e.user_id,
    {sums_sql}
  FROM events e JOIN first_exposure f ON f.user_id = e.user_id
  WHERE e.ts >= {ts(PRE_START)} AND e.ts < {ts(END)}
    AND e.event_type IN ('impression', 'tap', 'purchase')
  GROUP BY e.user_id
),
per_user AS (
  SELECT f.variant,
    {values_sql}
  FROM first_exposure f LEFT JOIN sums s ON s.user_id = f.user_id
),
cap AS (
  SELECT PERCENTILE_CONT(0.99) WITHIN GROUP (ORDER BY revenue) AS cap FROM per_user
)
SELECT p.variant,
    {outputs_sql}
FROM per_user p CROSS JOIN cap"""


def tea_experiment(all_cuped: bool):  # type: ignore[no-untyped-def]
    """The same 4 metrics in tea-tasting (Welch t, CUPED with the pre-period), plus SRM."""
    import tea_tasting as tt

    def pre(name: str) -> str | None:
        return f"pre_{name}" if all_cuped else None

    return tt.Experiment(
        tap_through_rate=tt.RatioOfMeans("taps", "impressions", "pre_taps", "pre_impressions"),
        # Without CUPED, looklift's proportion is the unpooled two-proportion z-test
        # (variance p (1 - p), as GrowthBook); tea-tasting's Mean would use n - 1.
        purchase_conversion=(
            tt.Mean("converted", "pre_converted")
            if all_cuped
            else tt.Proportion("converted", method="norm", correction=False, equal_var=False)
        ),
        purchases_per_user=tt.Mean("purchases", pre("purchases")),
        revenue_per_user=tt.Mean("revenue", pre("revenue")),
        sample_ratio=tt.SampleRatio(),
    )


def best_of_rounds(
    repeat: int, contenders: dict[str, Callable[[], Any]]
) -> tuple[dict[str, float], dict[str, Any]]:
    """Best time of each contender over ``repeat`` rounds, each round running them all.

    Interleaving keeps a change in the machine's load (other jobs share its two
    cores) from favouring whichever contender happened to run in a quiet moment.
    """
    best = dict.fromkeys(contenders, math.inf)
    outputs: dict[str, Any] = {}
    for _ in range(repeat):
        for name, fn in contenders.items():
            start = time.perf_counter()
            outputs[name] = fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best, outputs


def agreement(result: Any, tea: Any, all_cuped: bool) -> tuple[bool, list[str]]:
    """Compare looklift's absolute effects, CIs and p-values with tea-tasting's.

    Relative 1e-6, except for the conversion without CUPED: looklift's Welch t
    (about 1M degrees of freedom) against tea-tasting's z-test differ from the
    6th digit in the tails (measured 2e-5 on the p-value), so 1e-4 there.
    """
    ok, lines = True, []
    for c in result.comparisons:
        t = tea[c.metric]
        rel_tol = 1e-4 if c.metric == "purchase_conversion" and not all_cuped else 1e-6
        ours = (
            c.comparison.absolute.estimate,
            c.comparison.absolute.ci_low,
            c.comparison.absolute.ci_high,
            c.comparison.absolute.p_value,
        )
        theirs = (t.effect_size, t.effect_size_ci_lower, t.effect_size_ci_upper, t.pvalue)
        close = all(
            math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-12)
            for a, b in zip(ours, theirs, strict=True)
        )
        rel = c.comparison.relative
        lines.append(
            f"  {c.metric:<20} looklift {rel.estimate:+.3%} [{rel.ci_low:+.3%}, {rel.ci_high:+.3%}]"
            f"  tea-tasting {t.rel_effect_size:+.3%} [{t.rel_effect_size_ci_lower:+.3%}, "
            f"{t.rel_effect_size_ci_upper:+.3%}]  absolute effect/CI/p agree: {close}"
        )
        ok &= close
    return ok, lines


def print_new_metrics(seconds: dict[str, float], result: Any) -> None:
    """Today's 4 metrics against the same analysis with the issue's 2 new metrics added
    (a filtered and windowed mean, nDCG@10), side by side; the goal is at most 1.3x."""
    print(
        "\ntoday's 4 metrics vs + the 2 new ones (module purchases within 24 h: filtered "
        "and windowed; nDCG@10):"
    )
    print(f"  {'':<46} {'today':>8} {'+2 new':>8} {'ratio':>7}")
    for label, key in (("looklift analyze, core", "core"), ("looklift analyze, full", "full")):
        ratio = seconds[f"{key}_new"] / seconds[key]
        verdict = (
            f"  (goal <= 1.3x: {'met' if ratio <= 1.3 else 'MISSED'})" if key == "core" else ""
        )
        print(
            f"  {label:<46} {seconds[key]:8.2f} {seconds[f'{key}_new']:8.2f} {ratio:6.2f}x"
            + verdict
        )
    for name in NEW_METRICS:
        values = [v for v in result.values if v.metric == name]
        shown = ", ".join(f"{v.variant} {v.value:.4f}" for v in values)
        print(f"  {name}: {shown}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", type=Path, help="keep the generated store here (reused if present)")
    parser.add_argument(
        "--all-cuped", action="store_true", help="CUPED on all 4 metrics (default: one)"
    )
    args = parser.parse_args()

    spec = make_spec(args.all_cuped)
    spec_new = make_spec(args.all_cuped, new_metrics=True)
    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-analysis-")
        db = Path(tmp.name) / "bench.duckdb"
    else:
        db = args.db
    try:
        if not db.exists():
            started = time.perf_counter()
            build_store(db, args.users, args.events, args.seed)
            print(f"generated {db} in {time.perf_counter() - started:.1f} s")
        with Store(db) as store:
            con = store.con
            (n_events,) = con.execute("SELECT count(*) FROM events").fetchall()[0]
            (n_exposures,) = con.execute("SELECT count(*) FROM exposures").fetchall()[0]
            (n_users,) = con.execute("SELECT count(*) FROM users").fetchall()[0]
            (threads,) = con.execute("SELECT current_setting('threads')").fetchall()[0]
            print(
                f"{n_events:,} events, {n_users:,} users, {n_exposures:,} exposure rows; "
                f"DuckDB threads: {threads}, "
                f"load average {os.getloadavg()[0]:.2f}; best of {args.repeat}; "
                f"CUPED on {'all 4 metrics' if args.all_cuped else CUPED_METRIC}"
            )
            experiment = tea_experiment(args.all_cuped)
            scan = analysis_sql.user_events_sql(spec, START, END, PRE_START)
            query = per_user_sql(spec, args.all_cuped)
            per_user = con.sql(query).pl()
            seconds, out = best_of_rounds(
                args.repeat,
                {
                    "bare": lambda: con.execute(BARE_SQL).fetchall(),
                    "core": lambda: analyze(store, spec, daily=False, segments=()),
                    "full": lambda: analyze(store, spec),
                    "core_new": lambda: analyze(store, spec_new, daily=False, segments=()),
                    "full_new": lambda: analyze(store, spec_new),
                    "units": lambda: con.execute(
                        "CREATE OR REPLACE TEMP TABLE __bench_units AS "
                        f"{analysis_sql.units_sql(spec, START, END)}"
                    ).fetchall(),
                    "scan": lambda: con.execute(
                        f"CREATE OR REPLACE TEMP TABLE __bench_scan AS {scan.sql}", scan.params
                    ).fetchall(),
                    "tea_e2e": lambda: experiment.analyze(con.sql(query), control="control"),
                    "tea_sql": lambda: con.execute(
                        f"CREATE OR REPLACE TEMP TABLE __bench_per_user AS {query}"
                    ).fetchall(),
                    "tea_given": lambda: experiment.analyze(per_user, control="control"),
                },
            )
            for table in ("__bench_bare", "__bench_per_user", "__bench_units", "__bench_scan"):
                con.execute(f"DROP TABLE IF EXISTS {table}")
    finally:
        if tmp is not None:
            tmp.cleanup()

    return print_results(seconds, out, args.all_cuped)


def print_results(seconds: dict[str, float], out: dict[str, Any], all_cuped: bool) -> int:
    """The timings against the bare GROUP BY and tea-tasting, the goals, the new metrics'
    ratio, and the agreement with tea-tasting: 0 when the numbers agree, else 1."""
    core, tea = out["core"], out["tea_e2e"]
    ok, lines = agreement(core, tea, all_cuped)
    srm_tea = tea["sample_ratio"].pvalue
    bare_s, core_s, tea_e2e_s = seconds["bare"], seconds["core"], seconds["tea_e2e"]
    rows = [
        ("bare DuckDB GROUP BY user_id, event_type", "bare"),
        ("looklift analyze, core (daily=False, segments=())", "core"),
        ("  its one scan of the events alone, into a table", "scan"),
        ("  its first exposures alone, into a table", "units"),
        ("looklift analyze, full (+14 daily points, 3 segments)", "full"),
        ("tea-tasting end to end (per-user SQL + analyze)", "tea_e2e"),
        ("  its per-user SQL alone, into a DuckDB table", "tea_sql"),
        ("tea-tasting analyze, per-user polars frame given", "tea_given"),
    ]
    print(f"\n  {'':<54} {'seconds':>8} {'/ bare':>7} {'tea e2e / this':>15}")
    for label, key in rows:
        t = seconds[key]
        print(f"  {label:<54} {t:8.2f} {t / bare_s:6.2f}x {tea_e2e_s / t:14.2f}x")
    core_ratio, tea_ratio = core_s / bare_s, tea_e2e_s / core_s
    print(
        f"\ngoal: looklift core <= 1.5x the bare GROUP BY: {core_ratio:.2f}x "
        f"({'met' if core_ratio <= 1.5 else 'MISSED'})"
    )
    print(
        f"goal: looklift core >= 2x faster than tea-tasting end to end: {tea_ratio:.2f}x "
        f"({'met' if tea_ratio >= 2 else 'MISSED'})"
    )
    floor = (seconds["scan"] + seconds["units"]) / bare_s
    print(
        f"the plan's two scans alone (events by user, first exposures), before their join: "
        f"{floor:.2f}x the bare GROUP BY"
    )
    print_new_metrics(seconds, out["core_new"])
    print("\nlooklift vs tea-tasting (relative lift [95% CI]):")
    print("\n".join(lines))
    print(f"  SRM p-value: looklift {core.health.srm.p_value:.3g}, tea-tasting {srm_tea:.3g}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
