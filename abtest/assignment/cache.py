"""Assignment by spec, through a small cache of prepared assigners.

The functions callers use when they hold a spec rather than an
:class:`~abtest.assignment.assigner.Assigner`: each reuses the assigner of a
spec it has seen (specs are immutable), so that assigning one unit at a time
stays in microseconds. A ``forced`` argument builds a fresh, uncached assigner.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from abtest.assignment.assigner import Assigner
from abtest.assignment.outcomes import Assignment, BatchAssignment, UnitOutcome
from abtest.hashing import UnitIds
from abtest.spec import ExperimentSpec

_CACHE: OrderedDict[int, tuple[ExperimentSpec, Assigner]] = OrderedDict()
_CACHE_SIZE = 64


def assigner_for(spec: ExperimentSpec) -> Assigner:
    """A cached :class:`Assigner` for ``spec`` (specs are immutable)."""
    hit = _CACHE.get(id(spec))
    if hit is not None and hit[0] is spec:
        _CACHE.move_to_end(id(spec))
        return hit[1]
    assigner = Assigner(spec)
    _CACHE[id(spec)] = (spec, assigner)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return assigner


def assign_user(
    spec: ExperimentSpec,
    attributes: Mapping[str, Any] | str,
    *,
    forced: Mapping[str, str] | None = None,
) -> Assignment | None:
    """The variant one unit gets, or None when it is not in the experiment.

    ``attributes`` maps attribute names to values and must hold ``spec.unit``
    (e.g. ``{"user_id": "u42", "platform": "ios"}``); a bare string is the unit id.
    """
    assigner = Assigner(spec, forced=forced) if forced else assigner_for(spec)
    return assigner.assign(attributes)


def decide_user(
    spec: ExperimentSpec,
    attributes: Mapping[str, Any] | str,
    *,
    forced: Mapping[str, str] | None = None,
) -> UnitOutcome:
    """Like :func:`assign_user`, but always returns the outcome with its reason."""
    assigner = Assigner(spec, forced=forced) if forced else assigner_for(spec)
    return assigner.decide(attributes)


def assign_batch(
    spec: ExperimentSpec,
    unit_ids: Any,
    attributes: Any = None,
    *,
    forced: Mapping[str, str] | None = None,
) -> BatchAssignment:
    """Vectorised :func:`assign_user` over an array of unit ids.

    See :meth:`Assigner.assign_batch` for the accepted inputs.
    """
    assigner = Assigner(spec, forced=forced) if forced else assigner_for(spec)
    return assigner.assign_batch(unit_ids, attributes)


def assign_many(
    specs: Sequence[ExperimentSpec], unit_ids: Any, attributes: Any = None
) -> dict[str, BatchAssignment]:
    """Batch assignment of the same units to several experiments, by experiment key."""
    ids = UnitIds.from_any(unit_ids)
    return {s.key: assigner_for(s).assign_batch(ids, attributes) for s in specs}
