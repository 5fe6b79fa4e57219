"""The simulator's options: each out-of-range one is refused in one line naming it."""

from __future__ import annotations

import pytest

from abtest.simulate.traffic_config import SimulationError, TrafficConfig
from abtest.simulate.world import WorldError


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (TrafficConfig(days=0), "--days must be at least 1 (got 0)"),
        (TrafficConfig(users=0), "--users must be at least 1 (got 0)"),
        (TrafficConfig(pre_days=-1), "--pre-days must be 0 or more (got -1)"),
        (TrafficConfig(traffic=0), "--traffic must be positive (got 0)"),
        (TrafficConfig(bots=-1), "--bots must be 0 or more (got -1)"),
        (TrafficConfig(novelty=-0.1), "novelty must be >= 0 and its half-life positive"),
        (TrafficConfig(novelty_half_life=0), "novelty must be >= 0 and its half-life positive"),
        (TrafficConfig(duplicate_events=1.5), "--duplicate-events must be between 0 and 1"),
        (TrafficConfig(late_events=-0.1), "--late-events must be between 0 and 1"),
        (TrafficConfig(bot_tap_rate=2), "bot tap rate must be between 0 and 1 (got 2)"),
        (
            TrafficConfig(drop_exposures={"control": 1.5}),
            "--drop-exposures for control must be between 0 and 1 (got 1.5)",
        ),
        (
            TrafficConfig(module_failures={"a:b": -1}),
            "--module-failures for a:b must be between 0 and 1 (got -1)",
        ),
    ],
)
def test_out_of_range_options_are_refused_by_name(config: TrafficConfig, message: str) -> None:
    with pytest.raises(SimulationError) as raised:
        config.validate()
    assert str(raised.value).startswith(message)


def test_defaults_and_edges_are_valid() -> None:
    TrafficConfig().validate()
    TrafficConfig(days=1, users=1, pre_days=0, duplicate_events=1, late_events=0).validate()


def test_a_simulation_error_is_a_world_error() -> None:
    """The CLI prints both as one line (exit 2); a caller catching WorldError gets both."""
    assert issubclass(SimulationError, WorldError)
