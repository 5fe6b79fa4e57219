"""Counterfactual tap rate: what a new ranking would have earned, from logs of the old one.

The unit is the *impression slot*: one item shown at one position of the
"similar looks" module of a source item. The reward of a logged impression is
1 if it was tapped, else 0. The logging policy records, with each impression,
its propensity ``p0``: the probability that it would show this item at this
position for this source item. A target policy gives the probability ``p1`` of
the same (item at position); for a deterministic top-k ranking ``p1`` is 1
when the target ranks that item at that position and 0 otherwise.

Estimand: the expected taps per impression slot if the target policy had
served the same requests, i.e. its tap rate per impression (online: taps /
impressions, when the module shows the same number of slots).

Assumption (item-position model): the chance of a tap on a slot depends on
the request, the item and its position, not on the other items shown, and
``p0 > 0`` wherever ``p1 > 0`` (the logging policy must randomise over
everything the target could show). Under it, with weights ``w = p1 / p0``:

- IPS = mean(w * r), unbiased; SE = sd(w * r) / sqrt(n);
- SNIPS = sum(w * r) / sum(w), slightly biased but far less variable; its SE
  is the delta-method one, sqrt(sum(w^2 (r - SNIPS)^2)) / sum(w);
- the effective sample size (sum w)^2 / sum(w^2) says how many impressions
  the estimate is really worth. Few matched impressions or a small ESS mean a
  wide interval: the log barely explored what the target policy would show.
"""

from __future__ import annotations

import duckdb
import numpy as np
from scipy import stats

from offline_eval.db import Database, Period, TimeLike, connection, one_row, require_table
from offline_eval.errors import OfflineEvalError
from offline_eval.results import CounterfactualEstimate
from offline_eval.runs import require_encoder


def ips_estimate(
    rewards: np.ndarray,
    logging_propensity: np.ndarray,
    target_propensity: np.ndarray,
    *,
    policy: str = "target",
    confidence: float = 0.95,
    target_slots_logged: float | None = None,
) -> CounterfactualEstimate:
    """IPS and SNIPS estimates of the target policy's reward per logged impression.

    Arrays are parallel, one entry per logged impression: the reward (tap =
    1), the logging policy's propensity of the shown (item, position) and the
    target policy's probability of the same (0 or 1 if deterministic).
    """
    r = np.asarray(rewards, dtype=np.float64).ravel()
    p0 = np.asarray(logging_propensity, dtype=np.float64).ravel()
    p1 = np.asarray(target_propensity, dtype=np.float64).ravel()
    _check_inputs(r, p0, p1, confidence)
    n = r.size
    w = p1 / p0
    wr = w * r
    ips = wr.mean()
    ips_se = wr.std(ddof=1) / np.sqrt(n) if n > 1 else float("nan")
    total = w.sum()
    if total == 0:
        raise OfflineEvalError(
            f"policy {policy} never shows what the log shows (no logged impression has a "
            "target probability > 0); log with more randomisation, or evaluate a policy "
            "that overlaps with the logged one"
        )
    snips = wr.sum() / total
    snips_se = np.sqrt(np.sum((w * (r - snips)) ** 2)) / total
    z = stats.norm.ppf(0.5 + confidence / 2)
    return CounterfactualEstimate(
        policy=policy,
        n_impressions=n,
        n_matched=int(np.count_nonzero(w)),
        logged_tap_rate=float(r.mean()),
        ips=float(ips),
        ips_se=float(ips_se),
        ips_ci=(float(ips - z * ips_se), float(ips + z * ips_se)),
        snips=float(snips),
        snips_se=float(snips_se),
        snips_ci=(float(snips - z * snips_se), float(snips + z * snips_se)),
        effective_sample_size=float(total**2 / np.sum(w**2)),
        max_weight=float(w.max()),
        confidence=confidence,
        target_slots_logged=target_slots_logged,
    )


def counterfactual_tap_rate(
    db: Database,
    encoder: str,
    *,
    start: TimeLike = None,
    end: TimeLike = None,
    logging_policy: str | None = None,
    confidence: float = 0.95,
) -> CounterfactualEstimate:
    """Estimated tap rate per impression if ``encoder``'s neighbors had served the logs.

    The target policy shows, at position p of a source item's module, the
    neighbor of rank p (deterministic). Impressions come from ``interactions``
    in ``[start, end)``, optionally only those (and their taps) served by
    ``logging_policy``; an impression counts as tapped when the same user
    tapped the same item at the same position of the same source item (the
    n-th impression of such a slot is tapped if the slot has at least n taps).
    """
    con = connection(db)
    require_table(con, "interactions", "create it with the looklift store and log history")
    require_encoder(con, encoder)
    period = Period.of(start, end)
    where, params = period.where()
    # Impressions and taps of the period (and of the logging policy, if one is given).
    scope = f"event_type = ? AND {where}"
    if logging_policy is not None:
        scope += " AND policy = ?"
        params = [*params, logging_policy]
    scope_params = ["impression", *params]
    _check_impressions(con, scope, scope_params, period)
    cols = con.execute(
        f"""
        WITH shown AS (
            SELECT user_id, source_item_id, item_id, position, propensity,
                   ROW_NUMBER() OVER (
                       PARTITION BY user_id, source_item_id, item_id, position
                       ORDER BY ts, event_id
                   ) AS nth
            FROM interactions
            WHERE {scope}
        ),
        tapped AS (
            SELECT user_id, source_item_id, item_id, position, COUNT(*) AS n_taps
            FROM interactions
            WHERE {scope}
            GROUP BY user_id, source_item_id, item_id, position
        ),
        target AS (
            SELECT item_id AS source_item_id, rank AS position, neighbor_id AS item_id
            FROM neighbors
            WHERE encoder = ?
        )
        SELECT s.propensity AS propensity,
               CASE WHEN s.nth <= COALESCE(t.n_taps, 0) THEN 1.0 ELSE 0.0 END AS reward,
               CASE WHEN g.item_id IS NULL THEN 0.0 ELSE 1.0 END AS target_propensity
        FROM shown AS s
        LEFT JOIN tapped AS t
          ON t.user_id = s.user_id AND t.source_item_id = s.source_item_id
         AND t.item_id = s.item_id AND t.position = s.position
        LEFT JOIN target AS g
          ON g.source_item_id = s.source_item_id AND g.position = s.position
         AND g.item_id = s.item_id
        """,
        [*scope_params, "tap", *params, encoder],
    ).fetchnumpy()
    return ips_estimate(
        cols["reward"],
        cols["propensity"],
        cols["target_propensity"],
        policy=encoder,
        confidence=confidence,
        target_slots_logged=_target_slots_logged(con, encoder, scope, scope_params),
    )


LOW_COVERAGE = 0.5
"""Below this share of the target's slots seen in the log, the estimates get a warning."""


def coverage_warning(estimate: CounterfactualEstimate) -> str | None:
    """What a log that misses many of the target's slots does to each estimator, or ``None``.

    The two estimators fail differently. IPS divides by every logged impression
    and counts a slot the log never showed as never tapped, so it is biased low.
    SNIPS (the one reports show) divides by the weight of the slots that were
    logged, so it averages over them alone: right only if the unseen slots tap
    like the seen ones, and wrong either way otherwise.
    """
    share = estimate.target_slots_logged
    if share is None or share >= LOW_COVERAGE:
        return None
    return (
        f"the logs show only {share:.0%} of the slots {estimate.policy} would fill: its IPS "
        f"estimate ({estimate.ips:.2%}) counts the other slots as never tapped and is likely "
        f"too low; its SNIPS estimate ({estimate.snips:.2%}, the one shown) averages over the "
        "logged slots only, so it is right only if the others tap alike and may err either way"
    )


def _check_inputs(r: np.ndarray, p0: np.ndarray, p1: np.ndarray, confidence: float) -> None:
    if not (r.size == p0.size == p1.size):
        raise OfflineEvalError(
            f"rewards, logging and target propensities differ in length "
            f"({r.size}, {p0.size}, {p1.size}); pass one value per logged impression"
        )
    if r.size == 0:
        raise OfflineEvalError("no logged impressions; log history before estimating")
    if not 0 < confidence < 1:
        raise OfflineEvalError(f"confidence must be between 0 and 1 (got {confidence}), e.g. 0.95")
    if not np.all(np.isfinite(r)) or np.any(r < 0):
        raise OfflineEvalError("rewards must be finite and non-negative (1 = tapped, 0 = not)")
    if not np.all((p0 > 0) & (p0 <= 1)):
        raise OfflineEvalError(
            "logging propensities must be in (0, 1]: a shown item had a positive chance "
            "to be shown; fix the logged propensities"
        )
    if not np.all((p1 >= 0) & (p1 <= 1)):
        raise OfflineEvalError("target propensities must be in [0, 1]")
    if not np.any(r > 0):
        raise OfflineEvalError(
            "the logs have no taps, so there is nothing to estimate a tap rate from; "
            "log more history or widen the date range"
        )


def _check_impressions(
    con: duckdb.DuckDBPyConnection, scope: str, params: list[object], period: Period
) -> None:
    n, n_position, n_propensity = one_row(
        con,
        f"SELECT COUNT(*), COUNT(position), COUNT(propensity) FROM interactions WHERE {scope}",
        params,
    )
    if not n:
        raise OfflineEvalError(
            f"no impressions {period.describe()} for the chosen logging policy; "
            "log history (looklift history) or widen the date range"
        )
    if n_position < n or n_propensity < n:
        raise OfflineEvalError(
            f"{n - min(n_position, n_propensity)} of {n} impressions lack a position or a "
            "propensity; counterfactual estimates need both: log them with the history"
        )


def _target_slots_logged(
    con: duckdb.DuckDBPyConnection, encoder: str, scope: str, params: list[object]
) -> float | None:
    """Share of the target's slots (for the logged source items and positions) ever logged."""
    total, seen = one_row(
        con,
        f"""
        WITH logged AS (
            SELECT DISTINCT source_item_id, position, item_id
            FROM interactions
            WHERE {scope}
        ),
        depth AS (SELECT MAX(position) AS max_position FROM logged),
        target AS (
            SELECT n.item_id AS source_item_id, n.rank AS position, n.neighbor_id AS item_id
            FROM neighbors AS n
            CROSS JOIN depth
            WHERE n.encoder = ? AND n.rank <= depth.max_position
              AND n.item_id IN (SELECT source_item_id FROM logged)
        )
        SELECT COUNT(*), COUNT(l.item_id)
        FROM target AS t
        LEFT JOIN logged AS l
          ON l.source_item_id = t.source_item_id AND l.position = t.position
         AND l.item_id = t.item_id
        """,
        [*params, encoder],
    )
    return seen / total if total else None
