"""looklift's statistics engine: sufficient statistics in, frozen results out.

Pure numbers (numpy, scipy, statsmodels): no SQL, no I/O, no DataFrames. The
analyzer runs a ``GROUP BY variant`` that returns a few sums per variant, reads
them into :class:`MomentArrays` with the variables each metric type names
(:data:`KINDS`), and calls:

- :func:`compare_moments` for one metric, treatment versus control: absolute
  effect and relative lift with intervals and p-values (Welch t, z, or
  always-valid sequential), for means, proportions, ratios (delta method) and
  CUPED; :func:`compare` is the same on the validated dataclasses below, for
  people typing numbers;
- :func:`srm_test` for the health of the traffic split;
- :func:`adjust_comparisons` / :func:`adjust_pvalues` across metrics and variants;
- :func:`p_worse` / :func:`guardrail_breached`: the one-sided, unadjusted check
  that a guardrail metric did not get worse;
- :func:`power`, :func:`mde`, :func:`sample_size` to plan the next experiment.

Invalid inputs raise :class:`StatsInputError`; degenerate data give results with
a ``message``. :func:`compare_arrays` with :class:`MomentArrays` is the vectorised
form of :func:`compare` for many segments, days or simulations at once.

Example::

    from abtest.stats import ProportionStats, compare
    result = compare(ProportionStats(10_000, 420), ProportionStats(10_000, 480))
    result.relative.estimate, result.relative.ci, result.relative.p_value
"""

from abtest.stats.bayesian import (
    DEFAULT_CHANCE_TO_WIN,
    DEFAULT_LOSE_RISK_THRESHOLD,
    DEFAULT_WIN_RISK_THRESHOLD,
    BayesianEffect,
    GaussianPrior,
    bayesian_effect,
    bayesian_verdict,
    compare_bayesian,
    compare_quantiles_bayesian,
    posterior_effect,
)
from abtest.stats.compare import compare, compare_arrays, compare_moments
from abtest.stats.errors import StatsInputError
from abtest.stats.guardrails import guardrail_breached, p_worse
from abtest.stats.inference import ContrastArrays, EffectArrays
from abtest.stats.kinds import KINDS, MetricKind, Stats, metric_kind, metric_type_of
from abtest.stats.moments import (
    CupedMeanStats,
    CupedRatioStats,
    MeanStats,
    MomentArrays,
    ProportionStats,
    RatioStats,
)
from abtest.stats.multiple import adjust_comparisons, adjust_pvalues
from abtest.stats.names import Correction, Engine, MetricType, Test, Verdict
from abtest.stats.power import mde, power, sample_size
from abtest.stats.quantile import (
    N_STAR_VALUES,
    QuantileStats,
    compare_quantiles,
    quantile_estimate,
    quantile_levels,
)
from abtest.stats.results import Comparison, Effect, PowerResult, PValueAdjustment, SrmResult
from abtest.stats.sequential import DEFAULT_TUNING
from abtest.stats.srm import srm_test

__all__ = [
    "DEFAULT_CHANCE_TO_WIN",
    "DEFAULT_LOSE_RISK_THRESHOLD",
    "DEFAULT_TUNING",
    "DEFAULT_WIN_RISK_THRESHOLD",
    "KINDS",
    "N_STAR_VALUES",
    "BayesianEffect",
    "Comparison",
    "ContrastArrays",
    "Correction",
    "CupedMeanStats",
    "CupedRatioStats",
    "Effect",
    "EffectArrays",
    "Engine",
    "GaussianPrior",
    "MeanStats",
    "MetricKind",
    "MetricType",
    "MomentArrays",
    "PValueAdjustment",
    "PowerResult",
    "ProportionStats",
    "QuantileStats",
    "RatioStats",
    "SrmResult",
    "Stats",
    "StatsInputError",
    "Test",
    "Verdict",
    "adjust_comparisons",
    "adjust_pvalues",
    "bayesian_effect",
    "bayesian_verdict",
    "compare",
    "compare_arrays",
    "compare_bayesian",
    "compare_moments",
    "compare_quantiles",
    "compare_quantiles_bayesian",
    "guardrail_breached",
    "mde",
    "metric_kind",
    "metric_type_of",
    "p_worse",
    "posterior_effect",
    "power",
    "quantile_estimate",
    "quantile_levels",
    "sample_size",
    "srm_test",
]
