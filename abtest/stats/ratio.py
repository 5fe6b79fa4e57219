"""Ratio metrics (e.g. taps / impressions) with users as the randomisation unit.

The estimate is ``sum(num) / sum(den)`` = ``mean(num) / mean(den)``. Events of one
user are correlated, so treating each impression as an independent trial
understates the variance; the delta method on per-user sums gives the per-user
variance of the ratio ``R = mu_num / mu_den``::

    (var_num - 2 R cov_num_den + R^2 var_den) / mu_den^2

the same formula as GrowthBook's ``RatioStatistic`` and tea-tasting's
``RatioOfMeans`` (Deng, Knoblich and Lu, 2018, "Applying the delta method in
metric analytics").
"""

from __future__ import annotations

import numpy as np

from abtest.stats import delta
from abtest.stats.inference import GroupEstimate
from abtest.stats.moments import MomentArrays


def ratio_gradient(num_mean: np.ndarray, den_mean: np.ndarray) -> np.ndarray:
    """Gradient of ``num_mean / den_mean`` with respect to ``(num_mean, den_mean)``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([1.0 / den_mean, -num_mean / (den_mean * den_mean)], axis=-1)


def ratio_estimate(moments: MomentArrays) -> GroupEstimate:
    """Ratio of sums with its delta-method per-user variance."""
    mu = moments.means()
    with np.errstate(divide="ignore", invalid="ignore"):
        value = moments.sums[..., 0] / moments.sums[..., 1]
    gradient = ratio_gradient(mu[..., 0], mu[..., 1])
    return GroupEstimate.unadjusted(
        moments.n, value, delta.variance(gradient, moments.covariance())
    )
