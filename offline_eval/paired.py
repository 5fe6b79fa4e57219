"""Paired comparison of two encoders over the same judged queries.

Both encoders are scored on the same queries, so each query gives a pair of
scores and their difference; pairing removes the (large) variation between
queries from the comparison. For every (metric, k):

- the mean difference ``B - A`` and the relative lift ``B / A - 1``;
- a bootstrap confidence interval for both, from resampling *queries* with
  replacement (the same resamples for every metric, so intervals are
  consistent across rows); BCa by default, percentile on request. Resampling
  is vectorised: each batch of resamples is a count matrix ``W`` (resamples x
  queries) and the resampled means are one matrix product ``W @ scores``;
- the two-sided p-value of the paired t-test (scipy ``ttest_rel``), adjusted
  over all rows with Holm's method (statsmodels ``multipletests``) because
  several metrics and cutoffs are tested at once.

The seed fixes the resamples, so the same inputs always give the same report.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import get_args

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

from offline_eval.errors import OfflineEvalError
from offline_eval.results import (
    CiMethod,
    Correction,
    EncoderComparison,
    PairedResult,
    RunEvaluation,
    metric_key,
)

CI_METHODS: tuple[CiMethod, ...] = get_args(CiMethod)
CORRECTIONS: tuple[Correction, ...] = get_args(Correction)
_CELLS_PER_BATCH = 4_000_000
"""Resamples x queries held in memory at once."""


def compare_encoders(
    a: RunEvaluation,
    b: RunEvaluation,
    *,
    metrics: Iterable[str] | None = None,
    ks: Iterable[int] | None = None,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    ci_method: CiMethod = "bca",
    correction: Correction = "holm",
) -> EncoderComparison:
    """Compare encoder ``b`` with baseline ``a`` on every metric and k both were scored on.

    ``metrics`` and ``ks`` narrow the comparison (default: all of ``a``'s).
    Both evaluations must come from the same judgments.
    """
    _check_settings(confidence, n_resamples, ci_method, correction)
    if not np.array_equal(a.query_ids, b.query_ids):
        raise OfflineEvalError(
            f"{a.name} and {b.name} were scored on different queries; evaluate both "
            "against the same judgments"
        )
    if a.n_queries < 2:
        raise OfflineEvalError(
            f"a paired comparison needs at least 2 judged queries (got {a.n_queries}); "
            "log more history or widen the date range"
        )
    cells = _cells(a, b, metrics, ks)
    scores_a = np.column_stack([a.scores[metric_key(m, k)] for m, k in cells])
    scores_b = np.column_stack([b.scores[metric_key(m, k)] for m, k in cells])
    mean_a, mean_b = scores_a.mean(axis=0), scores_b.mean(axis=0)
    boot_a, boot_b = _bootstrap_means(scores_a, scores_b, n_resamples, seed)
    jack_a, jack_b = _jackknife_means(scores_a), _jackknife_means(scores_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = mean_b / mean_a - 1
        boot_lift = boot_b / boot_a - 1
        jack_lift = jack_b / jack_a - 1
    diff_ci = _intervals(mean_b - mean_a, boot_b - boot_a, jack_b - jack_a, confidence, ci_method)
    lift_ci = _intervals(lift, boot_lift, jack_lift, confidence, ci_method)
    p_values = _paired_t(scores_a, scores_b)
    if correction == "holm" and len(cells) > 1:
        p_adjusted = multipletests(p_values, alpha=1 - confidence, method="holm")[1]
    else:  # no correction, or a single test (Holm leaves one p-value as it is)
        p_adjusted = p_values
    rows = tuple(
        PairedResult(
            metric=m,
            k=k,
            encoder_a=a.name,
            encoder_b=b.name,
            n_queries=a.n_queries,
            mean_a=float(mean_a[i]),
            mean_b=float(mean_b[i]),
            diff=float(mean_b[i] - mean_a[i]),
            diff_ci=diff_ci[i],
            lift=float(lift[i]),
            lift_ci=lift_ci[i],
            p_value=float(p_values[i]),
            p_adjusted=float(p_adjusted[i]),
        )
        for i, (m, k) in enumerate(cells)
    )
    return EncoderComparison(
        encoder_a=a.name,
        encoder_b=b.name,
        rows=rows,
        confidence=confidence,
        ci_method=ci_method,
        n_resamples=n_resamples,
        seed=seed,
        correction=correction,
        n_queries=a.n_queries,
        n_missing_a=a.n_missing,
        n_missing_b=b.n_missing,
        n_no_relevant=a.n_no_relevant,
    )


def _check_settings(confidence: float, n_resamples: int, ci_method: str, correction: str) -> None:
    if not 0 < confidence < 1:
        raise OfflineEvalError(f"confidence must be between 0 and 1 (got {confidence}), e.g. 0.95")
    if n_resamples < 100:
        raise OfflineEvalError(
            f"n_resamples must be at least 100 (got {n_resamples}); 2000 is a good default"
        )
    if ci_method not in CI_METHODS:
        raise OfflineEvalError(f"unknown ci_method {ci_method!r}; use {' or '.join(CI_METHODS)}")
    if correction not in CORRECTIONS:
        raise OfflineEvalError(f"unknown correction {correction!r}; use {' or '.join(CORRECTIONS)}")


def _cells(
    a: RunEvaluation, b: RunEvaluation, metrics: Iterable[str] | None, ks: Iterable[int] | None
) -> list[tuple[str, int]]:
    """The (metric, k) pairs to compare, in ``a``'s order; each must be scored in both."""
    wanted_metrics = a.metrics if metrics is None else tuple(metrics)
    wanted_ks = a.ks if ks is None else tuple(ks)
    cells = [(m, k) for m in wanted_metrics for k in wanted_ks]
    for m, k in cells:
        key = metric_key(m, k)
        for ev in (a, b):
            if key not in ev.scores:
                raise OfflineEvalError(
                    f"{ev.name} was not scored on {key}; evaluate it with that metric and k "
                    f"(it has {', '.join(ev.scores)})"
                )
    if not cells:
        raise OfflineEvalError("nothing to compare: no metric or no k selected")
    return cells


def _bootstrap_means(
    scores_a: np.ndarray, scores_b: np.ndarray, n_resamples: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Means of both score matrices over the same query resamples: ``(n_resamples, cells)``."""
    n = scores_a.shape[0]
    both = np.hstack([scores_a, scores_b])
    rng = np.random.default_rng(seed)
    batch = max(1, _CELLS_PER_BATCH // n)
    means = []
    for lo in range(0, n_resamples, batch):
        size = min(batch, n_resamples - lo)
        picks = rng.integers(0, n, size=(size, n))
        flat = (picks + (np.arange(size) * n)[:, None]).ravel()
        counts = np.bincount(flat, minlength=size * n).reshape(size, n).astype(np.float64)
        means.append(counts @ both / n)
    out = np.vstack(means)
    cells = scores_a.shape[1]
    return out[:, :cells], out[:, cells:]


def _jackknife_means(scores: np.ndarray) -> np.ndarray:
    """Leave-one-query-out means, ``(n_queries, cells)``: BCa's acceleration needs them."""
    n = scores.shape[0]
    return (scores.sum(axis=0) - scores) / (n - 1)


def _intervals(
    estimate: np.ndarray,
    boot: np.ndarray,
    jack: np.ndarray,
    confidence: float,
    method: str,
) -> list[tuple[float, float]]:
    """One interval per cell (column); NaN where the estimate is undefined."""
    alpha = 1 - confidence
    out = []
    for i, theta in enumerate(estimate):
        sample = boot[:, i][np.isfinite(boot[:, i])]
        if not np.isfinite(theta) or sample.size == 0:
            out.append((float("nan"), float("nan")))
            continue
        levels = np.array([alpha / 2, 1 - alpha / 2])
        if method == "bca":
            levels = _bca_levels(theta, sample, jack[:, i], levels)
        low, high = np.quantile(sample, levels)
        out.append((float(low), float(high)))
    return out


def _bca_levels(
    theta: float, sample: np.ndarray, jack: np.ndarray, levels: np.ndarray
) -> np.ndarray:
    """Bias-corrected and accelerated quantile levels (Efron 1987)."""
    below = np.count_nonzero(sample < theta) + 0.5 * np.count_nonzero(sample == theta)
    share = np.clip(below / sample.size, 0.5 / sample.size, 1 - 0.5 / sample.size)
    z0 = stats.norm.ppf(share)
    jack = jack[np.isfinite(jack)]
    u = jack.mean() - jack if jack.size else np.zeros(1)
    spread = np.sum(u**2)
    accel = np.sum(u**3) / (6 * spread**1.5) if spread > 0 else 0.0
    z = stats.norm.ppf(levels)
    return stats.norm.cdf(z0 + (z0 + z) / (1 - accel * (z0 + z)))


def _paired_t(scores_a: np.ndarray, scores_b: np.ndarray) -> np.ndarray:
    """Two-sided paired t-test per cell.

    Where every query has the same difference the test is undefined; p is 1
    when that difference is 0 and 0 otherwise (the limit of the test).
    """
    diff = scores_b - scores_a
    constant = np.ptp(diff, axis=0) == 0
    p = np.where(diff[0] == 0, 1.0, 0.0)
    if not constant.all():
        tested = ~constant
        p[tested] = stats.ttest_rel(scores_b[:, tested], scores_a[:, tested], axis=0).pvalue
    return p
