"""The orchestrating ``analyze``: its results equal the stats engine on moments computed
independently from the raw tables, whatever the window, CUPED or late exposures."""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from abtest.analysis import analyze, variant_stats
from abtest.spec import parse_spec
from abtest.stats import compare
from abtest.store import Store
from tests.abtest.analysis.builders import SPEC, make_spec, reference_stats, reference_values


@pytest.mark.parametrize("cuped_days", [0, 3])
def test_results_equal_the_engine_on_independently_computed_moments(
    db: Path, cuped_days: int
) -> None:
    spec = make_spec(cuped_pre_period_days=cuped_days)
    with Store(db, read_only=True) as store:
        result = analyze(store, spec)
    values = reference_values(db, cuped_days=cuped_days)
    control = reference_stats(values, "control", cuped_days > 0)
    treatment = reference_stats(values, "treatment", cuped_days > 0)
    for name in SPEC["metric_definitions"]:
        expected = compare(control[name], treatment[name], alpha=0.05)
        got = result.comparison(name).comparison
        assert got.control_n == expected.control_n and got.treatment_n == expected.treatment_n
        for field in ("absolute", "relative"):
            e, g = getattr(expected, field), getattr(got, field)
            for attr in ("estimate", "se", "ci_low", "ci_high", "p_value"):
                assert getattr(g, attr) == pytest.approx(getattr(e, attr), rel=1e-9, abs=1e-12), (
                    name,
                    field,
                    attr,
                )
    assert result.health.mixed_users == 1
    assert "more than one variant" in result.health.warnings[0]


def test_a_metric_can_opt_out_of_cuped(db: Path) -> None:
    data = json.loads(json.dumps(SPEC))
    data["analysis"]["cuped_pre_period_days"] = 3
    data["metric_definitions"]["revenue"]["cuped"] = False
    with Store(db, read_only=True) as store:
        result = analyze(store, parse_spec(data))
    values = reference_values(db, cuped_days=3)
    for name, cuped in (("revenue", False), ("taps", True), ("tap_rate", True)):
        control = reference_stats(values, "control", cuped)[name]
        treatment = reference_stats(values, "treatment", cuped)[name]
        expected = compare(control, treatment).relative
        got = result.comparison(name).comparison.relative
        assert got.estimate == pytest.approx(expected.estimate, rel=1e-9), name
        assert got.ci_low == pytest.approx(expected.ci_low, rel=1e-9), name
    assert result.metric("revenue").metric_type == "mean"
    assert result.cuped_text == "CUPED on 3 pre-period days (tap_rate, buyers, taps, impressions)"
    last = max((d for d in result.daily if d.metric == "revenue"), key=lambda d: d.day)
    assert last.lift == pytest.approx(result.comparison("revenue").comparison.relative.estimate)


def test_events_before_the_first_exposure_are_not_counted(db: Path, tmp_path: Path) -> None:
    """Users with events in the window before their exposure are recounted from it."""
    with Store(db, read_only=True) as store:
        late = store.fetch_one("SELECT count(*) FROM events WHERE event_id LIKE 'late-%'")
        with_late = analyze(store, make_spec(cuped_pre_period_days=3), daily=False, segments=())
    assert late == (15,)
    copy = tmp_path / "without-late.duckdb"
    shutil.copy(db, copy)
    with Store(copy) as store:
        store.con.execute("DELETE FROM events WHERE event_id LIKE 'late-%'")
        without = analyze(store, make_spec(cuped_pre_period_days=3), daily=False, segments=())
    for got, expected in zip(with_late.comparisons, without.comparisons, strict=True):
        assert got.comparison.control_n == expected.comparison.control_n
        for attr in ("estimate", "ci_low", "ci_high"):
            assert getattr(got.comparison.relative, attr) == pytest.approx(
                getattr(expected.comparison.relative, attr), rel=1e-12
            ), got.metric


def test_percentile_cap_is_pooled_percentile_cont(db: Path) -> None:
    with Store(db, read_only=True) as store:
        result = analyze(store, make_spec(), daily=False, segments=[])
    values = reference_values(db)
    assert result.metric("revenue").cap == pytest.approx(
        np.percentile(values["revenue"].to_numpy(), 90)
    )
    assert result.metric("impressions").cap == 40


def test_as_of_cuts_exposures_and_events_at_the_end_of_the_day(db: Path) -> None:
    as_of = dt.date(2026, 3, 4)
    with Store(db, read_only=True) as store:
        result = analyze(store, make_spec(), as_of=as_of)
    cut = dt.datetime(2026, 3, 5)
    values = reference_values(db, end=cut)
    control = reference_stats(values, "control", False)
    treatment = reference_stats(values, "treatment", False)
    expected = compare(control["taps"], treatment["taps"])
    got = result.comparison("taps").comparison
    assert result.end == cut and got.control_n == expected.control_n
    assert got.relative.estimate == pytest.approx(expected.relative.estimate, rel=1e-12)
    assert max(d.day for d in result.daily) == as_of


def test_variant_stats_are_the_inputs_of_power(db: Path) -> None:
    with Store(db, read_only=True) as store:
        stats = variant_stats(store, make_spec())
    values = reference_values(db)
    assert stats["taps"]["control"] == reference_stats(values, "control", False)["taps"]


def test_true_lift_is_inside_the_interval(db: Path) -> None:
    """One deterministic run: the CI of the tap-rate lift covers the simulator's truth."""
    with Store(db, read_only=True) as store:
        truth = store.query("SELECT * FROM truth_experiments WHERE experiment = 'analyzer-test'")
        result = analyze(store, make_spec())
    rates = dict(zip(truth["variant"], truth["tap_rate"], strict=True))
    true_lift = rates["treatment"] / rates["control"] - 1
    rel = result.comparison("tap_rate").comparison.relative
    assert rel.ci_low <= true_lift <= rel.ci_high
    assert not math.isnan(rel.estimate)
