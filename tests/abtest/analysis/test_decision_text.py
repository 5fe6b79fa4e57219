"""The decision in words: one function of the result, the same sentences for every verdict
as the analyzer used to write (byte for byte), and the ones the analyzer now carries."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from abtest.analysis import AnalysisResult, Decision, analyze, decision_text
from abtest.store import Store
from tests.abtest.analysis.builders import make_spec


def decided(
    result: AnalysisResult,
    verdict: str,
    *,
    variant: str | None = "treatment",
    breached: tuple[str, ...] = (),
    srm_p: float = 0.5,
    adjusted: bool = False,
    estimate: float = 0.2,
    p: float = 4e-5,
) -> AnalysisResult:
    """``result`` with a decision and its primary comparison's lift set by hand."""
    c = result.comparison("tap_rate")
    low, high = sorted((estimate - 0.1, estimate + 0.1))
    relative = dataclasses.replace(
        c.comparison.relative, estimate=estimate, ci_low=low, ci_high=high, ci_level=0.95
    )
    if adjusted:
        relative = dataclasses.replace(
            relative,
            p_value_adjusted=0.0123,
            ci_low_adjusted=low - 0.05,
            ci_high_adjusted=high + 0.05,
            ci_level_adjusted=0.9875,
        )
    primary = dataclasses.replace(
        c,
        comparison=dataclasses.replace(c.comparison, relative=relative),
        p_value=p,
        p_adjusted=0.0123 if adjusted else None,
    )
    decision = Decision(
        verdict=verdict,  # type: ignore[arg-type]
        variant=variant,
        metric="tap_rate",
        rests_on=None if variant is None else ("tap_rate", variant),
        breached_guardrails=breached,
        srm_p_value=srm_p,
        srm_flagged=verdict == "invalid",
    )
    others = tuple(x for x in result.comparisons if x.metric != "tap_rate")
    health = dataclasses.replace(result.health, users={"control": 1234, "treatment": 1000})
    return dataclasses.replace(
        result,
        comparisons=(primary, *others),
        decision=decision,
        health=health,
        alpha=0.05,
    )


def test_each_verdict_reads_as_it_always_did(analysed: AnalysisResult) -> None:
    assert decision_text(decided(analysed, "winner")) == (
        "treatment wins on tap_rate",
        "tap_rate +20.0% [+10.0%, +30.0%] (95% CI) vs control (p < 0.0001); guardrails ok",
    )
    assert decision_text(decided(analysed, "winner", adjusted=True)) == (
        "treatment wins on tap_rate",
        "tap_rate +20.0% [+5.0%, +35.0%] (98.75% CI) vs control (adjusted p = 0.012); "
        "guardrails ok",
    )
    assert decision_text(
        decided(analysed, "guardrail_breached", breached=("impressions", "revenue"))
    ) == (
        "treatment wins on tap_rate but breaches a guardrail",
        "tap_rate +20.0% [+10.0%, +30.0%] (95% CI); guardrail(s) impressions, revenue got "
        "significantly worse (one-sided p < 0.05, unadjusted)",
    )
    assert decision_text(decided(analysed, "loser", estimate=-0.2, p=0.00213)) == (
        "treatment is worse on tap_rate",
        "tap_rate -20.0% [-30.0%, -10.0%] (95% CI) (p = 0.0021)",
    )
    assert decision_text(decided(analysed, "winner", estimate=math.nan, p=0.03)) == (
        "treatment wins on tap_rate",
        "tap_rate a significant change vs control (p = 0.03); guardrails ok",
    )
    assert decision_text(decided(analysed, "no_difference", variant=None)) == (
        "No significant difference",
        "no variant moved tap_rate significantly at alpha = 0.05",
    )
    assert decision_text(decided(analysed, "invalid", variant=None, srm_p=1.234e-5)) == (
        "Do not trust these results: sample ratio mismatch",
        "users per variant (control 1,234, treatment 1,000) do not match the configured split "
        "(p = 1.2e-05); find the cause before reading any metric",
    )


def test_the_words_follow_the_analyzers_fields(analysed: AnalysisResult, harmed: Path) -> None:
    with Store(harmed, read_only=True) as store:
        breached = analyze(store, make_spec(correction="holm"), daily=False, segments=())
    assert breached.decision.breached_guardrails == ("impressions",)
    headline, reason = decision_text(breached)
    assert headline == "treatment wins on tap_rate but breaches a guardrail"
    assert "guardrail(s) impressions got significantly worse" in reason
    # the same result with another verdict reads differently: words come from fields only
    invalid = dataclasses.replace(
        analysed, decision=dataclasses.replace(analysed.decision, verdict="invalid")
    )
    assert decision_text(invalid)[0] == "Do not trust these results: sample ratio mismatch"
