"""The decision: one answer for the analyst, as fields.

Read in this order: a sample ratio mismatch invalidates everything; else the
variant with the largest significant improvement of the (first) primary metric
wins, unless it breached a guardrail; else a variant significantly worse on the
primary metric loses; else there is no difference. The sentences an analyst
reads are built from the :class:`~abtest.analysis.result.Decision` by
:func:`abtest.analysis.decision_text.decision_text`, never here.
"""

from __future__ import annotations

import math

from abtest.analysis.result import (
    Decision,
    DecisionVerdict,
    Health,
    MetricComparison,
    MetricInfo,
)


def decide(
    comparisons: list[MetricComparison], metrics: list[MetricInfo], health: Health
) -> Decision:
    """The verdict, the variant it names and what it rests on (text left empty)."""
    primary = next(m.name for m in metrics if m.group == "primary")
    if health.srm.flagged:
        return _decision(health, primary, "invalid", None, [])
    on_primary = [c for c in comparisons if c.metric == primary]
    winners = [c for c in on_primary if c.verdict == "better"]
    losers = [c for c in on_primary if c.verdict == "worse"]
    if winners:
        best = max(winners, key=_relative_lift)
        breached = _breached(comparisons, best.variant)
        verdict: DecisionVerdict = "guardrail_breached" if breached else "winner"
        return _decision(health, primary, verdict, best.variant, breached)
    if losers:
        worst = losers[0]
        return _decision(
            health, primary, "loser", worst.variant, _breached(comparisons, worst.variant)
        )
    return _decision(health, primary, "no_difference", None, [])


def _relative_lift(c: MetricComparison) -> float:
    """The relative lift a winner is chosen by (an undefined lift ranks last)."""
    estimate = c.comparison.relative.estimate
    return estimate if math.isfinite(estimate) else -math.inf


def _breached(comparisons: list[MetricComparison], variant: str) -> list[str]:
    """The guardrail metrics ``variant`` breached, in the comparisons' order."""
    return [c.metric for c in comparisons if c.guardrail_breached and c.variant == variant]


def _decision(
    health: Health,
    primary: str,
    verdict: DecisionVerdict,
    variant: str | None,
    breached: list[str],
) -> Decision:
    """The decision's fields; its words are left to ``decision_text``."""
    return Decision(
        verdict=verdict,
        variant=variant,
        metric=primary,
        rests_on=None if variant is None else (primary, variant),
        breached_guardrails=tuple(breached),
        srm_p_value=health.srm.p_value,
        srm_flagged=health.srm.flagged,
    )
