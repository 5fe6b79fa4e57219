"""Frozen results of offline evaluation, ready for tables, reports and JSON.

Every result converts to a polars DataFrame (``to_frame``) and to plain dicts
(``to_dict`` / ``to_dicts``) whose values are JSON-safe: NaN and infinity,
which JSON cannot hold, become ``None`` (for example the lift when the
baseline's mean is 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np
import polars as pl

from abtest.format import jsonable

CiMethod = Literal["bca", "percentile"]
"""The bootstrap interval of a paired comparison."""
Correction = Literal["holm", "none"]
"""The multiple-testing correction over a comparison's rows."""


def metric_key(metric: str, k: int) -> str:
    """The name of a metric at a cutoff, as ranx writes it: ``ndcg@5``."""
    return f"{metric}@{k}"


@dataclass(frozen=True, eq=False)
class RunEvaluation:
    """Scores of one run against judgments, per query and on average.

    Queries are the judged queries (in the order of ``query_ids``), so the
    evaluations of two encoders against the same judgments pair up row by row.
    """

    name: str
    """The encoder (run) evaluated."""
    query_ids: np.ndarray
    """Judged queries, shape ``(n_queries,)``."""
    scores: Mapping[str, np.ndarray]
    """Per-query scores by metric key (``"ndcg@5"``), each aligned with ``query_ids``."""
    metrics: tuple[str, ...]
    ks: tuple[int, ...]
    coverage: Mapping[int, float]
    """Catalog coverage by k: share of the catalog in at least one top-k of the run
    (empty when no catalog size was given)."""
    catalog_size: int | None
    n_missing: int
    """Judged queries the run has no ranking for; they score 0 (as in ranx)."""
    n_no_relevant: int
    """Source items dropped from the judgments because nothing was relevant."""
    n_unjudged: int
    """Queries of the run without judgments; not scored (they count for coverage)."""

    @property
    def n_queries(self) -> int:
        return int(self.query_ids.size)

    def mean(self, metric: str, k: int) -> float:
        """Mean over the judged queries of ``metric`` at ``k``."""
        return float(np.mean(self.scores[metric_key(metric, k)]))

    def to_frame(self) -> pl.DataFrame:
        """One row per (metric, k): encoder, metric, k, mean, n_queries."""
        return pl.DataFrame(
            [
                {
                    "encoder": self.name,
                    "metric": m,
                    "k": k,
                    "mean": self.mean(m, k),
                    "n_queries": self.n_queries,
                }
                for m in self.metrics
                for k in self.ks
            ]
        )

    def per_query(self) -> pl.DataFrame:
        """One row per judged query: ``query_id`` and a column per metric key."""
        return pl.DataFrame({"query_id": self.query_ids, **dict(self.scores)})

    def to_dict(self) -> dict[str, Any]:
        """Means and counts (not the per-query scores), JSON-safe."""
        return jsonable(
            {
                "encoder": self.name,
                "n_queries": self.n_queries,
                "n_missing": self.n_missing,
                "n_no_relevant": self.n_no_relevant,
                "n_unjudged": self.n_unjudged,
                "catalog_size": self.catalog_size,
                "means": {key: float(np.mean(v)) for key, v in self.scores.items()},
                "coverage": {str(k): v for k, v in self.coverage.items()},
            }
        )


@dataclass(frozen=True)
class PairedResult:
    """Encoder B against encoder A on one metric at one k, over the same queries."""

    metric: str
    k: int
    encoder_a: str
    encoder_b: str
    n_queries: int
    mean_a: float
    mean_b: float
    diff: float
    """``mean_b - mean_a``."""
    diff_ci: tuple[float, float]
    lift: float
    """``mean_b / mean_a - 1``; NaN when ``mean_a`` is 0."""
    lift_ci: tuple[float, float]
    p_value: float
    """Two-sided paired t-test of the per-query differences."""
    p_adjusted: float
    """``p_value`` after the correction of the comparison (Holm by default)."""

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


@dataclass(frozen=True)
class EncoderComparison:
    """Every (metric, k) of a paired comparison, with the settings that produced it."""

    encoder_a: str
    encoder_b: str
    rows: tuple[PairedResult, ...]
    confidence: float
    ci_method: CiMethod
    """``"bca"`` or ``"percentile"`` bootstrap."""
    n_resamples: int
    seed: int
    correction: Correction
    """Multiple-testing correction over the rows (``"holm"`` or ``"none"``)."""
    n_queries: int
    n_missing_a: int
    n_missing_b: int
    n_no_relevant: int

    def get(self, metric: str, k: int) -> PairedResult:
        """The row of ``metric`` at ``k``."""
        for row in self.rows:
            if row.metric == metric and row.k == k:
                return row
        raise KeyError(metric_key(metric, k))

    def to_dicts(self) -> list[dict[str, Any]]:
        """One JSON-safe dict per row."""
        return [row.to_dict() for row in self.rows]

    def to_dict(self) -> dict[str, Any]:
        """The settings, counts and rows, JSON-safe."""
        head = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rows"}
        return jsonable({**head, "rows": self.to_dicts()})

    def to_frame(self) -> pl.DataFrame:
        """One row per (metric, k); intervals as ``*_low`` / ``*_high`` columns."""
        records = []
        for row in self.rows:
            record = asdict(row)
            for name in ("diff_ci", "lift_ci"):
                low, high = record.pop(name)
                stem = name.removesuffix("_ci")
                record[f"{stem}_low"], record[f"{stem}_high"] = low, high
            records.append(record)
        return pl.DataFrame(records)


@dataclass(frozen=True)
class CounterfactualEstimate:
    """The tap rate per impression slot a target policy would get, estimated from logs."""

    policy: str
    """The target policy (encoder) evaluated."""
    n_impressions: int
    n_matched: int
    """Logged impressions the target policy could have produced (weight > 0)."""
    logged_tap_rate: float
    """Observed taps per impression of the logging policy, for reference."""
    ips: float
    ips_se: float
    ips_ci: tuple[float, float]
    snips: float
    snips_se: float
    snips_ci: tuple[float, float]
    effective_sample_size: float
    """``(sum w)^2 / sum w^2`` of the importance weights."""
    max_weight: float
    confidence: float
    target_slots_logged: float | None = None
    """Share of the target's (source, position, item) slots seen in the log at all;
    low values warn that the log barely covers the target (``None`` if unknown)."""

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))

    def to_frame(self) -> pl.DataFrame:
        record = self.to_dict()
        for name in ("ips_ci", "snips_ci"):
            low, high = record.pop(name)
            stem = name.removesuffix("_ci")
            record[f"{stem}_low"], record[f"{stem}_high"] = low, high
        return pl.DataFrame([record])
