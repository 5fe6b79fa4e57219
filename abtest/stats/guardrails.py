"""Guardrails: did a treatment make a metric worse?

A guardrail is a safety check, not a goal: the question is one-sided ("did it
get worse?") and asked of every guardrail on its own, so, as GrowthBook and
Eppo treat guardrails, the test is

- **one-sided in the bad direction**: a drop for a higher-is-better metric, a
  rise for a lower-is-better one; a move the good way never breaches;
- **unadjusted**: no multiple-testing correction, because a correction makes a
  real harm *harder* to flag, the opposite of what a safety check wants;
- at the experiment's ``alpha`` and with its test (Welch t, z, or the one-sided
  confidence sequence when the experiment is sequential, so that looking every
  day stays valid).

The p-value is that of the relative lift when it is defined (the number the
reports show), else of the absolute effect. A guardrail is breached when
``p_worse < alpha``.
"""

from __future__ import annotations

import math

from abtest.stats.inference import one_sided_p_value
from abtest.stats.results import Comparison
from abtest.stats.sequential import DEFAULT_TUNING


def p_worse(comparison: Comparison, *, higher_is_better: bool = True) -> float:
    """One-sided, unadjusted p-value that the treatment moved the metric the bad way.

    NaN when the comparison could not be tested (its ``message`` says why).
    """
    effect = comparison.relative
    if not math.isfinite(effect.p_value):
        effect = comparison.absolute
    if not math.isfinite(effect.p_value):
        return math.nan
    return float(
        one_sided_p_value(
            effect.estimate,
            effect.se,
            effect.df,
            side="less" if higher_is_better else "greater",
            test=comparison.test,
            n_total=comparison.control_n + comparison.treatment_n,
            alpha=comparison.alpha,
            sequential_tuning=comparison.sequential_tuning or DEFAULT_TUNING,
        )
    )


def guardrail_breached(comparison: Comparison, *, higher_is_better: bool = True) -> bool:
    """Whether the metric got significantly worse: ``p_worse < alpha`` (one-sided, unadjusted)."""
    p = p_worse(comparison, higher_is_better=higher_is_better)
    return math.isfinite(p) and p < comparison.alpha
