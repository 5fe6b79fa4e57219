"""Metric filters compiled to SQL, with their values bound as parameters.

A filter (:mod:`abtest.spec.filters`) becomes a boolean SQL expression over the
events' columns (alias ``e``): column names are quoted with
:func:`abtest.store.quote_ident`, and every value is a named parameter
(``$f<digest>_<i>``), never pasted into the text. The parameter names derive from
the filter's own digest, so the same filter compiled twice in one query binds the
same names to the same values, and two filters never collide.

Every expression is two-valued (never SQL ``NULL``), so that ``NOT`` reads as in
:mod:`abtest.conditions`: a comparison with a missing value is false
(``COALESCE(e."position" < $p, FALSE)``), ``$exists`` is ``IS [NOT] NULL``, a
``null`` operand of ``$eq`` / ``$in`` matches a missing value, and ``$ne`` /
``$nin`` are their negations (true for a missing value, as in GrowthBook). See
:mod:`abtest.spec.filters` for the one deliberate difference (an ordering
comparison with a missing value is false, not a comparison with 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from abtest.analysis.aggregates import canonical, digest
from abtest.spec import ExperimentSpec, SpecError
from abtest.spec.checks import event_column_problems
from abtest.spec.filters import check_filter
from abtest.store import Store, quote_ident

if TYPE_CHECKING:
    from abtest.analysis.engine import Engine

_SQL_COMPARISON = {"$eq": "=", "$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">="}


class Query(NamedTuple):
    """SQL text and the values of its named parameters (``$name`` in the text)."""

    sql: str
    params: dict[str, Any]


class _Compiler:
    """Compiles one filter; collects its parameters."""

    def __init__(self, prefix: str, source: str) -> None:
        """``prefix`` names the parameters; ``source`` is the events' alias."""
        self.prefix = prefix
        self.source = source
        self.params: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        """A new parameter holding ``value``: its placeholder."""
        name = f"{self.prefix}_{len(self.params)}"
        self.params[name] = value
        return f"${name}"

    def condition(self, c: Mapping[str, Any]) -> str:
        """``AND`` of a condition's keys (``TRUE`` for none, as an empty condition matches)."""
        terms = []
        for key, value in c.items():
            if key == "$and":
                terms.append(_joined([self.condition(x) for x in value], "AND", "TRUE"))
            elif key == "$or":  # an empty $or matches, as in abtest.conditions
                terms.append(_joined([self.condition(x) for x in value], "OR", "TRUE"))
            elif key == "$nor":
                terms.append(f"NOT {_joined([self.condition(x) for x in value], 'OR', 'TRUE')}")
            elif key == "$not":
                terms.append(f"NOT {self.condition(value)}")
            else:
                terms.append(self.value(f"{self.source}.{quote_ident(key)}", value))
        return _joined(terms, "AND", "TRUE")

    def value(self, column: str, v: Any) -> str:
        """A column's test: a literal to equal, or ``AND`` of its operators."""
        if not (isinstance(v, Mapping) and v and all(str(k).startswith("$") for k in v)):
            return self.equal(column, v)
        return _joined([self.operator(column, op, operand) for op, operand in v.items()], "AND")

    def operator(self, column: str, op: str, operand: Any) -> str:
        """One operator applied to a column (a two-valued expression)."""
        if op == "$not":
            return f"NOT {self.value(column, operand)}"
        if op == "$exists":
            return f"({column} IS {'NOT ' if operand else ''}NULL)"
        if op == "$ne":
            return f"NOT {self.equal(column, operand)}"
        if op in ("$in", "$nin"):
            found = self.member(column, operand)
            return found if op == "$in" else f"NOT {found}"
        if op == "$eq":
            return self.equal(column, operand)
        return f"COALESCE({column} {_SQL_COMPARISON[op]} {self.bind(operand)}, FALSE)"

    def equal(self, column: str, value: Any) -> str:
        """The column equals ``value`` (``null``: is missing); false for a missing value."""
        if value is None:
            return f"({column} IS NULL)"
        return f"COALESCE({column} = {self.bind(value)}, FALSE)"

    def member(self, column: str, values: list[Any]) -> str:
        """The column equals one of ``values`` (a ``null`` among them matches a missing value)."""
        present = [v for v in values if v is not None]
        terms = []
        if present:
            placeholders = ", ".join(self.bind(v) for v in present)
            terms.append(f"COALESCE({column} IN ({placeholders}), FALSE)")
        if len(present) < len(values):
            terms.append(f"({column} IS NULL)")
        return _joined(terms, "OR", "FALSE")


def _joined(terms: list[str], op: str, empty: str = "TRUE") -> str:
    """``terms`` joined by ``op`` in parentheses; ``empty`` when there are none."""
    if not terms:
        return empty
    if len(terms) == 1:
        return terms[0]
    return "(" + f" {op} ".join(terms) + ")"


def compile_filter(condition: Mapping[str, Any], source: str = "e") -> Query:
    """The SQL of a filter on the columns of the events aliased ``source``, and its params.

    Raises ``ValueError`` naming the first problem of a filter that the spec's
    checks would have refused (a spec loaded from YAML never has one).
    """
    problems = check_filter(condition)
    if problems:
        path, message = problems[0]
        at = ".".join(str(p) for p in path)
        raise ValueError(f"filter {at}: {message}" if at else f"filter: {message}")
    compiler = _Compiler(f"f{digest(canonical(condition))}", source)
    return Query(compiler.condition(condition), compiler.params)


def check_event_columns(store: Store | Engine, spec: ExperimentSpec) -> None:
    """Refuse a spec whose metrics read events columns ``store`` lacks (filters on a
    column that is not there, or ``view_id`` for the ranking kinds), or whose filters
    compare an extra column with values of another type: a :class:`SpecError` naming
    the file, the field and the problem, raised before any table is built."""
    from abtest.analysis.engine import as_engine

    engine = as_engine(store)
    if not engine.has_table("events"):
        return
    errors, _ = event_column_problems(spec, engine.columns("events"), engine.where)
    if errors:
        raise SpecError(errors)
