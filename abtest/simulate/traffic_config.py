"""What a traffic simulation is asked for, and the error for what it cannot be.

:class:`TrafficConfig` holds every option of ``looklift simulate`` (how much
traffic, for how long, which realism and faults) and checks them before
anything is read or written; :class:`SimulationError` is the one error every
part of the traffic simulator raises, a one-line message the CLI prints as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from abtest.simulate.world import WorldError


class SimulationError(WorldError):
    """Settings or data that an experiment cannot be simulated with."""


@dataclass(frozen=True)
class TrafficConfig:
    """How much traffic, for how long, and which realism or faults to add."""

    days: int | None = None
    """Days of the experiment; default: the spec's schedule."""
    users: int | None = None
    """Simulate only the first ``users`` users of the world; default: all."""
    seed: int = 0
    traffic: float = 1.0
    """Multiplies every user's views per day."""
    pre_days: int | None = None
    """Days before the start with the default experience (for CUPED); default: the
    spec's ``cuped_pre_period_days``."""
    novelty: float = 0.0
    """Extra relative tap probability, on day one, for arms whose encoder differs from
    the first variant's; it halves every ``novelty_half_life`` days."""
    novelty_half_life: float = 3.0
    bots: int = 0
    """Bot users added to the world: extreme activity, taps unrelated to relevance."""
    bot_views_per_day: float = 150.0
    bot_tap_rate: float = 0.3
    drop_exposures: Mapping[str, float] = field(default_factory=dict)
    """Variant name -> share of its users whose exposures are never logged. With several
    experiments, ``KEY:VARIANT`` names the experiment too (a bare name must be a variant
    of one experiment only). Drawn per experiment, so the same users lose their
    exposures whether the experiment is simulated alone or with others."""
    module_failures: Mapping[str, float] = field(default_factory=dict)
    """Variant name (or ``KEY:VARIANT``) -> share of its views where the module fails to
    render: the user is exposed but sees no recommendations (a real harm, which the
    truth includes)."""
    duplicate_events: float = 0.0
    """Share of events delivered twice (same event_id; the store keeps one)."""
    late_events: float = 0.0
    """Share of taps and purchases logged late (receipt time instead of event time). Drawn
    over the day's events of the whole run, so which events are late depends on the
    other experiments simulated with it."""
    late_days: float = 2.0
    aa: bool = False
    """Serve the first variant's encoder in every arm (an A/A test)."""

    def validate(self) -> None:
        """Refuse out-of-range options, naming the option, before anything is read."""

        def fraction(name: str, value: float) -> None:
            if not 0.0 <= value <= 1.0:
                raise SimulationError(f"{name} must be between 0 and 1 (got {value})")

        if self.days is not None and self.days < 1:
            raise SimulationError(f"--days must be at least 1 (got {self.days})")
        if self.users is not None and self.users < 1:
            raise SimulationError(f"--users must be at least 1 (got {self.users})")
        if self.pre_days is not None and self.pre_days < 0:
            raise SimulationError(f"--pre-days must be 0 or more (got {self.pre_days})")
        if self.traffic <= 0:
            raise SimulationError(f"--traffic must be positive (got {self.traffic})")
        if self.bots < 0:
            raise SimulationError(f"--bots must be 0 or more (got {self.bots})")
        if self.novelty < 0 or self.novelty_half_life <= 0:
            raise SimulationError("novelty must be >= 0 and its half-life positive")
        fraction("--duplicate-events", self.duplicate_events)
        fraction("--late-events", self.late_events)
        fraction("bot tap rate", self.bot_tap_rate)
        for variant, share in self.drop_exposures.items():
            fraction(f"--drop-exposures for {variant}", share)
        for variant, share in self.module_failures.items():
            fraction(f"--module-failures for {variant}", share)
