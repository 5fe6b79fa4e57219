"""What an analysis returns: frozen results that render as a terminal table,
convert to a polars DataFrame and to JSON, and show as HTML in Jupyter.

Results carry numbers and names, not prose: the sentences an analyst reads are
built from these fields by the formatters (the decision's by
:func:`abtest.analysis.decision_text.decision_text`). Reports read these
objects; they never recompute statistics.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from abtest import format as fmt
from abtest.spec.models import Direction
from abtest.stats import BayesianEffect, Comparison, Effect, MetricType, SrmResult, Test

Group = Literal["primary", "secondary", "guardrail"]
"""The role of a metric in the spec."""
Kind = Literal["mean", "proportion", "ratio", "quantile", "ndcg", "mrr", "tap_position"]
"""A metric's kind as the spec defines it (its metric type adds CUPED)."""
Verdict = Literal["better", "worse", "inconclusive", "undefined"]
"""How one comparison reads: significantly better or worse, not significant, not testable."""
DecisionVerdict = Literal["winner", "loser", "no_difference", "guardrail_breached", "invalid"]
"""The analysis' answer (see :class:`Decision`)."""
Correction = Literal["holm", "bh", "none"]
"""The multiple-testing correction the spec asks for."""
Engine = Literal["frequentist", "bayesian"]
"""Which read-out decides: p-values and confidence intervals, or chance to win and risk."""


@dataclass(frozen=True)
class MetricInfo:
    """A metric as the spec defines it, and how its values read."""

    name: str
    group: Group
    kind: Kind
    metric_type: MetricType
    """What the engine computed: the kind, or ``cuped_mean`` / ``cuped_ratio``."""
    direction: Direction
    description: str
    percent: bool
    """Whether values read best as percentages (proportions, and ratios of counts)."""
    cap: float | None
    """The winsorization cap applied to each user's value, if any."""
    k: int | None = None
    """The cutoff of a ranking metric (``ndcg``, ``mrr``), e.g. 10 for nDCG@10."""


@dataclass(frozen=True)
class VariantValue:
    """One metric's value in one variant."""

    metric: str
    variant: str
    users: int
    value: float


@dataclass(frozen=True)
class MetricComparison:
    """One treatment variant against the control on one metric, read for the analyst.

    ``comparison`` holds both effects with their raw p-values and intervals at
    the nominal level and, after a multiple-testing correction, the adjusted
    p-values and widened intervals beside them. The fields here are those of the
    relative lift (of the absolute effect when the lift could not be tested):

    - ``p_value``: the raw two-sided p-value;
    - ``p_adjusted``: the p-value adjusted for the correction, ``None`` without one;
    - ``significant``: ``p_adjusted`` (or ``p_value`` without a correction) < alpha;
    - ``p_worse``: guardrails only, the one-sided, unadjusted p-value that the
      metric got worse; ``guardrail_breached`` is ``p_worse < alpha``.
    """

    metric: str
    group: Group
    variant: str
    control: str
    comparison: Comparison
    p_value: float
    p_adjusted: float | None
    significant: bool
    verdict: Verdict
    """``better``, ``worse``, ``inconclusive`` or ``undefined`` (see ``comparison.message``)."""
    p_worse: float | None
    guardrail_breached: bool
    bayes: BayesianEffect | None = None
    """With ``analysis.engine: bayesian``: chance to win, risk and the credible interval of
    the relative lift, which then decide ``significant``, ``verdict`` and
    ``guardrail_breached`` (see :class:`BayesianSettings`); ``None`` otherwise."""

    @property
    def effect(self) -> Effect:
        """The effect the fields above describe (the relative lift when it was tested)."""
        rel = self.comparison.relative
        return rel if math.isfinite(rel.p_value) else self.comparison.absolute


@dataclass(frozen=True)
class DailyPoint:
    """The cumulative comparison at the end of one day (users and events so far)."""

    metric: str
    variant: str
    day: dt.date
    control_users: int
    treatment_users: int
    control_value: float
    treatment_value: float
    lift: float
    lift_low: float
    lift_high: float
    p_value: float


@dataclass(frozen=True)
class SegmentPoint:
    """The comparison within one segment (e.g. platform = ios)."""

    segment: str
    value: str
    metric: str
    variant: str
    control_users: int
    treatment_users: int
    control_value: float
    treatment_value: float
    lift: float
    lift_low: float
    lift_high: float
    p_value: float


@dataclass(frozen=True)
class ExposureDay:
    """New and cumulative exposed users of a variant on one day."""

    day: dt.date
    variant: str
    new_users: int
    cumulative_users: int


@dataclass(frozen=True)
class Health:
    """Can the experiment be trusted? Split, exposures over time, anomalies."""

    srm: SrmResult
    users: dict[str, int]
    mixed_users: int
    """Users exposed to more than one variant: excluded from the analysis."""
    exposures_per_day: tuple[ExposureDay, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    """The analysis' answer, as fields: what was decided, about which variant, on what.

    - ``verdict``: ``invalid`` (sample ratio mismatch: nothing else is read),
      ``winner`` / ``guardrail_breached`` (the variant with the largest
      significant improvement of the primary metric; ``guardrail_breached`` when
      it breached a guardrail), ``loser`` (a variant significantly worse on the
      primary metric, none better) or ``no_difference``;
    - ``variant``: the variant the verdict names (``None`` for ``invalid`` and
      ``no_difference``);
    - ``metric``: the primary metric the decision reads (the first one);
    - ``rests_on``: ``(metric, variant)`` of the comparison the verdict rests on
      (``AnalysisResult.comparison(*rests_on)``), ``None`` when no single
      comparison decides;
    - ``breached_guardrails``: the guardrail metrics the named variant breached;
    - ``srm_p_value`` / ``srm_flagged``: the sample ratio mismatch check the
      verdict first reads.

    The words every output shows (headline and reason) are built from these
    fields by :func:`abtest.analysis.decision_text.decision_text`.
    """

    verdict: DecisionVerdict
    variant: str | None
    metric: str
    rests_on: tuple[str, str] | None
    breached_guardrails: tuple[str, ...]
    srm_p_value: float
    srm_flagged: bool


@dataclass(frozen=True)
class BayesianSettings:
    """The Bayesian read-out's settings, as the spec gave them (GrowthBook's defaults).

    A treatment is better when its chance to win is above ``chance_to_win`` and
    the risk of choosing it (its expected relative loss) is at most
    ``risk_threshold``; worse when its chance to win is below ``1 - chance_to_win``
    and the risk of keeping the control is at most ``risk_threshold``
    (:func:`abtest.stats.bayesian_verdict`: GrowthBook's won/lost rule on chance to
    win, with its win-risk threshold added). A guardrail is breached when its
    chance to win is below ``1 - chance_to_win``: it got worse with a probability
    above ``chance_to_win``. No correction for multiple testing applies.
    """

    chance_to_win: float
    risk_threshold: float
    prior_mean: float | None
    """The mean of the Gaussian prior on the relative lift; ``None``: a flat prior."""
    prior_variance: float | None


@dataclass(frozen=True)
class AnalysisResult:
    """Everything the analyzer computed for one experiment."""

    experiment: str
    description: str
    start: dt.datetime
    end: dt.datetime
    as_of: dt.datetime | None
    control: str
    variants: tuple[str, ...]
    weights: tuple[float, ...]
    alpha: float
    test: Test
    correction: Correction
    cuped_days: int
    metrics: tuple[MetricInfo, ...]
    values: tuple[VariantValue, ...]
    comparisons: tuple[MetricComparison, ...]
    daily: tuple[DailyPoint, ...]
    segments: tuple[SegmentPoint, ...]
    health: Health
    decision: Decision
    bayesian: BayesianSettings | None = None
    """The Bayesian read-out's settings with ``analysis.engine: bayesian``; ``None``
    for the frequentist read-out (the default)."""
    open_windows: dict[str, int] = dataclasses.field(default_factory=dict)
    """Per windowed metric, the users whose window had not ended when the analysis
    ended: they count with what they did so far (GrowthBook's in-progress conversions)."""
    source: str | None = None
    """Where the numbers were read from, when it is worth saying: with experiment state
    (``looklift refresh``), ``from state up to ...`` or why the state was not used and
    the raw tables were read; on another engine than DuckDB, which and its tables
    (``Spark (local[2]): exports/``). ``None``: the store's raw tables."""

    @property
    def engine(self) -> Engine:
        """``bayesian`` when chance to win and risk decide, else ``frequentist``."""
        return "frequentist" if self.bayesian is None else "bayesian"

    # -- lookups ---------------------------------------------------------------------
    def metric(self, name: str) -> MetricInfo:
        """The metric called ``name``; ``KeyError`` if the analysis has none."""
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(name)

    def value(self, metric: str, variant: str) -> VariantValue:
        """One metric's value in one variant."""
        for v in self.values:
            if v.metric == metric and v.variant == variant:
                return v
        raise KeyError((metric, variant))

    @property
    def cuped_text(self) -> str:
        """How CUPED was applied, e.g. "CUPED on 7 pre-period days"; "" without it.

        Names the adjusted metrics when some metrics opted out.
        """
        if not self.cuped_days:
            return ""
        adjusted = [m.name for m in self.metrics if m.metric_type.startswith("cuped")]
        text = f"CUPED on {self.cuped_days} pre-period days"
        return text if len(adjusted) == len(self.metrics) else f"{text} ({', '.join(adjusted)})"

    def comparison(self, metric: str, variant: str | None = None) -> MetricComparison:
        """The comparison of ``variant`` (the first treatment by default) on ``metric``."""
        for c in self.comparisons:
            if c.metric == metric and (variant is None or c.variant == variant):
                return c
        raise KeyError((metric, variant))

    # -- conversions ----------------------------------------------------------------
    def to_frame(self) -> pl.DataFrame:
        """The metric table: one row per metric and treatment variant.

        ``p_value`` is raw, ``p_adjusted`` adjusted (null without a correction);
        ``relative_ci_*`` is the interval at ``ci_level`` (1 - alpha) and
        ``relative_ci_*_adjusted`` the one widened for the correction, at
        ``ci_level_adjusted``; ``p_worse`` is the guardrails' one-sided p-value.
        """
        rows = []
        for c in self.comparisons:
            cmp = c.comparison
            rows.append(
                {
                    "metric": c.metric,
                    "group": c.group,
                    "variant": c.variant,
                    "control_value": cmp.control_mean,
                    "treatment_value": cmp.treatment_mean,
                    "control_users": cmp.control_n,
                    "treatment_users": cmp.treatment_n,
                    "absolute_effect": cmp.absolute.estimate,
                    "absolute_ci_low": cmp.absolute.ci_low,
                    "absolute_ci_high": cmp.absolute.ci_high,
                    "relative_lift": cmp.relative.estimate,
                    "relative_ci_low": cmp.relative.ci_low,
                    "relative_ci_high": cmp.relative.ci_high,
                    "ci_level": cmp.relative.ci_level,
                    "relative_ci_low_adjusted": cmp.relative.ci_low_adjusted,
                    "relative_ci_high_adjusted": cmp.relative.ci_high_adjusted,
                    "ci_level_adjusted": cmp.relative.ci_level_adjusted,
                    "p_value": c.p_value,
                    "p_adjusted": c.p_adjusted,
                    "significant": c.significant,
                    "verdict": c.verdict,
                    "p_worse": c.p_worse,
                    "guardrail_breached": c.guardrail_breached,
                    "message": cmp.message,
                    **_bayes_columns(c),
                }
            )
        return pl.DataFrame(rows)

    def daily_frame(self) -> pl.DataFrame:
        """The day-by-day series: one row per metric, treatment and day."""
        return pl.DataFrame([dataclasses.asdict(d) for d in self.daily])

    def segments_frame(self) -> pl.DataFrame:
        """The segment breakdown: one row per segment value, metric and treatment."""
        return pl.DataFrame([dataclasses.asdict(s) for s in self.segments])

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain JSON values (NaN as ``None``, dates as ISO text)."""
        return fmt.jsonable(dataclasses.asdict(self))

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    # -- display --------------------------------------------------------------------
    # The renderer reads results (their types only); a result reaches it only when shown,
    # so neither module imports the other when loaded.
    def __rich__(self) -> Any:
        """The terminal summary (decision, health, metric table), for ``rich``."""
        from abtest.analysis.render import rich_summary

        return rich_summary(self)

    def _repr_html_(self) -> str:
        """The decision and metric table as HTML, for Jupyter."""
        from abtest.analysis.render import html_table

        return html_table(self)


def _bayes_columns(c: MetricComparison) -> dict[str, float]:
    """The Bayesian read-out's columns of :meth:`AnalysisResult.to_frame` (none without it)."""
    b = c.bayes
    if b is None:
        return {}
    return {
        "chance_to_win": b.chance_to_win,
        "risk_control": b.risk_control,
        "risk_treatment": b.risk_treatment,
        "relative_cri_low": b.ci_low,
        "relative_cri_high": b.ci_high,
        "cri_level": b.ci_level,
    }
