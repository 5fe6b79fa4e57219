"""What assignment answers: the outcome of one unit or of an array of units, and why.

The data types the assigner returns and the callers read, with no hashing or
I/O of their own: :class:`Assignment` (what a unit in the experiment is
served), :class:`UnitOutcome` (any unit's outcome with its reason) and
:class:`BatchAssignment` (the outcomes of an array of units, with the reason
of each as an index into :data:`REASONS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from abtest.hashing import UnitIds

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
class UnitOutcome:
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
