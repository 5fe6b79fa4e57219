"""Targeting over an array of units: which rows pass an experiment's condition.

The online path evaluates the condition on one unit's attributes
(:func:`abtest.conditions.eval_condition`); this module gives the batch path
the same answers without evaluating it once per row: once per distinct
combination of the attributes the condition reads (or, for one plain column,
once per distinct value and then a vectorised membership test).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from abtest.assignment.outcomes import AssignmentError
from abtest.conditions import SavedGroups, condition_attributes, eval_condition
from abtest.hashing import UnitIds

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
"""Column types whose distinct values ``is_in`` can look up (one-column targeting)."""


@dataclass(frozen=True)
class BatchTargeting:
    """An experiment's targeting condition, prepared for arrays of units.

    ``unit`` is the unit attribute (it may be targeted too); ``attributes`` are
    the top-level attributes the condition reads, sorted; ``experiment`` names
    the experiment in errors.
    """

    experiment: str
    unit: str
    condition: Mapping[str, Any]
    saved_groups: SavedGroups
    attributes: tuple[str, ...]

    @classmethod
    def of(
        cls, experiment: str, unit: str, condition: Mapping[str, Any], saved_groups: SavedGroups
    ) -> BatchTargeting:
        """Targeting on ``condition``, with the attributes it reads found once."""
        attributes = tuple(sorted(condition_attributes(condition)))
        return cls(experiment, unit, condition, saved_groups, attributes)

    def passes(self, n: int, ids: UnitIds, attributes: Any) -> np.ndarray:
        """Whether each row passes targeting, evaluating once per distinct attribute combination."""
        frame = attribute_frame(attributes, n)
        needed = [c for c in self.attributes if c != self.unit]
        missing = [c for c in needed if frame is None or c not in frame.columns]
        if missing:
            raise AssignmentError(
                f"targeting of {self.experiment!r} reads {', '.join(repr(c) for c in missing)}, "
                "which the attributes do not have"
                + (f" (columns: {', '.join(frame.columns)})" if frame is not None else "")
            )
        cols = list(needed)
        data = frame.select(cols) if frame is not None and cols else pl.DataFrame(height=n)
        if self.unit in self.attributes:
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
            return self._one_column(cols[0], data.get_column(cols[0]))
        groups = data.with_row_index("__row").group_by(cols).agg(pl.col("__row"))
        passed = [
            eval_condition(row, self.condition, self.saved_groups)
            for row in groups.select(cols).iter_rows(named=True)
        ]
        flat = groups.select(pl.Series("__ok", passed, dtype=pl.Boolean), "__row").explode("__row")
        ok = np.zeros(n, dtype=bool)
        ok[flat["__row"].to_numpy()] = flat["__ok"].to_numpy()
        return ok

    def _one_column(self, name: str, column: pl.Series) -> np.ndarray:
        """Targeting on one plain column: evaluate each distinct value once, then a
        membership test (two vectorised passes, whatever the number of rows)."""
        passing = [
            v
            for v in column.unique().to_list()
            if eval_condition({name: v}, self.condition, self.saved_groups)
        ]
        ok = column.is_in([v for v in passing if v is not None]).fill_null(False)
        if None in passing:
            ok = ok | column.is_null()
        return ok.to_numpy()


def attribute_frame(attributes: Any, n: int) -> pl.DataFrame | None:
    """The caller's attributes as a polars frame of ``n`` rows (None when none were given).

    Takes a polars frame, a mapping of column -> values or a pandas frame; any
    other shape, or a row count that differs from the unit ids', is an
    :class:`AssignmentError`.
    """
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
