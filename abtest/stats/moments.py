"""Sufficient statistics: the per-variant moments a SQL ``GROUP BY variant`` returns.

Every comparison in this package is a function of a few sums per variant, with
users as the unit: ``COUNT(*)``, ``SUM(x)``, ``SUM(x * x)`` and, for ratio and CUPED
metrics, ``SUM(x * y)`` cross-products. A warehouse computes them over billions of
rows and returns a handful of numbers, so nothing here ever needs raw data.

Two layers:

- frozen, validated dataclasses describing one variant (:class:`MeanStats`,
  :class:`ProportionStats`, :class:`RatioStats`, :class:`CupedMeanStats`,
  :class:`CupedRatioStats`): for people typing numbers, and for planning;
- :class:`MomentArrays`: the same moments for one variant or for many variants,
  segments, days or simulated experiments at once, as numpy arrays. The engine
  computes on these, so one code path serves a single comparison and ten
  thousand simulated ones; the analyzer reads its query results straight into them.

Each dataclass's ``as_arrays`` and ``from_arrays`` convert to and from
:class:`MomentArrays`, with the variables in the order its metric type names
them (:mod:`abtest.stats.kinds`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Self

import numpy as np
from numpy.typing import ArrayLike

from abtest.stats.errors import StatsInputError

# Relative size, against the raw second moment, under which a centered second moment
# is float cancellation rather than variance: sum_squares - sum**2 / n of a constant
# column is a few ulps of sum_squares, not zero.
_CANCELLATION_RTOL = 1e-10
# Relative tolerance for declaring moments inconsistent (a clearly negative variance).
_CONSISTENCY_RTOL = 1e-9


@dataclass(frozen=True, eq=False)
class MomentArrays:
    """Counts, sums and cross-products of ``k`` per-user variables, batched.

    ``n`` has the batch shape ``B`` (any shape, ``()`` for one variant), ``sums`` has
    shape ``B + (k,)`` and ``cross`` has shape ``B + (k, k)`` with
    ``cross[..., i, j] = sum over users of x_i * x_j``. No validation beyond shapes:
    this is the fast path for simulations and breakdowns; the scalar dataclasses
    below validate what users type.
    """

    n: np.ndarray
    sums: np.ndarray
    cross: np.ndarray

    def __post_init__(self) -> None:
        n = np.asarray(self.n, dtype=float)
        sums = np.asarray(self.sums, dtype=float)
        cross = np.asarray(self.cross, dtype=float)
        if sums.shape != (*n.shape, sums.shape[-1]) or cross.shape != (
            *sums.shape,
            sums.shape[-1],
        ):
            raise StatsInputError(
                "MomentArrays shapes disagree: expected n: B, sums: B + (k,), "
                f"cross: B + (k, k); got {n.shape}, {sums.shape}, {cross.shape}"
            )
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "sums", sums)
        object.__setattr__(self, "cross", cross)

    @classmethod
    def from_values(cls, values: ArrayLike, mask: ArrayLike | None = None) -> Self:
        """Moments of per-user values shaped ``(..., users, k)``.

        ``mask`` (shape ``(..., users)``, boolean) selects the users that belong to
        the group, e.g. those a simulated coin flip sent to treatment.
        """
        x = np.asarray(values, dtype=float)
        if x.ndim < 2:
            raise StatsInputError("values must have shape (..., users, k)")
        if mask is None:
            n = np.full(x.shape[:-2], x.shape[-2], dtype=float)
        else:
            w = np.asarray(mask, dtype=float)
            n = w.sum(axis=-1)
            x = x * w[..., None]
        return cls(n=n, sums=x.sum(axis=-2), cross=np.einsum("...ui,...uj->...ij", x, x))

    def at(self, index: int | slice | tuple[int | slice, ...]) -> MomentArrays:
        """The moments of one entry (or a slice) of the batch, e.g. ``m.at(3)``."""
        return MomentArrays(self.n[index], self.sums[index], self.cross[index])

    def __add__(self, other: MomentArrays) -> MomentArrays:
        """Moments of the union of two disjoint sets of users (e.g. both variants)."""
        return MomentArrays(self.n + other.n, self.sums + other.sums, self.cross + other.cross)

    @property
    def k(self) -> int:
        """Number of per-user variables."""
        return int(self.sums.shape[-1])

    def means(self) -> np.ndarray:
        """Per-variable means, shape ``B + (k,)``; NaN where ``n == 0``."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.sums / self.n[..., None]

    def covariance(self) -> np.ndarray:
        """Sample covariance matrix (denominator ``n - 1``), shape ``B + (k, k)``.

        Float cancellation is cleaned up: a variance below ``1e-10`` of its raw
        second moment is set to exactly zero, together with its covariances, so a
        constant column is recognised as having no variance. NaN where ``n < 2``.
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            outer = self.sums[..., :, None] * self.sums[..., None, :] / self.n[..., None, None]
            centered = self.cross - outer
            raw_diag = np.diagonal(self.cross, axis1=-2, axis2=-1)
            diag = np.diagonal(centered, axis1=-2, axis2=-1)
            constant = diag <= _CANCELLATION_RTOL * np.abs(raw_diag)
            keep = ~(constant[..., :, None] | constant[..., None, :])
            centered = np.where(keep, centered, 0.0)
            return centered / (self.n[..., None, None] - 1.0)


def _one_variant(owner: str, moments: MomentArrays, k: int) -> tuple[int, np.ndarray, np.ndarray]:
    """``(n, sums, cross)`` of moments that describe one variant with ``k`` variables."""
    if moments.n.shape != () or moments.k != k:
        raise StatsInputError(
            f"{owner}.from_arrays needs the moments of one variant with {k} variable(s), "
            f"got batch shape {moments.n.shape} with {moments.k}"
        )
    return _count(owner, "n", moments.n), moments.sums, moments.cross


def _count(owner: str, name: str, value: object) -> int:
    """An integer-valued, non-negative user count (numpy and float 3.0 accepted)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise StatsInputError(f"{owner}.{name} must be a number, got {value!r}") from None
    if not math.isfinite(number) or number < 0 or number != int(number):
        raise StatsInputError(f"{owner}.{name} must be a non-negative integer, got {value!r}")
    return int(number)


def _finite(owner: str, name: str, value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise StatsInputError(f"{owner}.{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise StatsInputError(f"{owner}.{name} must be finite, got {value!r}")
    return number


def _check_consistent(owner: str, n: int, sums: list[float], cross: list[list[float]]) -> None:
    """Reject moments that no set of ``n`` users could produce.

    The centered second-moment matrix ``cross - sums sums' / n`` of real data is
    positive semi-definite (variances are non-negative, correlations within
    [-1, 1]); with no users every sum is zero; with one user it is zero.
    """
    s = np.asarray(sums)
    c = np.asarray(cross)
    if n == 0:
        if np.any(s != 0) or np.any(c != 0):
            raise StatsInputError(f"{owner}: n is 0 but the sums are not all 0")
        return
    centered = c - np.outer(s, s) / n
    tol = _CONSISTENCY_RTOL * max(float(np.max(np.abs(np.diag(c)))), np.finfo(float).tiny)
    if n == 1 and np.max(np.abs(centered)) > tol:
        raise StatsInputError(
            f"{owner}: inconsistent moments for a single user: every sum of squares or "
            "products must equal the product of the sums"
        )
    smallest = float(np.linalg.eigvalsh(centered)[0]) if s.size > 1 else float(centered[0, 0])
    if smallest < -tol:
        raise StatsInputError(
            f"{owner}: inconsistent moments: they imply a negative variance "
            f"({smallest:.6g}); check that sum_squares >= sum**2 / n and that the "
            "cross-products come from the same users as the sums"
        )


@dataclass(frozen=True)
class MeanStats:
    """A per-user metric (e.g. purchases per user, revenue per user) in one variant.

    ``n`` users, ``sum`` of their values and ``sum_squares`` of the squared values.
    The variance uses the sample (``n - 1``) denominator. A 0/1 metric may be given
    here too (``sum_squares = sum``); :class:`ProportionStats` is its explicit form.
    """

    n: int
    sum: float
    sum_squares: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", _count("MeanStats", "n", self.n))
        object.__setattr__(self, "sum", _finite("MeanStats", "sum", self.sum))
        object.__setattr__(
            self, "sum_squares", _finite("MeanStats", "sum_squares", self.sum_squares)
        )
        _check_consistent("MeanStats", self.n, [self.sum], [[self.sum_squares]])

    @classmethod
    def from_values(cls, values: ArrayLike) -> MeanStats:
        """Moments of a 1-d array of per-user values."""
        m = MomentArrays.from_values(np.asarray(values, dtype=float).reshape(-1, 1))
        return cls(int(m.n), float(m.sums[0]), float(m.cross[0, 0]))

    @classmethod
    def from_summary(cls, n: int, mean: float, sd: float) -> MeanStats:
        """Moments of ``n`` users with the given mean and sample standard deviation.

        Handy for planning (power, sample size) from a dashboard's mean and sd.
        """
        n = _count("MeanStats", "n", n)
        mean = _finite("MeanStats", "mean", mean)
        sd = _finite("MeanStats", "sd", sd)
        if sd < 0:
            raise StatsInputError(f"MeanStats.sd must be >= 0, got {sd!r}")
        return cls(n, n * mean, sd * sd * max(n - 1, 0) + n * mean * mean)

    @property
    def mean(self) -> float:
        """Mean per user; NaN when there are no users."""
        return self.sum / self.n if self.n else math.nan

    def as_arrays(self) -> MomentArrays:
        """The same moments as a one-variable :class:`MomentArrays` (``x``)."""
        return MomentArrays(np.asarray(self.n), [self.sum], [[self.sum_squares]])

    @classmethod
    def from_arrays(cls, moments: MomentArrays) -> MeanStats:
        """The inverse of :meth:`as_arrays`: one variant's one-variable moments."""
        n, s, c = _one_variant("MeanStats", moments, 1)
        return cls(n, s[0], c[0, 0])


@dataclass(frozen=True)
class ProportionStats:
    """A 0/1 per-user metric (e.g. purchase conversion) in one variant.

    ``successes`` of ``n`` users converted. Its variance is the Bernoulli
    ``p (1 - p)`` (denominator ``n``), as in GrowthBook's ``ProportionStatistic``
    and the Wald interval for two proportions.
    """

    n: int
    successes: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", _count("ProportionStats", "n", self.n))
        object.__setattr__(
            self, "successes", _count("ProportionStats", "successes", self.successes)
        )
        if self.successes > self.n:
            raise StatsInputError(
                f"ProportionStats: successes ({self.successes}) cannot exceed n ({self.n})"
            )

    @classmethod
    def from_values(cls, values: ArrayLike) -> ProportionStats:
        """Count the successes in a 1-d array of 0/1 (or boolean) per-user values."""
        x = np.asarray(values, dtype=float).ravel()
        if np.any((x != 0) & (x != 1)):
            raise StatsInputError("ProportionStats.from_values needs 0/1 values")
        return cls(int(x.size), int(x.sum()))

    @property
    def mean(self) -> float:
        """Conversion rate; NaN when there are no users."""
        return self.successes / self.n if self.n else math.nan

    def as_arrays(self) -> MomentArrays:
        """The same moments as a one-variable :class:`MomentArrays` (sum_squares = sum)."""
        return MomentArrays(np.asarray(self.n), [self.successes], [[self.successes]])

    @classmethod
    def from_arrays(cls, moments: MomentArrays) -> ProportionStats:
        """The inverse of :meth:`as_arrays`: the sum of 0/1 values, rounded, is the successes."""
        n, s, _ = _one_variant("ProportionStats", moments, 1)
        return cls(n, round(s[0]))


@dataclass(frozen=True)
class RatioStats:
    """A ratio of two per-user sums (e.g. taps / impressions) in one variant.

    The metric is ``num_sum / den_sum``, but the unit of randomisation is the user,
    so its variance comes from the per-user numerators and denominators and their
    covariance (delta method), not from counting taps as independent trials.
    """

    n: int
    num_sum: float
    num_sum_squares: float
    den_sum: float
    den_sum_squares: float
    num_den_sum_products: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", _count("RatioStats", "n", self.n))
        for name in (
            "num_sum",
            "num_sum_squares",
            "den_sum",
            "den_sum_squares",
            "num_den_sum_products",
        ):
            object.__setattr__(self, name, _finite("RatioStats", name, getattr(self, name)))
        _check_consistent("RatioStats", self.n, *self._sums_and_cross())

    def _sums_and_cross(self) -> tuple[list[float], list[list[float]]]:
        p = self.num_den_sum_products
        return (
            [self.num_sum, self.den_sum],
            [[self.num_sum_squares, p], [p, self.den_sum_squares]],
        )

    @classmethod
    def from_values(cls, numerator: ArrayLike, denominator: ArrayLike) -> RatioStats:
        """Moments of per-user numerators and denominators (1-d arrays, same users)."""
        m = MomentArrays.from_values(np.stack([np.ravel(numerator), np.ravel(denominator)], -1))
        return cls(
            int(m.n),
            float(m.sums[0]),
            float(m.cross[0, 0]),
            float(m.sums[1]),
            float(m.cross[1, 1]),
            float(m.cross[0, 1]),
        )

    @property
    def mean(self) -> float:
        """The ratio ``num_sum / den_sum``; NaN when the denominator sums to zero."""
        return self.num_sum / self.den_sum if self.den_sum else math.nan

    def as_arrays(self) -> MomentArrays:
        """The same moments as a two-variable :class:`MomentArrays` (num, den)."""
        sums, cross = self._sums_and_cross()
        return MomentArrays(np.asarray(self.n), sums, cross)

    @classmethod
    def from_arrays(cls, moments: MomentArrays) -> RatioStats:
        """The inverse of :meth:`as_arrays`: one variant's moments of (num, den)."""
        n, s, c = _one_variant("RatioStats", moments, 2)
        return cls(n, s[0], c[0, 0], s[1], c[1, 1], c[0, 1])


@dataclass(frozen=True)
class CupedMeanStats:
    """A per-user metric with a pre-period covariate, for CUPED.

    ``post`` is the metric during the experiment, ``pre`` the same users' covariate
    before exposure (usually the same metric in the weeks before), and
    ``post_pre_sum_products`` the sum over users of ``post * pre``. Both must count
    the same users: users without pre-period data enter with a covariate of 0.
    """

    post: MeanStats
    pre: MeanStats
    post_pre_sum_products: float

    def __post_init__(self) -> None:
        for name, kind in (("post", MeanStats), ("pre", MeanStats)):
            if not isinstance(getattr(self, name), kind):
                raise StatsInputError(f"CupedMeanStats.{name} must be a MeanStats")
        if self.post.n != self.pre.n:
            raise StatsInputError(
                f"CupedMeanStats: post.n ({self.post.n}) and pre.n ({self.pre.n}) must be "
                "the same users"
            )
        object.__setattr__(
            self,
            "post_pre_sum_products",
            _finite("CupedMeanStats", "post_pre_sum_products", self.post_pre_sum_products),
        )
        _check_consistent("CupedMeanStats", self.n, *self._sums_and_cross())

    def _sums_and_cross(self) -> tuple[list[float], list[list[float]]]:
        p = self.post_pre_sum_products
        return (
            [self.post.sum, self.pre.sum],
            [[self.post.sum_squares, p], [p, self.pre.sum_squares]],
        )

    @classmethod
    def from_values(cls, post: ArrayLike, pre: ArrayLike) -> CupedMeanStats:
        """Moments of per-user metric values and their pre-period covariates."""
        post_values = np.ravel(np.asarray(post, dtype=float))
        pre_values = np.ravel(np.asarray(pre, dtype=float))
        return cls(
            MeanStats.from_values(post_values),
            MeanStats.from_values(pre_values),
            float(post_values @ pre_values),
        )

    @property
    def n(self) -> int:
        """Number of users."""
        return self.post.n

    @property
    def mean(self) -> float:
        """Unadjusted mean of the metric."""
        return self.post.mean

    def as_arrays(self) -> MomentArrays:
        """The same moments as a two-variable :class:`MomentArrays` (x, pre_x)."""
        sums, cross = self._sums_and_cross()
        return MomentArrays(np.asarray(self.n), sums, cross)

    @classmethod
    def from_arrays(cls, moments: MomentArrays) -> CupedMeanStats:
        """The inverse of :meth:`as_arrays`: one variant's moments of (x, pre_x)."""
        n, s, c = _one_variant("CupedMeanStats", moments, 2)
        return cls(MeanStats(n, s[0], c[0, 0]), MeanStats(n, s[1], c[1, 1]), c[0, 1])


@dataclass(frozen=True)
class CupedRatioStats:
    """A ratio metric with its pre-period ratio as covariate, for CUPED.

    ``post`` and ``pre`` are the experiment-period and pre-period
    :class:`RatioStats` of the same users; the four cross-products join them:
    ``num_pre_num_sum_products`` is the sum over users of ``num * pre_num``, and so on.
    """

    post: RatioStats
    pre: RatioStats
    num_pre_num_sum_products: float
    num_pre_den_sum_products: float
    den_pre_num_sum_products: float
    den_pre_den_sum_products: float

    def __post_init__(self) -> None:
        for name in ("post", "pre"):
            if not isinstance(getattr(self, name), RatioStats):
                raise StatsInputError(f"CupedRatioStats.{name} must be a RatioStats")
        if self.post.n != self.pre.n:
            raise StatsInputError(
                f"CupedRatioStats: post.n ({self.post.n}) and pre.n ({self.pre.n}) must be "
                "the same users"
            )
        for name in (
            "num_pre_num_sum_products",
            "num_pre_den_sum_products",
            "den_pre_num_sum_products",
            "den_pre_den_sum_products",
        ):
            object.__setattr__(self, name, _finite("CupedRatioStats", name, getattr(self, name)))
        _check_consistent("CupedRatioStats", self.n, *self._sums_and_cross())

    def _sums_and_cross(self) -> tuple[list[float], list[list[float]]]:
        post_sums, post_cross = self.post._sums_and_cross()
        pre_sums, pre_cross = self.pre._sums_and_cross()
        between = [
            [self.num_pre_num_sum_products, self.num_pre_den_sum_products],
            [self.den_pre_num_sum_products, self.den_pre_den_sum_products],
        ]
        cross = np.block(
            [
                [np.asarray(post_cross), np.asarray(between)],
                [np.asarray(between).T, np.asarray(pre_cross)],
            ]
        )
        return post_sums + pre_sums, cross.tolist()

    @classmethod
    def from_values(
        cls,
        numerator: ArrayLike,
        denominator: ArrayLike,
        pre_numerator: ArrayLike,
        pre_denominator: ArrayLike,
    ) -> CupedRatioStats:
        """Moments of per-user numerators, denominators and their pre-period values."""
        num, den, pre_num, pre_den = (
            np.ravel(np.asarray(v, dtype=float))
            for v in (numerator, denominator, pre_numerator, pre_denominator)
        )
        return cls(
            RatioStats.from_values(num, den),
            RatioStats.from_values(pre_num, pre_den),
            float(num @ pre_num),
            float(num @ pre_den),
            float(den @ pre_num),
            float(den @ pre_den),
        )

    @property
    def n(self) -> int:
        """Number of users."""
        return self.post.n

    @property
    def mean(self) -> float:
        """Unadjusted ratio."""
        return self.post.mean

    def as_arrays(self) -> MomentArrays:
        """The same moments as a four-variable :class:`MomentArrays`.

        Variable order: num, den, pre_num, pre_den.
        """
        sums, cross = self._sums_and_cross()
        return MomentArrays(np.asarray(self.n), sums, cross)

    @classmethod
    def from_arrays(cls, moments: MomentArrays) -> CupedRatioStats:
        """The inverse of :meth:`as_arrays`: one variant's (num, den, pre_num, pre_den)."""
        n, s, c = _one_variant("CupedRatioStats", moments, 4)
        return cls(
            RatioStats(n, s[0], c[0, 0], s[1], c[1, 1], c[0, 1]),
            RatioStats(n, s[2], c[2, 2], s[3], c[3, 3], c[2, 3]),
            c[0, 2],
            c[0, 3],
            c[1, 2],
            c[1, 3],
        )
