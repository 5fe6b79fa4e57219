"""The names the engine accepts: metric types, tests and corrections, as ``Literal`` types.

A leaf module (it imports nothing from the engine) so that the results, the
registry of metric kinds and the inference code can all name the same choices
without importing one another.
"""

from __future__ import annotations

from typing import Literal, get_args

MetricType = Literal["mean", "proportion", "ratio", "cuped_mean", "cuped_ratio"]
"""What a metric's moments describe (see :mod:`abtest.stats.kinds`)."""
METRIC_TYPES: tuple[MetricType, ...] = get_args(MetricType)

Test = Literal["welch", "z", "sequential"]
"""The reference distribution of intervals and p-values (see :func:`abtest.stats.compare`)."""
TESTS: tuple[Test, ...] = get_args(Test)

Side = Literal["greater", "less"]
"""The alternative of a one-sided test: the effect is above 0, or below it."""

Correction = Literal["holm", "bh", "bonferroni"]
"""A multiple-testing correction (see :mod:`abtest.stats.multiple`)."""

Engine = Literal["frequentist", "bayesian"]
"""Which read-out decides: p-values and confidence intervals, or chance to win and risk
(:mod:`abtest.stats.bayesian`)."""

Verdict = Literal["better", "worse", "inconclusive", "undefined"]
"""How one comparison reads: better or worse (by the metric's direction), not decided, or
not testable (see :func:`abtest.stats.bayesian.bayesian_verdict`)."""
