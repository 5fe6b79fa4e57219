"""Offline evaluation as the CLI and the demo run it: judgments, paired comparison,
and the counterfactual tap rate of each encoder, from one store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from abtest.store import Store
from offline_eval import (
    CounterfactualEstimate,
    EncoderComparison,
    OfflineEvalError,
    compare_encoders,
    counterfactual_tap_rate,
    coverage_warning,
    evaluate_encoder,
    load_judgments,
)

AUTO = "auto"
UNBIASED_POLICY = "search"


@dataclass(frozen=True)
class OfflineResult:
    """Everything ``looklift offline-eval`` reports."""

    encoders: tuple[str, str]
    judgments_from: str | None
    """The logging policy whose interactions gave the relevance judgments (None: all)."""
    production: str | None
    """The logging policy of the module, whose propensities the counterfactual uses."""
    n_queries: int
    """Judged queries: source items with at least one judged candidate."""
    n_judged_items: int
    """Judged (query, item) pairs over all queries (the per-query counts summed)."""
    comparison: EncoderComparison
    counterfactual: tuple[CounterfactualEstimate, ...]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "encoders": list(self.encoders),
            "judgments_from": self.judgments_from,
            "production": self.production,
            "n_queries": self.n_queries,
            "n_judged_items": self.n_judged_items,
            "comparison": self.comparison.to_dict(),
            "counterfactual": [c.to_dict() for c in self.counterfactual],
            "warnings": list(self.warnings),
        }


def _policies(store: Store) -> list[str]:
    return [
        r[0]
        for r in store.con.execute(
            "SELECT DISTINCT policy FROM interactions WHERE policy IS NOT NULL ORDER BY 1"
        ).fetchall()
    ]


def run_offline_eval(
    store: Store,
    encoders: Sequence[str],
    *,
    ks: Sequence[int] = (1, 3, 5, 10),
    metrics: Sequence[str] | None = None,
    judgments_from: str | None = AUTO,
    production: str | None = AUTO,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    seed: int = 0,
) -> OfflineResult:
    """Compare encoder B with encoder A offline, and predict each one's tap rate.

    ``judgments_from="auto"`` uses the unbiased ``search`` logs when there are
    any (judgments from the production module's own logs favour the production
    encoder, which chose what was shown); ``production="auto"`` takes the first
    encoder as the policy that served the logged module.
    """
    if len(encoders) != 2:
        raise OfflineEvalError(f"--encoders takes two encoders, A,B (got {len(encoders)})")
    if not store.has_table("interactions") or not store.count("interactions"):
        raise OfflineEvalError(
            f"{store.path} has no interaction logs; bring yours with 'looklift ingest "
            "interactions FILE' or simulate some with 'looklift history'"
        )
    a, b = encoders
    policies = _policies(store)
    warnings = []
    if judgments_from == AUTO:
        judgments_from = UNBIASED_POLICY if UNBIASED_POLICY in policies else None
    if judgments_from is None and any(e in policies for e in encoders):
        warnings.append(
            "relevance judgments come from logs that one of the encoders served; they favour it"
        )
    if production == AUTO:
        production = a if a in policies else None
    judgments = load_judgments(store, start=start, end=end, logging_policy=judgments_from)
    evaluations = [
        evaluate_encoder(
            store, e, judgments, ks=tuple(ks), **({"metrics": tuple(metrics)} if metrics else {})
        )
        for e in encoders
    ]
    comparison = compare_encoders(evaluations[0], evaluations[1], seed=seed)
    counterfactual: list[CounterfactualEstimate] = []
    if production is not None:
        for e in encoders:
            counterfactual.append(
                counterfactual_tap_rate(store, e, start=start, end=end, logging_policy=production)
            )
        warnings.extend(w for c in counterfactual if (w := coverage_warning(c)) is not None)
    else:
        warnings.append("no module logs with propensities: no counterfactual tap rate")
    return OfflineResult(
        encoders=(a, b),
        judgments_from=judgments_from,
        production=production,
        n_queries=judgments.n_queries,
        n_judged_items=int(judgments.n_relevant.sum()),
        comparison=comparison,
        counterfactual=tuple(counterfactual),
        warnings=tuple(warnings),
    )
