"""Every treatment against the control: raw and adjusted p-values side by side, messages
for untestable comparisons, guardrails judged one-sided and unadjusted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from statsmodels.stats.multitest import multipletests

from abtest.analysis import analyze, decision_text
from abtest.spec import parse_spec
from abtest.store import Store
from tests.abtest.analysis.builders import SPEC, make_spec


def test_a_variant_without_users_gives_messages_not_crashes(db: Path) -> None:
    data = json.loads(json.dumps(SPEC))
    data["variants"].append({"name": "ghost", "weight": 0.0, "encoder": "base"})
    data["variants"][0]["weight"] = 0.5
    spec = parse_spec(data)
    with Store(db, read_only=True) as store:
        result = analyze(store, spec)
    ghost = result.comparison("taps", "ghost")
    assert ghost.verdict == "undefined" and "no users" in (ghost.comparison.message or "")
    assert any("ghost" in w for w in result.health.warnings)


def test_p_is_the_raw_p_value_and_adjusted_p_the_holm_one(db: Path) -> None:
    """The "p" of every row is the raw p-value of its comparison; "adjusted p" is Holm's
    adjustment of the whole family; the nominal 95% interval survives beside the widened
    one. (They used to be overwritten, so both columns showed the adjusted number.)"""
    with Store(db, read_only=True) as store:
        raw = analyze(store, make_spec(correction="none"), daily=False)
        holm = analyze(store, make_spec(correction="holm"), daily=False)
    raw_p = [c.p_value for c in raw.comparisons]
    expected = multipletests(raw_p, method="holm")[1]
    m = len(raw_p)
    for r, h, adjusted in zip(raw.comparisons, holm.comparisons, expected, strict=True):
        assert r.p_adjusted is None and not r.comparison.relative.adjusted
        assert h.p_value == pytest.approx(r.p_value, rel=1e-12)
        assert h.p_adjusted == pytest.approx(adjusted, rel=1e-12)
        rel_r, rel_h = r.comparison.relative, h.comparison.relative
        assert rel_h.ci == pytest.approx(rel_r.ci, rel=1e-12) and rel_h.ci_level == 0.95
        assert rel_h.ci_level_adjusted == pytest.approx(1 - 0.05 / m)
        low, high = rel_h.ci_adjusted
        assert low < rel_r.ci_low and high > rel_r.ci_high
        assert h.significant == (adjusted < 0.05)
    assert any(h.p_adjusted > h.p_value * 1.5 for h in holm.comparisons)

    frame = holm.to_frame()
    assert frame["p_value"].to_list() == pytest.approx(raw_p, rel=1e-12)
    assert frame["p_adjusted"].to_list() == pytest.approx(list(expected), rel=1e-12)
    assert set(frame["ci_level"]) == {0.95}
    data = json.loads(holm.to_json())
    first = data["comparisons"][0]
    assert first["p_value"] != first["p_adjusted"]
    assert first["comparison"]["relative"]["p_value"] == pytest.approx(raw_p[0], rel=1e-12)
    assert first["comparison"]["relative"]["p_value_adjusted"] == pytest.approx(expected[0])


def test_an_injected_harm_breaches_the_guardrail(harmed: Path) -> None:
    """Fewer impressions per user: the one-sided, unadjusted test flags it, although the
    Holm-adjusted two-sided p (which the guardrail used to be judged by) is above alpha."""
    with Store(harmed, read_only=True) as store:
        result = analyze(store, make_spec(correction="holm"), daily=False)
    guard = result.comparison("impressions")
    rel = guard.comparison.relative
    assert rel.estimate < 0
    assert guard.p_worse == pytest.approx(guard.p_value / 2, rel=1e-9)
    assert guard.p_worse < 0.05 < guard.p_adjusted
    assert guard.guardrail_breached
    assert result.decision.verdict == "guardrail_breached"
    assert "impressions got significantly worse" in decision_text(result)[1]
    console = Console(width=220, record=True)
    console.print(result)
    text = console.export_text()
    assert "BREACHED" in next(line for line in text.splitlines() if "│ impressions" in line)


def test_a_guardrail_moving_the_good_way_never_breaches(harmed: Path) -> None:
    data = json.loads(json.dumps(SPEC))
    data["metric_definitions"]["impressions"]["direction"] = "lower_is_better"
    with Store(harmed, read_only=True) as store:
        result = analyze(store, parse_spec(data), daily=False)
    guard = result.comparison("impressions")
    assert guard.p_worse > 0.95 and not guard.guardrail_breached
    assert result.decision.verdict != "guardrail_breached"


def test_without_harm_the_guardrails_hold(db: Path) -> None:
    with Store(db, read_only=True) as store:
        result = analyze(store, make_spec(correction="holm"), daily=False)
    guard = result.comparison("impressions")
    assert guard.p_worse is not None and guard.p_worse > 0.05 and not guard.guardrail_breached
    assert all(c.p_worse is None for c in result.comparisons if c.group != "guardrail")
