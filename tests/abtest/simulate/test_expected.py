"""The truth each variant would have earned: from the model, and close to what is observed."""

from __future__ import annotations

from pathlib import Path

import pytest

from abtest.simulate.traffic import TrafficConfig, simulate_traffic
from tests.abtest.simulate.traffic_builders import spec, table


def test_truth_comes_from_the_model_and_matches_what_is_observed(db: Path) -> None:
    summary = simulate_traffic(db, spec(), TrafficConfig(pre_days=0, traffic=4))
    observed = table(
        db,
        """
        SELECT x.variant,
               count(*) FILTER (WHERE e.event_type = 'tap') AS taps,
               count(*) FILTER (WHERE e.event_type = 'impression') AS impressions
        FROM events e
        JOIN (SELECT user_id, any_value(variant) AS variant FROM exposures GROUP BY 1) x
          USING (user_id)
        WHERE e.ts >= TIMESTAMP '2026-03-02'
        GROUP BY 1
        """,
    )
    truth = {t.variant: t for t in summary.truth}
    assert truth["treatment"].tap_rate > truth["control"].tap_rate  # colour matches help
    for row in observed.iter_rows(named=True):
        rate = row["taps"] / row["impressions"]
        expected = truth[row["variant"]].tap_rate
        # Within 15%: the arms hold different users than the whole exposed population.
        assert rate == pytest.approx(expected, rel=0.15)
    stored = table(db, "SELECT * FROM truth_experiments WHERE experiment = 'toy-exp'")
    assert stored.height == 2
