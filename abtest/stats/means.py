"""Means and proportions: the per-user metric's mean and variance per variant."""

from __future__ import annotations

from abtest.stats.inference import GroupEstimate
from abtest.stats.moments import MomentArrays


def mean_estimate(moments: MomentArrays) -> GroupEstimate:
    """Sample mean with the sample variance (``n - 1`` denominator)."""
    return GroupEstimate.unadjusted(
        moments.n, moments.means()[..., 0], moments.covariance()[..., 0, 0]
    )


def proportion_estimate(moments: MomentArrays) -> GroupEstimate:
    """Conversion rate with the Bernoulli variance ``p (1 - p)``.

    The ``n`` denominator matches GrowthBook's ``ProportionStatistic`` and the
    Wald test for two proportions (statsmodels ``method="wald"``).
    """
    p = moments.means()[..., 0]
    return GroupEstimate.unadjusted(moments.n, p, p * (1.0 - p))
