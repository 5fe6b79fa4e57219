"""Numbers as an analyst reads them: percentages, signed lifts, intervals, p-values.

Formatting only: every value comes from a result object. A value that is not
finite (an undefined effect) shows as an em dash.
"""

from __future__ import annotations

import math

DASH = "—"


def finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def pct(x: float | None, digits: int = 1) -> str:
    """0.0772 -> "7.7%"."""
    return f"{x:.{digits}%}" if finite(x) else DASH


def share(x: float | None) -> str:
    """A configured share without needless digits: 0.5 -> "50%", 1/3 -> "33.33%"."""
    return f"{x * 100:.4g}%" if finite(x) else DASH


def signed_pct(x: float | None, digits: int = 1) -> str:
    """0.985 -> "+98.5%"."""
    return f"{x:+.{digits}%}" if finite(x) else DASH


def interval(low: float | None, high: float | None, *, percent: bool = True) -> str:
    """A CI as "[+89.5%, +107.6%]" (or "[+0.12, +0.34]" when not a percentage)."""
    if not (finite(low) and finite(high)):
        return DASH
    if percent:
        return f"[{low:+.1%}, {high:+.1%}]"
    return f"[{low:+,.3g}, {high:+,.3g}]"


def points(x: float | None) -> str:
    """A difference of two percentages in percentage points: 0.0383 -> "+3.83 pp"."""
    return f"{x * 100:+.2f} pp" if finite(x) else DASH


def change(x: float | None, *, percent: bool) -> str:
    """An absolute difference: percentage points for rates, else three significant digits."""
    if percent:
        return points(x)
    return f"{x:+,.3g}" if finite(x) else DASH


def change_interval(low: float | None, high: float | None, *, percent: bool) -> str:
    if not (finite(low) and finite(high)):
        return DASH
    if percent:
        return f"[{low * 100:+.2f}, {high * 100:+.2f}] pp"
    return f"[{low:+,.3g}, {high:+,.3g}]"


def number(x: float | None, digits: int = 3) -> str:
    return f"{x:,.{digits}f}" if finite(x) else DASH


def metric_value(x: float | None, percent: bool) -> str:
    """A metric's value: a percentage for rates, a plain number otherwise."""
    return pct(x, 2) if percent else number(x)


def count(n: float | None) -> str:
    return f"{n:,.0f}" if finite(n) else DASH


def p_value(p: float | None) -> str:
    if not finite(p):
        return DASH
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def level(ci_level: float | None) -> str:
    """0.95 -> "95%", 0.99 -> "99%", 0.9875 -> "98.75%"."""
    if not finite(ci_level):
        return DASH
    return f"{ci_level * 100:.4g}%"
