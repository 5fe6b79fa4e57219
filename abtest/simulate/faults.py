"""Faults injected into simulated traffic, to test that the analysis notices them.

Two kinds, each from its own random stream so that the traffic itself never
depends on which faults are asked for:

- **per experiment** (drawn from :func:`experiment_fault_rng`, seeded by the run's
  seed and the experiment's key, so the same whether it is simulated alone or
  with others): a share of a variant's users whose exposures are never logged
  (:func:`dropped_exposures`), and a share of a variant's views where the module
  fails to render (:func:`fail_modules`);
- **per run**, in the logging pipeline (:func:`run_fault_rng`): duplicated and
  late events (:func:`inject_event_faults`), drawn over all of a day's events.

:func:`fault_shares` reads the ``--drop-exposures`` and ``--module-failures``
options (``VARIANT`` or ``KEY:VARIANT``) into shares per experiment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from abtest.simulate.traffic_config import SimulationError, TrafficConfig
from abtest.spec import ExperimentSpec

FAULT_STREAM = 23
"""The random stream of faults (with the seed, and the key for an experiment's faults)."""


def fault_shares(
    specs: Sequence[ExperimentSpec], shares: Mapping[str, float], option: str
) -> list[dict[int, float]]:
    """Per experiment, variant index -> share, from names ``VARIANT`` or ``KEY:VARIANT``
    (in the order given, which is the order the faults are drawn in)."""
    out: list[dict[int, float]] = [{} for _ in specs]
    keys = [s.key for s in specs]
    for name, share in shares.items():
        key, colon, variant = name.rpartition(":")
        if colon and key not in keys:
            raise SimulationError(
                f"{option} {name}={share:g}: {key!r} is not an experiment of this simulation "
                f"({', '.join(keys)})"
            )
        holders = [
            i
            for i, s in enumerate(specs)
            if variant in s.variant_names and (not colon or s.key == key)
        ]
        if not holders:
            known = "; ".join(f"{s.key}: {', '.join(s.variant_names)}" for s in specs)
            if len(specs) == 1:
                known = f"the spec's variants: {', '.join(specs[0].variant_names)}"
            raise SimulationError(f"{option} names unknown variant(s): {variant} ({known})")
        if len(holders) > 1:
            both = " and ".join(repr(keys[i]) for i in holders)
            raise SimulationError(
                f"{option} {name}={share:g}: {variant!r} is a variant of {both}; name the "
                f"experiment too, e.g. {keys[holders[0]]}:{variant}={share:g}"
            )
        i = holders[0]
        out[i][specs[i].variant_names.index(variant)] = share
    return out


def experiment_fault_rng(seed: int, key: str) -> np.random.Generator:
    """The stream of one experiment's faults: from the seed and its key only."""
    key_seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return np.random.default_rng([seed, FAULT_STREAM, key_seed])


def run_fault_rng(seed: int) -> np.random.Generator:
    """The stream of the run's logging faults (duplicated and late events)."""
    return np.random.default_rng([seed, FAULT_STREAM])


def dropped_exposures(
    variant_of_user: np.ndarray, drop: Mapping[int, float], rng: np.random.Generator
) -> np.ndarray:
    """Which users never have their exposures logged: per variant index in ``drop``
    (in its order), a share of the variant's users, one draw per user of the world."""
    n = len(variant_of_user)
    drops = np.zeros(n, dtype=bool)
    for v, share in drop.items():
        in_v = variant_of_user == v
        drops |= in_v & (rng.random(n) < share)
    return drops


def fail_modules(
    rng: np.random.Generator,
    share: float,
    n_views: int,
    rows: np.ndarray,
    recs: np.ndarray,
    p_tap: np.ndarray,
) -> None:
    """Blank the module (no items, no taps) on a ``share`` of the views ``rows``, in place.

    Drawn over all ``n_views`` of the day, so that a view fails or not whatever else
    the day's traffic holds; nothing is drawn when ``share`` is 0.
    """
    if share > 0:
        fails = (rng.random(n_views) < share)[rows]
        recs[fails], p_tap[fails] = -1, 0.0


def inject_event_faults(
    events: pl.DataFrame, config: TrafficConfig, rng: np.random.Generator
) -> pl.DataFrame:
    """A day's events as the logging pipeline delivers them: a share of taps and
    purchases late (up to ``late_days``), then a share of all events twice."""
    if config.late_events > 0:
        late = (events["event_type"] != "impression").to_numpy() & (
            rng.random(events.height) < config.late_events
        )
        delay = (rng.random(events.height) * config.late_days * 86_400_000_000).astype(np.int64)
        events = events.with_columns(
            ts=pl.when(pl.Series(late))
            .then(pl.col("ts") + pl.duration(microseconds=pl.Series(delay)))
            .otherwise(pl.col("ts"))
        )
    if config.duplicate_events > 0:
        dupes = events.filter(pl.Series(rng.random(events.height) < config.duplicate_events))
        events = pl.concat([events, dupes])
    return events
