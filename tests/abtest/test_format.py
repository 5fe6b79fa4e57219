"""The one formatter: every output shows a number the same way, and JSON never holds NaN."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import math
from enum import Enum
from pathlib import Path

import numpy as np

from abtest import format as fmt


def test_values() -> None:
    assert fmt.pct(0.0772) == "7.7%" and fmt.pct(0.0772, 2) == "7.72%"
    assert fmt.signed_pct(0.985) == "+98.5%" and fmt.signed_pct(-0.012, 2) == "-1.20%"
    assert fmt.share(0.5) == "50%" and fmt.share(1 / 3) == "33.33%"
    assert fmt.metric_value(0.02637, True) == "2.64%"
    assert fmt.metric_value(17.5491, False) == "17.549"
    assert fmt.number(1234.5678) == "1,234.568" and fmt.count(1995.0) == "1,995"
    assert fmt.change(0.0383, percent=True) == "+3.83 pp"
    assert fmt.change(12345.0, percent=False) == "+1.23e+04"


def test_what_is_not_a_number_shows_as_a_dash() -> None:
    for value in (None, math.nan, math.inf):
        assert fmt.pct(value) == fmt.signed_pct(value) == fmt.number(value) == fmt.DASH
        assert fmt.metric_value(value, True) == fmt.p_value(value) == fmt.level(value) == "—"
        assert fmt.interval(value, 0.1) == fmt.rate_interval(0.1, value) == fmt.DASH
        assert fmt.change_interval(value, 0.1, percent=True) == fmt.DASH


def test_intervals() -> None:
    assert fmt.interval(0.895, 1.076) == "[+89.5%, +107.6%]"
    assert fmt.interval(0.89478, 1.07643, digits=2) == "[+89.48%, +107.64%]"
    assert fmt.interval(0.123, 0.345, percent=False) == "[+0.123, +0.345]"
    assert fmt.rate_interval(0.0261, 0.0269) == "[2.61%, 2.69%]"
    assert fmt.change_interval(0.012, 0.034, percent=True) == "[+1.20, +3.40] pp"


def test_an_adjusted_interval_names_its_level_when_the_header_does_not() -> None:
    assert fmt.adjusted_interval(0.1, 0.2, 0.99, header_level=0.99) == "[+10.0%, +20.0%]"
    assert fmt.adjusted_interval(0.1, 0.2, 0.995, header_level=0.99) == ("[+10.0%, +20.0%] (99.5%)")
    assert fmt.adjusted_interval(None, None, None, header_level=0.99) == fmt.DASH
    assert fmt.common_level([0.99, None, 0.995, 0.99]) == 0.99
    assert fmt.common_level([None]) is None


def test_levels_and_p_values() -> None:
    assert fmt.level(0.95) == "95%" and fmt.level(0.9875) == "98.75%"
    assert fmt.p_value(0.01234) == "0.0123" and fmt.p_value(0.00001) == "<0.0001"
    assert fmt.p_relation(0.01234) == "= 0.012" and fmt.p_relation(0.00001) == "< 0.0001"


def test_escape() -> None:
    assert fmt.escape('<b>"x" & y</b>') == "&lt;b&gt;&quot;x&quot; &amp; y&lt;/b&gt;"


class Colour(Enum):
    RED = "red"


@dataclasses.dataclass(frozen=True)
class Point:
    x: float
    when: dt.date


class WithToDict:
    def to_dict(self) -> dict[str, object]:
        return {"a": (1, math.nan)}


def test_jsonable_makes_every_value_plain_json() -> None:
    value = {
        1: [math.nan, math.inf, -math.inf, 1.5],
        "tuple": (np.float64(0.25), np.int64(3), np.bool_(True)),
        "array": np.array([1.0, np.nan]),
        "decimal": decimal.Decimal("2.5"),
        "when": dt.datetime(2026, 3, 2, 12, 30),
        "path": Path("/tmp/x.html"),
        "enum": Colour.RED,
        "point": Point(math.nan, dt.date(2026, 3, 2)),
        "object": WithToDict(),
        "set": frozenset({"a"}),
    }
    assert fmt.jsonable(value) == {
        "1": [None, None, None, 1.5],
        "tuple": [0.25, 3, True],
        "array": [1.0, None],
        "decimal": 2.5,
        "when": "2026-03-02T12:30:00",
        "path": "/tmp/x.html",
        "enum": "red",
        "point": {"x": None, "when": "2026-03-02"},
        "object": {"a": [1, None]},
        "set": ["a"],
    }
    json.dumps(fmt.jsonable(value), allow_nan=False)  # strict JSON
