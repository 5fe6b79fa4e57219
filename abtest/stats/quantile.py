"""Quantile metrics (e.g. the 90th percentile of time to first tap), as GrowthBook does them.

A quantile is not a function of a few sums, so its variance cannot come from
moments. GrowthBook's gbstats (``QuantileStatistic``, 0.8.0) estimates it from
two more order statistics that the warehouse returns beside the quantile
itself: the sample quantiles at the levels ``nu -/+ z sqrt(nu (1 - nu) / n*)``,
the ends of a binomial 95% interval for the level at a sample size ``n*``. The
distance between them, over ``2 z``, is the standard error of the quantile at
``n*`` units, so the per-unit variance is::

    variance_init = (n* / n) (n - 1) ((upper - lower) / (2 z))^2,   z = z_0.975

(GrowthBook's SQL and gbstats both fix the level of those bounds at 95%, whatever
the experiment's alpha: :data:`BOUNDS_ALPHA`.) ``n*`` is the largest value of
:data:`N_STAR_VALUES` (100, 200, 400... 52,428,800) below ``n``, or 100, so that
one query can fetch a fixed grid of bounds and the engine picks the right pair
afterwards (GrowthBook's ``getQuantileBoundsFromQueryResponse``). From 100 units
on, the variance is floored at ``1e-5``; with fewer than ``z^2 nu / (1 - nu)`` or
``z^2 (1 - nu) / nu`` units the bounds would leave (0, 1), and with tied bounds
(``variance_init == 0``) below 1000 units there is nothing to estimate: such a
variant has *zero variance* and the comparison is not tested, as in gbstats.

:func:`quantile_levels` says which order statistics SQL must fetch;
:meth:`QuantileStats.from_values` computes the same numbers from raw values with
numpy's ``"linear"`` quantile, which is DuckDB's ``quantile_cont`` (and Postgres'
``PERCENTILE_CONT``, GrowthBook's one exact dialect; its other warehouses use
approximate percentiles). The continuous quantile is chosen over
``quantile_disc`` because the bounds at levels ``1e-8`` apart must move with the
level to give a width, and because it is what GrowthBook's exact SQL computes.

:meth:`QuantileStats.estimate` turns a variant into the engine's common
:class:`~abtest.stats.inference.GroupEstimate`, so that the relative lift, its
delta-method variance, Welch's degrees of freedom and the always-valid sequence
are those of every other metric (:func:`compare_quantiles`). Unit quantiles
only: an *event* quantile (``n`` counts events, clustered in users) needs
gbstats' ``QuantileClusteredStatistic`` correction, which is not implemented.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as st

from abtest.stats import sequential
from abtest.stats.compare import _effect, _relative_problem
from abtest.stats.errors import StatsInputError
from abtest.stats.inference import ContrastArrays, GroupEstimate, check_settings, contrast
from abtest.stats.moments import _count, _finite
from abtest.stats.names import Test
from abtest.stats.results import Comparison, Effect

N_STAR_VALUES: tuple[int, ...] = tuple(100 * 2**k for k in range(20))
"""GrowthBook's grid of ``n*`` (``N_STAR_VALUES``, back-end experimentQueries/constants.ts)."""
BOUNDS_ALPHA = 0.05
"""The level of the quantile's bounds (GrowthBook's SQL and gbstats' variance both fix it)."""
LOWEST_LEVEL, HIGHEST_LEVEL = 0.00000001, 0.99999999
"""Where GrowthBook clips the bounds' levels (``getQuantileBoundValues``)."""
VARIANCE_FLOOR = 1e-5
"""gbstats' floor on the per-unit variance from :data:`FLOOR_FROM_N` units on."""
FLOOR_FROM_N = 100
TIES_TESTABLE_FROM_N = 1000
"""Tied bounds (``variance_init == 0``) make a variant untestable below this many units."""
_Z = float(st.norm.ppf(1.0 - 0.5 * BOUNDS_ALPHA))


def quantile_levels(n: int, nu: float) -> tuple[int, float, float]:
    """``(n_star, lower_level, upper_level)``: the order statistics SQL must fetch.

    For a variant with ``n`` units (non-null values) and the quantile level
    ``nu``, SQL returns the quantiles at ``nu``, ``lower_level`` and
    ``upper_level`` (``quantile_cont``), which become :class:`QuantileStats`'
    ``quantile_hat``, ``quantile_lower`` and ``quantile_upper``. ``n_star`` is the
    largest of :data:`N_STAR_VALUES` strictly below ``n`` (100 when none is), and
    the levels are ``nu -/+ z_0.975 sqrt(nu (1 - nu) / n_star)`` clipped to
    ``[1e-8, 0.99999999]``, exactly as GrowthBook's SQL (``getQuantileBoundValues``).
    """
    n = _count("quantile_levels", "n", n)
    nu = _level("quantile_levels", nu)
    n_star = max((s for s in N_STAR_VALUES if s < n), default=N_STAR_VALUES[0])
    half = _Z * math.sqrt(nu * (1.0 - nu) / n_star)
    return n_star, max(nu - half, LOWEST_LEVEL), min(nu + half, HIGHEST_LEVEL)


def _level(owner: str, nu: object) -> float:
    """A quantile level strictly inside (0, 1), or :class:`StatsInputError` naming ``owner``."""
    value = _finite(owner, "nu", nu)
    if not 0.0 < value < 1.0:
        raise StatsInputError(f"{owner}.nu must be a quantile level in (0, 1), got {nu!r}")
    return value


def variance_init(
    n: ArrayLike, n_star: ArrayLike, lower: ArrayLike, upper: ArrayLike
) -> np.ndarray:
    """gbstats' per-unit variance of the quantile before its floor, batched (0 for ``n <= 1``)."""
    n, n_star = np.asarray(n, dtype=float), np.asarray(n_star, dtype=float)
    width = (np.asarray(upper, dtype=float) - np.asarray(lower, dtype=float)) / (2.0 * _Z)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (n_star / n) * (n - 1.0) * width * width
    return np.where(n <= 1, 0.0, value)


def quantile_estimate(
    n: ArrayLike,
    n_star: ArrayLike,
    quantile_hat: ArrayLike,
    quantile_lower: ArrayLike,
    quantile_upper: ArrayLike,
) -> GroupEstimate:
    """The engine's :class:`GroupEstimate` of quantiles, batched (many variants, runs...).

    Mean: the sample quantile; per-unit variance: :func:`variance_init`, floored
    at :data:`VARIANCE_FLOOR` from :data:`FLOOR_FROM_N` units on (gbstats'
    ``QuantileStatistic.variance``). No zero-variance rule here: see
    :meth:`QuantileStats.zero_variance_reason`.
    """
    n = np.asarray(n, dtype=float)
    raw = variance_init(n, n_star, quantile_lower, quantile_upper)
    var = np.where(n < FLOOR_FROM_N, raw, np.maximum(raw, VARIANCE_FLOOR))
    return GroupEstimate.unadjusted(n, quantile_hat, var)


@dataclass(frozen=True)
class QuantileStats:
    """One variant of a quantile metric: gbstats' ``QuantileStatistic``, field for field.

    ``n`` units (users with a value), the quantile level ``nu``, the sample
    quantile ``quantile_hat`` and the quantiles ``quantile_lower`` /
    ``quantile_upper`` at the levels :func:`quantile_levels` gives for ``n_star``.
    """

    n: int
    n_star: int
    nu: float
    quantile_hat: float
    quantile_lower: float
    quantile_upper: float

    def __post_init__(self) -> None:
        owner = "QuantileStats"
        object.__setattr__(self, "n", _count(owner, "n", self.n))
        object.__setattr__(self, "n_star", _count(owner, "n_star", self.n_star))
        if self.n_star == 0:
            raise StatsInputError(f"{owner}.n_star must be positive, got {self.n_star!r}")
        object.__setattr__(self, "nu", _level(owner, self.nu))
        for name in ("quantile_hat", "quantile_lower", "quantile_upper"):
            object.__setattr__(self, name, _finite(owner, name, getattr(self, name)))
        if not self.quantile_lower <= self.quantile_hat <= self.quantile_upper:
            raise StatsInputError(
                f"{owner}: the quantiles must be ordered, quantile_lower <= quantile_hat <= "
                f"quantile_upper; got {self.quantile_lower!r}, {self.quantile_hat!r}, "
                f"{self.quantile_upper!r}"
            )

    @classmethod
    def from_values(cls, values: ArrayLike, nu: float) -> QuantileStats:
        """The statistics GrowthBook's SQL returns, computed from raw per-unit values.

        NaN values are left out, as SQL's ``COUNT(value)`` and ``quantile_cont``
        skip NULLs; the quantiles are numpy's ``"linear"`` ones (DuckDB's
        ``quantile_cont``). Without values every quantile is 0, as GrowthBook
        reads a NULL quantile.
        """
        x = np.asarray(values, dtype=float).ravel()
        x = x[~np.isnan(x)]
        n_star, low, high = quantile_levels(x.size, nu)
        if x.size == 0:
            return cls(0, n_star, nu, 0.0, 0.0, 0.0)
        hat, lower, upper = np.quantile(x, [nu, low, high], method="linear")
        return cls(int(x.size), n_star, nu, float(hat), float(lower), float(upper))

    @property
    def variance_init(self) -> float:
        """gbstats' ``variance_init``: the per-unit variance before the floor."""
        return float(variance_init(self.n, self.n_star, self.quantile_lower, self.quantile_upper))

    def estimate(self) -> GroupEstimate:
        """The variant as the engine's :class:`GroupEstimate` (batch shape ``()``)."""
        return quantile_estimate(
            self.n, self.n_star, self.quantile_hat, self.quantile_lower, self.quantile_upper
        )

    def zero_variance_reason(self) -> str | None:
        """Why gbstats treats this variant as having zero variance (``_has_zero_variance``).

        Too few units for the bounds to stay inside (0, 1):
        ``n <= z^2 nu / (1 - nu)`` or ``n <= z^2 (1 - nu) / nu``; or tied bounds
        (``variance_init <= 0``) with fewer than 1000 units. ``None`` otherwise.
        """
        needed = _Z * _Z * max(self.nu / (1.0 - self.nu), (1.0 - self.nu) / self.nu)
        if self.n <= needed:
            return (
                f"{self.n} units are too few to bound the {self.nu:g} quantile "
                f"(more than {needed:.1f} are needed)"
            )
        if self.variance_init <= 0.0 and self.n < TIES_TESTABLE_FROM_N:
            return (
                f"the {self.nu:g} quantile's bounds are tied (many equal values) with fewer "
                f"than {TIES_TESTABLE_FROM_N} units"
            )
        return None


def compare_quantiles(
    control: QuantileStats,
    treatment: QuantileStats,
    *,
    alpha: float = 0.05,
    test: Test = "welch",
    sequential_tuning: float = sequential.DEFAULT_TUNING,
) -> Comparison:
    """Compare a quantile between treatment and control: absolute and relative difference.

    gbstats' ``TwoSidedTTest`` (``test="welch"``) or ``SequentialTwoSidedTTest``
    (``"sequential"``) on ``QuantileStatistic``, through the engine's
    :func:`~abtest.stats.inference.contrast`: the relative lift is
    ``(q_t - q_c) / q_c`` with the delta-method variance; ``"z"`` uses the normal.
    The comparison's ``metric_type`` is ``"quantile"`` and its means are the
    sample quantiles.

    As in gbstats, a variant with *zero variance*
    (:meth:`QuantileStats.zero_variance_reason`) makes both effects untestable:
    their estimates are kept, the rest is NaN and ``message`` says why. No units
    leave nothing to estimate; a control quantile <= 0 leaves the relative lift
    undefined. Raises :class:`StatsInputError` for other statistics, different
    quantile levels or invalid settings.
    """
    for label, q in (("control", control), ("treatment", treatment)):
        if not isinstance(q, QuantileStats):
            raise StatsInputError(f"{label} must be QuantileStats, got {type(q).__name__}")
    if control.nu != treatment.nu:
        raise StatsInputError(
            f"control and treatment must measure the same quantile, got nu = {control.nu!r} "
            f"and {treatment.nu!r}"
        )
    check_settings(alpha, test, sequential_tuning)
    with np.errstate(all="ignore"):
        arrays = contrast(
            control.estimate(),
            treatment.estimate(),
            alpha=alpha,
            test=test,
            sequential_tuning=sequential_tuning,
        )
    absolute, relative = _quantile_effects(control, treatment, arrays, 1.0 - alpha)
    messages = list(dict.fromkeys(m for m in (absolute.message, relative.message) if m))
    return Comparison(
        metric_type="quantile",  # type: ignore[arg-type]  # not a moments-based MetricType
        test=test,
        alpha=float(alpha),
        control_n=control.n,
        treatment_n=treatment.n,
        control_mean=control.quantile_hat if control.n else math.nan,
        treatment_mean=treatment.quantile_hat if treatment.n else math.nan,
        absolute=absolute,
        relative=relative,
        sequential_tuning=float(sequential_tuning) if test == "sequential" else None,
        message="; ".join(messages) or None,
    )


def _quantile_effects(
    control: QuantileStats, treatment: QuantileStats, arrays: ContrastArrays, ci_level: float
) -> tuple[Effect, Effect]:
    """The absolute and relative effects, or why they are undefined or untested."""
    groups = {"control": control, "treatment": treatment}
    empty = [label for label, q in groups.items() if q.n == 0]
    if empty:
        undefined = Effect.undefined(f"no units in {' and '.join(empty)}", ci_level=ci_level)
        return undefined, undefined
    relative_problem = _relative_problem(control.quantile_hat)
    reasons = [f"{label}: {r}" for label, q in groups.items() if (r := q.zero_variance_reason())]
    if reasons:
        why = "; ".join(reasons) + ", so its variance is taken as zero and the difference "
        why += "cannot be tested (as in GrowthBook)"
        absolute = Effect.undefined(
            why, ci_level=ci_level, estimate=float(arrays.absolute.estimate)
        )
        relative = Effect.undefined(
            relative_problem or why,
            ci_level=ci_level,
            estimate=math.nan if relative_problem else float(arrays.relative.estimate),
        )
        return absolute, relative
    settings = {"ci_level": ci_level, "single": [], "all_zero_variance": False}
    absolute = _effect(arrays.absolute, **settings)
    if relative_problem:
        return absolute, Effect.undefined(relative_problem, ci_level=ci_level)
    return absolute, _effect(arrays.relative, **settings)
