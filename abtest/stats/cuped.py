"""CUPED: regression adjustment on a pre-period covariate, for means and ratios.

Users who tapped a lot last month tap a lot this month. Subtracting
``theta * (covariate)`` from each variant's estimate removes that predictable part
of the noise without biasing the difference (the covariate is measured before
exposure, so it has the same expectation in every variant). With correlation
``rho`` between metric and covariate, the variance shrinks by ``1 - rho^2``.
(Deng, Xu, Kohavi and Walker, 2013, "Improving the sensitivity of online
controlled experiments by utilizing pre-experiment data".)

Both cases are linearised the same way. Per variant, the metric is
``f_post(means)`` and the covariate ``f_pre(means)``:

- means: ``f_post = mean(y)``, ``f_pre = mean(x)``;
- ratios: ``f_post = mean(num) / mean(den)``, ``f_pre = mean(pre_num) / mean(pre_den)``.

The adjusted estimate is ``f_post - theta * f_pre`` and its per-user variance is
``g' Lambda g`` with ``g = grad f_post - theta * grad f_pre`` (delta method).

``theta`` is *pooled*: one coefficient for all variants, the regression slope of
the linearised metric on the linearised covariate over the users of both variants
together (moments summed), ``theta = Cov(post, pre) / Var(pre)``. For means this
is exactly GrowthBook's ``compute_theta``; for ratios it is tea-tasting's
``RatioOfMeans`` coefficient (GrowthBook sums per-variant terms instead, which is
asymptotically the same). A shared theta keeps the adjustment identical across
variants, so it cannot manufacture a difference.

When the covariate carries no information (zero variance, or a pre-period ratio
with a zero denominator in some variant) theta is 0 and the result equals the
unadjusted analysis, as in GrowthBook.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from abtest.stats import delta
from abtest.stats.inference import GroupEstimate
from abtest.stats.moments import MomentArrays
from abtest.stats.ratio import ratio_gradient

CupedKind = Literal["cuped_mean", "cuped_ratio"]


def _linearise(kind: CupedKind, mu: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(f_post, grad f_post, f_pre, grad f_pre)`` at the per-user means ``mu``."""
    if kind == "cuped_mean":
        ones = np.ones_like(mu[..., 0])
        zeros = np.zeros_like(ones)
        return (
            mu[..., 0],
            np.stack([ones, zeros], axis=-1),
            mu[..., 1],
            np.stack([zeros, ones], axis=-1),
        )
    zeros = np.zeros((*mu.shape[:-1], 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        post = mu[..., 0] / mu[..., 1]
        pre = mu[..., 2] / mu[..., 3]
    return (
        post,
        np.concatenate([ratio_gradient(mu[..., 0], mu[..., 1]), zeros], axis=-1),
        pre,
        np.concatenate([zeros, ratio_gradient(mu[..., 2], mu[..., 3])], axis=-1),
    )


def pooled_theta(kind: CupedKind, control: MomentArrays, treatment: MomentArrays) -> np.ndarray:
    """The shared regression coefficient, 0 where the covariate is uninformative."""
    pooled = control + treatment
    lam = pooled.covariance()
    _, g_post, _, g_pre = _linearise(kind, pooled.means())
    pre_var = delta.variance(g_pre, lam)
    post_var = delta.variance(g_post, lam)
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = delta.quadratic_form(g_post, lam, g_pre) / pre_var
    usable = np.isfinite(theta) & (pre_var > 0) & (post_var > 0)
    for group in (control, treatment):
        pre_value = _linearise(kind, group.means())[2]
        usable &= np.isfinite(pre_value)
    return np.where(usable, theta, 0.0)


def _adjusted(kind: CupedKind, moments: MomentArrays, theta: np.ndarray) -> GroupEstimate:
    post, g_post, pre, g_pre = _linearise(kind, moments.means())
    lam = moments.covariance()
    adjust = theta != 0
    with np.errstate(invalid="ignore"):
        mean = np.where(adjust, post - theta * pre, post)
        g_adj = np.where(adjust[..., None], g_post - theta[..., None] * g_pre, g_post)
    return GroupEstimate(
        n=moments.n,
        mean=mean,
        raw_mean=post,
        var=delta.variance(g_adj, lam),
        raw_var=delta.variance(g_post, lam),
        cov=delta.quadratic_form(g_adj, lam, g_post),
    )


def cuped_estimates(
    kind: CupedKind, control: MomentArrays, treatment: MomentArrays
) -> tuple[GroupEstimate, GroupEstimate, np.ndarray]:
    """Adjusted estimates of both variants and the pooled theta they share."""
    theta = pooled_theta(kind, control, treatment)
    return _adjusted(kind, control, theta), _adjusted(kind, treatment, theta), theta
