"""Shared by the analyzer's tests: the test experiment, and moments computed independently.

``reference_values`` recomputes every user's metric variables with polars from
the raw tables, and ``reference_stats`` turns them into the stats engine's
dataclasses, so that the analyzer's SQL can be checked against an independent
computation (imported as ``tests.abtest.analysis.builders``).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl

from abtest.spec import ExperimentSpec, parse_spec
from abtest.stats import (
    CupedMeanStats,
    CupedRatioStats,
    MeanStats,
    ProportionStats,
    RatioStats,
)
from abtest.store import Store

SPEC = {
    "key": "analyzer-test",
    "seed": "analyzer",
    "variants": [
        {"name": "control", "weight": 0.5, "encoder": "base", "params": {"k": 5}},
        {"name": "treatment", "weight": 0.5, "encoder": "better", "params": {"k": 5}},
    ],
    "metrics": {
        "primary": ["tap_rate"],
        "secondary": ["buyers", "taps", "revenue"],
        "guardrail": ["impressions"],
    },
    "metric_definitions": {
        "tap_rate": {"kind": "ratio", "numerator": "tap", "denominator": "impression"},
        "buyers": {"kind": "proportion", "numerator": "purchase"},
        "taps": {"kind": "mean", "numerator": "tap"},
        "revenue": {
            "kind": "mean",
            "numerator": {"event": "purchase", "aggregate": "sum"},
            "winsorize": {"percentile": 0.9},
        },
        "impressions": {
            "kind": "mean",
            "numerator": "impression",
            "winsorize": {"upper": 40},
            "direction": "higher_is_better",
        },
    },
    "analysis": {"correction": "none"},
    "schedule": {"start": "2026-03-02", "end": "2026-03-09"},
}
START, END = dt.datetime(2026, 3, 2), dt.datetime(2026, 3, 9)


def make_spec(**analysis: object) -> ExperimentSpec:
    data = json.loads(json.dumps(SPEC))
    data["analysis"].update(analysis)
    return parse_spec(data)


def reference_values(db: Path, end: dt.datetime = END, cuped_days: int = 0) -> pl.DataFrame:
    """Per-user metric variables computed with polars from the raw tables, independently."""
    with Store(db, read_only=True) as store:
        exposures = store.query(
            "SELECT * FROM exposures WHERE experiment = 'analyzer-test' AND ts >= ? AND ts < ?",
            [START, end],
        )
        events = store.query("SELECT user_id, ts, event_type, value FROM events")
    first = (
        exposures.sort("ts", "variant")
        .group_by("user_id")
        .agg(
            pl.col("variant").first(),
            pl.col("ts").first().alias("exposed_at"),
            pl.col("variant").n_unique().alias("n_variants"),
        )
        .filter(pl.col("n_variants") == 1)
    )
    joined = events.join(first, on="user_id")
    post = joined.filter((pl.col("ts") >= pl.col("exposed_at")) & (pl.col("ts") < end))
    pre = joined.filter(
        (pl.col("ts") >= START - dt.timedelta(days=cuped_days)) & (pl.col("ts") < START)
    )

    def per_user(frame: pl.DataFrame, suffix: str) -> pl.DataFrame:
        return frame.group_by("user_id").agg(
            (pl.col("event_type") == "tap").sum().alias(f"tap{suffix}"),
            (pl.col("event_type") == "impression").sum().alias(f"impression{suffix}"),
            (pl.col("event_type") == "purchase").sum().alias(f"purchase{suffix}"),
            pl.when(pl.col("event_type") == "purchase")
            .then(pl.col("value"))
            .otherwise(0.0)
            .sum()
            .alias(f"revenue{suffix}"),
        )

    out = first.join(per_user(post, ""), on="user_id", how="left")
    out = out.join(per_user(pre, "_pre"), on="user_id", how="left")
    return out.fill_null(0)


def reference_stats(values: pl.DataFrame, variant: str, cuped: bool) -> dict[str, object]:
    v = values.filter(pl.col("variant") == variant)
    cap = float(np.percentile(values["revenue"].to_numpy(), 90))  # pooled, PERCENTILE_CONT

    def arr(col: str) -> np.ndarray:
        return v[col].to_numpy().astype(float)

    taps, imps, buys = arr("tap"), arr("impression"), (arr("purchase") > 0).astype(float)
    rev, imps_capped = np.minimum(arr("revenue"), cap), np.minimum(arr("impression"), 40)
    if not cuped:
        return {
            "tap_rate": RatioStats.from_values(taps, imps),
            "buyers": ProportionStats(len(v), int(buys.sum())),
            "taps": MeanStats.from_values(taps),
            "revenue": MeanStats.from_values(rev),
            "impressions": MeanStats.from_values(imps_capped),
        }
    taps_p, imps_p = arr("tap_pre"), arr("impression_pre")
    buys_p = (arr("purchase_pre") > 0).astype(float)
    return {
        "tap_rate": CupedRatioStats.from_values(taps, imps, taps_p, imps_p),
        "buyers": CupedMeanStats.from_values(buys, buys_p),
        "taps": CupedMeanStats.from_values(taps, taps_p),
        "revenue": CupedMeanStats.from_values(rev, np.minimum(arr("revenue_pre"), cap)),
        "impressions": CupedMeanStats.from_values(imps_capped, np.minimum(imps_p, 40)),
    }


def render_p(p: float | None) -> str:
    """A p-value as the terminal table shows it."""
    assert p is not None
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"
