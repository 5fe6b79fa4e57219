"""The experiments of a run: their dates, what they serve, their faults, who they hold.

An :class:`Arm` is one experiment of a simulation run: its days (pre-period
included), each variant's encoder and ``k``, its fault shares, and, once
:meth:`Arm.assign` has bucketed the users with the real assignment code, the
variant of every user and what the day loop collects for it (exposures and the
truth accumulators). :func:`arms_of` builds them from specs and options,
refusing in one line what cannot be simulated; :func:`run_days` and
:func:`event_span` are the days the run simulates and the times its events
may fall in.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from abtest.assignment import Assigner
from abtest.simulate.expected import TruthAccumulator, VariantTruth
from abtest.simulate.faults import dropped_exposures, experiment_fault_rng, fault_shares
from abtest.simulate.traffic_config import SimulationError, TrafficConfig
from abtest.spec import ExperimentSpec

DEFAULT_K = 5
"""Items the module shows when a variant's params give no ``k``."""


@dataclass
class Arm:
    """One experiment of a run: its dates, what it serves, its faults, what it collects."""

    spec: ExperimentSpec
    days: int
    pre_days: int
    encoders: list[str]
    ks: list[int]
    drop: dict[int, float]
    """Variant index -> share of its users whose exposures are lost."""
    failures: dict[int, float]
    """Variant index -> share of its views where the module fails."""
    variant_of_user: np.ndarray = field(init=False, repr=False)
    exposable: np.ndarray = field(init=False, repr=False)
    drops_exposure: np.ndarray = field(init=False, repr=False)
    fault_rng: np.random.Generator = field(init=False, repr=False)
    truths: list[TruthAccumulator] = field(init=False, repr=False)
    exposed_ever: np.ndarray = field(init=False, repr=False)
    exposure_frames: list[pl.DataFrame] = field(default_factory=list, repr=False)

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def start(self) -> dt.datetime:
        assert self.spec.schedule is not None
        return self.spec.schedule.start

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(days=self.days)

    @property
    def first_day(self) -> dt.date:
        """The first simulated day: the start of the pre-period."""
        return self.start.date() - dt.timedelta(days=self.pre_days)

    @property
    def end_day(self) -> dt.date:
        """The day after the last day of the experiment."""
        return self.start.date() + dt.timedelta(days=self.days)

    @property
    def default(self) -> tuple[str, int]:
        """The module of the first variant: what users outside every experiment see."""
        return self.encoders[0], self.ks[0]

    def day_index(self, day: dt.date) -> int:
        """Days since the start (negative in the pre-period)."""
        return (day - self.start.date()).days

    def running(self, day: dt.date) -> bool:
        """Whether ``day`` is a day of the experiment (not of its pre-period)."""
        return 0 <= self.day_index(day) < self.days

    def overlaps(self, other: Arm) -> bool:
        """Whether the two simulate a day in common (pre-periods included)."""
        return self.first_day < other.end_day and other.first_day < self.end_day

    def assign(self, users: pl.DataFrame, seed: int) -> None:
        """Bucket every user with the real assignment code; draw the exposure faults.

        Fault draws come from the experiment's own stream (seed and key), so that
        they are the same whether it is simulated alone or with others.
        """
        assignment = Assigner(self.spec).assign_frame(users)
        self.variant_of_user = np.asarray(assignment.variant_index)
        # Forced QA users are served their variant but are not exposures.
        self.exposable = np.asarray(assignment.exposed)
        n = len(self.variant_of_user)
        self.fault_rng = experiment_fault_rng(seed, self.key)
        self.drops_exposure = dropped_exposures(self.variant_of_user, self.drop, self.fault_rng)
        self.truths = [TruthAccumulator(n) for _ in self.spec.variants]
        self.exposed_ever = np.zeros(n, dtype=bool)

    def exposures(self) -> pl.DataFrame:
        """Every exposure the day loop logged for this experiment."""
        return pl.concat(self.exposure_frames)

    def truth(self) -> tuple[VariantTruth, ...]:
        """Each variant's truth over the users ever exposed (logged or not)."""
        return tuple(
            t.summarise(v.name, self.encoders[i], self.exposed_ever)
            for i, (t, v) in enumerate(zip(self.truths, self.spec.variants, strict=True))
        )

    def exposed_counts(self) -> dict[str, int]:
        """Users with a logged exposure, per variant."""
        counts = np.bincount(
            self.variant_of_user[self.exposed_ever & ~self.drops_exposure],
            minlength=len(self.spec.variants),
        )
        return {v: int(c) for v, c in zip(self.spec.variant_names, counts, strict=True)}


def arms_of(specs: Sequence[ExperimentSpec], config: TrafficConfig) -> list[Arm]:
    """Each experiment's dates, encoders, ``k`` and faults; one-line errors otherwise."""
    drops = fault_shares(specs, config.drop_exposures, "--drop-exposures")
    failures = fault_shares(specs, config.module_failures, "--module-failures")
    arms = []
    for spec, drop, failure in zip(specs, drops, failures, strict=True):
        if spec.schedule is None:
            raise SimulationError(f"{spec.key!r} has no schedule; add schedule: {{start:, end:}}")
        if spec.unit != "user_id":
            raise SimulationError(
                f"the simulator hashes user_id; {spec.key!r} uses unit {spec.unit!r}"
            )
        encoders, ks = _modules(spec, config)
        arms.append(
            Arm(
                spec=spec,
                days=config.days or max(1, math.ceil(spec.schedule.days)),
                pre_days=(
                    config.pre_days
                    if config.pre_days is not None
                    else spec.analysis.cuped_pre_period_days
                ),
                encoders=encoders,
                ks=ks,
                drop=drop,
                failures=failure,
            )
        )
    return arms


def _modules(spec: ExperimentSpec, config: TrafficConfig) -> tuple[list[str], list[int]]:
    """Each variant's encoder (the first variant's in an A/A test) and ``k``."""
    encoders, ks = [], []
    for v in spec.variants:
        if v.encoder is None:
            raise SimulationError(
                f"variant {v.name!r} of {spec.key!r} serves no encoder; add 'encoder:' to it"
            )
        encoders.append(spec.variants[0].encoder if config.aa else v.encoder)
        ks.append(int(v.params.get("k", DEFAULT_K)))  # type: ignore[arg-type]
    return encoders, ks  # type: ignore[return-value]


def run_days(arms: Sequence[Arm]) -> list[dt.date]:
    """Every day some experiment of the run simulates (pre-periods included), in order."""
    return sorted(
        {
            a.first_day + dt.timedelta(days=i)
            for a in arms
            for i in range((a.end_day - a.first_day).days)
        }
    )


def event_span(days: Sequence[dt.date], config: TrafficConfig) -> tuple[dt.datetime, dt.datetime]:
    """The times the run's events may fall in: its days, and the days late events
    may be delayed to."""
    first_day, end_day = days[0], days[-1] + dt.timedelta(days=1)
    late = math.ceil(config.late_days) if config.late_events > 0 else 0
    return (
        dt.datetime.combine(first_day, dt.time()),
        dt.datetime.combine(end_day, dt.time()) + dt.timedelta(days=late),
    )
