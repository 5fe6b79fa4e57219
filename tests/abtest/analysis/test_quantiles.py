"""Quantile metrics in the analysis: SQL's order statistics equal those of an independent
polars computation from the raw tables, and the comparison is the engine's on them."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from abtest.analysis import analyze
from abtest.spec import parse_spec
from abtest.stats import QuantileStats, compare_quantiles
from abtest.store import Store
from tests.abtest.analysis.builders import SPEC, reference_values


def quantile_spec(**analysis: object):
    data = json.loads(json.dumps(SPEC))
    data["metric_definitions"] |= {
        "p90_revenue": {  # over users: 0 for a user without purchases
            "kind": "quantile",
            "quantile": 0.9,
            "numerator": {"event": "purchase", "aggregate": "sum"},
        },
        "median_price": {  # over the purchases themselves
            "kind": "quantile",
            "quantile": 0.5,
            "over": "event",
            "numerator": {"event": "purchase", "aggregate": "sum"},
            "direction": "lower_is_better",
        },
    }
    data["metrics"]["secondary"] += ["p90_revenue", "median_price"]
    data["analysis"].update(analysis)
    return parse_spec(data)


def purchase_prices(db: Path) -> pl.DataFrame:
    """Every purchase after its user's first exposure, with the user's variant (polars)."""
    users = reference_values(db).select("user_id", "variant")
    with Store(db, read_only=True) as store:
        exposures = store.query(
            "SELECT user_id, MIN(ts) AS exposed_at FROM exposures "
            "WHERE experiment = 'analyzer-test' GROUP BY user_id"
        )
        events = store.query(
            "SELECT user_id, ts, value FROM events "
            "WHERE event_type = 'purchase' AND value IS NOT NULL AND ts < '2026-03-09'"
        )
    return (
        events.join(exposures, on="user_id")
        .filter(pl.col("ts") >= pl.col("exposed_at"))
        .join(users, on="user_id")
    )


def test_quantiles_equal_an_independent_computation(db: Path) -> None:
    spec = quantile_spec()
    with Store(db, read_only=True) as store:
        result = analyze(store, spec, daily=False, segments=())
    per_user = reference_values(db)
    prices = purchase_prices(db)
    expected = {
        "p90_revenue": {
            v: QuantileStats.from_values(g["revenue"].to_numpy(), 0.9)
            for (v,), g in per_user.group_by("variant")
        },
        "median_price": {
            v: QuantileStats.from_values(g["value"].to_numpy(), 0.5)
            for (v,), g in prices.group_by("variant")
        },
    }
    for name, by_variant in expected.items():
        info = result.metric(name)
        assert info.kind == "quantile" and info.metric_type == "quantile"
        for v, q in by_variant.items():
            value = result.value(name, v)
            assert value.users == q.n > 0
            assert value.value == pytest.approx(q.quantile_hat, rel=1e-12)
        c = result.comparison(name, "treatment")
        ref = compare_quantiles(by_variant["control"], by_variant["treatment"])
        assert c.comparison.relative.estimate == pytest.approx(ref.relative.estimate, rel=1e-9)
        assert c.comparison.relative.ci == pytest.approx(ref.relative.ci, rel=1e-9)
        assert c.p_value == pytest.approx(ref.relative.p_value, rel=1e-9, abs=1e-15)
    names = [m.name for m in result.metrics]
    assert names == [
        "tap_rate",
        "buyers",
        "taps",
        "revenue",
        "p90_revenue",
        "median_price",
        "impressions",
    ]


def test_quantiles_join_the_correction_and_the_bayesian_read_out(db: Path) -> None:
    with Store(db, read_only=True) as store:
        holm = analyze(store, quantile_spec(correction="holm"), daily=False, segments=())
        bayes = analyze(store, quantile_spec(engine="bayesian"), daily=False, segments=())
    c = holm.comparison("median_price")
    assert c.p_adjusted is not None and c.p_adjusted >= c.p_value
    assert c.comparison.relative.adjusted  # widened with the family of seven comparisons
    assert all(x.p_adjusted is not None for x in holm.comparisons)
    b = bayes.comparison("median_price").bayes
    assert b is not None and 0.0 <= b.chance_to_win <= 1.0
    rel = bayes.comparison("median_price").comparison.relative
    assert b.lift_mean == pytest.approx(rel.estimate, rel=1e-12)


def test_open_windows_are_counted_and_said(db: Path) -> None:
    """Users exposed less than a window before the end count in progress, and every output
    says how many (checked against the first exposures, in polars)."""
    from abtest.analysis.cells import open_window_notes

    data = json.loads(json.dumps(SPEC))
    data["metric_definitions"]["buys_3d"] = {
        "kind": "mean",
        "numerator": "purchase",
        "window": {"delay": "0h", "within": "3d"},
    }
    data["metrics"]["secondary"].append("buys_3d")
    with Store(db, read_only=True) as store:
        result = analyze(store, parse_spec(data), daily=False, segments=())
        first = store.query(
            "SELECT user_id, MIN(ts) AS exposed_at, COUNT(DISTINCT variant) AS k "
            "FROM exposures WHERE experiment = 'analyzer-test' AND ts < '2026-03-09' "
            "GROUP BY user_id"
        )
    end = result.end
    expected = first.filter(
        (pl.col("k") == 1) & (pl.col("exposed_at") + pl.duration(days=3) > end)
    ).height
    assert result.open_windows == {"buys_3d": expected} and expected > 0
    (note,) = open_window_notes(result)
    assert note.startswith(f"buys_3d: {expected:,} users' windows had not ended")
