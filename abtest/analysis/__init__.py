"""The analyzer: SQL over the store returns per-variant moments; the stats engine does the rest.

``analyze(store, spec)`` returns an :class:`AnalysisResult` that renders as a
terminal table, converts to polars and JSON, and displays in Jupyter.
"""

from abtest.analysis.analyze import AnalysisError, analysis_window, analyze, variant_stats
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

__all__ = [
    "AnalysisError",
    "AnalysisResult",
    "DailyPoint",
    "Decision",
    "ExposureDay",
    "Health",
    "MetricComparison",
    "MetricInfo",
    "SegmentPoint",
    "VariantValue",
    "analysis_window",
    "analyze",
    "variant_stats",
]
