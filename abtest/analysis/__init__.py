"""The analyzer: SQL over the store returns per-variant moments; the stats engine does the rest.

``analyze(store, spec)`` returns an :class:`AnalysisResult` that renders as a
terminal table, converts to polars and JSON, and displays in Jupyter.
:class:`MetricMoments` is the contract between the two sides: one per metric,
it names the metric's moment columns in SQL and reads query results back into
the engine's :class:`~abtest.stats.MomentArrays`. :func:`decision_text` says the
decision in words; :func:`json_summary` is the result as JSON with those words.
"""

from abtest.analysis.analyze import analyze, variant_stats
from abtest.analysis.decision_text import decision_text, json_summary
from abtest.analysis.moments import MetricMoments, Moment, metric_moments
from abtest.analysis.result import (
    AnalysisResult,
    DailyPoint,
    Decision,
    ExposureDay,
    Health,
    MetricComparison,
    MetricInfo,
    SegmentPoint,
    VariantValue,
)
from abtest.analysis.window import AnalysisError, analysis_window

__all__ = [
    "AnalysisError",
    "AnalysisResult",
    "DailyPoint",
    "Decision",
    "ExposureDay",
    "Health",
    "MetricComparison",
    "MetricInfo",
    "MetricMoments",
    "Moment",
    "SegmentPoint",
    "VariantValue",
    "analysis_window",
    "analyze",
    "decision_text",
    "json_summary",
    "metric_moments",
    "variant_stats",
]
