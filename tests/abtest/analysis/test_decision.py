"""The decision: what it reads first (the split), which variant it names, and on what."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from abtest.analysis import AnalysisResult, MetricComparison, analyze, decision_text
from abtest.analysis.decision import decide
from abtest.simulate.traffic import TrafficConfig, simulate_traffic
from abtest.store import Store
from tests.abtest.analysis.builders import make_spec


def test_sample_ratio_mismatch_invalidates_the_decision(served: Path, tmp_path: Path) -> None:
    copy = tmp_path / "srm.duckdb"
    shutil.copy(served, copy)
    simulate_traffic(
        copy,
        make_spec(),
        TrafficConfig(pre_days=0, traffic=3, drop_exposures={"treatment": 0.4}),
    )
    with Store(copy, read_only=True) as store:
        result = analyze(store, make_spec(), daily=False)
    assert result.health.srm.flagged and result.decision.verdict == "invalid"
    assert "sample ratio mismatch" in decision_text(result)[0]


# --- the decision's fields ------------------------------------------------------------


def fake(
    base: MetricComparison,
    variant: str,
    verdict: str,
    *,
    metric: str = "tap_rate",
    group: str = "primary",
    lift: float = 0.1,
    breached: bool = False,
) -> MetricComparison:
    """A comparison with the fields the decision reads set by hand."""
    relative = dataclasses.replace(base.comparison.relative, estimate=lift)
    return dataclasses.replace(
        base,
        metric=metric,
        group=group,
        variant=variant,
        verdict=verdict,
        comparison=dataclasses.replace(base.comparison, relative=relative),
        guardrail_breached=breached,
    )


def test_the_decision_rests_on_the_primary_comparison_it_names(analysed: AnalysisResult) -> None:
    d, srm = analysed.decision, analysed.health.srm
    assert d.verdict == "winner" and d.variant == "treatment"
    assert d.metric == "tap_rate" and d.rests_on == ("tap_rate", "treatment")
    assert analysed.comparison(*d.rests_on).verdict == "better"
    assert d.breached_guardrails == () and (d.srm_p_value, d.srm_flagged) == (srm.p_value, False)


def test_the_largest_significant_lift_wins(analysed: AnalysisResult) -> None:
    base = analysed.comparison("tap_rate")
    comparisons = [
        fake(base, "a", "better", lift=0.05),
        fake(base, "b", "better", lift=0.2),
        fake(base, "c", "worse", lift=-0.3),
        fake(base, "b", "worse", metric="impressions", group="guardrail", breached=True),
    ]
    metrics, health = list(analysed.metrics), analysed.health
    d = decide(comparisons, metrics, health)
    assert (d.verdict, d.variant, d.rests_on) == ("guardrail_breached", "b", ("tap_rate", "b"))
    assert d.breached_guardrails == ("impressions",)
    d = decide(comparisons[:3], metrics, health)
    assert (d.verdict, d.variant, d.breached_guardrails) == ("winner", "b", ())
    d = decide(comparisons[2:3], metrics, health)
    assert (d.verdict, d.variant, d.rests_on) == ("loser", "c", ("tap_rate", "c"))
    d = decide([fake(base, "a", "inconclusive")], metrics, health)
    assert (d.verdict, d.variant, d.rests_on) == ("no_difference", None, None)
    flagged = dataclasses.replace(
        health, srm=dataclasses.replace(health.srm, flagged=True, p_value=1e-9)
    )
    d = decide(comparisons, metrics, flagged)
    assert (d.verdict, d.variant, d.rests_on, d.breached_guardrails) == ("invalid", None, None, ())
    assert (d.srm_p_value, d.srm_flagged) == (1e-9, True)
    fields = {f.name for f in dataclasses.fields(d)}
    assert not fields & {"headline", "reason"}  # numbers, not prose: words are decision_text's
