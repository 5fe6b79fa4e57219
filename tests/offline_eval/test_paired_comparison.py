"""Paired comparison: CI coverage by simulation, the paired t-test, Holm, edge cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from offline_eval import Judgments, OfflineEvalError, Run, RunEvaluation, compare_encoders, evaluate


def _evaluation(name: str, scores: dict[str, np.ndarray]) -> RunEvaluation:
    """A RunEvaluation straight from per-query scores (keys such as ``"ndcg@5"``)."""
    n = len(next(iter(scores.values())))
    metrics = tuple(dict.fromkeys(key.split("@")[0] for key in scores))
    ks = tuple(sorted({int(key.split("@")[1]) for key in scores}))
    return RunEvaluation(
        name=name,
        query_ids=np.arange(n),
        scores={key: np.asarray(v, dtype=np.float64) for key, v in scores.items()},
        metrics=metrics,
        ks=ks,
        coverage={},
        catalog_size=None,
        n_missing=0,
        n_no_relevant=0,
        n_unjudged=0,
    )


@pytest.mark.parametrize("ci_method", ["bca", "percentile"])
def test_bootstrap_intervals_cover_the_true_difference_and_lift(ci_method: str) -> None:
    """Simulated pairs with a known difference: 95% intervals cover it ~95% of the time.

    With S simulations the observed coverage has a standard error of
    sqrt(0.95 * 0.05 / S); we allow 3 of them.
    """
    n_sims, n_queries, delta, mean_a = 300, 200, 0.03, 0.4  # Beta(2, 3) has mean 0.4
    rng = np.random.default_rng(12345)
    covered_diff = covered_lift = 0
    for sim in range(n_sims):
        a = rng.beta(2, 3, n_queries)
        b = a + delta + rng.normal(0, 0.15, n_queries)
        result = compare_encoders(
            _evaluation("a", {"ndcg@5": a}),
            _evaluation("b", {"ndcg@5": b}),
            n_resamples=1000,
            seed=sim,
            ci_method=ci_method,
        ).get("ndcg", 5)
        covered_diff += result.diff_ci[0] <= delta <= result.diff_ci[1]
        covered_lift += result.lift_ci[0] <= delta / mean_a <= result.lift_ci[1]
    tolerance = 3 * math.sqrt(0.95 * 0.05 / n_sims)
    assert abs(covered_diff / n_sims - 0.95) <= tolerance
    assert abs(covered_lift / n_sims - 0.95) <= tolerance


def test_p_values_are_the_paired_t_test_with_holm_over_all_rows() -> None:
    rng = np.random.default_rng(7)
    a = {f"{m}@{k}": rng.random(120) for m in ("ndcg", "precision") for k in (1, 5)}
    b = {key: v + rng.normal(0.02, 0.2, 120) for key, v in a.items()}
    comparison = compare_encoders(_evaluation("a", a), _evaluation("b", b))
    assert [(r.metric, r.k) for r in comparison.rows] == [
        ("ndcg", 1),
        ("ndcg", 5),
        ("precision", 1),
        ("precision", 5),
    ]
    expected = [stats.ttest_rel(b[key], a[key]).pvalue for key in a]
    assert [r.p_value for r in comparison.rows] == pytest.approx(expected, rel=1e-12)
    holm = multipletests(expected, method="holm")[1]
    assert [r.p_adjusted for r in comparison.rows] == pytest.approx(holm, rel=1e-12)
    row = comparison.get("precision", 5)
    assert row.diff == pytest.approx(np.mean(b["precision@5"] - a["precision@5"]))
    assert row.lift == pytest.approx(np.mean(b["precision@5"]) / np.mean(a["precision@5"]) - 1)
    assert row.diff_ci[0] < row.diff < row.diff_ci[1]
    again = compare_encoders(_evaluation("a", a), _evaluation("b", b))
    assert again.rows == comparison.rows  # fixed seed: same intervals
    narrowed = compare_encoders(_evaluation("a", a), _evaluation("b", b), metrics=["ndcg"], ks=[5])
    assert len(narrowed.rows) == 1
    assert narrowed.rows[0].p_adjusted == narrowed.rows[0].p_value


def test_identical_encoders_and_a_zero_baseline() -> None:
    scores = {"ndcg@5": np.linspace(0, 1, 50), "hit_rate@5": np.zeros(50)}
    comparison = compare_encoders(_evaluation("a", scores), _evaluation("b", scores))
    same = comparison.get("ndcg", 5)
    assert (same.diff, same.diff_ci, same.p_value, same.lift) == (0.0, (0.0, 0.0), 1.0, 0.0)
    zero = comparison.get("hit_rate", 5)
    assert math.isnan(zero.lift)
    record = json.loads(json.dumps(comparison.to_dict()))
    assert record["rows"][1]["lift"] is None
    assert record["rows"][1]["lift_ci"] == [None, None]


def test_end_to_end_from_runs_and_frame_shape() -> None:
    judgments = Judgments.from_arrays(
        np.repeat(np.arange(30), 2), np.tile([1, 2], 30), np.tile([2, 1], 30)
    )
    queries = np.repeat(np.arange(30), 3)
    worse = Run.from_arrays(queries, np.tile([9, 2, 1], 30), name="cnn-pca")
    better = Run.from_arrays(queries, np.tile([1, 2, 9], 30), name="siglip")
    a = evaluate(judgments, worse, ks=(1, 3), metrics=("ndcg", "mrr"))
    b = evaluate(judgments, better, ks=(1, 3), metrics=("ndcg", "mrr"))
    comparison = compare_encoders(a, b)
    frame = comparison.to_frame()
    assert frame.height == 4
    assert {"diff_low", "diff_high", "lift_low", "lift_high", "p_adjusted"} <= set(frame.columns)
    assert comparison.get("mrr", 3).diff == pytest.approx(1 - 1 / 2)
    assert comparison.n_queries == 30


def test_bad_comparisons_say_what_to_fix() -> None:
    a = _evaluation("a", {"ndcg@5": np.ones(10)})
    with pytest.raises(OfflineEvalError, match="scored on different queries"):
        compare_encoders(a, _evaluation("b", {"ndcg@5": np.ones(11)}))
    with pytest.raises(OfflineEvalError, match=r"b was not scored on ndcg@5.*evaluate it"):
        compare_encoders(a, _evaluation("b", {"ndcg@10": np.ones(10)}))
    with pytest.raises(OfflineEvalError, match="at least 2 judged queries"):
        compare_encoders(_evaluation("a", {"ndcg@5": [1.0]}), _evaluation("b", {"ndcg@5": [1.0]}))
    with pytest.raises(OfflineEvalError, match="n_resamples must be at least 100"):
        compare_encoders(a, a, n_resamples=10)
    with pytest.raises(OfflineEvalError, match="confidence must be between 0 and 1"):
        compare_encoders(a, a, confidence=95)
    with pytest.raises(OfflineEvalError, match="unknown ci_method 'normal'"):
        compare_encoders(a, a, ci_method="normal")
