"""The analyzer's SQL (written in DuckDB's dialect) as Spark SQL, values bound in.

The analysis plan is generated once, in DuckDB's dialect (:mod:`abtest.analysis.sql`),
and this module carries it to Spark with sqlglot, with three corrections where a
plain transpilation would change a number:

- **Percentiles.** sqlglot writes DuckDB's ``PERCENTILE_CONT`` (and ``quantile_cont``)
  as Spark's ``percentile_approx``, an approximation. They become Spark's exact
  ``percentile``, which interpolates linearly between the two closest ranks, as
  ``PERCENTILE_CONT`` does: both engines return the same value for the same rows.
- **Parameters.** DuckDB binds ``$name`` and ``?`` at execution; here each value is
  written into the statement as a typed literal (a string, a ``DOUBLE``, a
  ``TIMESTAMP``, an array), so no value is ever pasted as text.
- **Decimals.** Spark reads a literal such as ``0.9`` as a ``DECIMAL``; the numbers
  that come back are converted to ``float`` by the engine
  (:mod:`abtest.analysis.spark`), as DuckDB returns them.

Identifiers are quoted by the generator (backticks), so column and table names with
quotes, spaces or reserved words survive.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import sqlglot
from sqlglot import exp

Params = Mapping[str, Any] | Sequence[Any] | None


def to_spark(text: str, params: Params = None) -> str:
    """One DuckDB statement as Spark SQL, with its parameters bound as literals."""
    tree = sqlglot.parse_one(text, read="duckdb")
    tree = _bind(tree, params)
    tree = tree.transform(_exact_percentiles)
    return tree.sql(dialect="spark")


def condition_to_spark(text: str, params: Params = None) -> str:
    """A DuckDB boolean expression (a ``WHERE`` clause's) as Spark SQL."""
    tree = sqlglot.condition(text, dialect="duckdb")
    tree = _bind(tree, params)
    return tree.sql(dialect="spark")


def _bind(tree: exp.Expression, params: Params) -> exp.Expression:
    """``tree`` with each placeholder replaced by its value as a literal."""
    if not params:
        return tree
    positional = iter(params) if not isinstance(params, Mapping) else None

    def replace(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Placeholder):
            return node
        if node.this in (None, "?") or not isinstance(node.this, str):
            if positional is None:
                raise ValueError(f"positional parameter in a statement with named ones: {node}")
            return literal(next(positional))
        if not isinstance(params, Mapping):
            raise ValueError(f"named parameter {node.this!r} without a mapping of values")
        return literal(params[node.this])

    return tree.transform(replace)


def literal(value: Any) -> exp.Expression:
    """A Python value as a typed SQL literal (never text pasted into the statement)."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(str(value))
    if isinstance(value, float):
        return exp.cast(exp.Literal.string(repr(value)), exp.DataType.Type.DOUBLE)
    if isinstance(value, dt.datetime):
        text = value.replace(tzinfo=None).isoformat(sep=" ")
        return exp.cast(exp.Literal.string(text), exp.DataType.Type.TIMESTAMP)
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.Type.DATE)
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, list | tuple):
        return exp.Array(expressions=[literal(v) for v in value])
    raise TypeError(f"cannot bind a {type(value).__name__} as a SQL literal: {value!r}")


def _exact_percentiles(node: exp.Expression) -> exp.Expression:
    """``PERCENTILE_CONT(q) WITHIN GROUP (ORDER BY x)`` and ``quantile_cont(x, q)`` as
    Spark's exact ``percentile(x, q)``."""
    if isinstance(node, exp.WithinGroup) and isinstance(node.this, exp.PercentileCont):
        order = node.expression
        column = order.expressions[0].this if isinstance(order, exp.Order) else order
        return exp.Anonymous(this="percentile", expressions=[column, node.this.this])
    if isinstance(node, exp.PercentileCont) and node.expression is not None:
        return exp.Anonymous(this="percentile", expressions=[node.this, node.expression])
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "quantile_cont":
        return exp.Anonymous(this="percentile", expressions=list(node.expressions))
    return node
