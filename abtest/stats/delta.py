"""The delta method on per-user moments.

A smooth function ``f`` of per-user means has, to first order, per-user variance
``g' Lambda g`` with ``g`` the gradient of ``f`` at the means and ``Lambda`` the
per-user covariance matrix; ``Var(f(means)) = g' Lambda g / n``. Ratios and CUPED
estimators are such functions, which is why a few sums per variant suffice.
"""

from __future__ import annotations

import numpy as np

# A quadratic form smaller than this fraction of its absolute-value bound is float
# cancellation (e.g. a ratio whose per-user numerator is an exact multiple of its
# denominator), and is set to exactly zero.
_CANCELLATION_RTOL = 1e-10


def quadratic_form(left: np.ndarray, matrix: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left' matrix right`` over the last axes, batched."""
    return np.einsum("...i,...ij,...j->...", left, matrix, right)


def variance(gradient: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """Delta-method per-user variance ``g' Lambda g``, cancellation cleaned to 0."""
    with np.errstate(invalid="ignore"):
        value = quadratic_form(gradient, covariance, gradient)
        bound = quadratic_form(np.abs(gradient), np.abs(covariance), np.abs(gradient))
        return np.where(value <= _CANCELLATION_RTOL * bound, 0.0, value)
