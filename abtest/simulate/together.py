"""Which experiments may share one stream of traffic: at most one holds a user on a day.

A user sees one "similar looks" module. Experiments simulated together are
refused, naming them, when two could hold the same user on a day they both
simulate (:func:`check_together`, from the specs, before anything is read;
:func:`check_assignments`, from the actual assignment, which catches a forced
QA user who ignores namespaces), or when their first variants, which users in
no experiment see, differ.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from abtest.simulate.arms import Arm
from abtest.simulate.traffic_config import SimulationError
from abtest.spec import ExperimentSpec


def check_together(arms: Sequence[Arm]) -> None:
    """Refuse experiments that cannot share one stream of traffic, naming them.

    A user sees one "similar looks" module. Two experiments that could hold the
    same user on days they both simulate would both change it; only disjoint
    ranges of one namespace guarantee they never do. Users in no experiment see
    the default module, which is every experiment's control (first variant): so
    the first variants must serve the same encoder and ``k``. This is also what
    makes each experiment's traffic the same as when it is simulated alone.
    """
    seen: set[str] = set()
    for a in arms:
        if a.key in seen:
            raise SimulationError(f"{a.key!r} is given twice; simulate each experiment once")
        seen.add(a.key)
    first = arms[0]
    for a in arms[1:]:
        if a.default != first.default:
            raise SimulationError(
                f"{first.key!r} and {a.key!r} have different first variants "
                f"({first.default[0]} with k={first.default[1]}, {a.default[0]} with "
                f"k={a.default[1]}): users in no experiment see one default module, so "
                "experiments simulated together must have a first variant that serves it"
            )
    for j, b in enumerate(arms):
        for a in arms[:j]:
            why = may_share_users(a.spec, b.spec)
            if why and a.overlaps(b):
                raise SimulationError(
                    f"{a.key!r} and {b.key!r} could hold the same users ({why}) on "
                    "overlapping dates, and a user sees one 'similar looks' module: give "
                    "them disjoint ranges of one namespace (e.g. namespace: {name: looks, "
                    "range: [0, 0.5]} and range: [0.5, 1]), or dates that do not overlap"
                )


def may_share_users(a: ExperimentSpec, b: ExperimentSpec) -> str:
    """Why ``a`` and ``b`` could hold the same user ('' when they cannot)."""
    if a.namespace is None and b.namespace is None:
        return "neither has a namespace"
    if a.namespace is None or b.namespace is None:
        return f"{(a if a.namespace is None else b).key!r} has no namespace"
    if a.namespace.name != b.namespace.name:
        return f"namespaces {a.namespace.name!r} and {b.namespace.name!r} are hashed apart"
    if a.namespace.overlaps(b.namespace):
        ra, rb = a.namespace.range, b.namespace.range
        return (
            f"ranges [{ra[0]:g}, {ra[1]:g}) and [{rb[0]:g}, {rb[1]:g}) of namespace "
            f"{a.namespace.name!r} overlap"
        )
    return ""


def check_assignments(arms: Sequence[Arm], user_ids: np.ndarray) -> None:
    """No user in two experiments that share a day (a forced QA user ignores namespaces)."""
    for j, b in enumerate(arms):
        for a in arms[:j]:
            if not a.overlaps(b):
                continue
            both = np.flatnonzero((a.variant_of_user >= 0) & (b.variant_of_user >= 0))
            if len(both):
                user = str(user_ids[both[0]])
                forced = [x.key for x in (a, b) if user in x.spec.forced]
                how = f" (forced in {', '.join(map(repr, forced))})" if forced else ""
                raise SimulationError(
                    f"user {user!r} would be in both {a.key!r} and {b.key!r}{how}, and a "
                    "user sees one 'similar looks' module: keep each user in one experiment"
                )
