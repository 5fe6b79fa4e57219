"""Assignment: which variant of an experiment a unit gets, and why.

Two paths give identical answers for the same spec and unit:

- online, one unit at a time, in microseconds: :func:`assign_user` (or
  :meth:`Assigner.assign` with a prepared :class:`Assigner`);
- batch, vectorised over numpy/arrow arrays of ids: :func:`assign_batch` (or
  :meth:`Assigner.assign_batch`), which evaluates targeting once per distinct
  combination of the attributes the condition reads.

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

Exposures (``assigned`` units only) go to the ``exposures`` table through
:class:`abtest.store.Store`; analysis uses each unit's first exposure.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from abtest.bucketing import (
    choose_variation,
    get_bucket_ranges,
    namespace_seed,
    range_table,
    variation_table,
)
from abtest.conditions import condition_attributes, eval_condition
from abtest.hashing import UnitIds, gb_hash, gb_hash_batch_int, hash_denominator, unit_string
from abtest.spec import ExperimentSpec

if TYPE_CHECKING:
    from abtest.store import IngestReport, Store

REASONS: tuple[str, ...] = (
    "assigned",
    "forced",
    "no_unit",
    "holdout",
    "namespace",
    "targeting",
    "coverage",
)
"""Why a unit is or is not in the experiment; batch results store the index into this."""
ASSIGNED, FORCED, NO_UNIT, HOLDOUT, NAMESPACE, TARGETING, COVERAGE = range(len(REASONS))

_LOOKUP_DTYPES = (
    pl.String,
    pl.Categorical,
    pl.Boolean,
    pl.Int8,
    pl.Int16,
    pl.Int32,
    pl.Int64,
    pl.UInt8,
    pl.UInt16,
    pl.UInt32,
    pl.UInt64,
)


class AssignmentError(Exception):
    """Assignment cannot run with the inputs given (a missing column, a bad forced variant...)."""


@dataclass(frozen=True)
class Assignment:
    """A unit in an experiment: the variant it gets and what that variant serves."""

    experiment: str
    unit_id: str
    variant: str
    variant_index: int
    encoder: str | None
    params: Mapping[str, Any]
    bucket: float | None
    """The unit's hash in [0, 1) that chose the variant; None when forced."""
    forced: bool = False

    @property
    def exposed(self) -> bool:
        """Whether serving this assignment is an exposure for analysis (forced ones are not)."""
        return not self.forced


@dataclass(frozen=True)
class Decision:
    """The full outcome for one unit: a variant index (-1 for none) and the reason."""

    variant_index: int
    reason: str
    unit_id: str | None
    bucket: float | None = None

    @property
    def in_experiment(self) -> bool:
        return self.variant_index >= 0


@dataclass(frozen=True)
class BatchAssignment:
    """Outcomes for an array of units, row for row with the ids given.

    ``variant_index`` is -1 where a unit is not in the experiment;
    ``reason_code`` indexes :data:`REASONS`; :attr:`bucket` is NaN where the
    experiment hash did not decide (forced, no unit, excluded before bucketing).
    """

    experiment: str
    variants: tuple[str, ...]
    encoders: tuple[str | None, ...]
    variant_index: np.ndarray
    reason_code: np.ndarray
    bucket_int: np.ndarray = field(repr=False)
    """The experiment hash of every row as an integer bucket (see :attr:`bucket`)."""
    denominator: int = field(repr=False)
    ids: UnitIds = field(repr=False)
    """The unit ids as hashed (see :class:`~abtest.hashing.UnitIds`)."""

    @property
    def unit_ids(self) -> pa.Array:
        """The unit ids as given, as arrow strings: null only where the id was null
        (an empty id stays empty; integer ids read as their decimal text)."""
        return self.ids.to_arrow()

    def __len__(self) -> int:
        return len(self.variant_index)

    @property
    def in_experiment(self) -> np.ndarray:
        return self.variant_index >= 0

    @property
    def bucket(self) -> np.ndarray:
        """The unit's hash in [0, 1) where it decided (reason assigned or coverage), else NaN."""
        hashed = (self.reason_code == ASSIGNED) | (self.reason_code == COVERAGE)
        return np.where(hashed, self.bucket_int / self.denominator, np.nan)

    @property
    def exposed(self) -> np.ndarray:
        """Rows that count as exposures: assigned by hash, not forced."""
        return self.reason_code == ASSIGNED

    def variant_names(self) -> np.ndarray:
        """Variant name per row (None where not in the experiment), as an object array."""
        names = np.array([*self.variants, None], dtype=object)
        return names[self.variant_index]

    def reasons(self) -> np.ndarray:
        return np.array(REASONS, dtype=object)[self.reason_code]

    def counts(self) -> dict[str, int]:
        """Units per variant (in experiment only), in variant order."""
        c = np.bincount(self.variant_index[self.variant_index >= 0], minlength=len(self.variants))
        return {v: int(n) for v, n in zip(self.variants, c, strict=True)}

    def reason_counts(self) -> dict[str, int]:
        c = np.bincount(self.reason_code, minlength=len(REASONS))
        return {r: int(n) for r, n in zip(REASONS, c, strict=True) if n}

    def to_frame(self, unit_column: str = "user_id") -> pl.DataFrame:
        """One row per unit: experiment, unit id, variant, encoder, in_experiment, reason,
        bucket. Unit ids are as given: a missing or empty id keeps its row (null or
        ``""``), with in_experiment false and reason ``no_unit``."""
        idx = self.variant_index
        variant = pl.Series("variant", [*self.variants, None], dtype=pl.String)
        encoder = pl.Series("encoder", [*self.encoders, None], dtype=pl.String)
        gather = pl.Series(np.where(idx >= 0, idx, len(self.variants)).astype(np.int64))
        bucket = pl.Series("bucket", self.bucket)
        return pl.DataFrame(
            {
                "experiment": pl.repeat(self.experiment, len(self), eager=True, dtype=pl.String),
                unit_column: pl.Series(unit_column, self.unit_ids, dtype=pl.String),
                "variant": variant.gather(gather),
                "encoder": encoder.gather(gather),
                "in_experiment": pl.Series(idx >= 0),
                "reason": pl.Series("reason", list(REASONS), dtype=pl.String).gather(
                    pl.Series(self.reason_code.astype(np.int64))
                ),
                "bucket": bucket.fill_nan(None),
            }
        )


class Assigner:
    """An experiment prepared for assignment: bucket ranges, seeds and lookups computed once.

    Create one per spec and reuse it; the module functions :func:`assign_user`
    and :func:`assign_batch` keep a small cache of them.
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
        self.condition_attributes = (
            sorted(condition_attributes(self.condition)) if self.condition else []
        )
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
    def decide(self, attributes: Mapping[str, Any] | str) -> Decision:
        """The outcome for one unit, with its reason. ``attributes`` holds the unit
        attribute (``spec.unit``) and whatever targeting reads; a bare string is
        taken as the unit id."""
        if isinstance(attributes, str):
            attributes = {self.unit: attributes}
        uid = unit_string(attributes.get(self.unit))
        if uid is not None and uid in self.forced:
            return Decision(self.forced[uid], "forced", uid)
        if uid is None:
            return Decision(-1, "no_unit", None)
        if self.holdout is not None:
            hseed, hversion, fraction = self.holdout
            if gb_hash(hseed, uid, hversion) < fraction:  # type: ignore[operator]
                return Decision(-1, "holdout", uid)
        if self.namespace is not None:
            n = gb_hash(self.namespace_seed, uid, 1)
            if not self.namespace[1] <= n < self.namespace[2]:  # type: ignore[operator]
                return Decision(-1, "namespace", uid)
        if self.condition is not None and not eval_condition(
            attributes, self.condition, self.saved_groups
        ):
            return Decision(-1, "targeting", uid)
        n = gb_hash(self.seed, uid, self.hash_version)
        i = choose_variation(n, self.ranges)  # type: ignore[arg-type]
        return Decision(i, "assigned" if i >= 0 else "coverage", uid, n)

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
        if self.condition is not None:
            passed = self._targeting_batch(n, ids, attributes)
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

    def _targeting_batch(self, n: int, ids: UnitIds, attributes: Any) -> np.ndarray:
        """Whether each row passes targeting, evaluating once per distinct attribute combination."""
        assert self.condition is not None
        frame = _attribute_frame(attributes, n)
        needed = [c for c in self.condition_attributes if c != self.unit]
        missing = [c for c in needed if frame is None or c not in frame.columns]
        if missing:
            raise AssignmentError(
                f"targeting of {self.key!r} reads {', '.join(repr(c) for c in missing)}, "
                "which the attributes do not have"
                + (f" (columns: {', '.join(frame.columns)})" if frame is not None else "")
            )
        cols = list(needed)
        data = frame.select(cols) if frame is not None and cols else pl.DataFrame(height=n)
        if self.unit in self.condition_attributes:
            # The unit as the caller gave it (as the online path sees it), else as hashed.
            if frame is not None and self.unit in frame.columns:
                unit_column = frame.get_column(self.unit)
            else:
                unit_column = pl.Series(self.unit, ids.to_arrow(), dtype=pl.String)
            data = data.with_columns(unit_column.alias(self.unit))
            cols.append(self.unit)
        if not cols:
            return np.full(n, eval_condition({}, self.condition, self.saved_groups), dtype=bool)
        if len(cols) == 1 and data.schema[cols[0]] in _LOOKUP_DTYPES:
            return self._targeting_one_column(cols[0], data.get_column(cols[0]))
        groups = data.with_row_index("__row").group_by(cols).agg(pl.col("__row"))
        passed = [
            eval_condition(row, self.condition, self.saved_groups)
            for row in groups.select(cols).iter_rows(named=True)
        ]
        flat = groups.select(pl.Series("__ok", passed, dtype=pl.Boolean), "__row").explode("__row")
        ok = np.zeros(n, dtype=bool)
        ok[flat["__row"].to_numpy()] = flat["__ok"].to_numpy()
        return ok

    def _targeting_one_column(self, name: str, column: pl.Series) -> np.ndarray:
        """Targeting on one plain column: evaluate each distinct value once, then a
        membership test (two vectorised passes, whatever the number of rows)."""
        passing = [
            v
            for v in column.unique().to_list()
            if eval_condition({name: v}, self.condition, self.saved_groups)  # type: ignore[arg-type]
        ]
        ok = column.is_in([v for v in passing if v is not None]).fill_null(False)
        if None in passing:
            ok = ok | column.is_null()
        return ok.to_numpy()

    # -- exposures ------------------------------------------------------------------
    def exposure_frame(self, batch: BatchAssignment, ts: Any) -> pl.DataFrame:
        """Exposure rows (experiment, variant, user_id, ts) for the exposed units of ``batch``.

        ``ts`` is one timestamp for all, or an array/Series of timestamps row for
        row with the batch. Forced and excluded units are left out.
        """
        return exposure_frame(batch, ts)


def _attribute_frame(attributes: Any, n: int) -> pl.DataFrame | None:
    if attributes is None:
        return None
    if isinstance(attributes, pl.DataFrame):
        frame = attributes
    elif isinstance(attributes, Mapping):
        try:
            frame = pl.DataFrame({k: _column(k, v) for k, v in attributes.items()})
        except (pl.exceptions.ShapeError, ValueError, TypeError) as exc:
            raise AssignmentError(f"attributes: {exc}") from None
    elif hasattr(attributes, "to_dict") and hasattr(attributes, "columns"):  # pandas
        frame = pl.from_pandas(attributes)
    else:
        raise AssignmentError(
            f"attributes must be a polars DataFrame or a mapping of columns, "
            f"got {type(attributes).__name__}"
        )
    if frame.height != n:
        raise AssignmentError(
            f"attributes have {frame.height} rows but there are {n} unit ids; they must align"
        )
    return frame


def _column(name: str, values: Any) -> pl.Series:
    if isinstance(values, pl.Series):
        return values.alias(name)
    arr = np.asarray(values)
    if arr.dtype.kind == "O":
        return pl.Series(name, list(values), strict=False)
    return pl.Series(name, arr)


def exposure_frame(batch: BatchAssignment, ts: Any) -> pl.DataFrame:
    """The ``exposures`` rows of a batch: units assigned by hash, at ``ts``."""
    mask = batch.exposed
    rows = np.flatnonzero(mask)
    variants = pl.Series("variant", list(batch.variants), dtype=pl.String).gather(
        pl.Series(batch.variant_index[rows].astype(np.int64))
    )
    user_id = pl.Series("user_id", batch.unit_ids, dtype=pl.String).gather(pl.Series(rows))
    if isinstance(ts, dt.datetime | dt.date | str):
        ts_col = pl.repeat(as_timestamp(ts), len(rows), eager=True, dtype=pl.Datetime("us"))
    else:
        if isinstance(ts, pl.Series):
            series = ts
        elif isinstance(ts, np.ndarray) and ts.dtype.kind == "M":
            series = pl.Series(ts)
        else:
            series = pl.Series([as_timestamp(t) for t in ts], dtype=pl.Datetime("us"))
        if len(series) != len(batch):
            raise AssignmentError(
                f"ts has {len(series)} values but the batch has {len(batch)} units"
            )
        ts_col = series.cast(pl.Datetime("us")).gather(pl.Series(rows))
    return pl.DataFrame(
        {
            "experiment": pl.repeat(batch.experiment, len(rows), eager=True, dtype=pl.String),
            "variant": variants,
            "user_id": user_id,
            "ts": ts_col.alias("ts"),
        }
    )


def as_timestamp(ts: dt.datetime | dt.date | str) -> dt.datetime:
    """A naive UTC datetime from a datetime, a date (midnight) or an ISO string."""
    if isinstance(ts, str):
        try:
            ts = dt.datetime.fromisoformat(ts)
        except ValueError:
            raise AssignmentError(f"not an ISO timestamp: {ts!r}") from None
    if isinstance(ts, dt.datetime):
        if ts.tzinfo is not None:
            ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
        return ts
    return dt.datetime(ts.year, ts.month, ts.day)


def record_exposures(store: Store, batch: BatchAssignment, ts: Any) -> IngestReport:
    """Write a batch's exposures to the ``exposures`` table (idempotent, atomic)."""
    return store.ingest("exposures", exposure_frame(batch, ts), source_name=f"<{batch.experiment}>")


def exposure_row(assignment: Assignment, ts: dt.datetime) -> dict[str, Any]:
    """One exposure row for an online assignment (forced ones are not exposures)."""
    if assignment.forced:
        raise AssignmentError(f"unit {assignment.unit_id!r} is forced; it is not an exposure")
    return {
        "experiment": assignment.experiment,
        "variant": assignment.variant,
        "user_id": assignment.unit_id,
        "ts": as_timestamp(ts),
    }


# --------------------------------------------------------------------------- module API
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
) -> Decision:
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
