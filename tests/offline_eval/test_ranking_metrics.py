"""Ranking metrics: hand-computed cases, the pitfalls, and equality with ranx."""

from __future__ import annotations

import json
import warnings
from math import log2

import numpy as np
import pytest

from offline_eval import METRICS, Judgments, OfflineEvalError, Run, evaluate


def _pitfalls() -> tuple[Judgments, Run]:
    """Five judged queries, one of them unrelevant, plus one unjudged run query.

    q1: gains {10: 2, 11: 1, 12: 1}; retrieves [11, 99, 10]: fewer than k = 5.
    q2: four relevant {20..23}; retrieves [21, 20]: more relevant than k = 1.
    q3: only a gain of 0: no relevant item, dropped and counted.
    q4: judged but absent from the run: scores 0, counted.
    q5: relevant {50}; 51 and 50 tie at rank 1, so 50 (smaller id) comes first.
    q6: in the run only (unjudged).
    """
    judgments = Judgments.from_arrays(
        query_ids=[1, 1, 1, 2, 2, 2, 2, 3, 4, 5],
        item_ids=[10, 11, 12, 20, 21, 22, 23, 30, 40, 50],
        gains=[2, 1, 1, 1, 1, 1, 1, 0, 1, 1],
    )
    run = Run.from_arrays(
        query_ids=[1, 1, 1, 2, 2, 5, 5, 5, 6],
        item_ids=[11, 99, 10, 21, 20, 51, 50, 52, 60],
        ranks=[1, 2, 3, 1, 2, 1, 1, 2, 1],
        name="enc",
    )
    return judgments, run


def test_hand_computed_scores_and_counts() -> None:
    judgments, run = _pitfalls()
    ev = evaluate(judgments, run, ks=(1, 2, 5), catalog_size=20)
    assert ev.query_ids.tolist() == [1, 2, 4, 5]
    assert (ev.n_queries, ev.n_no_relevant, ev.n_missing, ev.n_unjudged) == (4, 1, 1, 1)

    def per_query(key: str) -> list[float]:
        return ev.scores[key].tolist()

    idcg_q1 = 2 + 1 / log2(3) + 1 / log2(4)
    idcg_q2 = 1 + 1 / log2(3) + 1 / log2(4) + 1 / log2(5)
    assert per_query("ndcg@5") == pytest.approx(
        [(1 + 2 / log2(4)) / idcg_q1, (1 + 1 / log2(3)) / idcg_q2, 0, 1]
    )
    assert per_query("ndcg@1") == pytest.approx([1 / 2, 1, 0, 1])
    assert per_query("ndcg@2") == pytest.approx([1 / (2 + 1 / log2(3)), 1, 0, 1])
    burges_ideal_q1 = 3 + 1 / log2(3) + 1 / log2(4)
    assert per_query("ndcg_burges@5")[0] == pytest.approx((1 + 3 / log2(4)) / burges_ideal_q1)
    # precision divides by k even when fewer were retrieved (trec_eval P@k).
    assert per_query("precision@5") == pytest.approx([2 / 5, 2 / 5, 0, 1 / 5])
    # recall counts every relevant item, even when there are more than k.
    assert per_query("recall@1") == pytest.approx([1 / 3, 1 / 4, 0, 1])
    assert per_query("recall@5") == pytest.approx([2 / 3, 2 / 4, 0, 1])
    assert per_query("mrr@1") == [1, 1, 0, 1]
    assert per_query("hit_rate@1") == [1, 1, 0, 1]
    assert ev.mean("precision", 1) == pytest.approx(3 / 4)
    # Top-1 of the whole run: 11, 21, 50, 60 -> 4 of 20 catalog items.
    assert ev.coverage[1] == pytest.approx(4 / 20)
    assert ev.coverage[5] == pytest.approx(9 / 20)


def test_mrr_is_cut_at_k() -> None:
    judgments = Judgments.from_arrays([1], [3], [1])
    run = Run.from_arrays([1, 1, 1], [1, 2, 3], [1, 2, 3])
    ev = evaluate(judgments, run, ks=(2, 3), metrics=("mrr", "hit_rate"))
    assert ev.scores["mrr@2"].tolist() == [0.0]
    assert ev.scores["mrr@3"].tolist() == pytest.approx([1 / 3])
    assert ev.scores["hit_rate@3"].tolist() == [1.0]


def test_ties_are_broken_by_rank_then_item_id_whatever_the_input_order() -> None:
    a = Run.from_arrays([5, 5, 5, 1], [52, 51, 50, 7], [2, 1, 1, 1])
    b = Run.from_arrays([1, 5, 5, 5], [7, 50, 52, 51], [1, 1, 2, 1])
    assert a.items.tolist() == b.items.tolist()
    assert a.items[a.query_ids.tolist().index(5)].tolist() == [50, 51, 52]


def test_evaluation_results_convert_to_frames_and_json() -> None:
    judgments, run = _pitfalls()
    ev = evaluate(judgments, run, ks=(1, 5), metrics=("ndcg", "precision"))
    assert ev.to_frame().shape == (4, 5)
    assert ev.per_query().columns == ["query_id", "ndcg@1", "ndcg@5", "precision@1", "precision@5"]
    assert json.loads(json.dumps(ev.to_dict()))["n_missing"] == 1


@pytest.mark.parametrize(
    ("ks", "message"),
    [
        ((0,), "k must be a positive integer"),
        ((5, -1), "k must be a positive integer"),
        ((), "no cutoff k given"),
    ],
)
def test_bad_k_says_what_to_pass(ks: tuple[int, ...], message: str) -> None:
    judgments, run = _pitfalls()
    with pytest.raises(OfflineEvalError, match=message):
        evaluate(judgments, run, ks=ks)


def test_bad_metric_and_bad_runs_and_judgments_raise() -> None:
    judgments, run = _pitfalls()
    with pytest.raises(OfflineEvalError, match="unknown metric 'map'; choose from ndcg"):
        evaluate(judgments, run, metrics=("map",))
    with pytest.raises(OfflineEvalError, match="candidate 7 is listed twice for query 1"):
        Run.from_arrays([1, 1, 2], [7, 7, 8], [1, 2, 1], name="dup")
    with pytest.raises(OfflineEvalError, match="run empty is empty"):
        Run.from_arrays([], [], name="empty")
    with pytest.raises(OfflineEvalError, match="judged twice for query 1"):
        Judgments.from_arrays([1, 1], [3, 3], [1, 2])
    with pytest.raises(OfflineEvalError, match="no query has a relevant candidate"):
        Judgments.from_arrays([1, 2], [3, 4], [0, 0])


# -- ranx ------------------------------------------------------------------------------


def _random_case(seed: int) -> tuple[Judgments, Run, dict, dict]:
    """Random judgments (gains 0-3) and a run (1-30 candidates, some queries missing,
    some extra), with the same data as ranx dicts (only positive gains, as our
    convention drops queries without a relevant item)."""
    rng = np.random.default_rng(seed)
    n_queries, n_items = 400, 80
    jq, ji, jg = [], [], []
    for q in range(n_queries):
        n = int(rng.integers(1, 15))
        jq += [q] * n
        ji += rng.choice(n_items, n, replace=False).tolist()
        jg += rng.integers(0, 4, n).tolist()
    rq, ri, rr = [], [], []
    for q in range(n_queries + 30):
        if rng.random() < 0.08:
            continue
        n = int(rng.integers(1, 31))
        rq += [q] * n
        ri += rng.choice(n_items, n, replace=False).tolist()
        rr += rng.permutation(n).tolist()
    qrels: dict[str, dict[str, int]] = {}
    for q, i, g in zip(jq, ji, jg, strict=True):
        if g > 0:
            qrels.setdefault(str(q), {})[str(i)] = g
    run: dict[str, dict[str, float]] = {}
    for q, i, r in zip(rq, ri, rr, strict=True):
        run.setdefault(str(q), {})[str(i)] = 1000.0 - r
    return (
        Judgments.from_arrays(jq, ji, jg),
        Run.from_arrays(rq, ri, rr),
        qrels,
        run,
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_equal_to_ranx_per_query(seed: int) -> None:
    ranx = pytest.importorskip("ranx")
    from numba.core.errors import NumbaTypeSafetyWarning

    judgments, run, qrels_dict, run_dict = _random_case(seed)
    ks = (1, 3, 5, 10, 20)
    ev = evaluate(judgments, run, ks=ks)
    names = [f"{m}@{k}" for m in METRICS for k in ks]
    qrels, ranx_run = ranx.Qrels.from_dict(qrels_dict), ranx.Run.from_dict(run_dict)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaTypeSafetyWarning)
        means = ranx.evaluate(qrels, ranx_run, names, make_comparable=True)
    assert ev.n_missing > 0
    assert ev.n_unjudged > 0
    assert ev.n_no_relevant == 400 - len(qrels_dict)
    queries = [str(q) for q in ev.query_ids]
    for name in names:
        theirs = np.array([ranx_run.scores[name][q] for q in queries])
        np.testing.assert_allclose(ev.scores[name], theirs, rtol=0, atol=1e-9, err_msg=name)
        assert abs(float(np.mean(ev.scores[name])) - means[name]) < 1e-9, name
