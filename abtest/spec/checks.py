"""Checks across fields and across files, which the models alone cannot express.

They read the raw YAML data defensively, so that every problem of a file is
found in one run even when some fields do not parse.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from abtest.conditions import check_condition
from abtest.spec.errors import SpecProblem, shown
from abtest.spec.filters import EVENT_COLUMN_TYPES, check_filter, filter_columns
from abtest.spec.models import (
    IDENTIFIER_RE,
    RANKING_KINDS,
    WEIGHT_TOLERANCE,
    ExperimentSpec,
    MetricDefinition,
)

PathT = tuple[str | int, ...]
"""A field path: mapping keys and list indices, e.g. ``("variants", 1, "weight")``."""


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _names(names: Iterable[Any]) -> str:
    """Names from the file for a message: plain identifiers as they are, anything else
    quoted (``repr``), so that a name holding SQL, commas or a newline cannot pass for
    several names or break the line."""
    return ", ".join(
        n if isinstance(n, str) and IDENTIFIER_RE.fullmatch(n) else shown(n) for n in names
    )


def semantic_problems(data: Mapping[str, Any]) -> list[tuple[PathT, str]]:
    """Cross-field checks the models cannot express alone.

    They read the raw data defensively (skipping what is malformed, which the
    models report), so that every problem of a file is found in one run even
    when some fields do not parse. Problems come in a fixed order: variants,
    forced units, targeting, metrics, then metric definitions.
    """
    raw_variants = data.get("variants")
    variants = (
        [v for v in raw_variants if isinstance(v, Mapping)]
        if isinstance(raw_variants, list)
        else []
    )
    names = [v.get("name") for v in variants]
    definitions = data.get("metric_definitions")
    definitions = definitions if isinstance(definitions, Mapping) else {}
    return [
        *_variant_problems(variants, names),
        *_forced_problems(data.get("forced"), names),
        *_targeting_problems(data.get("targeting"), data.get("saved_groups")),
        *_metric_problems(data.get("metrics"), definitions),
        *_definition_problems(definitions, data.get("analysis")),
    ]


def _variant_problems(
    variants: list[Mapping[str, Any]], names: list[Any]
) -> Iterator[tuple[PathT, str]]:
    """Duplicate variant names, and weights given for only some variants or not summing to 1."""
    seen: set[Any] = set()
    for i, name in enumerate(names):
        if isinstance(name, str) and name in seen:
            yield ("variants", i, "name"), f"duplicate variant name {name!r}"
        seen.add(name)

    weights = [v.get("weight") for v in variants]
    given = [w is not None for w in weights]
    if any(given) and not all(given):
        missing = [v.get("name") for v, g in zip(variants, given, strict=True) if not g]
        yield (
            ("variants",),
            f"give a weight for every variant or for none (missing: {_names(missing)})",
        )
    elif weights and all(_is_number(w) for w in weights):
        total = math.fsum(weights)
        if all(w == 0 for w in weights):
            yield ("variants",), "every weight is 0"
        elif abs(total - 1.0) > WEIGHT_TOLERANCE:
            yield (
                ("variants",),
                f"weights sum to {total:.6g}, they must sum to 1 "
                "(omit all weights for an equal split)",
            )


def _forced_problems(forced: Any, names: list[Any]) -> Iterator[tuple[PathT, str]]:
    """Units forced into a variant the spec does not have."""
    if isinstance(forced, Mapping) and names:
        for unit_id, variant in forced.items():
            if isinstance(variant, str) and variant not in names:
                yield (
                    ("forced", str(unit_id)),
                    f"unknown variant {shown(variant)}; variants are {_names(names)}",
                )


def _targeting_problems(targeting: Any, groups: Any) -> Iterator[tuple[PathT, str]]:
    """Mistakes in the targeting condition (see :func:`abtest.conditions.check_condition`)."""
    if isinstance(targeting, Mapping):
        groups = groups if isinstance(groups, Mapping) else {}
        for cpath, message in check_condition(targeting, groups):
            yield ("targeting", *cpath), message


def _metric_problems(metrics: Any, definitions: Mapping[str, Any]) -> Iterator[tuple[PathT, str]]:
    """Listed metrics that are not defined or listed twice, guardrails without a
    direction, and definitions that no metrics section puts to use."""
    if isinstance(metrics, Mapping):
        placed: dict[str, str] = {}
        for group in ("primary", "secondary", "guardrail"):
            listed = metrics.get(group)
            for i, name in enumerate(listed if isinstance(listed, list) else []):
                if not isinstance(name, str):
                    continue
                path: PathT = ("metrics", group, i)
                if name not in definitions:
                    known = _names(definitions) or "none defined"
                    yield path, f"unknown metric {shown(name)}; metric_definitions has: {known}"
                    continue
                if name in placed:
                    yield path, f"metric {name!r} is already listed in {placed[name]}"
                    continue
                placed[name] = group
                definition = definitions[name]
                if (
                    group == "guardrail"
                    and isinstance(definition, Mapping)
                    and (definition.get("direction") is None)
                    and definition.get("kind") != "tap_position"  # lower_is_better by default
                ):
                    yield (
                        ("metric_definitions", name, "direction"),
                        f"guardrail metric {name!r} needs a direction "
                        "(higher_is_better or lower_is_better)",
                    )
    elif definitions and metrics is None:
        yield (
            ("metrics",),
            "metric_definitions are given but no metrics section says which are primary",
        )


def _definition_problems(
    definitions: Mapping[str, Any], analysis: Any
) -> Iterator[tuple[PathT, str]]:
    """Metric definitions asking for CUPED where it cannot apply, named unlike their key,
    or with malformed filters."""
    pre_days = analysis.get("cuped_pre_period_days") if isinstance(analysis, Mapping) else None
    for name, definition in definitions.items():
        if isinstance(definition, Mapping) and definition.get("cuped") is True:
            yield from _cuped_problems(name, definition, pre_days)
        if isinstance(definition, Mapping):
            yield from _filter_problems(name, definition)
        if (
            isinstance(definition, Mapping)
            and "name" in definition
            and (definition["name"] != name)
        ):
            yield (
                ("metric_definitions", name, "name"),
                f"name {definition['name']!r} differs from its key {name!r}",
            )


def _cuped_problems(
    name: str, definition: Mapping[str, Any], pre_days: Any
) -> Iterator[tuple[PathT, str]]:
    """``cuped: true`` written on a metric that cannot be CUPED-adjusted."""
    path: PathT = ("metric_definitions", name, "cuped")
    if definition.get("kind") == "quantile":
        yield (
            path,
            (f"metric {name!r} is a quantile, which is never CUPED-adjusted: remove cuped: true"),
        )
    elif definition.get("window") is not None:
        yield (
            path,
            (
                f"metric {name!r} has a window, and windowed metrics are never CUPED-adjusted: "
                "remove cuped: true"
            ),
        )
    elif not pre_days:
        yield (
            path,
            (
                f"metric {name!r} asks for CUPED but the analysis has no pre-period: "
                "set analysis.cuped_pre_period_days (e.g. 7)"
            ),
        )


def _filter_problems(name: str, definition: Mapping[str, Any]) -> Iterator[tuple[PathT, str]]:
    """Mistakes in the filters of a metric's numerator and denominator (operators, operand
    types against the data model's columns; other columns are checked against a database,
    see :func:`event_column_problems`)."""
    for part in ("numerator", "denominator"):
        value = definition.get(part)
        if not isinstance(value, Mapping) or value.get("filter") is None:
            continue
        for fpath, message in check_filter(value["filter"]):
            yield ("metric_definitions", name, part, "filter", *fpath), message


def encoder_problems(
    spec: ExperimentSpec | Mapping[str, Any], known_encoders: Iterable[str]
) -> list[tuple[PathT, str]]:
    """Variants whose encoder is not among ``known_encoders`` (a spec or its raw data)."""
    known = sorted(set(known_encoders))
    listed = ", ".join(known) if known else "none"
    if isinstance(spec, ExperimentSpec):
        encoders: list[Any] = [v.encoder for v in spec.variants]
    else:
        raw = spec.get("variants")
        encoders = [
            v.get("encoder") if isinstance(v, Mapping) else None
            for v in (raw if isinstance(raw, list) else [])
        ]
    return [
        (("variants", i, "encoder"), f"unknown encoder {e!r}; known encoders: {listed}")
        for i, e in enumerate(encoders)
        if isinstance(e, str) and e not in known
    ]


def cross_spec_problems(specs: Sequence[ExperimentSpec]) -> list[SpecProblem]:
    """Duplicate keys and overlapping namespace ranges between specs."""
    problems: list[SpecProblem] = []
    for j, b in enumerate(specs):
        for a in specs[:j]:
            a_src, b_src = a.source or a.key, b.source or b.key
            if a.key == b.key:
                problems.append(
                    SpecProblem(b_src, "key", f"experiment key {b.key!r} is also used by {a_src}")
                )
            if a.namespace and b.namespace and a.namespace.overlaps(b.namespace):
                problems.append(
                    SpecProblem(
                        b_src,
                        "namespace.range",
                        f"range [{b.namespace.range[0]:g}, {b.namespace.range[1]:g}) of namespace "
                        f"{b.namespace.name!r} overlaps [{a.namespace.range[0]:g}, "
                        f"{a.namespace.range[1]:g}) of {a.key!r} in {a_src}; experiments in one "
                        "namespace need disjoint ranges",
                    )
                )
    return problems


# --------------------------------------------------------------------------- against data
@dataclass(frozen=True)
class DataFacts:
    """What a database holds of what specs read, gathered by the caller (no I/O here).

    ``None`` means the table is absent, so nothing is checked against it.
    """

    event_rows: Mapping[str, int] | None
    """Rows of each event type in ``events``."""
    event_values: Mapping[str, int] | None
    """Rows of each event type whose ``value`` is not null (what ``aggregate: sum`` adds)."""
    user_columns: Mapping[str, int] | None
    """Non-null values of each column of ``users`` (what ``targeting`` reads)."""
    event_columns: Mapping[str, str] | None = None
    """The columns of ``events`` and their SQL types (what metric filters read)."""


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _targeted_attributes(
    condition: Any, path: PathT = ("targeting",)
) -> Iterator[tuple[PathT, str]]:
    """(field path, attribute) of every attribute a GrowthBook condition reads.

    The keys a condition reads are found as a filter's columns are
    (:func:`~abtest.spec.filters.filter_columns`: through ``$and``/``$or``/``$nor``
    and ``$not``, never into an attribute's own operators); ``a.b`` reads attribute ``a``.
    """
    for where, key in filter_columns(condition, path):
        yield where, key.split(".", 1)[0]


def data_warnings(spec: ExperimentSpec, facts: DataFacts, where: str) -> list[SpecProblem]:
    """What ``spec`` reads that the data in ``where`` does not have.

    A valid spec can still measure nothing: a metric on an event type with no
    rows (a typo such as ``purchse``, or events not ingested yet), a sum of
    values that are all null, or targeting on a users column that does not
    exist or is empty (every unit's value is then missing). These are warnings,
    not errors: the data may arrive later. Each names the closest existing name.
    """
    source = spec.source or spec.key
    found: list[tuple[str, str]] = []
    events, values = facts.event_rows, facts.event_values
    if events is not None and not events:
        found.append(("", f"the events table of {where} has no rows yet: event types not checked"))
    elif events is not None:
        known = ", ".join(sorted(events))
        for name, m in spec.metric_definitions.items():
            for part in ("numerator", "denominator"):
                ev = getattr(m, part)
                if ev is None:
                    continue
                at = f"metric_definitions.{name}.{part}"
                if not events.get(ev.event):
                    found.append(
                        (
                            f"{at}.event",
                            f"no {ev.event!r} events in {where}"
                            f"{_did_you_mean(ev.event, events)}; event types there: {known}",
                        )
                    )
                elif ev.aggregate == "sum" and values is not None and not values.get(ev.event):
                    found.append(
                        (
                            f"{at}.aggregate",
                            f"every {ev.event!r} event in {where} has a null value, "
                            "so its sum is 0 for every unit",
                        )
                    )
    columns = facts.user_columns
    if columns is not None and spec.targeting:
        seen: set[str] = set()
        for cpath, attribute in _targeted_attributes(spec.targeting):
            if attribute in seen:
                continue
            seen.add(attribute)
            at = ".".join(str(x) if isinstance(x, str) else f"[{x}]" for x in cpath)
            at = at.replace(".[", "[")
            if attribute not in columns:
                found.append(
                    (
                        at,
                        f"the users table of {where} has no column {attribute!r}"
                        f"{_did_you_mean(attribute, columns)}, so every unit's value is missing",
                    )
                )
            elif not columns[attribute]:
                found.append(
                    (
                        at,
                        f"column {attribute!r} of the users table of {where} has no values, "
                        "so every unit's value is missing",
                    )
                )
    return [SpecProblem(source, path, message) for path, message in found]


# --------------------------------------------------------------------------- events columns
def _dotted(path: PathT) -> str:
    """A field path as problems print it: ``a.b[0].c``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _filters(m: MetricDefinition) -> Iterator[tuple[PathT, Any]]:
    """(field path, filter) of the filters of a metric's numerator and denominator."""
    for part in ("numerator", "denominator"):
        ev = getattr(m, part)
        if ev is not None and ev.filter:
            yield ("metric_definitions", m.name, part, "filter"), ev.filter


def _read_columns(m: MetricDefinition) -> Iterator[tuple[PathT, str]]:
    """(field path, column) of every events column a metric reads besides the required ones
    (``ts``, ``user_id``, ``event_type``, ``value``): its filters' columns, and the
    ``view_id`` and ``position`` of the ranking kinds."""
    for path, condition in _filters(m):
        for fpath, column in filter_columns(condition):
            yield (*path, *fpath), column
    if m.kind in RANKING_KINDS:
        kind_path: PathT = ("metric_definitions", m.name, "kind")
        if m.kind != "tap_position":
            yield kind_path, "view_id"
        yield kind_path, "position"


def event_column_problems(
    spec: ExperimentSpec, columns: Mapping[str, str] | None, where: str = "the database"
) -> tuple[list[SpecProblem], list[SpecProblem]]:
    """``(errors, warnings)`` about the events columns the metrics of ``spec`` read.

    With ``columns`` (the database's events columns and their SQL types), a column
    that is not there, or a filter operand of the wrong type for an extra column, is
    an error: the metric could not be computed. Without (no database given), a
    column that is not in the data model (:data:`EVENT_COLUMN_TYPES`) can only be a
    warning that says it is checked with a database.
    """
    source = spec.source or spec.key
    errors: list[SpecProblem] = []
    warnings: list[SpecProblem] = []
    seen: set[tuple[str, str]] = set()
    for m in spec.metric_definitions.values():
        for path, column in _read_columns(m):
            at = _dotted(path)
            if (at, column) in seen:
                continue
            seen.add((at, column))
            if columns is None and column not in EVENT_COLUMN_TYPES:
                warnings.append(
                    SpecProblem(
                        source,
                        at,
                        f"{column!r} is not a column of looklift's events table; whether the "
                        "events have it can only be checked against a database (--db)",
                    )
                )
            elif columns is not None and column not in columns:
                known = ", ".join(columns)
                why = f" ({m.kind} metrics read it)" if path[-1] == "kind" else ""
                errors.append(
                    SpecProblem(
                        source,
                        at,
                        f"the events table of {where} has no column {shown(column)}{why}"
                        f"{_did_you_mean(column, columns)}; its columns: {known}",
                    )
                )
        if columns is not None:
            for path, condition in _filters(m):
                errors += [
                    SpecProblem(source, _dotted((*path, *fpath)), f"{message} (in {where})")
                    for fpath, message in check_filter(condition, columns)
                ]
    return errors, warnings
