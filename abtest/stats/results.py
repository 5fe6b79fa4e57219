"""What the stats engine returns: small frozen dataclasses of plain floats.

Results never carry a silent NaN: a field is NaN only when ``message`` says why
(no users, a single user, zero variance, a zero or negative control mean...).
``dataclasses.asdict`` turns any of them into a JSON-ready dict (NaN aside).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from abtest.stats.names import Correction, MetricType, Test


@dataclass(frozen=True)
class Effect:
    """One estimated difference between treatment and control, with its uncertainty.

    ``estimate`` is treatment minus control (absolute) or that difference over the
    control mean (relative lift, 0.05 = +5%). ``p_value`` is the raw two-sided
    p-value and ``ci_low``/``ci_high`` bound the two-sided interval at the nominal
    ``ci_level`` (``1 - alpha``); ``df`` is the Welch-Satterthwaite degrees of
    freedom (``inf`` for the z and sequential tests).

    After a multiple-testing correction (:func:`abtest.stats.adjust_comparisons`)
    the raw numbers stay as they are and the ``*_adjusted`` fields are filled, as
    tea-tasting keeps ``pvalue`` beside ``pvalue_adj``: the adjusted p-value, to
    compare with alpha, and the interval widened to match the correction, at
    ``ci_level_adjusted`` (e.g. 0.9875 for Holm over four comparisons at alpha
    0.05). They are ``None`` when no correction was applied.
    """

    estimate: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    p_value: float
    ci_level: float
    message: str | None = None
    p_value_adjusted: float | None = None
    ci_low_adjusted: float | None = None
    ci_high_adjusted: float | None = None
    ci_level_adjusted: float | None = None

    @property
    def ci(self) -> tuple[float, float]:
        """The interval at the nominal level as a ``(low, high)`` pair."""
        return (self.ci_low, self.ci_high)

    @property
    def adjusted(self) -> bool:
        """Whether a multiple-testing correction filled the ``*_adjusted`` fields."""
        return self.ci_level_adjusted is not None

    @property
    def ci_adjusted(self) -> tuple[float, float] | None:
        """The interval widened for the correction, or ``None`` without one."""
        if self.ci_low_adjusted is None or self.ci_high_adjusted is None:
            return None
        return (self.ci_low_adjusted, self.ci_high_adjusted)

    @classmethod
    def undefined(cls, message: str, *, ci_level: float, estimate: float = math.nan) -> Effect:
        """An effect that cannot be estimated (or tested), and why."""
        nan = math.nan
        return cls(estimate, nan, nan, nan, nan, nan, ci_level, message)


@dataclass(frozen=True)
class Comparison:
    """Treatment versus control on one metric.

    ``metric_type`` is ``"mean"``, ``"proportion"``, ``"ratio"``, ``"cuped_mean"`` or
    ``"cuped_ratio"``; ``test`` is ``"welch"``, ``"z"`` or ``"sequential"``.
    ``control_mean``/``treatment_mean`` are unadjusted; with CUPED the effects use
    the adjusted means and ``theta`` is the shared adjustment coefficient.
    ``correction`` names the multiple-testing adjustment applied, if any (the
    effects then carry both their raw and their adjusted p-values and intervals).
    ``message`` gathers every note on the comparison, ``None`` when all is well.
    """

    metric_type: MetricType
    test: Test
    alpha: float
    control_n: int
    treatment_n: int
    control_mean: float
    treatment_mean: float
    absolute: Effect
    relative: Effect
    theta: float | None = None
    sequential_tuning: float | None = None
    correction: Correction | None = None
    message: str | None = None


@dataclass(frozen=True)
class SrmResult:
    """Sample ratio mismatch check: do observed users match the configured split?

    ``flagged`` is true when ``p_value < threshold`` (0.001 by default): the
    assignment or logging is likely broken and the experiment's results should not
    be trusted until the cause is found.
    """

    counts: tuple[int, ...]
    weights: tuple[float, ...]
    expected: tuple[float, ...]
    chi2: float
    df: int
    p_value: float
    threshold: float
    flagged: bool
    message: str | None = None


@dataclass(frozen=True)
class PValueAdjustment:
    """Multiple-testing correction of a family of p-values.

    ``adjusted_p_values`` compare directly with ``alpha``; ``reject`` says which
    hypotheses are rejected; ``ci_alpha`` is the per-interval alpha that makes
    confidence intervals consistent with the procedure (see
    :mod:`abtest.stats.multiple`). NaN p-values (untestable comparisons) stay NaN
    and do not count in the family.
    """

    method: Correction
    alpha: float
    p_values: tuple[float, ...]
    adjusted_p_values: tuple[float, ...]
    reject: tuple[bool, ...]
    ci_alpha: float


@dataclass(frozen=True)
class PowerResult:
    """A planning calculation: power, minimum detectable effect or sample size.

    All three functions return the full design, so each answer can be checked with
    the others. ``baseline_sd`` is the per-user standard deviation of the metric
    (delta-method for ratios, CUPED-adjusted for CUPED inputs); effects are two-sided
    and ``relative_effect = absolute_effect / baseline_mean``.
    """

    metric_type: MetricType
    baseline_mean: float
    baseline_sd: float
    relative_effect: float
    absolute_effect: float
    n_control: int
    n_treatment: int
    alpha: float
    power: float
    message: str | None = None
