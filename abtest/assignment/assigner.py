"""The assigner: which variant of an experiment a unit gets, and why.

An :class:`Assigner` prepares one spec once (bucket ranges, seeds, lookup
tables, forced units) and then answers for one unit (:meth:`Assigner.decide`,
:meth:`Assigner.assign`) or, vectorised, for an array of units
(:meth:`Assigner.assign_batch`); both give identical answers.

A unit goes through these steps, in GrowthBook's order; the first that
decides gives the ``reason``:

``forced``     the unit id is in the spec's ``forced`` map (or the ``forced``
               argument): it gets that variant; QA only, never an exposure;
``no_unit``    the unit attribute is missing (null), empty, or a zero number:
               not in the experiment, as a GrowthBook SDK skips a user whose
               hash attribute is empty; batch results keep such ids as given;
``holdout``    the unit is in the holdout;
``namespace``  the unit's namespace hash is outside the experiment's range;
``targeting``  the unit's attributes fail the targeting condition;
``coverage``   the unit's hash falls in no variant's bucket range;
``assigned``   the unit is in the experiment, in the variant its hash selects.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from abtest.assignment.exposures import exposure_frame
from abtest.assignment.outcomes import (
    ASSIGNED,
    COVERAGE,
    FORCED,
    HOLDOUT,
    NAMESPACE,
    NO_UNIT,
    TARGETING,
    Assignment,
    AssignmentError,
    BatchAssignment,
    UnitOutcome,
)
from abtest.assignment.targeting import BatchTargeting
from abtest.bucketing import (
    choose_variation,
    get_bucket_ranges,
    namespace_seed,
    range_table,
    variation_table,
)
from abtest.conditions import eval_condition
from abtest.hashing import UnitIds, gb_hash, gb_hash_batch_int, hash_denominator, unit_string
from abtest.spec import ExperimentSpec


class Assigner:
    """An experiment prepared for assignment: bucket ranges, seeds and lookups computed once.

    Create one per spec and reuse it; the module functions
    :func:`~abtest.assignment.cache.assign_user` and
    :func:`~abtest.assignment.cache.assign_batch` keep a small cache of them.
    """

    def __init__(self, spec: ExperimentSpec, *, forced: Mapping[str, str] | None = None) -> None:
        self.spec = spec
        self.key = spec.key
        self.unit = spec.unit
        self.seed = spec.hash_seed
        self.hash_version = spec.hash_version
        self.variants = spec.variant_names
        self.ranges = get_bucket_ranges(len(spec.variants), spec.coverage, list(spec.weights))
        self.namespace = spec.namespace.as_tuple() if spec.namespace else None
        self.namespace_seed = namespace_seed(self.namespace[0]) if self.namespace else ""
        if spec.holdout is not None:
            default = "__holdout__" + (spec.namespace.name if spec.namespace else "")
            self.holdout: tuple[str, int, float] | None = (
                spec.holdout.seed if spec.holdout.seed is not None else default,
                spec.holdout.hash_version,
                spec.holdout.fraction,
            )
        else:
            self.holdout = None
        self._denominator = hash_denominator(self.hash_version)
        self._variant_table = variation_table(self.ranges, self._denominator)
        self._namespace_table = (
            range_table(self.namespace[1], self.namespace[2], 1000) if self.namespace else None
        )
        self._holdout_table = (
            range_table(-1.0, self.holdout[2], hash_denominator(self.holdout[1]))
            if self.holdout
            else None
        )
        self.condition = spec.targeting or None
        self.saved_groups = spec.saved_groups
        self._targeting = (
            BatchTargeting.of(spec.key, self.unit, self.condition, self.saved_groups)
            if self.condition
            else None
        )
        self.condition_attributes = list(self._targeting.attributes) if self._targeting else []
        index = {name: i for i, name in enumerate(self.variants)}
        merged = {**spec.forced, **(forced or {})}
        self.forced: dict[str, int] = {}
        for unit_id, name in merged.items():
            if name not in index:
                raise AssignmentError(
                    f"forced variant {name!r} for unit {unit_id!r} is not a variant of "
                    f"{spec.key!r} ({', '.join(self.variants)})"
                )
            self.forced[str(unit_id)] = index[name]
        self._assignments = [
            tuple(
                Assignment(
                    spec.key,
                    "",
                    v.name,
                    i,
                    v.encoder,
                    MappingProxyType(dict(v.params)),
                    None,
                    forced,
                )
                for forced in (False, True)
            )
            for i, v in enumerate(spec.variants)
        ]

    # -- online ---------------------------------------------------------------------
    def decide(self, attributes: Mapping[str, Any] | str) -> UnitOutcome:
        """The outcome for one unit, with its reason. ``attributes`` holds the unit
        attribute (``spec.unit``) and whatever targeting reads; a bare string is
        taken as the unit id."""
        if isinstance(attributes, str):
            attributes = {self.unit: attributes}
        uid = unit_string(attributes.get(self.unit))
        if uid is not None and uid in self.forced:
            return UnitOutcome(self.forced[uid], "forced", uid)
        if uid is None:
            return UnitOutcome(-1, "no_unit", None)
        if self.holdout is not None:
            hseed, hversion, fraction = self.holdout
            if gb_hash(hseed, uid, hversion) < fraction:  # type: ignore[operator]
                return UnitOutcome(-1, "holdout", uid)
        if self.namespace is not None:
            n = gb_hash(self.namespace_seed, uid, 1)
            if not self.namespace[1] <= n < self.namespace[2]:  # type: ignore[operator]
                return UnitOutcome(-1, "namespace", uid)
        if self.condition is not None and not eval_condition(
            attributes, self.condition, self.saved_groups
        ):
            return UnitOutcome(-1, "targeting", uid)
        n = gb_hash(self.seed, uid, self.hash_version)
        i = choose_variation(n, self.ranges)  # type: ignore[arg-type]
        return UnitOutcome(i, "assigned" if i >= 0 else "coverage", uid, n)

    def assign(self, attributes: Mapping[str, Any] | str) -> Assignment | None:
        """The unit's assignment, or None when it is not in the experiment."""
        d = self.decide(attributes)
        if d.variant_index < 0:
            return None
        template = self._assignments[d.variant_index][d.reason == "forced"]
        return Assignment(
            template.experiment,
            d.unit_id or "",
            template.variant,
            template.variant_index,
            template.encoder,
            template.params,
            d.bucket,
            template.forced,
        )

    # -- batch ----------------------------------------------------------------------
    def assign_batch(self, unit_ids: Any, attributes: Any = None) -> BatchAssignment:
        """Assign every unit of an array at once.

        ``unit_ids``: strings or integers as a numpy array, list, polars Series,
        arrow array or :class:`~abtest.hashing.UnitIds` (integers hash as their
        decimal text). ``attributes``: a polars DataFrame (or a mapping of
        column -> array, or a pandas frame), row for row with ``unit_ids``,
        holding the columns targeting reads; not needed without targeting.

        Hashes take only 1000 (v1) or 10000 (v2) values, so bucket ranges,
        namespace ranges and the holdout are looked up in tables built with the
        online path's own comparisons: both paths agree exactly.
        """
        try:
            ids = UnitIds.from_any(unit_ids)
        except TypeError as exc:
            raise AssignmentError(str(exc)) from None
        n = len(ids)

        # Each check only labels rows no earlier check excluded: build the
        # reason from the last check back to the first, so earlier ones win.
        buckets = gb_hash_batch_int(self.seed, ids, self.hash_version)
        index = np.take(self._variant_table, buckets.astype(np.intp))
        reason = np.where(index < 0, np.uint8(COVERAGE), np.uint8(ASSIGNED))
        if self._targeting is not None:
            passed = self._targeting.passes(n, ids, attributes)
            reason = np.where(passed, reason, np.uint8(TARGETING))
        if self.namespace is not None:
            ns = gb_hash_batch_int(self.namespace_seed, ids, 1).astype(np.intp)
            reason = np.where(np.take(self._namespace_table, ns), reason, np.uint8(NAMESPACE))
        if self.holdout is not None:
            hseed, hversion, _ = self.holdout
            held = gb_hash_batch_int(hseed, ids, hversion).astype(np.intp)
            reason = np.where(np.take(self._holdout_table, held), np.uint8(HOLDOUT), reason)
        reason = np.where(ids.valid, reason, np.uint8(NO_UNIT))

        if self.forced:
            strings = ids.to_arrow()
            is_forced = np.asarray(
                pc.fill_null(
                    pc.is_in(strings, value_set=pa.array(list(self.forced), pa.large_string())),
                    False,
                ),
                dtype=bool,
            )
            is_forced &= ids.valid  # as online: a missing id ("", 0) is never forced
            for row in np.flatnonzero(is_forced):
                index[row] = self.forced[strings[int(row)].as_py()]
            reason[is_forced] = FORCED

        index = np.where((reason == ASSIGNED) | (reason == FORCED), index, np.int16(-1))
        return BatchAssignment(
            experiment=self.key,
            variants=self.variants,
            encoders=tuple(v.encoder for v in self.spec.variants),
            variant_index=index,
            reason_code=reason,
            bucket_int=buckets,
            denominator=self._denominator,
            ids=ids,
        )

    def assign_frame(self, users: pl.DataFrame) -> BatchAssignment:
        """:meth:`assign_batch` for a frame holding the unit column and the attributes."""
        if self.unit not in users.columns:
            raise AssignmentError(
                f"no {self.unit!r} column (the unit of {self.key!r}); columns are "
                f"{', '.join(users.columns)}"
            )
        return self.assign_batch(users.get_column(self.unit), users)

    # -- exposures ------------------------------------------------------------------
    def exposure_frame(self, batch: BatchAssignment, ts: Any) -> pl.DataFrame:
        """Exposure rows (experiment, variant, user_id, ts) for the exposed units of ``batch``.

        ``ts`` is one timestamp for all, or an array/Series of timestamps row for
        row with the batch. Forced and excluded units are left out.
        """
        return exposure_frame(batch, ts)
