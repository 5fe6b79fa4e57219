"""Targeting conditions in GrowthBook's condition syntax (a MongoDB-like language).

A condition is a mapping from attribute paths (``country``, ``device.os``) to
either a literal that must equal the attribute, or an object of operators::

    {"country": {"$in": ["JP", "US"]}, "app_version": {"$vgte": "5.2.0"},
     "$or": [{"is_new": true}, {"platform": "ios"}]}

Operators: ``$eq $ne $lt $lte $gt $gte`` (JavaScript comparison: a number
against a numeric string compares as numbers, a missing value as 0),
``$veq $vne $vlt $vlte $vgt $vgte`` (versions such as ``1.2.3-rc.1``),
``$in $nin $ini $nini`` (membership; the ``i`` forms ignore case),
``$inGroup $notInGroup`` (membership of a named saved group),
``$regex $regexi $notRegex $notRegexi``, ``$exists``, ``$type``,
``$elemMatch $size $all $alli`` (arrays), ``$not``; and at condition level
``$and $or $nor $not``.

Semantics follow GrowthBook's JavaScript SDK, whose language-independent test
vectors (``growthbook-cases.json``) all pass. A malformed condition never
raises while evaluating: it does not match. :func:`check_condition` finds
such mistakes ahead of time, so that a spec with a typo is rejected instead of
silently targeting nobody.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from abtest.hashing import js_number_string

SavedGroups = Mapping[str, list[Any]]

CONDITION_OPERATORS = frozenset({"$and", "$or", "$nor", "$not"})
VALUE_OPERATORS = frozenset(
    {
        "$eq",
        "$ne",
        "$lt",
        "$lte",
        "$gt",
        "$gte",
        "$veq",
        "$vne",
        "$vlt",
        "$vlte",
        "$vgt",
        "$vgte",
        "$in",
        "$nin",
        "$ini",
        "$nini",
        "$inGroup",
        "$notInGroup",
        "$regex",
        "$regexi",
        "$notRegex",
        "$notRegexi",
        "$exists",
        "$type",
        "$elemMatch",
        "$size",
        "$all",
        "$alli",
        "$not",
    }
)
TYPE_NAMES = frozenset({"string", "number", "boolean", "array", "object", "null"})

_EVAL_ERRORS = (TypeError, ValueError, AttributeError, IndexError, KeyError, RecursionError)


# --------------------------------------------------------------------------- public API
def eval_condition(
    attributes: Mapping[str, Any],
    condition: Mapping[str, Any],
    saved_groups: SavedGroups | None = None,
) -> bool:
    """Whether ``attributes`` satisfy ``condition`` (False for a malformed condition)."""
    try:
        return _eval(attributes, condition, saved_groups)
    except _EVAL_ERRORS:
        return False


def condition_attributes(condition: Mapping[str, Any]) -> set[str]:
    """Top-level attribute names a condition reads (``device`` for ``device.os``).

    The batch path evaluates a condition once per distinct combination of
    these attributes.
    """
    found: set[str] = set()

    def walk(cond: Any) -> None:
        if not isinstance(cond, Mapping):
            return
        for key, value in cond.items():
            if key in ("$and", "$or", "$nor"):
                for sub in value if isinstance(value, list) else []:
                    walk(sub)
            elif key == "$not":
                walk(value)
            else:
                found.add(str(key).split(".", 1)[0])

    walk(condition)
    return found


ConditionPath = tuple[str | int, ...]
"""Where in a condition: mapping keys and list indices, e.g. ``("$or", 0, "country", "$in")``."""
_Problems = list[tuple[ConditionPath, str]]


def check_condition(
    condition: Any, saved_groups: SavedGroups | None = None
) -> list[tuple[ConditionPath, str]]:
    """Mistakes in a condition, as ``(path, problem)`` pairs; empty when it is well formed.

    Catches unknown operators (``$regx``), operands of the wrong type
    (``$in`` without a list), regular expressions that do not compile,
    unknown ``$type`` names and saved groups that are not defined. A path is
    a tuple of mapping keys and list indices, e.g. ``("$or", 0, "country", "$in")``.
    """
    problems: _Problems = []
    _check_condition(condition, (), saved_groups, problems)
    return problems


def _check_condition(
    c: Any, path: ConditionPath, groups: SavedGroups | None, problems: _Problems
) -> None:
    """A condition: attributes, and ``$and``/``$or``/``$nor`` lists or a ``$not`` condition."""
    if not isinstance(c, Mapping):
        problems.append((path, f"a condition must be a mapping, got {_type_name(c)}"))
        return
    for key, value in c.items():
        key = str(key)
        sub = (*path, key)
        if key in ("$and", "$or", "$nor"):
            if not isinstance(value, list):
                problems.append((sub, f"{key} takes a list of conditions"))
                continue
            for i, item in enumerate(value):
                _check_condition(item, (*sub, i), groups, problems)
        elif key == "$not":
            _check_condition(value, sub, groups, problems)
        elif key in VALUE_OPERATORS:
            problems.append((sub, f"{key} applies to an attribute, not to a condition"))
        else:
            _check_value(value, sub, groups, problems)


def _check_value(
    v: Any, path: ConditionPath, groups: SavedGroups | None, problems: _Problems
) -> None:
    """An attribute's value: a literal to equal, or an object of operators (not both)."""
    if not _is_operator_object(v):
        if isinstance(v, Mapping) and any(str(k).startswith("$") for k in v):
            bad = [str(k) for k in v if not str(k).startswith("$")]
            problems.append((path, f"cannot mix operators and fields ({', '.join(bad)})"))
        return
    for op, operand in v.items():
        _check_operator(op, operand, (*path, op), groups, problems)


def _check_operator(
    op: str,
    operand: Any,
    sub: ConditionPath,
    groups: SavedGroups | None,
    problems: _Problems,
) -> None:
    """One operator of a value and its operand (nested values and conditions checked too)."""
    if op not in VALUE_OPERATORS:
        close = difflib.get_close_matches(op, sorted(VALUE_OPERATORS), n=1)
        hint = (
            f"did you mean {close[0]!r}?"
            if close
            else ("see abtest/conditions.py for the operators")
        )
        problems.append((sub, f"unknown operator {op!r}; {hint}"))
    elif op in ("$in", "$nin", "$ini", "$nini", "$all", "$alli"):
        if not isinstance(operand, list):
            problems.append((sub, f"{op} takes a list, got {_type_name(operand)}"))
        elif op in ("$all", "$alli"):
            for i, item in enumerate(operand):
                _check_value(item, (*sub, i), groups, problems)
    elif op in ("$regex", "$regexi", "$notRegex", "$notRegexi"):
        if not isinstance(operand, str):
            problems.append((sub, f"{op} takes a string, got {_type_name(operand)}"))
        elif _regex(operand, op.endswith("i")) is None:
            problems.append((sub, f"invalid regular expression {operand!r}"))
    elif op == "$type":
        if operand not in TYPE_NAMES:
            problems.append(
                (sub, f"unknown type {operand!r}; use one of {', '.join(sorted(TYPE_NAMES))}")
            )
    elif op in ("$inGroup", "$notInGroup"):
        if not isinstance(operand, str):
            problems.append((sub, f"{op} takes a saved group name"))
        elif groups is not None and operand not in groups:
            problems.append((sub, f"unknown saved group {operand!r}"))
    elif op == "$elemMatch":
        if _is_operator_object(operand):
            _check_value(operand, sub, groups, problems)
        else:
            _check_condition(operand, sub, groups, problems)
    elif op in ("$size", "$not"):
        _check_value(operand, sub, groups, problems)
    elif op in ("$veq", "$vne", "$vlt", "$vlte", "$vgt", "$vgte") and (
        not isinstance(operand, str | int | float) or isinstance(operand, bool)
    ):
        problems.append((sub, f"{op} takes a version string"))


# --------------------------------------------------------------------------- evaluation
def _eval(attributes: Any, condition: Mapping[str, Any], groups: SavedGroups | None) -> bool:
    for key, value in condition.items():
        if key == "$or":
            if not _eval_or(attributes, value, groups):
                return False
        elif key == "$nor":
            if _eval_or(attributes, value, groups):
                return False
        elif key == "$and":
            if not all(_eval(attributes, c, groups) for c in value):
                return False
        elif key == "$not":
            if _eval(attributes, value, groups):
                return False
        elif not _eval_value(value, get_path(attributes, key), groups):
            return False
    return True


def _eval_or(attributes: Any, conditions: list[Any], groups: SavedGroups | None) -> bool:
    if not conditions:
        return True
    return any(_eval(attributes, c, groups) for c in conditions)


def get_path(attributes: Any, path: str) -> Any:
    """The value at a dotted path, or None where any step is missing.

    Lists expose their indices ("0", "1"...) and "length", like JavaScript objects.
    """
    current = attributes
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list | tuple):
            if part == "length":
                current = len(current)
            elif (
                part.isascii()
                and part.isdigit()
                and (part == "0" or part[0] != "0")
                and int(part) < len(current)
            ):
                current = current[int(part)]
            else:
                return None
        else:
            return None
    return current


def _is_operator_object(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and len(value) > 0
        and all(isinstance(k, str) and k.startswith("$") for k in value)
    )


def _eval_value(
    expected: Any, actual: Any, groups: SavedGroups | None, insensitive: bool = False
) -> bool:
    if _is_operator_object(expected):
        return all(_eval_operator(op, actual, operand, groups) for op, operand in expected.items())
    if insensitive and isinstance(expected, str) and isinstance(actual, str):
        return expected.lower() == actual.lower()
    return _deep_equal(expected, actual)


def get_type(value: Any) -> str:
    """The JSON type name GrowthBook's ``$type`` compares against."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return "unknown"


def _type_name(value: Any) -> str:
    t = get_type(value)
    return "a list" if t == "array" else "a mapping" if t == "object" else f"a {t}"


def _deep_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: same types throughout (``True`` is not ``1``), ``1.0 == 1``."""
    ta = get_type(a)
    if ta != get_type(b):
        return False
    if ta == "array":
        return len(a) == len(b) and all(_deep_equal(x, y) for x, y in zip(a, b, strict=True))
    if ta == "object":
        return list(a.keys()) == list(b.keys()) and all(_deep_equal(a[k], b[k]) for k in a)
    if ta == "number" and (_is_nan(a) or _is_nan(b)):
        return False
    return bool(a == b)


def _strict_equal(a: Any, b: Any) -> bool:
    """JavaScript ``===``: primitives of the same type and value; lists and objects never."""
    ta = get_type(a)
    if ta != get_type(b) or ta in ("array", "object", "unknown"):
        return False
    return bool(a == b)


def _is_nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


_JS_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _to_number(x: Any) -> float:
    """JavaScript's ``Number(x)`` for JSON values (lists and objects give NaN)."""
    if x is None:
        return 0.0
    if isinstance(x, bool):
        return 1.0 if x else 0.0
    if isinstance(x, int | float):
        return float(x)
    if isinstance(x, str):
        s = x.strip()
        if not s:
            return 0.0
        if _JS_NUMBER.fullmatch(s):
            return float(s)
        if s in ("Infinity", "+Infinity"):
            return math.inf
        if s == "-Infinity":
            return -math.inf
        low = s.lower()
        for prefix, base in (("0x", 16), ("0o", 8), ("0b", 2)):
            if low.startswith(prefix):
                try:
                    return float(int(s[2:], base))
                except ValueError:
                    return math.nan
        return math.nan
    return math.nan


def _utf16(s: str) -> bytes:
    return s.encode("utf-16-be", "surrogatepass")


def _js_compare(a: Any, b: Any) -> int | None:
    """JavaScript's relational comparison: -1, 0, 1, or None when unordered (NaN)."""
    if isinstance(a, str) and isinstance(b, str):
        if not (a.isascii() and b.isascii()):
            a, b = _utf16(a), _utf16(b)  # type: ignore[assignment]
        return (a > b) - (a < b)
    x, y = _to_number(a), _to_number(b)
    if math.isnan(x) or math.isnan(y):
        return None
    return (x > y) - (x < y)


_VERSION_STRIP = re.compile(r"(^v|\+.*$)")
_VERSION_SPLIT = re.compile(r"[-.]")
_DIGITS = re.compile(r"[0-9]+")


@lru_cache(maxsize=1024)
def _padded_version_str(text: str) -> str:
    parts = _VERSION_SPLIT.split(_VERSION_STRIP.sub("", text))
    if len(parts) == 3:
        parts.append("~")  # a release sorts after its pre-releases ("~" is the largest ASCII)
    return "-".join(p.rjust(5, " ") if _DIGITS.fullmatch(p) else p for p in parts)


def padded_version(value: Any) -> str:
    """A version string whose plain string order is semantic-version order."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = js_number_string(float(value)) if math.isfinite(value) else str(value)
    if not value or not isinstance(value, str):
        value = "0"
    return _padded_version_str(value)


@lru_cache(maxsize=1024)
def _regex(pattern: str, ignore_case: bool) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except (re.error, TypeError, ValueError, RecursionError):
        return None


def _regex_search(pattern: Any, actual: Any, ignore_case: bool) -> bool | None:
    """True/False, or None when the pattern or the value cannot be matched."""
    if not isinstance(pattern, str):
        return None
    compiled = _regex(pattern, ignore_case)
    if compiled is None:
        return None
    if isinstance(actual, int | float) and not isinstance(actual, bool):
        actual = js_number_string(float(actual)) if math.isfinite(actual) else None
    if not isinstance(actual, str):
        return None
    return compiled.search(actual) is not None


def _lower(x: Any) -> Any:
    return x.lower() if isinstance(x, str) else x


def _is_in(values: list[Any], actual: Any, insensitive: bool = False) -> bool:
    """``$in``: the value is in the list, or (for a list value) the two intersect."""
    if insensitive:
        values = [_lower(v) for v in values]
        actual = [_lower(a) for a in actual] if isinstance(actual, list) else _lower(actual)
    if isinstance(actual, list | tuple):
        return any(_contains(values, a) for a in actual)
    return _contains(values, actual)


def _contains(values: list[Any], actual: Any) -> bool:
    """``actual`` is strictly equal to an element of ``values``.

    A string or None equals only a string or None, so Python's ``in`` (a fast
    C loop) is exact for them, however long the list (e.g. a saved group of
    user ids). Numbers and booleans need the typed comparison (``1 == True``).
    """
    if actual is None or isinstance(actual, str):
        return actual in values
    return any(_strict_equal(actual, v) for v in values)


def _eval_operator(op: str, actual: Any, expected: Any, groups: SavedGroups | None) -> bool:
    if op == "$eq":
        return _strict_equal(actual, expected)
    if op == "$ne":
        return not _strict_equal(actual, expected)
    if op in ("$lt", "$lte", "$gt", "$gte"):
        c = _js_compare(actual, expected)
        if c is None:
            return False
        return {"$lt": c < 0, "$lte": c <= 0, "$gt": c > 0, "$gte": c >= 0}[op]
    if op in ("$veq", "$vne", "$vlt", "$vlte", "$vgt", "$vgte"):
        a, b = padded_version(actual), padded_version(expected)
        if op == "$veq":
            return a == b
        if op == "$vne":
            return a != b
        c = _js_compare(a, b)
        return {"$vlt": c < 0, "$vlte": c <= 0, "$vgt": c > 0, "$vgte": c >= 0}[op]  # type: ignore[operator]
    if op in ("$in", "$nin", "$ini", "$nini"):
        if not isinstance(expected, list):
            return False
        found = _is_in(expected, actual, insensitive=op.endswith("i"))
        return found if op in ("$in", "$ini") else not found
    if op in ("$inGroup", "$notInGroup"):
        values = (groups or {}).get(expected, []) if isinstance(expected, str) else []
        found = _is_in(list(values), actual)
        return found if op == "$inGroup" else not found
    if op in ("$regex", "$regexi"):
        return _regex_search(expected, actual, op == "$regexi") is True
    if op in ("$notRegex", "$notRegexi"):
        return _regex_search(expected, actual, op == "$notRegexi") is not True
    if op == "$exists":
        return (actual is not None) if expected else (actual is None)
    if op == "$type":
        return get_type(actual) == expected
    if op == "$not":
        return not _eval_value(expected, actual, groups)
    if op == "$elemMatch":
        if not isinstance(actual, list | tuple):
            return False
        if _is_operator_object(expected):
            return any(_eval_value(expected, item, groups) for item in actual)
        return any(_eval(item, expected, groups) for item in actual)
    if op == "$size":
        if not isinstance(actual, list | tuple):
            return False
        return _eval_value(expected, len(actual), groups)
    if op in ("$all", "$alli"):
        if not isinstance(expected, list) or not isinstance(actual, list | tuple):
            return False
        insensitive = op == "$alli"
        return all(
            any(_eval_value(cond, item, groups, insensitive) for item in actual)
            for cond in expected
        )
    return False  # an unknown operator never matches
