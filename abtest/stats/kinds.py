"""Metric kinds: each metric type names its per-user variables once, here.

A metric type (``"mean"``, ``"ratio"``, ``"cuped_ratio"``...) is described by a
:class:`MetricKind`: the names of its per-user variables, in the order of the
last axis of :class:`~abtest.stats.moments.MomentArrays`; which of them the
metric's value divides (``numerator`` over ``denominator``, or over the users);
how a pair of variants is estimated; and the scalar dataclass people type
numbers into. Everything that reads moments goes through these names: the
engine finds a ratio's denominator as ``"den"`` wherever it sits, and the
analyzer names its SQL moment columns after the same variables
(:mod:`abtest.analysis.moments`), so SQL and statistics agree by name, not by
position.

A new metric type plugs in with one entry in :data:`KINDS` (its name in
:data:`~abtest.stats.names.MetricType`, its variables, an estimator from
:class:`MomentArrays` to :class:`~abtest.stats.inference.GroupEstimate`, a
scalar dataclass with ``as_arrays``/``from_arrays``); the analyzer then needs
the SQL expression of each of its variables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from abtest.stats.cuped import cuped_estimates
from abtest.stats.errors import StatsInputError
from abtest.stats.inference import GroupEstimate
from abtest.stats.means import mean_estimate, proportion_estimate
from abtest.stats.moments import (
    CupedMeanStats,
    CupedRatioStats,
    MeanStats,
    MomentArrays,
    ProportionStats,
    RatioStats,
)
from abtest.stats.names import METRIC_TYPES, MetricType
from abtest.stats.ratio import ratio_estimate

Stats = MeanStats | ProportionStats | RatioStats | CupedMeanStats | CupedRatioStats
"""The scalar dataclasses: one variant's moments, validated, for people typing numbers."""

Estimator = Callable[
    [MomentArrays, MomentArrays], tuple[GroupEstimate, GroupEstimate, np.ndarray | None]
]
"""Control and treatment moments to their estimates (and CUPED's shared theta, else None)."""


def _each(
    estimate: Callable[[MomentArrays], GroupEstimate],
) -> Estimator:
    """An estimator for metric types whose variants are estimated independently."""

    def both(
        control: MomentArrays, treatment: MomentArrays
    ) -> tuple[GroupEstimate, GroupEstimate, None]:
        """Each variant on its own; no covariate coefficient to share."""
        return estimate(control), estimate(treatment), None

    return both


@dataclass(frozen=True)
class MetricKind:
    """One metric type: its named per-user variables and how it is estimated."""

    name: MetricType
    variables: tuple[str, ...]
    """Per-user variables, in the order of ``MomentArrays``' last axis."""
    estimate: Estimator
    stats: type[Stats]
    """The scalar dataclass whose ``as_arrays``/``from_arrays`` use the same order."""
    numerator: str = "x"
    """The variable the metric is the mean (or, over ``denominator``, the ratio) of."""
    denominator: str | None = None
    """The variable a ratio divides by; ``None``: a mean over users."""
    pre_denominator: str | None = None
    """A CUPED ratio's covariate denominator (a zero sum makes CUPED adjust nothing)."""

    def index(self, variable: str) -> int:
        """Where ``variable`` sits on the last axis of this kind's moments."""
        return self.variables.index(variable)

    def sum_of(self, moments: MomentArrays, variable: str) -> np.ndarray:
        """The sum over users of ``variable``, batched."""
        return moments.sums[..., self.index(variable)]

    def unadjusted_mean(self, moments: MomentArrays) -> np.ndarray:
        """The metric's value per group, before any adjustment; NaN where it is undefined.

        ``sum(numerator) / n`` for a mean, ``sum(numerator) / sum(denominator)``
        for a ratio: NaN without users, or with a denominator that sums to 0.
        """
        num = self.sum_of(moments, self.numerator)
        den = moments.n if self.denominator is None else self.sum_of(moments, self.denominator)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den != 0, num / den, np.nan)


KINDS: dict[MetricType, MetricKind] = {
    kind.name: kind
    for kind in (
        MetricKind("mean", ("x",), _each(mean_estimate), MeanStats),
        MetricKind("proportion", ("x",), _each(proportion_estimate), ProportionStats),
        MetricKind("ratio", ("num", "den"), _each(ratio_estimate), RatioStats, "num", "den"),
        MetricKind(
            "cuped_mean",
            ("x", "pre_x"),
            partial(cuped_estimates, "cuped_mean"),
            CupedMeanStats,
        ),
        MetricKind(
            "cuped_ratio",
            ("num", "den", "pre_num", "pre_den"),
            partial(cuped_estimates, "cuped_ratio"),
            CupedRatioStats,
            "num",
            "den",
            "pre_den",
        ),
    )
}


def metric_kind(metric_type: str) -> MetricKind:
    """The kind of ``metric_type``; :class:`StatsInputError` for an unknown name."""
    try:
        return KINDS[metric_type]  # type: ignore[index]
    except KeyError:
        raise StatsInputError(f"metric_type must be one of {METRIC_TYPES}") from None


def metric_type_of(stats: Stats) -> MetricType:
    """The metric type a statistics object describes (``"mean"``, ``"ratio"``...)."""
    for kind in KINDS.values():
        if type(stats) is kind.stats:
            return kind.name
    raise StatsInputError(
        f"expected one of {', '.join(k.stats.__name__ for k in KINDS.values())}, "
        f"got {type(stats).__name__}"
    )
