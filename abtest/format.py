"""Numbers as an analyst reads them, for every output: terminal, HTML, Markdown, JSON, notebook.

This is the one place a number becomes text, so that the terminal table, the
reports and the notebook say "+101.3% [+92.9%, +109.6%]" alike. Functions take
plain numbers (never result objects) and return strings; a value that is not
finite (an undefined effect) shows as an em dash. :func:`jsonable` is the one
normaliser of values for JSON (NaN and infinity become ``null``).

It lives at the bottom of ``abtest`` and imports nothing of the project, so
every room may import it: the terminal renderer of ``abtest.analysis``,
``offline_eval``, ``reports`` and the ``looklift`` CLI.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import html
import math
from collections.abc import Iterable, Mapping
from enum import Enum
from pathlib import PurePath
from typing import Any

DASH = "—"


def finite(x: float | None) -> bool:
    """Whether ``x`` is a number that can be shown (not None, NaN or infinite)."""
    return x is not None and math.isfinite(x)


# ---------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------
def pct(x: float | None, digits: int = 1) -> str:
    """0.0772 -> "7.7%"."""
    return f"{x:.{digits}%}" if finite(x) else DASH


def share(x: float | None) -> str:
    """A configured share without needless digits: 0.5 -> "50%", 1/3 -> "33.33%"."""
    return f"{x * 100:.4g}%" if finite(x) else DASH


def signed_pct(x: float | None, digits: int = 1) -> str:
    """A relative lift: 0.985 -> "+98.5%"."""
    return f"{x:+.{digits}%}" if finite(x) else DASH


def number(x: float | None, digits: int = 3) -> str:
    """1234.5678 -> "1,234.568"."""
    return f"{x:,.{digits}f}" if finite(x) else DASH


def metric_value(x: float | None, percent: bool) -> str:
    """A metric's value: a percentage for rates ("2.64%"), a plain number otherwise ("0.477")."""
    return pct(x, 2) if percent else number(x)


def count(n: float | None) -> str:
    """A count with thousands separators: 1995.0 -> "1,995"."""
    return f"{n:,.0f}" if finite(n) else DASH


def points(x: float | None) -> str:
    """A difference of two percentages in percentage points: 0.0383 -> "+3.83 pp"."""
    return f"{x * 100:+.2f} pp" if finite(x) else DASH


def change(x: float | None, *, percent: bool) -> str:
    """An absolute difference: percentage points for rates, else three significant digits."""
    if percent:
        return points(x)
    return f"{x:+,.3g}" if finite(x) else DASH


# ---------------------------------------------------------------------------------------
# Intervals, levels, p-values
# ---------------------------------------------------------------------------------------
def interval(
    low: float | None, high: float | None, *, percent: bool = True, digits: int = 1
) -> str:
    """An interval of lifts as "[+89.5%, +107.6%]" (or "[+0.12, +0.34]" when not a percentage)."""
    if not (finite(low) and finite(high)):
        return DASH
    if percent:
        return f"[{low:+.{digits}%}, {high:+.{digits}%}]"
    return f"[{low:+,.3g}, {high:+,.3g}]"


def rate_interval(low: float | None, high: float | None, digits: int = 2) -> str:
    """An interval of rates, unsigned: "[2.61%, 2.69%]"."""
    if not (finite(low) and finite(high)):
        return DASH
    return f"[{low:.{digits}%}, {high:.{digits}%}]"


def change_interval(low: float | None, high: float | None, *, percent: bool) -> str:
    """An interval of absolute differences: "[+1.20, +3.40] pp" for rates."""
    if not (finite(low) and finite(high)):
        return DASH
    if percent:
        return f"[{low * 100:+.2f}, {high * 100:+.2f}] pp"
    return f"[{low:+,.3g}, {high:+,.3g}]"


def level(ci_level: float | None) -> str:
    """0.95 -> "95%", 0.99 -> "99%", 0.9875 -> "98.75%"."""
    if not finite(ci_level):
        return DASH
    return f"{ci_level * 100:.4g}%"


def common_level(levels: Iterable[float | None]) -> float | None:
    """The level most intervals share (the one a column header names); ``None`` for none."""
    known = [x for x in levels if x is not None]
    return max(set(known), key=known.count) if known else None


def adjusted_interval(
    low: float | None,
    high: float | None,
    ci_level: float | None,
    *,
    header_level: float | None,
    percent: bool = True,
) -> str:
    """An interval widened for a multiple-testing correction.

    It names its own level, "[+1.2%, +3.4%] (99.5%)", when that differs from the
    level its column header says (``header_level``).
    """
    if low is None or high is None:
        return DASH
    text = interval(low, high, percent=percent)
    differs = (
        ci_level is not None and header_level is not None and abs(ci_level - header_level) > 1e-12
    )
    if text != DASH and differs:
        text += f" ({level(ci_level)})"
    return text


def p_value(p: float | None) -> str:
    """A p-value in a table: "0.0123", or "<0.0001"."""
    if not finite(p):
        return DASH
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def chance(x: float | None) -> str:
    """A Bayesian chance to win: 0.9731 -> "97.3%", with ">99.9%" and "<0.1%" at the ends."""
    if not finite(x):
        return DASH
    if x > 0.999:
        return ">99.9%"
    if x < 0.001:
        return "<0.1%"
    return f"{x:.1%}"


def risk(x: float | None) -> str:
    """A Bayesian risk (expected relative loss): 0.00123 -> "0.12%"; tiny ones "<0.01%"."""
    if not finite(x):
        return DASH
    return "<0.01%" if 0 <= x < 1e-4 else f"{x:.2%}"


def p_relation(p: float) -> str:
    """A p-value in a sentence, with its relation: "< 0.0001" or "= 0.012"."""
    return "< 0.0001" if p < 1e-4 else f"= {p:.2g}"


# ---------------------------------------------------------------------------------------
# Text and JSON
# ---------------------------------------------------------------------------------------
def escape(text: object) -> str:
    """Text for HTML, quotes included: it shows as written and never becomes markup."""
    return html.escape(str(text), quote=True)


def jsonable(obj: Any) -> Any:
    """Plain JSON values: NaN and infinity as ``None``, dates as ISO text, tuples and sets
    as lists, decimals as floats, numpy values as Python ones, paths as text, enums as
    their value, dataclasses (field by field) and objects with ``to_dict`` as dicts."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return jsonable(obj.to_dict())
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [jsonable(v) for v in obj]
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, dt.datetime | dt.date):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, decimal.Decimal):  # DuckDB sums of integers can arrive as DECIMAL
        obj = float(obj)
    if hasattr(obj, "tolist") and callable(obj.tolist):  # a numpy array or scalar
        return jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
