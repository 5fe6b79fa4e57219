"""The simulator's truth: which metric each recorded rate is the truth of, and true lifts."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import polars as pl
import yaml

from abtest.simulate.traffic import TrafficSummary, VariantTruth
from abtest.simulate.truth import (
    TRUTH_COLUMNS,
    TRUTH_TABLE,
    read_truth,
    relative_lift,
    true_effects,
    truth_column,
    why_no_truth,
)
from abtest.spec import ExperimentSpec, parse_spec
from abtest.store import Store

SPEC = """
key: truth-exp
seed: truth
variants:
  - {name: control, weight: 0.5, encoder: base}
  - {name: treatment, weight: 0.5, encoder: better}
metrics:
  primary: [tap_through_rate]
  secondary: [purchase_conversion, purchases_per_user, revenue_per_user, taps, impressions]
metric_definitions:
  tap_through_rate: {kind: ratio, numerator: tap, denominator: impression}
  purchase_conversion: {kind: proportion, numerator: purchase}
  purchases_per_user: {kind: mean, numerator: purchase}
  revenue_per_user: {kind: mean, numerator: {event: purchase, aggregate: sum}}
  taps: {kind: mean, numerator: tap}
  impressions: {kind: mean, numerator: impression}
"""

CONTROL = {"tap_rate": 0.02, "taps_per_user": 2.0, "purchases_per_user": 0.5}
CONTROL |= {"revenue_per_user": 10.0, "purchase_conversion": 0.25}
TREATMENT = {k: v * 1.5 for k, v in CONTROL.items()}


def spec() -> ExperimentSpec:
    return parse_spec(yaml.safe_load(SPEC))


def test_every_truth_column_is_a_rate_the_simulator_records() -> None:
    recorded = {f.name for f in dataclasses.fields(VariantTruth)}
    assert set(TRUTH_COLUMNS) <= recorded
    s = spec()
    columns = {name: truth_column(s.metric(name)) for _, name in s.metrics.all()}
    assert columns == {
        "tap_through_rate": "tap_rate",
        "purchase_conversion": "purchase_conversion",
        "purchases_per_user": "purchases_per_user",
        "revenue_per_user": "revenue_per_user",
        "taps": "taps_per_user",
        "impressions": None,  # the simulator records no true impressions per user
    }


def test_true_effects_per_metric_and_treatment() -> None:
    truth = true_effects(spec(), {"control": CONTROL, "treatment": TREATMENT})
    assert truth is not None and truth.source == TRUTH_TABLE
    assert [e.metric for e in truth.effects] == [
        "tap_through_rate",
        "purchase_conversion",
        "purchases_per_user",
        "revenue_per_user",
        "taps",
    ]
    effect = truth.effect("tap_through_rate", "treatment")
    assert effect is not None
    assert (effect.control_value, effect.treatment_value) == (0.02, 0.02 * 1.5)
    assert effect.lift == 0.02 * 1.5 / 0.02 - 1
    assert truth.effect("impressions", "treatment") is None


def test_no_truth_without_the_control_or_a_known_metric() -> None:
    assert true_effects(spec(), {"treatment": TREATMENT}) is None
    assert true_effects(spec(), {}) is None
    unknown = {"control": {"other": 1.0}, "treatment": {"other": 2.0}}
    assert true_effects(spec(), unknown) is None


def test_the_traffic_summary_and_the_report_share_one_lift() -> None:
    assert relative_lift(0.02, 0.03) == 0.03 / 0.02 - 1
    assert math.isnan(relative_lift(0.0, 0.03))
    rows = [
        VariantTruth("control", "base", 10, **CONTROL),
        VariantTruth("treatment", "better", 10, **TREATMENT),
    ]
    summary = TrafficSummary(
        "truth-exp",
        None,
        None,
        0,
        20,
        {},
        0,
        0,
        0,
        tuple(rows),
        0.0,  # type: ignore[arg-type]
    )
    truth = true_effects(spec(), {r.variant: dataclasses.asdict(r) for r in rows})
    assert truth is not None
    for e in truth.effects:
        column = truth_column(spec().metric(e.metric))
        assert column is not None
        assert summary.true_lift(column, e.variant) == e.lift


def test_read_truth_says_why_there_is_none(tmp_path: Path) -> None:
    with Store(tmp_path / "t.duckdb") as store:
        assert read_truth(store, spec()) is None
        assert "no truth_experiments table" in why_no_truth(store, spec())
        rows = [{"experiment": "truth-exp", "variant": "control", **CONTROL}]
        rows.append({"experiment": "truth-exp", "variant": "treatment", **TREATMENT})
        store.con.register("rows_frame", pl.DataFrame(rows))
        store.con.execute(f"CREATE TABLE {TRUTH_TABLE} AS SELECT * FROM rows_frame")
        truth = read_truth(store, spec())
        assert truth is not None and len(truth.effects) == 5
        other = spec().model_copy(update={"key": "other-exp"})
        assert read_truth(store, other) is None
        assert "was not simulated" in why_no_truth(store, other)
