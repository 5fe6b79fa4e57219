"""Always-valid inference: asymptotic confidence sequences.

A fixed-horizon interval is valid at *one* pre-planned look. Analysts who open the
dashboard every day and stop at the first significant result inflate the false
positive rate far above alpha. A confidence sequence is a sequence of intervals
that covers the true effect at *every* look simultaneously with probability at
least ``1 - alpha``, so looking daily, and stopping whenever, is safe.

We use the asymptotic confidence sequences of Waudby-Smith, Arnold, Wu, Ramdas,
Tran and Howard (2023), "Time-uniform central limit theory and asymptotic
confidence sequences", arXiv:2103.06476, as GrowthBook and Eppo use them:

- half-width (their eq. 9), with ``N`` the users in both variants and
  ``V = N * se**2`` the per-user variance of the effect estimate::

      sqrt(V) * sqrt( 2 (N rho^2 + 1) / (N^2 rho^2) * log( sqrt(N rho^2 + 1) / alpha ) )

- ``rho`` (their eq. 161) chooses *where* the sequence is tightest::

      rho^2 = ( -2 log(alpha) + log(-2 log(alpha) + 1) ) / tuning

  ``tuning`` (GrowthBook's ``sequential_tuning_parameter``, default 5000) is the
  total sample size at which the interval is narrowest. Set it near the number of
  users you expect at the planned end; the sequence stays valid for any value, only
  its width at a given ``N`` changes.

- p-value (their eq. 155): the reciprocal of the mixture e-value,
  ``min(1, sqrt(N rho^2 + 1) * exp(-rho^2 N z^2 / (2 (N rho^2 + 1))))`` with
  ``z = estimate / se``. It is below alpha exactly when the interval excludes 0;
  rejecting at the first look where it is, is an anytime-valid test.

The widths are wider than fixed-horizon ones at the same ``N`` (the price of
peeking); at ``N = tuning`` and alpha 0.05 roughly 1.5 to 2 times wider.

One-sided sequences (for guardrails: "did it get worse?") follow GrowthBook's
one-sided sequential test: ``rho`` is optimised at ``2 alpha`` and the bound is
``estimate - half_width`` with the log term ``log(1 + sqrt(N rho^2 + 1) / (2 alpha))``.
Its p-value, the smallest alpha at which the bound excludes 0 for a fixed
``rho``, has a closed form (GrowthBook finds it by bisection):
``sqrt(N rho^2 + 1) / (2 (exp(L) - 1))`` with ``L = rho^2 N z^2 / (2 (N rho^2 + 1))``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

DEFAULT_TUNING = 5000.0


def rho_squared(alpha: ArrayLike, tuning: ArrayLike) -> np.ndarray:
    """The mixing variance ``rho^2`` optimised for total sample size ``tuning``."""
    a = np.asarray(alpha, dtype=float)
    minus_two_log_alpha = -2.0 * np.log(a)
    return (minus_two_log_alpha + np.log(minus_two_log_alpha + 1.0)) / np.asarray(tuning)


def half_width(
    se: ArrayLike, n_total: ArrayLike, alpha: ArrayLike, tuning: ArrayLike
) -> np.ndarray:
    """Half-width of the confidence sequence for an estimate with standard error ``se``."""
    n = np.asarray(n_total, dtype=float)
    r2 = rho_squared(alpha, tuning)
    nr2p1 = n * r2 + 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_term = np.log(np.sqrt(nr2p1) / np.asarray(alpha, dtype=float))
        return np.asarray(se) * np.sqrt(n) * np.sqrt(2.0 * nr2p1 * log_term / (n * n * r2))


def p_value(
    estimate: ArrayLike, se: ArrayLike, n_total: ArrayLike, alpha: ArrayLike, tuning: ArrayLike
) -> np.ndarray:
    """Always-valid p-value for ``effect == 0``; computed in logs to avoid overflow."""
    n = np.asarray(n_total, dtype=float)
    r2 = rho_squared(alpha, tuning)
    nr2p1 = n * r2 + 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.asarray(estimate) / np.asarray(se)
        log_p = 0.5 * np.log(nr2p1) - r2 * n * z * z / (2.0 * nr2p1)
    return np.exp(np.minimum(log_p, 0.0))


def one_sided_half_width(
    se: ArrayLike, n_total: ArrayLike, alpha: ArrayLike, tuning: ArrayLike
) -> np.ndarray:
    """Distance from the estimate to the bound of the one-sided sequence at level ``1 - alpha``."""
    n = np.asarray(n_total, dtype=float)
    a = np.asarray(alpha, dtype=float)
    r2 = rho_squared(2.0 * a, tuning)
    nr2p1 = n * r2 + 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_term = np.log1p(np.sqrt(nr2p1) / (2.0 * a))
        return np.asarray(se) * np.sqrt(n) * np.sqrt(2.0 * nr2p1 * log_term / (n * n * r2))


def one_sided_p_value(
    estimate: ArrayLike, se: ArrayLike, n_total: ArrayLike, alpha: ArrayLike, tuning: ArrayLike
) -> np.ndarray:
    """Always-valid p-value for ``effect <= 0`` against ``effect > 0``.

    ``alpha`` only sets ``rho`` (where the sequence is tightest), as in the two-sided
    case; an estimate at or below 0 gives 1.
    """
    n = np.asarray(n_total, dtype=float)
    r2 = rho_squared(2.0 * np.asarray(alpha, dtype=float), tuning)
    nr2p1 = n * r2 + 1.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = np.asarray(estimate, dtype=float) / np.asarray(se, dtype=float)
        exponent = r2 * n * z * z / (2.0 * nr2p1)
        p = np.sqrt(nr2p1) / (2.0 * np.expm1(exponent))
        p = np.where(z > 0, np.minimum(p, 1.0), 1.0)
    return np.where(np.isnan(z), np.nan, p)
