"""Planning: power, minimum detectable effect (MDE) and sample size.

Before an experiment, the analyst asks: with the users we can get, what lift can
we detect (MDE)? How many users for a +2% lift (sample size)? How likely are we to
see a given lift (power)? All three answer the same equation for a two-sided test
of ``treatment - control = 0`` at level alpha, in the normal approximation::

    power = Phi(|delta| / se - z) + Phi(-|delta| / se - z),   z = Phi^-1(1 - alpha/2)
    se    = sqrt(sd_c^2 / n_c + sd_t^2 / n_t)

computed by statsmodels' ``normal_power_het``. For means and ratios the treatment
keeps the baseline's per-user sd, so this is exactly statsmodels'
``NormalIndPower`` with ``effect_size = delta / sd``. For proportions the
treatment's sd is ``sqrt(p_t (1 - p_t))`` at the alternative ``p_t``, both under
the null and the alternative, because the test we run (Welch or z on unpooled
Bernoulli variances) uses unpooled variances; statsmodels'
``power_proportions_2indep`` instead uses the pooled variance under the null (the
score test) and differs slightly.

The baseline is pre-experiment data in any of the moments dataclasses: its mean
and per-user sd (delta method for ratios; CUPED-adjusted sd, ``sd * sqrt(1 -
rho^2)``, for CUPED inputs) set the scale. Effects are relative to the baseline
mean. The calculation is for a fixed-horizon test: sequential intervals are wider
and need more users for the same power.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from statsmodels.stats.power import normal_power_het

from abtest.stats.compare import Stats, estimate_groups, metric_type_of
from abtest.stats.errors import StatsInputError
from abtest.stats.names import MetricType
from abtest.stats.results import PowerResult


def _baseline(baseline: Stats) -> tuple[MetricType, float, float]:
    """Metric type, mean and per-user sd of the baseline data."""
    metric_type = metric_type_of(baseline)
    if baseline.n < 2:
        raise StatsInputError("the baseline needs at least 2 users to estimate a variance")
    m = baseline.as_arrays()
    with np.errstate(all="ignore"):
        # the baseline against itself: for CUPED, the pooled theta is its own regression slope
        estimate = estimate_groups(metric_type, m, m)[0]
    mean, sd = float(estimate.raw_mean), math.sqrt(float(estimate.var))
    if not (math.isfinite(mean) and mean != 0):
        raise StatsInputError(f"the baseline mean is {mean}: effects relative to it are undefined")
    if not (math.isfinite(sd) and sd > 0):
        raise StatsInputError("the baseline has zero variance: power is undefined")
    return metric_type, mean, sd


def _check(alpha: float, power: float | None = None) -> None:
    if not 0.0 < alpha < 1.0:
        raise StatsInputError(f"alpha must be in (0, 1), got {alpha!r}")
    if power is not None and not alpha < power < 1.0:
        raise StatsInputError(f"power must be in (alpha, 1), got {power!r}")


def _sizes(n_control: int, n_treatment: int | None) -> tuple[int, int]:
    n_t = n_control if n_treatment is None else n_treatment
    for name, value in (("n_control", n_control), ("n_treatment", n_t)):
        try:
            valid = float(value) == int(value) and int(value) >= 2
        except (TypeError, ValueError, OverflowError):
            valid = False
        if not valid:
            raise StatsInputError(f"{name} must be an integer >= 2, got {value!r}")
    return int(n_control), int(n_t)


def _treatment_sd(metric_type: MetricType, mean: float, sd: float, delta: float) -> float:
    if metric_type != "proportion":
        return sd
    p = mean + delta
    if not 0.0 <= p <= 1.0:
        raise StatsInputError(f"the effect moves the conversion rate to {p:.6g}, outside [0, 1]")
    return math.sqrt(p * (1.0 - p))


def _power_at(
    metric_type: MetricType,
    mean: float,
    sd: float,
    delta: float,
    n_c: float,
    n_t: float,
    alpha: float,
) -> float:
    sd_t = _treatment_sd(metric_type, mean, sd, delta)
    std = math.sqrt(sd * sd + sd_t * sd_t * n_c / n_t)  # se * sqrt(n_c)
    return float(normal_power_het(abs(delta), n_c, alpha, std_null=std, std_alternative=std))


def power(
    baseline: Stats,
    *,
    relative_effect: float,
    n_control: int,
    n_treatment: int | None = None,
    alpha: float = 0.05,
) -> PowerResult:
    """Probability of a significant result if the true lift is ``relative_effect``.

    ``n_treatment`` defaults to ``n_control`` (one treatment, even split).
    """
    _check(alpha)
    if not math.isfinite(relative_effect):
        raise StatsInputError(f"relative_effect must be a finite number, got {relative_effect!r}")
    metric_type, mean, sd = _baseline(baseline)
    n_c, n_t = _sizes(n_control, n_treatment)
    delta = relative_effect * mean
    value = _power_at(metric_type, mean, sd, delta, n_c, n_t, alpha)
    return PowerResult(metric_type, mean, sd, relative_effect, delta, n_c, n_t, alpha, value)


def mde(
    baseline: Stats,
    *,
    n_control: int,
    n_treatment: int | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
) -> PowerResult:
    """Smallest positive relative lift detected with probability ``power``.

    For means and ratios the answer is the same for a drop; for proportions it is
    the upward lift (a rise to ``p (1 + lift)``), whose variance differs.
    """
    _check(alpha, power)
    metric_type, mean, sd = _baseline(baseline)
    n_c, n_t = _sizes(n_control, n_treatment)

    def gap(lift: float) -> float:
        return _power_at(metric_type, mean, sd, lift * mean, n_c, n_t, alpha) - power

    high = 10.0 * sd * math.sqrt(1.0 / n_c + 1.0 / n_t) / abs(mean)
    if metric_type == "proportion":
        high = min(high, (1.0 - mean) / mean)
        if gap(high) < 0:
            return PowerResult(
                metric_type, mean, sd, math.nan, math.nan, n_c, n_t, alpha, power,
                "no conversion rate up to 100% reaches this power with these sizes",
            )  # fmt: skip
    lift = brentq(gap, 0.0, high, xtol=1e-14, rtol=1e-12)
    return PowerResult(metric_type, mean, sd, lift, lift * mean, n_c, n_t, alpha, power)


def sample_size(
    baseline: Stats,
    *,
    relative_effect: float,
    alpha: float = 0.05,
    power: float = 0.8,
    treatment_ratio: float = 1.0,
) -> PowerResult:
    """Users needed to detect ``relative_effect`` with probability ``power``.

    ``treatment_ratio`` is ``n_treatment / n_control`` (1 for an even split). The
    returned sizes are rounded up; ``power`` is the power they actually achieve.
    """
    _check(alpha, power)
    if not (math.isfinite(treatment_ratio) and treatment_ratio > 0):
        raise StatsInputError(f"treatment_ratio must be positive, got {treatment_ratio!r}")
    if not (math.isfinite(relative_effect) and relative_effect != 0):
        raise StatsInputError("relative_effect must be a non-zero number")
    metric_type, mean, sd = _baseline(baseline)
    delta = relative_effect * mean

    def gap(n_c: float) -> float:
        return _power_at(metric_type, mean, sd, delta, n_c, n_c * treatment_ratio, alpha) - power

    n_c = 2
    if gap(n_c) < 0:
        high = 4.0
        while gap(high) < 0:
            high *= 2.0
        n_c = math.ceil(brentq(gap, high / 2.0, high, xtol=1e-6))
    n_t = max(2, math.ceil(n_c * treatment_ratio))
    achieved = _power_at(metric_type, mean, sd, delta, n_c, n_t, alpha)
    return PowerResult(metric_type, mean, sd, relative_effect, delta, n_c, n_t, alpha, achieved)
