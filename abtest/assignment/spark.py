"""Batch assignment on Spark: the vectorised hashing, one Arrow batch at a time.

:func:`assign_dataframe` applies :meth:`Assigner.assign_frame` to each Arrow record
batch of a Spark DataFrame of users (``mapInArrow``): the same code as the numpy
path, so every user gets the same variant, reason and bucket, with the work spread
over the executors and no per-row Python. The assigner travels to the executors
with its spec and forced units and is built once per Python worker.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

import pyarrow as pa

from abtest.spec import ExperimentSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def output_schema(spec: ExperimentSpec) -> pa.Schema:
    """The Arrow schema of the assignments (``looklift assign``'s columns, as
    :meth:`~abtest.assignment.outcomes.BatchAssignment.to_frame` writes them)."""
    return pa.schema(
        [
            ("experiment", pa.string()),
            (spec.unit, pa.string()),
            ("variant", pa.string()),
            ("encoder", pa.string()),
            ("in_experiment", pa.bool_()),
            ("reason", pa.string()),
            ("bucket", pa.float64()),
        ]
    )


def assign_dataframe(
    spec: ExperimentSpec, users: DataFrame, forced: Mapping[str, str] | None = None
) -> DataFrame:
    """Every user of ``users`` (a Spark DataFrame with the unit column and the attributes
    targeting reads) assigned as :meth:`Assigner.assign_frame` assigns them: one row per
    user with ``looklift assign``'s columns."""
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = output_schema(spec)
    forced = dict(forced or {})
    unit = spec.unit

    def assign_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import polars as pl

        from abtest.assignment import Assigner

        assigner = Assigner(spec, forced=forced)
        for batch in batches:
            frame = pl.from_arrow(pa.Table.from_batches([batch]))
            assert isinstance(frame, pl.DataFrame)
            if unit in frame.columns and frame.schema[unit] != pl.String:
                frame = frame.with_columns(pl.col(unit).cast(pl.String))
            out = assigner.assign_frame(frame).to_frame(unit_column=unit).to_arrow()
            yield from out.cast(schema).to_batches()

    return users.mapInArrow(assign_batches, from_arrow_schema(schema))
