"""The traffic simulator's entry point: what it refuses, in one line, before writing."""

from __future__ import annotations

from pathlib import Path

import pytest

from abtest.simulate.traffic import SimulationError, TrafficConfig, simulate_traffic
from tests.abtest.simulate.traffic_builders import SPEC, spec


def test_bad_settings(db: Path) -> None:
    with pytest.raises(SimulationError, match="no neighbors for encoder 'missing'"):
        bad = spec(SPEC.replace("encoder: better", "encoder: missing"))
        simulate_traffic(db, bad, TrafficConfig(days=1))
    with pytest.raises(SimulationError, match="more than the world's"):
        simulate_traffic(db, spec(), TrafficConfig(users=10**6))
    with pytest.raises(SimulationError, match="unknown variant"):
        simulate_traffic(db, spec(), TrafficConfig(drop_exposures={"nope": 0.1}))
    simulate_traffic(db, spec(), TrafficConfig(days=1, pre_days=0))
    with pytest.raises(SimulationError, match="pass --replace"):
        simulate_traffic(db, spec(), TrafficConfig(days=1))
