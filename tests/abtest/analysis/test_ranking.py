"""Online ranking metrics of the module: per-user sums equal an independent computation,
and one variant's nDCG@k and MRR equal ranx on the same lists.

Each showing of the module is a ranked list (its impressions, one ``view_id``),
judged by the taps (gain 1) and purchases (gain 2) with its ``view_id``. The
handmade store has showings without engagement, taps below the top k, a tap and a
purchase at one position, a purchase without a tap, repeated taps, several
showings per user, showings before the exposure and in the CUPED pre-period.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl
import pytest
from ranx import Qrels, Run, evaluate

from abtest.analysis import analyze
from abtest.analysis.moments import metric_moments
from abtest.store import Store
from tests.abtest.analysis.handmade import (
    END,
    START,
    assert_days_add_up,
    at,
    make_spec,
    make_store,
    staged_values,
)

GAINS = {"tap": 1.0, "purchase": 2.0}
METRICS: dict[str, dict[str, Any]] = {
    "ndcg10": {"kind": "ndcg", "k": 10},
    "ndcg3": {"kind": "ndcg", "k": 3},
    "mrr": {"kind": "mrr"},
    "mrr3": {"kind": "mrr", "k": 3},
    "tap_position": {"kind": "tap_position"},
}


class View(NamedTuple):
    """A showing: its impressions at positions 1..length, and ``(event, position)``
    judgments, each a minute after the previous one."""

    view_id: str
    user: str
    ts: dt.datetime
    length: int
    judged: list[tuple[str, int]]

    def judgments(self) -> list[tuple[str, int, dt.datetime]]:
        """``(event, position, time)`` of each judging event."""
        return [
            (kind, p, self.ts + dt.timedelta(minutes=1 + i))
            for i, (kind, p) in enumerate(self.judged)
        ]

    def events(self) -> list[dict[str, Any]]:
        rows = [self._row("impression", p, self.ts) for p in range(1, self.length + 1)]
        return rows + [self._row(kind, p, ts) for kind, p, ts in self.judgments()]

    def _row(self, kind: str, position: int, ts: dt.datetime) -> dict[str, Any]:
        return {
            "ts": ts,
            "user_id": self.user,
            "event_type": kind,
            "position": position,
            "view_id": self.view_id,
            "value": 10.0 if kind == "purchase" else None,
        }


HANDMADE = [
    View("a", "u0", at(3), 10, [("tap", 2), ("purchase", 2), ("tap", 5)]),
    View("b", "u0", at(4), 10, []),  # no engagement: scores 0, still counts
    View("c", "u0", at(5), 12, [("tap", 12), ("tap", 3)]),  # a tap below k
    View("d", "u0", at(6), 10, [("purchase", 1)]),  # a purchase without a tap
    View("e", "u1", at(3), 10, [("tap", 1), ("tap", 1)]),  # the same tap twice
    View("f", "u1", at(4), 15, [("tap", 11)]),  # only below k
    View("g", "u1", at(5), 10, [("purchase", 4), ("tap", 4), ("tap", 2)]),
    View("h", "u3", at(1), 10, [("tap", 1)]),  # before u3's exposure: not counted
    View("i", "u3", at(9), 10, [("tap", 3)]),
    View("j", "u4", START - dt.timedelta(hours=20), 10, [("tap", 2)]),  # pre-period
]
FIXED_EXPOSURES = [
    ("u0", "control", at(2)),
    ("u1", "treatment", at(2)),
    ("u2", "control", at(2)),  # no showings at all
    ("u3", "treatment", at(8)),
    ("u4", "control", at(2)),
]


def _random(rng: random.Random) -> tuple[list[tuple[str, str, dt.datetime]], list[View]]:
    """60 users exposed over the first day, 0 to 4 showings each (a fifth of them before the
    exposure, some in the pre-period), 3 to 14 items, taps, purchases of some taps and a few
    purchases without a tap."""
    exposures, views = [], []
    for i in range(60):
        user, exposed = f"r{i:02d}", at(rng.uniform(0, 24))
        exposures.append((user, ("control", "treatment")[i % 2], exposed))
        for n in range(rng.randint(0, 4)):
            before = rng.random() < 0.2
            hours = -rng.uniform(0.5, 40) if before else rng.uniform(0, 40)
            length = rng.randint(3, 14)
            judged = []
            for p in range(1, length + 1):
                if rng.random() < 0.15:
                    judged += [("tap", p)] + ([("purchase", p)] if rng.random() < 0.3 else [])
                elif rng.random() < 0.02:
                    judged.append(("purchase", p))
            rng.shuffle(judged)
            views.append(
                View(f"{user}-{n}", user, exposed + dt.timedelta(hours=hours), length, judged)
            )
    return exposures, views


class Data(NamedTuple):
    db: Path
    views: list[View]
    exposed: dict[str, dt.datetime]
    variant: dict[str, str]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    exposures, views = _random(random.Random(3))
    exposures, views = FIXED_EXPOSURES + exposures, HANDMADE + views
    events = [e for v in views for e in v.events()]
    organic = {"position": None, "view_id": None, "value": 9.0}
    events.append({"ts": at(7), "user_id": "u0", "event_type": "purchase", **organic})
    db = make_store(tmp_path_factory.mktemp("ranking") / "r.duckdb", exposures, events)
    return Data(db, views, {u: t for u, _, t in exposures}, {u: v for u, v, _ in exposures})


# --------------------------------------------------------------------------- the reference
def _gains(judged: list[tuple[str, int]]) -> dict[int, float]:
    """The gain of each engaged position: the largest of its events'."""
    out: dict[int, float] = {}
    for kind, p in judged:
        out[p] = max(out.get(p, 0.0), GAINS[kind])
    return out


def ndcg(judged: list[tuple[str, int]], k: int) -> float:
    """nDCG@k of one showing, as offline_eval defines it (0 without engagement)."""
    gains = _gains(judged)
    if not gains:
        return 0.0
    dcg = sum(g / math.log2(p + 1) for p, g in gains.items() if p <= k)
    ideal = sorted(gains.values(), reverse=True)[:k]
    return dcg / sum(g / math.log2(i + 2) for i, g in enumerate(ideal))


def mrr(judged: list[tuple[str, int]], k: int | None) -> float:
    """One over the first engaged position (0 beyond k, or without engagement)."""
    gains = _gains(judged)
    if not gains:
        return 0.0
    first = min(gains)
    return 1.0 / first if k is None or first <= k else 0.0


def _in(data: Data, user: str, ts: dt.datetime, post: bool) -> bool:
    """Whether an event of ``user`` at ``ts`` is after their exposure (``post``) or in the
    two-day pre-period."""
    if post:
        return data.exposed[user] <= ts < END
    return START - dt.timedelta(days=2) <= ts < START


def _counted(data: Data, v: View, post: bool) -> bool:
    """Whether a showing counts in its user's post-exposure (or pre-period) showings."""
    return v.user in data.exposed and _in(data, v.user, v.ts, post)


SCORES = {
    "ndcg10": lambda j: ndcg(j, 10),
    "ndcg3": lambda j: ndcg(j, 3),
    "mrr": lambda j: mrr(j, None),
    "mrr3": lambda j: mrr(j, 3),
}


def reference(data: Data, post: bool = True) -> pl.DataFrame:
    """Per exposed user, each metric's numerator and denominator: the scores of the judging
    events of the period summed over the showings, over the showings of the period."""
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for v in data.views:
        if v.user not in data.exposed:
            continue
        row = sums[v.user]
        judged = [(kind, p) for kind, p, ts in v.judgments() if _in(data, v.user, ts, post)]
        for name, f in SCORES.items():
            row[f"{name}__num"] += f(judged)
            row[f"{name}__den"] += _counted(data, v, post)
        taps = [p for kind, p in judged if kind == "tap"]
        row["tap_position__num"] += sum(taps)
        row["tap_position__den"] += len(taps)
    columns = [f"{m}__{x}" for m in METRICS for x in ("num", "den")]
    return pl.DataFrame(
        [{"user_id": u, **{c: sums[u][c] for c in columns}} for u in sorted(data.exposed)]
    )


# --------------------------------------------------------------------------- the tests
def test_per_user_ranking_values_equal_the_independent_computation(data: Data) -> None:
    staging = staged_values(data.db, make_spec(METRICS))
    expected = reference(data)
    got = staging.per_user.select(expected.columns)
    assert got["user_id"].to_list() == expected["user_id"].to_list()
    for column in expected.columns[1:]:
        assert got[column].to_list() == pytest.approx(expected[column].to_list(), abs=1e-12), column
    assert_days_add_up(staging)


def test_the_handmade_showings_score_as_worked_out_by_hand(data: Data) -> None:
    values = staged_values(data.db, make_spec(METRICS)).per_user
    u0 = values.filter(pl.col("user_id") == "u0").row(0, named=True)
    # a: gains {2: 2, 5: 1}, ideal [2, 1]; b: 0; d: 1; c: {12: 1, 3: 1}: only 3 is in the
    # top 10, but the ideal ranks both engaged positions
    a = (2 / math.log2(3) + 1 / math.log2(6)) / (2 + 1 / math.log2(3))
    c = (1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert u0["ndcg10__num"] == pytest.approx(a + 0 + c + 1)
    assert u0["ndcg10__den"] == 4
    assert u0["mrr__num"] == pytest.approx(1 / 2 + 0 + 1 / 3 + 1)
    assert u0["tap_position__num"] == 2 + 5 + 12 + 3 and u0["tap_position__den"] == 4
    u1 = values.filter(pl.col("user_id") == "u1").row(0, named=True)
    # e: 1; f: a tap at 11 only: 0 at k = 10; g: gains {4: 2, 2: 1}
    g = (1 / math.log2(3) + 2 / math.log2(5)) / (2 + 1 / math.log2(3))
    assert u1["ndcg10__num"] == pytest.approx(1 + 0 + g)
    assert u1["mrr3__num"] == pytest.approx(1 + 0 + 1 / 2)
    u3 = values.filter(pl.col("user_id") == "u3").row(0, named=True)
    assert (u3["ndcg10__num"], u3["ndcg10__den"]) == (pytest.approx(0.5), 1)  # h is before


@pytest.mark.parametrize("variant", ["control", "treatment"])
def test_one_variant_s_ndcg_and_mrr_equal_ranx_on_the_same_lists(data: Data, variant: str) -> None:
    values = staged_values(data.db, make_spec(METRICS)).per_user
    mine = values.filter(pl.col("variant") == variant)
    views = [v for v in data.views if _counted(data, v, True) and data.variant[v.user] == variant]
    run = Run({v.view_id: {f"p{p}": 100.0 - p for p in range(1, v.length + 1)} for v in views})
    judged = {v.view_id: {f"p{p}": int(g) for p, g in _gains(v.judged).items()} for v in views}
    qrels = Qrels({q: j for q, j in judged.items() if j})
    scores = evaluate(qrels, run, ["ndcg@10", "ndcg@3", "mrr", "mrr@3"], make_comparable=True)
    n_judged, n_views = len(qrels.keys()), len(views)
    assert mine["ndcg10__den"].sum() == n_views
    for metric, name in (
        ("ndcg@10", "ndcg10"),
        ("ndcg@3", "ndcg3"),
        ("mrr", "mrr"),
        ("mrr@3", "mrr3"),
    ):
        # ranx averages over the judged showings; the metric over every showing
        assert mine[f"{name}__num"].sum() / n_views == pytest.approx(
            scores[metric] * n_judged / n_views, abs=1e-9
        ), metric


def test_ranking_metrics_are_ratios_and_their_pre_period_covariates_are_the_pre_showings(
    data: Data,
) -> None:
    spec = make_spec(METRICS, cuped_pre_period_days=2)
    types = {mm.name: mm.metric_type for mm in metric_moments(spec, cuped=True)}
    assert types == dict.fromkeys(METRICS, "cuped_ratio")
    staging = staged_values(data.db, spec, pre_start=START - dt.timedelta(days=2))
    expected = reference(data, post=False)
    for column in expected.columns[1:]:
        got = staging.per_user[f"{column.split('__')[0]}__pre_{column.split('__')[1]}"]
        assert got.to_list() == pytest.approx(expected[column].to_list(), abs=1e-12), column
    assert staging.per_user.filter(pl.col("user_id") == "u4")[
        "ndcg10__pre_num"
    ].item() == pytest.approx(1 / math.log2(3))
    assert types_without_cuped(spec) == dict.fromkeys(METRICS, "ratio")


def types_without_cuped(spec: Any) -> dict[str, str]:
    return {mm.name: mm.metric_type for mm in metric_moments(spec, cuped=False)}


def test_the_analysis_runs_end_to_end_on_ranking_metrics(data: Data) -> None:
    spec = make_spec(METRICS, cuped_pre_period_days=2)
    with Store(data.db, read_only=True) as s:
        result = analyze(s, spec, segments=())
    values = {(v.metric, v.variant): v.value for v in result.values}
    per_user = reference(data).with_columns(variant=pl.col("user_id").replace_strict(data.variant))
    for variant in ("control", "treatment"):
        rows = per_user.filter(pl.col("variant") == variant)
        expected = rows["ndcg10__num"].sum() / rows["ndcg10__den"].sum()
        assert values[("ndcg10", variant)] == pytest.approx(expected, abs=1e-12)
    assert (
        next(m for m in result.metrics if m.name == "tap_position").direction == "lower_is_better"
    )
    assert result.daily


def test_in_the_simulator_s_logs_each_showing_has_one_impression_at_position_1(db: Path) -> None:
    """What counting showings by their impression at position 1 assumes
    (:data:`abtest.analysis.aggregates.VIEW_FILTER`): exact on the module's logs."""
    with Store(db, read_only=True) as s:
        per_view = s.query(
            "SELECT view_id, COUNT(CASE WHEN position = 1 THEN 1 END) AS first "
            "FROM events WHERE event_type = 'impression' AND view_id IS NOT NULL GROUP BY view_id"
        )
        judged_views = s.fetch_one(
            "SELECT COUNT(DISTINCT view_id) FROM events "
            "WHERE event_type IN ('tap', 'purchase') AND view_id IS NOT NULL "
            "AND view_id NOT IN (SELECT view_id FROM events WHERE event_type = 'impression' "
            "AND position = 1 AND view_id IS NOT NULL)"
        )
    assert per_view.height > 1000
    assert per_view["first"].to_list() == [1] * per_view.height
    assert judged_views == (0,)  # every judged showing is one of the counted ones
