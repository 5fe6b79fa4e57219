"""The contract between the analyzer's SQL and the stats engine, one object per metric.

A :class:`MetricMoments` names, once, every column that carries one metric
across the boundary:

- its per-user variable columns (``{metric}__{variable}``, the variables its
  metric type names in :data:`abtest.stats.KINDS`: ``x``, or ``num`` and
  ``den``, plus ``pre_...`` covariates with CUPED);
- its moment columns, which the moments queries ``GROUP BY`` to
  (:attr:`MetricMoments.moments`): ``s|{column}`` is ``SUM(column)`` and
  ``c|{a}|{b}`` is ``SUM(a * b)``, beside the shared user count :data:`N`;

and it reads those columns back, by name, into
:class:`~abtest.stats.MomentArrays`: from one result row, from a list of rows,
or from a columnar batch (a polars DataFrame, an Arrow table or record batch, a
dict of arrays) of many variants, days or segments at once. The SQL builders
(:mod:`abtest.analysis.sql`) only ever spell column names through these
objects, and the analyzer only ever reads query results through them, as
tea-tasting defines its aggregate names in one place and reads them back in one
function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from abtest.spec import ExperimentSpec, MetricDefinition
from abtest.stats import KINDS, MetricKind, MetricType, MomentArrays

N = "n"
"""The user count column (``COUNT(*)``) of every moments query, shared by all metrics."""


@dataclass(frozen=True)
class Moment:
    """One moment column: ``SUM(left)``, or ``SUM(left * right)`` for a cross-product."""

    column: str
    """The column's name in the moments queries' results."""
    left: str
    """A per-user variable column."""
    right: str | None = None
    """The second per-user variable column of a cross-product; ``None`` for a sum."""


@dataclass(frozen=True)
class MetricMoments:
    """One metric's moment columns in SQL, and the reader from result rows to moments."""

    metric: MetricDefinition
    metric_type: MetricType

    @property
    def kind(self) -> MetricKind:
        """What the stats engine knows of the metric type: its named variables."""
        return KINDS[self.metric_type]

    @property
    def name(self) -> str:
        """The metric's name (the prefix of its columns)."""
        return self.metric.name

    def column(self, variable: str) -> str:
        """The per-user column of one of the kind's variables, e.g. ``tap_rate__num``."""
        if variable not in self.kind.variables:
            raise KeyError(f"{self.metric_type} has no variable {variable!r}")
        return f"{self.metric.name}__{variable}"

    @property
    def columns(self) -> tuple[str, ...]:
        """The per-user columns, in the order of the kind's variables."""
        return tuple(self.column(v) for v in self.kind.variables)

    @property
    def moments(self) -> tuple[Moment, ...]:
        """Every moment column: each variable's sum, then its products with it and later ones."""
        out = []
        cols = self.columns
        for i, a in enumerate(cols):
            out.append(Moment(f"s|{a}", a))
            out.extend(Moment(f"c|{a}|{b}", a, b) for b in cols[i:])
        return tuple(out)

    # -- reading results --------------------------------------------------------------
    def read_rows(self, rows: Sequence[Mapping[str, Any]]) -> MomentArrays:
        """Moments of a list of result rows (one per group), batch shape ``(len(rows),)``.

        A ``NULL`` sum (a group without users) reads as 0; a row may hold only
        ``{"n": 0}`` for a group the query returned no row for.
        """
        k = len(self.kind.variables)
        n = np.array([row[N] for row in rows], dtype=float)
        sums = np.zeros((len(rows), k))
        cross = np.zeros((len(rows), k, k))
        for r, row in enumerate(rows):
            for i, j, moment in self._positions():
                value = row.get(moment.column) or 0.0
                if j is None:
                    sums[r, i] = value
                else:
                    cross[r, i, j] = cross[r, j, i] = value
        return MomentArrays(n=n, sums=sums, cross=cross)

    def read_row(self, row: Mapping[str, Any] | None) -> MomentArrays:
        """Moments of one result row (batch shape ``()``); zeros for ``None`` (no users)."""
        return self.read_rows([row or {N: 0}]).at(0)

    def read_batch(self, batch: Any) -> MomentArrays:
        """Moments of a columnar batch of rows, batch shape ``(rows,)``.

        ``batch`` is anything whose ``batch[column]`` is a column: a polars
        DataFrame, a pyarrow Table or RecordBatch, a dict of arrays or lists.
        Nulls read as 0, as in :meth:`read_rows`.
        """
        k = len(self.kind.variables)
        n = _values(batch[N])
        sums = np.zeros((n.shape[0], k))
        cross = np.zeros((n.shape[0], k, k))
        for i, j, moment in self._positions():
            values = _values(batch[moment.column])
            if j is None:
                sums[:, i] = values
            else:
                cross[:, i, j] = cross[:, j, i] = values
        return MomentArrays(n=n, sums=sums, cross=cross)

    def _positions(self) -> list[tuple[int, int | None, Moment]]:
        """Each moment column with where it lands: ``(i, None)`` in sums, ``(i, j)`` in cross."""
        index = {c: i for i, c in enumerate(self.columns)}
        return [
            (index[m.left], None if m.right is None else index[m.right], m) for m in self.moments
        ]


def _values(column: Any) -> np.ndarray:
    """A column of a batch as floats, nulls as 0 (polars, pyarrow, numpy or a list)."""
    if hasattr(column, "fill_null"):  # polars Series, pyarrow Array or ChunkedArray
        column = column.fill_null(0)
    if hasattr(column, "to_numpy"):
        return np.asarray(column.to_numpy(), dtype=float)
    return np.array([0.0 if v is None else v for v in column], dtype=float)


RATIO_KINDS = ("ratio", "ndcg", "mrr", "tap_position")
"""Spec kinds the engine reads as a ratio of per-user sums: the ranking kinds are sums of
per-showing scores (or of tap positions) over showings (or taps)."""


def metric_type(metric: MetricDefinition, cuped: bool) -> MetricType:
    """The engine's metric type for a spec metric: its kind, CUPED-adjusted when asked.

    ``ndcg``, ``mrr`` and ``tap_position`` are ratios (:data:`RATIO_KINDS`). With
    ``cuped``, metrics that CUPED applies to (:attr:`MetricDefinition.cuped_applies`:
    not ``cuped: false``, not windowed) get their pre-period covariates: a ratio
    becomes ``cuped_ratio``, a mean or a proportion ``cuped_mean``. A quantile has
    no moments: ``ValueError``.
    """
    if metric.kind == "quantile":
        raise ValueError(f"{metric.name!r} is a quantile, which is not read from moments")
    ratio = metric.kind in RATIO_KINDS
    if cuped and metric.cuped_applies:
        return "cuped_ratio" if ratio else "cuped_mean"
    return "ratio" if ratio else metric.kind  # type: ignore[return-value]


def metric_moments(spec: ExperimentSpec, cuped: bool) -> list[MetricMoments]:
    """The contract of each metric of ``spec``, in group order (each metric once).

    Quantile metrics are left out: they are not read from moments (their per-user
    values are in the staged ``user_totals``, see
    :func:`abtest.analysis.sql.quantile_values_sql`).
    """
    out = []
    seen: set[str] = set()
    for _, name in spec.metrics.all() if spec.metrics else []:
        if name in seen:
            continue
        seen.add(name)
        m = spec.metric(name)
        if m.kind != "quantile":
            out.append(MetricMoments(m, metric_type(m, cuped)))
    return out
