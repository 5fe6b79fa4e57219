"""Multiple testing across metrics and variants.

An experiment with 4 metrics and 3 treatments makes 12 comparisons; at alpha 0.05
each, the chance that at least one is a false positive approaches 46%. Two
corrections, computed by ``statsmodels.stats.multitest.multipletests``:

- ``"holm"`` (Holm-Bonferroni) controls the family-wise error rate: the chance
  of *any* false positive stays below alpha. Uniformly more powerful than
  Bonferroni, no assumption on how the tests depend on each other.
- ``"bh"`` (Benjamini-Hochberg) controls the false discovery rate: the expected
  share of false positives among the significant results. More powerful when
  many metrics move; valid for independent or positively dependent tests.
- ``"bonferroni"`` is offered as the simplest reference.

Confidence intervals consistent with the correction (``ci_alpha``):

- Holm and Bonferroni: intervals at ``alpha / m`` (Bonferroni intervals). They
  hold simultaneously with probability ``1 - alpha``. Holm's step-down has no
  informative simultaneous intervals of its own, so its intervals are the
  Bonferroni ones, slightly conservative next to its p-values.
- BH: false-coverage-rate intervals of Benjamini and Yekutieli (2005) at
  ``alpha * R / m``, with ``R`` the number of rejections (at least 1): among the
  selected comparisons, the expected share of intervals missing their true effect
  is at most alpha.

``m`` counts the testable comparisons; NaN p-values (a comparison whose
``message`` says it could not be tested) stay NaN and are left out of the family.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import get_args

import numpy as np
from statsmodels.stats.multitest import multipletests

from abtest.stats.errors import StatsInputError
from abtest.stats.inference import interval
from abtest.stats.names import Correction
from abtest.stats.results import Comparison, Effect, PValueAdjustment
from abtest.stats.sequential import DEFAULT_TUNING

Method = Correction
_STATSMODELS_METHOD = {"holm": "holm", "bh": "fdr_bh", "bonferroni": "bonferroni"}


def adjust_pvalues(
    p_values: Sequence[float], *, method: Method = "holm", alpha: float = 0.05
) -> PValueAdjustment:
    """Adjust a family of p-values; also give the per-interval alpha to match."""
    if method not in _STATSMODELS_METHOD:
        raise StatsInputError(f"method must be one of {get_args(Method)}, got {method!r}")
    if not 0.0 < alpha < 1.0:
        raise StatsInputError(f"alpha must be in (0, 1), got {alpha!r}")
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise StatsInputError("p_values must be a flat sequence")
    testable = ~np.isnan(p)
    if np.any((p[testable] < 0) | (p[testable] > 1)):
        raise StatsInputError(f"p-values must lie in [0, 1], got {p.tolist()}")
    m = int(testable.sum())
    adjusted = np.full(p.shape, np.nan)
    reject = np.zeros(p.shape, dtype=bool)
    if m:
        reject[testable], adjusted[testable], _, _ = multipletests(
            p[testable], alpha=alpha, method=_STATSMODELS_METHOD[method]
        )
    if method == "bh":
        ci_alpha = alpha * max(int(reject.sum()), 1) / max(m, 1)
    else:
        ci_alpha = alpha / max(m, 1)
    return PValueAdjustment(
        method=method,
        alpha=float(alpha),
        p_values=tuple(float(x) for x in p),
        adjusted_p_values=tuple(float(x) for x in adjusted),
        reject=tuple(bool(x) for x in reject),
        ci_alpha=float(ci_alpha),
    )


def _adjusted_effect(
    effect: Effect, comparison: Comparison, p_value: float, ci_alpha: float
) -> Effect:
    """``effect`` with its adjusted p-value and widened interval beside the raw ones."""
    level = 1.0 - ci_alpha
    if np.isnan(effect.p_value):
        nan = float("nan")
        return replace(
            effect,
            p_value_adjusted=nan,
            ci_low_adjusted=nan,
            ci_high_adjusted=nan,
            ci_level_adjusted=level,
        )
    low, high, _ = interval(
        effect.estimate,
        effect.se,
        effect.df,
        alpha=ci_alpha,
        test=comparison.test,
        n_total=comparison.control_n + comparison.treatment_n,
        sequential_tuning=comparison.sequential_tuning or DEFAULT_TUNING,
    )
    return replace(
        effect,
        p_value_adjusted=float(p_value),
        ci_low_adjusted=float(low),
        ci_high_adjusted=float(high),
        ci_level_adjusted=level,
    )


def adjust_comparisons(
    comparisons: Sequence[Comparison], *, method: Method = "holm", alpha: float | None = None
) -> tuple[Comparison, ...]:
    """Correct a family of comparisons (all metrics x all treatments) at once.

    Absolute effects and relative lifts are corrected as two separate families.
    Each returned effect keeps its raw p-value and nominal interval and gains the
    adjusted p-value and the interval recomputed at the matching ``ci_alpha``
    (``p_value_adjusted``, ``ci_low_adjusted``/``ci_high_adjusted`` at
    ``ci_level_adjusted``); each comparison gets ``correction = method``. An
    untestable effect (NaN p-value) gets NaN adjusted numbers at the family's
    level. ``alpha`` defaults to the comparisons' own, which must then agree.
    """
    if not comparisons:
        return ()
    if any(c.correction for c in comparisons):
        raise StatsInputError("these comparisons are already corrected for multiple testing")
    if alpha is None:
        alphas = {c.alpha for c in comparisons}
        if len(alphas) > 1:
            raise StatsInputError(f"comparisons use different alphas {sorted(alphas)}; pass alpha")
        alpha = alphas.pop()
    effects = {}
    for family in ("absolute", "relative"):
        family_effects = [getattr(c, family) for c in comparisons]
        adjustment = adjust_pvalues([e.p_value for e in family_effects], method=method, alpha=alpha)
        effects[family] = [
            _adjusted_effect(e, c, p, adjustment.ci_alpha)
            for e, c, p in zip(
                family_effects, comparisons, adjustment.adjusted_p_values, strict=True
            )
        ]
    return tuple(
        replace(c, absolute=a, relative=r, alpha=float(alpha), correction=method)
        for c, a, r in zip(comparisons, effects["absolute"], effects["relative"], strict=True)
    )
