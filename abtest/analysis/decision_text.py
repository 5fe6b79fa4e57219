"""The decision in words: one headline and one reason, built from the result's fields.

The analyzer decides with numbers (:class:`~abtest.analysis.result.Decision`);
this is the one place that turns them into the sentences every output shows
(terminal, HTML, Markdown, JSON, notebook). A pure function of the result: the
decision's fields, the comparison it rests on, the split and the settings.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from abtest import format as fmt

if TYPE_CHECKING:  # types only: this module reads results, and nothing else
    from abtest.analysis.result import AnalysisResult, MetricComparison
    from abtest.stats import Effect


def decision_text(result: AnalysisResult) -> tuple[str, str]:
    """``(headline, reason)`` of the result's decision."""
    d = result.decision
    if d.verdict == "invalid":
        counts = ", ".join(f"{v} {n:,}" for v, n in result.health.users.items())
        return (
            "Do not trust these results: sample ratio mismatch",
            f"users per variant ({counts}) do not match the configured split "
            f"(p = {d.srm_p_value:.2g}); find the cause before reading any metric",
        )
    if result.bayesian is not None:
        return _bayesian_text(result)
    if d.rests_on is None:
        return (
            "No significant difference",
            f"no variant moved {d.metric} significantly at alpha = {result.alpha:g}",
        )
    c = result.comparison(*d.rests_on)
    lift = f"{d.metric} {_lift_text(c.comparison.relative)}"
    if d.verdict == "guardrail_breached":
        return (
            f"{d.variant} wins on {d.metric} but breaches a guardrail",
            f"{lift}; guardrail(s) {', '.join(d.breached_guardrails)} got "
            f"significantly worse (one-sided p < {result.alpha:g}, unadjusted)",
        )
    if d.verdict == "winner":
        return (
            f"{d.variant} wins on {d.metric}",
            f"{lift} vs {result.control} ({_decision_p(c)}); guardrails ok",
        )
    return f"{d.variant} is worse on {d.metric}", f"{lift} ({_decision_p(c)})"


def _bayesian_text(result: AnalysisResult) -> tuple[str, str]:
    """The decision in words when chance to win and risk decide."""
    d, settings = result.decision, result.bayesian
    assert settings is not None
    threshold = fmt.level(settings.chance_to_win)
    if d.rests_on is None:
        return (
            "No clear winner",
            f"no variant has a chance to win on {d.metric} above {threshold} "
            f"with a risk of at most {fmt.risk(settings.risk_threshold)}",
        )
    c = result.comparison(*d.rests_on)
    b = c.bayes
    assert b is not None
    lift = (
        f"{d.metric} {fmt.signed_pct(b.lift_mean)} {fmt.interval(b.ci_low, b.ci_high)} "
        f"({fmt.level(b.ci_level)} credible interval)"
    )
    odds = f"chance to win {fmt.chance(b.chance_to_win)}"
    if d.verdict == "guardrail_breached":
        return (
            f"{d.variant} wins on {d.metric} but breaches a guardrail",
            f"{lift}, {odds}; guardrail(s) {', '.join(d.breached_guardrails)} got worse "
            f"with a chance above {threshold}",
        )
    if d.verdict == "winner":
        return (
            f"{d.variant} wins on {d.metric}",
            f"{lift} vs {result.control}, {odds}, risk {fmt.risk(b.risk_treatment)}; guardrails ok",
        )
    return (
        f"{d.variant} is worse on {d.metric}",
        f"{lift}, {odds}, risk of keeping it {fmt.risk(b.risk_treatment)}",
    )


def _lift_text(effect: Effect) -> str:
    """A lift with the interval a decision rests on, naming its level."""
    if not math.isfinite(effect.estimate):
        return "a significant change"
    low, high, level = effect.ci_low, effect.ci_high, effect.ci_level
    if effect.adjusted and effect.ci_level_adjusted is not None:
        low, high = effect.ci_low_adjusted, effect.ci_high_adjusted
        level = effect.ci_level_adjusted
    return f"{effect.estimate:+.1%} [{low:+.1%}, {high:+.1%}] ({level * 100:.4g}% CI)"


def _decision_p(c: MetricComparison) -> str:
    """The p-value a decision compared with alpha, named for what it is."""
    if c.p_adjusted is None:
        return f"p {fmt.p_relation(c.p_value)}"
    return f"adjusted p {fmt.p_relation(c.p_adjusted)}"


def json_summary(result: AnalysisResult) -> dict[str, Any]:
    """The result as plain JSON values, with its decision in words beside its fields.

    :meth:`AnalysisResult.to_dict` carries numbers only; a reader of the CLI's JSON
    also gets the headline and reason every other output shows.
    """
    data = result.to_dict()
    headline, reason = decision_text(result)
    decision = data["decision"]
    data["decision"] = {
        "verdict": decision.pop("verdict"),
        "variant": decision.pop("variant"),
        "headline": headline,
        "reason": reason,
        **decision,
    }
    return data
