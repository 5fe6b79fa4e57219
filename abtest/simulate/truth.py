"""The simulator's ground truth of an experiment: what each metric truly is in each variant.

Only a simulation knows it. The traffic simulator writes, per experiment and
variant, the expected rates every exposed user would have earned under that
variant into ``truth_experiments`` (one column per quantity in
:data:`TRUTH_COLUMNS`). This module is the one reader of that table and the one
place that says which spec metric each column is the truth of, and how a true
lift is computed: the traffic summary and the report both use it.

Analysis code never reads it (the analyzer must not know the answer).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from abtest.spec import ExperimentSpec, MetricDefinition
    from abtest.store import Store

TRUTH_TABLE = "truth_experiments"
TRUTH_COLUMNS = (
    "tap_rate",
    "taps_per_user",
    "purchases_per_user",
    "revenue_per_user",
    "purchase_conversion",
)
"""The true quantities the simulator records per variant (columns of :data:`TRUTH_TABLE`)."""


@dataclass(frozen=True)
class TrueEffect:
    """The simulator's true value of a metric in control and one treatment."""

    metric: str
    variant: str
    control_value: float
    treatment_value: float
    lift: float


@dataclass(frozen=True)
class SimulatorTruth:
    """Ground truth of a simulated experiment: only a simulation can know it."""

    effects: tuple[TrueEffect, ...]
    source: str = TRUTH_TABLE

    def effect(self, metric: str, variant: str) -> TrueEffect | None:
        for e in self.effects:
            if e.metric == metric and e.variant == variant:
                return e
        return None


def relative_lift(control: float, treatment: float) -> float:
    """The true relative lift ``treatment / control - 1``; NaN when the control is 0."""
    return treatment / control - 1 if control else math.nan


def truth_column(metric: MetricDefinition) -> str | None:
    """The :data:`TRUTH_COLUMNS` entry that is the true value of ``metric`` (None: unknown).

    The simulator knows expected rates per user and impression over the whole
    experiment: not those of filtered or windowed events, quantiles or the online
    ranking quality of the module, whose true values it does not compute.
    """
    if metric.numerator is None or metric.window is not None or metric.kind == "quantile":
        return None
    parts = (metric.numerator, metric.denominator)
    if any(p is not None and p.filter for p in parts):
        return None
    num = (metric.numerator.event, metric.numerator.aggregate)
    den = (metric.denominator.event, metric.denominator.aggregate) if metric.denominator else None
    if metric.kind == "ratio" and num == ("tap", "count") and den == ("impression", "count"):
        return "tap_rate"
    if metric.kind == "proportion" and metric.numerator.event == "purchase":
        return "purchase_conversion"
    if metric.kind == "mean" and num == ("purchase", "count"):
        return "purchases_per_user"
    if metric.kind == "mean" and num == ("purchase", "sum"):
        return "revenue_per_user"
    if metric.kind == "mean" and num == ("tap", "count"):
        return "taps_per_user"
    return None


def true_effects(
    spec: ExperimentSpec, by_variant: Mapping[str, Mapping[str, Any]]
) -> SimulatorTruth | None:
    """The true value of each metric of ``spec`` the simulator knows, in the control and
    each treatment, with the true lift; ``by_variant`` maps a variant to its true values
    by column (a row of :data:`TRUTH_TABLE`). ``None`` when nothing is known."""
    control = by_variant.get(spec.variant_names[0])
    if spec.metrics is None or control is None:
        return None
    effects = []
    for _, name in spec.metrics.all():
        column = truth_column(spec.metric(name))
        if column is None or column not in control:
            continue
        for v in spec.variant_names[1:]:
            if v not in by_variant:
                continue
            c, t = control[column], by_variant[v][column]
            if c is None or t is None:
                continue
            effects.append(TrueEffect(name, v, float(c), float(t), relative_lift(c, t)))
    return SimulatorTruth(tuple(effects)) if effects else None


def read_truth(store: Store, spec: ExperimentSpec) -> SimulatorTruth | None:
    """The simulator's truth of ``spec`` as recorded in ``store`` (``None`` if the
    experiment was not simulated there). Only for simulations: real data has no truth."""
    if spec.metrics is None or not store.has_table(TRUTH_TABLE):
        return None
    frame = store.query(f"SELECT * FROM {TRUTH_TABLE} WHERE experiment = ?", [spec.key])
    return true_effects(spec, {r["variant"]: r for r in frame.iter_rows(named=True)})


def why_no_truth(store: Store, spec: ExperimentSpec) -> str:
    """Why :func:`read_truth` found nothing for ``spec`` in ``store``, in a phrase."""
    if not store.has_table(TRUTH_TABLE):
        return (
            f"{store.path} holds no simulator truth (no {TRUTH_TABLE} table; "
            "only 'looklift simulate' writes one)"
        )
    if not store.count(TRUTH_TABLE, "experiment = ?", [spec.key]):
        return f"{spec.key!r} was not simulated in {store.path}, so it has no simulator truth"
    return f"the simulator knows the true value of none of {spec.key!r}'s metrics"
