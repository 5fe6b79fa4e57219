"""Filters on events: the condition language of targeting, on the columns of ``events``.

A metric's numerator or denominator may count only some of its events::

    numerator: {event: purchase, filter: {source_item_id: {$exists: true}}}

A filter is a condition in GrowthBook's syntax (:mod:`abtest.conditions`) whose
keys are columns of the events table (``position``, ``source_item_id``,
``item_id``, ``value``, ``view_id``, ``user_id``, ``event_id``, ``event_type``, or
any column a team brought) instead of user attributes. The analyzer compiles it
to SQL (:mod:`abtest.analysis.filters`), so only the operators whose meaning SQL
can reproduce are accepted:

- on a column: a literal (equality), ``$eq $ne $lt $lte $gt $gte $in $nin
  $exists`` and ``$not``;
- around conditions: ``$and $or $nor $not``.

The others (``$regex``: Python's and the database's dialects differ; ``$ini``,
``$vgt``..., ``$inGroup``, ``$type``, ``$elemMatch``, ``$size``, ``$all``: made
for strings, versions and arrays of user attributes) are refused, naming the
operator. So are comparisons across types: ``position: "1"`` compares a number
column with text, which GrowthBook evaluates as never equal — in a metric that is
a mistake, so it is an error rather than an empty metric. Numbers must be
finite, integers within 64 bits; ``$exists`` takes ``true`` or ``false``.
``ts`` is not filterable: a metric's time is its ``window``.

Missing values (SQL ``NULL``) follow :mod:`abtest.conditions` where SQL can:
``$exists: true`` is ``IS NOT NULL``; ``{col: null}``, ``$eq: null`` and a
``null`` in ``$in`` match a missing value; ``$ne`` and ``$nin`` are the
negations of ``$eq`` and ``$in``, so ``{position: {$ne: 1}}`` keeps the events
without a position. One deliberate difference: an ordering comparison
(``$lt $lte $gt $gte``) with a missing value is false, where GrowthBook reads a
missing value as 0 (``{position: {$lt: 3}}`` would keep every event without a
position there); ``$not`` of such a comparison is then true.

The column types a filter is checked against are those of the data model
(:data:`EVENT_COLUMN_TYPES`) or, with a database, of its events table; a column
of neither is checked only where the database is known (``looklift validate
--db``, and always at ``looklift analyze``).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from abtest.conditions import VALUE_OPERATORS
from abtest.schema import EVENTS
from abtest.spec.errors import shown

FilterPath = tuple[str | int, ...]
"""Where in a filter: mapping keys and list indices, e.g. ``("$or", 0, "position", "$lte")``."""
Family = Literal["number", "text", "boolean", "other"]
"""How a column's values compare: the JSON type a filter's operands must have."""

COMPARISONS = ("$eq", "$ne", "$lt", "$lte", "$gt", "$gte")
ORDERINGS = ("$lt", "$lte", "$gt", "$gte")
MEMBERSHIP = ("$in", "$nin")
FILTER_OPERATORS = (*COMPARISONS, *MEMBERSHIP, "$exists", "$not")
"""The operators a filter may apply to a column."""
LOGICAL_OPERATORS = ("$and", "$or", "$nor", "$not")
"""The operators a filter may apply to conditions."""
COLUMN_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]{0,62}\Z")
"""A filterable column name: what the store accepts as a column (always quoted in SQL)."""
MAX_IN_VALUES = 10_000
"""Values in one ``$in`` / ``$nin`` list: each is a bound parameter of the query."""
NOT_FILTERABLE = {"ts": "a metric's time is set by its window (e.g. window: {within: 24h})"}
_INT64 = 2**63

EVENT_COLUMN_TYPES: dict[str, str] = {
    **{c.name: c.sql_type for c in EVENTS.columns},
    **({} if "view_id" in EVENTS.column_names else {"view_id": "VARCHAR"}),
}
"""The events table's columns in the data model and their SQL types (``view_id``, the id
of one showing of the module, is always among them)."""


def family(sql_type: str) -> Family:
    """How values of a column of SQL type ``sql_type`` compare in a filter."""
    t = sql_type.upper()
    if t in ("VARCHAR", "TEXT", "STRING") or t.startswith("VARCHAR"):
        return "text"
    if t in ("BOOLEAN", "BOOL"):
        return "boolean"
    numeric = ("INT", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "DOUBLE", "FLOAT", "REAL")
    if any(t.startswith(n) or t.startswith("U" + n) for n in numeric) or t.startswith("DECIMAL"):
        return "number"
    return "other"


def _is_operator_object(value: Any) -> bool:
    """A mapping of operators only, as :mod:`abtest.conditions` reads a column's value."""
    return (
        isinstance(value, Mapping)
        and len(value) > 0
        and all(isinstance(k, str) and k.startswith("$") for k in value)
    )


def filter_columns(condition: Any, path: FilterPath = ()) -> Iterator[tuple[FilterPath, str]]:
    """``(path, column)`` of every column a (well-formed) filter reads, in order."""
    if not isinstance(condition, Mapping):
        return
    for key, value in condition.items():
        key = str(key)
        if key in ("$and", "$or", "$nor") and isinstance(value, list):
            for i, sub in enumerate(value):
                yield from filter_columns(sub, (*path, key, i))
        elif key == "$not":
            yield from filter_columns(value, (*path, key))
        elif not key.startswith("$"):
            yield (*path, key), key


def check_filter(
    condition: Any, columns: Mapping[str, str] = EVENT_COLUMN_TYPES
) -> list[tuple[FilterPath, str]]:
    """Mistakes in a filter, as ``(path, problem)`` pairs; empty when it can be compiled.

    Operators and operand shapes are always checked; operand types against the
    columns of ``columns`` (name to SQL type) only: a column not in it is left to
    :func:`abtest.spec.checks.event_column_problems`, which knows the database.
    """
    problems: list[tuple[FilterPath, str]] = []
    _check_condition(condition, (), columns, problems)
    return problems


def _check_condition(
    c: Any, path: FilterPath, columns: Mapping[str, str], problems: list[tuple[FilterPath, str]]
) -> None:
    """A condition: columns, and ``$and``/``$or``/``$nor`` lists or a ``$not`` condition."""
    if not isinstance(c, Mapping):
        problems.append((path, f"a filter must be a mapping of columns, got {_type_name(c)}"))
        return
    for key, value in c.items():
        sub = (*path, str(key))
        if not isinstance(key, str):
            problems.append((sub, f"{shown(key)} is not a column name"))
        elif key in ("$and", "$or", "$nor"):
            if not isinstance(value, list):
                problems.append((sub, f"{key} takes a list of conditions"))
                continue
            for i, item in enumerate(value):
                _check_condition(item, (*sub, i), columns, problems)
        elif key == "$not":
            _check_condition(value, sub, columns, problems)
        elif key.startswith("$"):
            problems.append((sub, _operator_problem(key, at_condition=True)))
        elif not COLUMN_RE.fullmatch(key):
            problems.append(
                (
                    sub,
                    f"{shown(key)} is not a column name: use letters, digits and '_', "
                    "starting with a letter or '_'",
                )
            )
        elif key in NOT_FILTERABLE:
            problems.append((sub, f"{key} cannot be filtered on: {NOT_FILTERABLE[key]}"))
        else:
            kind = family(columns[key]) if key in columns else None
            _check_value(value, sub, key, kind, problems)


def _operator_problem(op: str, at_condition: bool = False) -> str:
    """Why ``op`` cannot be used where it is, naming it."""
    if at_condition and op in FILTER_OPERATORS:
        return f"{op} applies to a column, not to a condition (e.g. position: {{{op}: ...}})"
    if op in VALUE_OPERATORS or op in LOGICAL_OPERATORS:
        return (
            f"operator {op} is not supported in metric filters, which are compiled to SQL "
            f"(supported: {', '.join(FILTER_OPERATORS)}; around conditions: "
            f"{', '.join(LOGICAL_OPERATORS)})"
        )
    close = difflib.get_close_matches(op, [*FILTER_OPERATORS, *LOGICAL_OPERATORS], n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(FILTER_OPERATORS)}"
    return f"unknown operator {shown(op)}; {hint}"


def _check_value(
    v: Any,
    path: FilterPath,
    column: str,
    kind: Family | None,
    problems: list[tuple[FilterPath, str]],
) -> None:
    """A column's value: a literal to equal, or an object of operators (not both)."""
    if not _is_operator_object(v):
        if isinstance(v, Mapping) and any(str(k).startswith("$") for k in v):
            bad = ", ".join(shown(k) for k in v if not str(k).startswith("$"))
            problems.append((path, f"cannot mix operators and fields ({bad})"))
        else:
            problem = _operand_problem(v, column, kind, "$eq")
            if problem:
                problems.append((path, problem))
        return
    for op, operand in v.items():
        sub = (*path, op)
        if op not in FILTER_OPERATORS:
            problems.append((sub, _operator_problem(op)))
        elif op == "$not":
            _check_value(operand, sub, column, kind, problems)
        elif op == "$exists":
            if not isinstance(operand, bool):
                problems.append((sub, f"$exists takes true or false, got {_type_name(operand)}"))
        elif op in MEMBERSHIP:
            _check_list(operand, sub, column, kind, op, problems)
        else:
            problem = _operand_problem(operand, column, kind, op)
            if problem:
                problems.append((sub, problem))


def _check_list(
    operand: Any,
    path: FilterPath,
    column: str,
    kind: Family | None,
    op: str,
    problems: list[tuple[FilterPath, str]],
) -> None:
    """The operand of ``$in`` / ``$nin``: a list of values the column can equal."""
    if not isinstance(operand, list):
        problems.append((path, f"{op} takes a list, got {_type_name(operand)}"))
        return
    if len(operand) > MAX_IN_VALUES:
        problems.append((path, f"{op} takes at most {MAX_IN_VALUES:,} values"))
        return
    for i, item in enumerate(operand):
        problem = _operand_problem(item, column, kind, "$eq")
        if problem:
            problems.append(((*path, i), problem))


def _operand_problem(value: Any, column: str, kind: Family | None, op: str) -> str | None:
    """Why ``value`` cannot be compared with ``column`` by ``op``; None when it can."""
    if value is None:
        if op in ("$eq", "$ne"):
            return None
        return f"{op} cannot compare with null (use $exists)"
    if isinstance(value, list | tuple | Mapping):
        hint = " (did you mean $in?)" if isinstance(value, list | tuple) else ""
        return f"a filter compares a column with a single value, got {_type_name(value)}{hint}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"numbers must be finite, got {shown(value)}"
    if isinstance(value, int) and not isinstance(value, bool) and not -_INT64 <= value < _INT64:
        return f"integers must fit in 64 bits, got {shown(value)}"
    if not isinstance(value, str | int | float | bool):
        return f"{shown(value)} is not a number, text, true or false (quote dates as text)"
    if kind is None:
        return None
    given = _family_of(value)
    if kind == "other":
        return f"column {column!r} can only be tested with $exists"
    if given != kind:
        return (
            f"column {column!r} holds {_plural(kind)}; compare it with {_a(kind)}, "
            f"got {shown(value)}"
        )
    if kind == "boolean" and op in ORDERINGS:
        return f"{op} does not order true and false; use $eq or $ne"
    return None


def _family_of(value: str | int | float | bool) -> Family:
    """The family of a filter operand (``True`` is a boolean, not the number 1)."""
    if isinstance(value, bool):
        return "boolean"
    return "text" if isinstance(value, str) else "number"


def _plural(kind: Family) -> str:
    """What a column of a family holds, for messages."""
    return {"number": "numbers", "text": "text", "boolean": "true or false", "other": "values"}[
        kind
    ]


def _a(kind: Family) -> str:
    """One value of a family, for messages."""
    return {"number": "a number", "text": "text", "boolean": "true or false", "other": "a value"}[
        kind
    ]


def _type_name(value: Any) -> str:
    """What a value from YAML is, for messages (``a list``, ``text``...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"a {type(value).__name__}"
