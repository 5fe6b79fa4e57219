"""Assignment: which variant of an experiment a unit gets, and why.

Two paths give identical answers for the same spec and unit:

- online, one unit at a time, in microseconds: :func:`assign_user` (or
  :meth:`Assigner.assign` with a prepared :class:`Assigner`);
- batch, vectorised over numpy/arrow arrays of ids: :func:`assign_batch` (or
  :meth:`Assigner.assign_batch`), which evaluates targeting once per distinct
  combination of the attributes the condition reads.

Exposures (``assigned`` units only) go to the ``exposures`` table through
:class:`abtest.store.Store`; analysis uses each unit's first exposure.

One job per module; import from here (the names below are the public ones):

- :mod:`~abtest.assignment.outcomes`: what assignment answers (:class:`Assignment`,
  :class:`UnitOutcome`, :class:`BatchAssignment`, :data:`REASONS`) and its error;
- :mod:`~abtest.assignment.assigner`: the :class:`Assigner` and the steps a unit
  goes through (the reasons, in GrowthBook's order);
- :mod:`~abtest.assignment.targeting`: the targeting condition over arrays of units;
- :mod:`~abtest.assignment.exposures`: exposure rows and writing them to the store;
- :mod:`~abtest.assignment.cache`: assignment by spec through cached assigners.
"""

from __future__ import annotations

from abtest.assignment.assigner import Assigner
from abtest.assignment.cache import (
    assign_batch,
    assign_many,
    assign_user,
    assigner_for,
    decide_user,
)
from abtest.assignment.exposures import (
    as_timestamp,
    exposure_frame,
    exposure_row,
    record_exposures,
)
from abtest.assignment.outcomes import (
    ASSIGNED,
    COVERAGE,
    FORCED,
    HOLDOUT,
    NAMESPACE,
    NO_UNIT,
    REASONS,
    TARGETING,
    Assignment,
    AssignmentError,
    BatchAssignment,
    UnitOutcome,
)

__all__ = [
    "ASSIGNED",
    "COVERAGE",
    "FORCED",
    "HOLDOUT",
    "NAMESPACE",
    "NO_UNIT",
    "REASONS",
    "TARGETING",
    "Assigner",
    "Assignment",
    "AssignmentError",
    "BatchAssignment",
    "UnitOutcome",
    "as_timestamp",
    "assign_batch",
    "assign_many",
    "assign_user",
    "assigner_for",
    "decide_user",
    "exposure_frame",
    "exposure_row",
    "record_exposures",
]
