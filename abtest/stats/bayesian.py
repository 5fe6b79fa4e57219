"""The Bayesian read-out of a relative lift, as GrowthBook's default engine computes it.

gbstats' ``EffectBayesianABTest`` (0.8.0, ``difference_type="relative"``,
``prior_type="relative"``) does not model each variant: it takes the same
estimate of the relative lift and its delta-method variance as the frequentist
test (the *data*: ``frequentist_diff`` and ``frequentist_variance``) as a normal
likelihood, and combines it with a Gaussian prior on the lift:

- flat prior (the default, ``proper=False``): the posterior is ``N(lift, var)``;
- proper prior ``N(m0, v0)``: precision ``1/var + 1/v0``, mean
  ``(lift/var + m0/v0) / precision``.

From the posterior ``N(mu, sd^2)`` of the lift it reports:

- **chance to win**: ``P(lift > 0)`` (``P(lift < 0)`` for a lower-is-better metric);
- the **credible interval** at ``1 - alpha``, equal-tailed;
- **risk**: the expected loss of each choice, in relative lift. Choosing the
  control loses ``E[max(lift, 0)] = mu Phi(mu/sd) + sd phi(mu/sd)``; choosing the
  treatment loses ``E[max(-lift, 0)] = sd phi(mu/sd) - mu Phi(-mu/sd)`` (gbstats
  writes them with truncated-normal means, ``get_risk``; these are the same
  numbers in closed form). For a lower-is-better metric the two swap.

The data come from :func:`~abtest.stats.inference.contrast`, the frequentist
engine's own relative lift and variance: for means, proportions, ratios and
quantiles they equal gbstats'; with CUPED the variance is the exact delta-method
gradient of the adjusted estimator (gbstats 0.8.0 takes a shortcut there, see
``tests/abtest/stats/test_stats_parity_gbstats.py``), so both read-outs of one
metric rest on the same standard error. Cases gbstats declines (no units, a
control mean of 0, zero variance in either variant) give its default output
(chance to win 0.5, everything else 0) with a ``message``; a negative control
mean is declined as well, as the frequentist relative lift is.

:func:`bayesian_verdict` turns a read-out into better / worse / inconclusive with
GrowthBook's thresholds (:data:`DEFAULT_CHANCE_TO_WIN`,
:data:`DEFAULT_WIN_RISK_THRESHOLD`, :data:`DEFAULT_LOSE_RISK_THRESHOLD`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as st

from abtest.stats.compare import _blocking_problems, _relative_problem, estimate_groups
from abtest.stats.errors import StatsInputError
from abtest.stats.inference import GroupEstimate, contrast
from abtest.stats.kinds import metric_kind
from abtest.stats.moments import MomentArrays, _finite
from abtest.stats.names import MetricType, Verdict
from abtest.stats.quantile import QuantileStats

DEFAULT_CHANCE_TO_WIN = 0.95
"""GrowthBook's default decision threshold on chance to win (the organisation's
``confidenceLevel``, ``ciUpper = confidenceLevel || 0.95`` in the front end's
``useConfidenceLevels``): a result is "won" above it and "lost" below ``1 - 0.95``."""
DEFAULT_WIN_RISK_THRESHOLD = 0.0025
"""GrowthBook's ``DEFAULT_WIN_RISK_THRESHOLD`` (shared/constants.ts): a risk at or below
0.25% of the control's value is shown as acceptable (green) in its risk column."""
DEFAULT_LOSE_RISK_THRESHOLD = 0.0125
"""GrowthBook's ``DEFAULT_LOSE_RISK_THRESHOLD``: a risk at or above 1.25% is shown as too
high (red); between the two it is a warning. Informative: :func:`bayesian_verdict`
uses the win threshold."""


@dataclass(frozen=True)
class GaussianPrior:
    """A normal prior on the relative lift: gbstats' ``GaussianPrior``, same defaults.

    Flat (ignored) unless ``proper``; a proper prior ``N(mean, variance)`` shrinks
    small, noisy experiments towards ``mean`` (GrowthBook suggests a standard
    deviation of 0.3, variance 0.09).
    """

    mean: float = 0.0
    variance: float = 1.0
    proper: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", _finite("GaussianPrior", "mean", self.mean))
        variance = _finite("GaussianPrior", "variance", self.variance)
        if variance <= 0:
            raise StatsInputError(f"GaussianPrior.variance must be > 0, got {self.variance!r}")
        object.__setattr__(self, "variance", variance)
        if not isinstance(self.proper, bool | np.bool_):
            raise StatsInputError(f"GaussianPrior.proper must be a bool, got {self.proper!r}")
        object.__setattr__(self, "proper", bool(self.proper))


@dataclass(frozen=True)
class BayesianEffect:
    """The posterior of the relative lift of treatment over control, read for a decision.

    ``chance_to_win`` is the probability that the treatment is better (in the
    metric's direction); ``risk_control`` / ``risk_treatment`` the expected loss,
    in relative lift, of choosing the control / the treatment (gbstats' ``risk``
    list, flipped for lower-is-better metrics as gbstats does); ``lift_mean`` and
    ``lift_sd`` the posterior of the lift and ``ci_low``/``ci_high`` its credible
    interval at ``ci_level``. When ``message`` says why the read-out is
    undefined, the numbers are gbstats' defaults: chance to win 0.5, zeros.
    """

    chance_to_win: float
    risk_control: float
    risk_treatment: float
    lift_mean: float
    lift_sd: float
    ci_low: float
    ci_high: float
    ci_level: float
    message: str | None = None

    @property
    def ci(self) -> tuple[float, float]:
        """The credible interval as a ``(low, high)`` pair."""
        return (self.ci_low, self.ci_high)

    @classmethod
    def undefined(cls, message: str, *, ci_level: float) -> BayesianEffect:
        """gbstats' uninformative output (``_default_output``), and why."""
        return cls(0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, ci_level, message)


def _check_read_out(alpha: float, prior: GaussianPrior) -> None:
    """Validate the read-out's settings (a caller's bug raises, as everywhere in the engine)."""
    a = _finite("bayesian read-out", "alpha", alpha)
    if not 0.0 < a < 1.0:
        raise StatsInputError(f"alpha must be in (0, 1), got {alpha!r}")
    if not isinstance(prior, GaussianPrior):
        raise StatsInputError(f"prior must be a GaussianPrior, got {type(prior).__name__}")


def posterior_effect(
    lift: float,
    lift_variance: float,
    *,
    alpha: float = 0.05,
    prior: GaussianPrior = GaussianPrior(),  # frozen, hence a safe default
    higher_is_better: bool = True,
) -> BayesianEffect:
    """The read-out from an estimated relative lift and its variance (the likelihood).

    The posterior, chance to win, credible interval and risks of gbstats'
    ``EffectBayesianABTest.compute_result`` once it has its ``data_mean`` and
    ``data_variance`` (which :func:`bayesian_effect` computes from two variants).
    """
    _check_read_out(alpha, prior)
    data_mean, data_var = float(lift), float(lift_variance)
    if not (math.isfinite(data_mean) and math.isfinite(data_var) and data_var > 0):
        return BayesianEffect.undefined(
            f"the lift's likelihood is degenerate (estimate {data_mean!r}, variance {data_var!r})",
            ci_level=1.0 - alpha,
        )
    precision = 1.0 / data_var + (1.0 / prior.variance if prior.proper else 0.0)
    if prior.proper:
        mu = (data_mean / data_var + prior.mean / prior.variance) / precision
    else:
        mu = data_mean
    sd = math.sqrt(1.0 / precision)
    z = mu / sd
    up, down, density = (float(f(z)) for f in (st.norm.cdf, st.norm.sf, st.norm.pdf))
    gain = max(mu * up + sd * density, 0.0)  # E[max(lift, 0)]: the loss of keeping control
    loss = max(sd * density - mu * down, 0.0)  # E[max(-lift, 0)]: of choosing treatment
    low, high = mu + sd * st.norm.ppf([alpha / 2.0, 1.0 - alpha / 2.0])
    return BayesianEffect(
        chance_to_win=up if higher_is_better else down,
        risk_control=gain if higher_is_better else loss,
        risk_treatment=loss if higher_is_better else gain,
        lift_mean=mu,
        lift_sd=sd,
        ci_low=float(low),
        ci_high=float(high),
        ci_level=1.0 - alpha,
    )


def bayesian_effect(
    control: GroupEstimate,
    treatment: GroupEstimate,
    *,
    alpha: float = 0.05,
    prior: GaussianPrior = GaussianPrior(),
    higher_is_better: bool = True,
) -> BayesianEffect:
    """The Bayesian read-out of one treatment against its control (batch shape ``()``).

    gbstats' ``EffectBayesianABTest`` with relative differences and a relative
    prior: the likelihood is the relative lift ``(mean_t - mean_c) / raw_mean_c``
    with the engine's delta-method variance (:func:`contrast`), then
    :func:`posterior_effect`. Undefined, with gbstats' default numbers and a
    ``message``: no units, a control mean that is not positive, or zero (or
    unknown, a single unit) variance in either variant.
    """
    _check_read_out(alpha, prior)
    for label, g in (("control", control), ("treatment", treatment)):
        if np.shape(g.n) != ():
            raise StatsInputError(
                f"bayesian_effect reads one pair of variants, the {label} estimate has "
                f"batch shape {np.shape(g.n)}"
            )
    reason = _undefined_reason(control, treatment)
    if reason:
        return BayesianEffect.undefined(reason, ci_level=1.0 - alpha)
    with np.errstate(all="ignore"):
        relative = contrast(control, treatment, alpha=alpha, test="z").relative
    return posterior_effect(
        float(relative.estimate),
        float(relative.se) ** 2,
        alpha=alpha,
        prior=prior,
        higher_is_better=higher_is_better,
    )


def _undefined_reason(control: GroupEstimate, treatment: GroupEstimate) -> str | None:
    """Why gbstats would return its default output for these two variants, if it would."""
    groups = {"control": control, "treatment": treatment}
    empty = [label for label, g in groups.items() if float(g.n) == 0]
    if empty:
        return f"no units in {' and '.join(empty)}"
    base = float(control.raw_mean)
    if not math.isfinite(base):
        return "the control mean is undefined, so a relative lift is undefined"
    problem = _relative_problem(base)
    if problem:
        return problem
    zero = [label for label, g in groups.items() if not float(g.var) > 0.0]
    if zero:
        verb = "have" if len(zero) > 1 else "has"
        return (
            f"{' and '.join(zero)} {verb} zero variance (or a single unit): the lift's "
            "uncertainty cannot be estimated"
        )
    return None


def compare_bayesian(
    metric_type: MetricType,
    control: MomentArrays,
    treatment: MomentArrays,
    *,
    alpha: float = 0.05,
    prior: GaussianPrior = GaussianPrior(),
    higher_is_better: bool = True,
) -> BayesianEffect:
    """:func:`bayesian_effect` from one variant's moments each, for any metric type.

    The moments are read by the metric's kind (:data:`abtest.stats.kinds.KINDS`)
    and estimated as :func:`abtest.stats.compare_moments` estimates them (CUPED
    with its pooled theta), so that both read-outs share one estimate.
    """
    kind = metric_kind(metric_type)
    for label, m in (("control", control), ("treatment", treatment)):
        if m.n.shape != ():
            raise StatsInputError(
                f"compare_bayesian reads one pair of variants, the {label} moments have "
                f"batch shape {m.n.shape}"
            )
    _check_read_out(alpha, prior)
    blocking = _blocking_problems(kind, {"control": control, "treatment": treatment})
    if blocking:
        return BayesianEffect.undefined("; ".join(blocking), ci_level=1.0 - alpha)
    with np.errstate(all="ignore"):
        c_est, t_est, _ = estimate_groups(metric_type, control, treatment)
    return bayesian_effect(
        c_est, t_est, alpha=alpha, prior=prior, higher_is_better=higher_is_better
    )


def compare_quantiles_bayesian(
    control: QuantileStats,
    treatment: QuantileStats,
    *,
    alpha: float = 0.05,
    prior: GaussianPrior = GaussianPrior(),
    higher_is_better: bool = True,
) -> BayesianEffect:
    """:func:`bayesian_effect` for a quantile metric, with gbstats' zero-variance rule."""
    for label, q in (("control", control), ("treatment", treatment)):
        if not isinstance(q, QuantileStats):
            raise StatsInputError(f"{label} must be QuantileStats, got {type(q).__name__}")
    _check_read_out(alpha, prior)
    if control.n and treatment.n:
        groups = {"control": control, "treatment": treatment}
        reasons = [f"{lbl}: {r}" for lbl, q in groups.items() if (r := q.zero_variance_reason())]
        if reasons:
            return BayesianEffect.undefined(
                "; ".join(reasons) + ", so its variance is taken as zero",
                ci_level=1.0 - alpha,
            )
    return bayesian_effect(
        control.estimate(),
        treatment.estimate(),
        alpha=alpha,
        prior=prior,
        higher_is_better=higher_is_better,
    )


def bayesian_verdict(
    effect: BayesianEffect,
    *,
    chance_to_win: float = DEFAULT_CHANCE_TO_WIN,
    risk: float | None = DEFAULT_WIN_RISK_THRESHOLD,
) -> Verdict:
    """How a Bayesian read-out reads: ``better``, ``worse``, ``inconclusive`` or ``undefined``.

    GrowthBook's rule (``getMetricResultStatus`` in shared/experiments): a result
    has *won* when its chance to win is **above** the threshold (``> 0.95``) and
    *lost* when it is **below** ``1 - threshold`` (``< 0.05``). Here, with
    ``risk`` set, the choice must also be safe by GrowthBook's risk column
    (green at a risk at or below :data:`DEFAULT_WIN_RISK_THRESHOLD`):

    - ``better``: ``chance_to_win > threshold`` and ``risk_treatment <= risk``;
    - ``worse``: ``chance_to_win < 1 - threshold`` and ``risk_control <= risk``;
    - ``undefined``: the read-out has a ``message``; ``inconclusive`` otherwise.

    ``risk=None`` drops the risk condition: GrowthBook's won / lost exactly,
    without its data-sufficiency checks (minimum sample size, suspicious or
    negligible changes), which belong to the metric's settings, not to statistics.
    """
    threshold = _finite("bayesian_verdict", "chance_to_win", chance_to_win)
    if not 0.5 < threshold < 1.0:
        raise StatsInputError(f"chance_to_win must be in (0.5, 1), got {chance_to_win!r}")
    if risk is not None and not _finite("bayesian_verdict", "risk", risk) >= 0:
        raise StatsInputError(f"risk must be >= 0 (or None), got {risk!r}")
    if effect.message:
        return "undefined"
    if effect.chance_to_win > threshold and (risk is None or effect.risk_treatment <= risk):
        return "better"
    if effect.chance_to_win < 1.0 - threshold and (risk is None or effect.risk_control <= risk):
        return "worse"
    return "inconclusive"
