"""Targeting conditions beyond GrowthBook's vectors: typing rules, robustness, static checks."""

from __future__ import annotations

import pytest

from abtest.conditions import (
    check_condition,
    condition_attributes,
    eval_condition,
    get_path,
    padded_version,
)


@pytest.mark.parametrize(
    ("condition", "attributes", "expected"),
    [
        # $in compares with JavaScript's ===: no type juggling, True is not 1
        ({"n": {"$in": [1, 2]}}, {"n": "1"}, False),
        ({"n": {"$in": [1, 2]}}, {"n": True}, False),
        ({"flag": {"$in": [True]}}, {"flag": 1}, False),
        ({"flag": {"$in": [True]}}, {"flag": True}, True),
        ({"n": {"$in": [1, 2]}}, {"n": 1.0}, True),
        # literal equality is deep and typed
        ({"flag": True}, {"flag": 1}, False),
        ({"tags": ["a", 1]}, {"tags": ["a", 1.0]}, True),
        ({"o": {"a": 1, "b": 2}}, {"o": {"b": 2, "a": 1}}, False),  # key order matters (JSON)
        # ordering operators coerce like JavaScript's < and >
        ({"n": {"$gt": 5}}, {"n": "8"}, True),
        ({"n": {"$gt": 5}}, {"n": "abc"}, False),
        ({"n": {"$lt": 1}}, {}, True),  # missing is null, null < 1
        ({"s": {"$lt": "b"}}, {"s": "a"}, True),
        ({"s": {"$lt": "B"}}, {"s": "a"}, False),  # code-unit order: "B" < "a"
        ({"n": {"$gte": 1}}, {"n": True}, True),
        ({"n": {"$gt": 0}}, {"n": [1]}, False),
        ({"n": {"$lt": 1}}, {"n": float("nan")}, False),
        # versions, also given as numbers
        ({"v": {"$vgt": "2.0.0"}}, {"v": "10.0.0"}, True),
        ({"v": {"$veq": 3}}, {"v": "3"}, True),
        ({"v": {"$vlt": "1.0.0"}}, {}, True),  # missing is version "0"
        # regular expressions on numbers use their JavaScript text
        ({"n": {"$regex": "^12"}}, {"n": 123}, True),
        ({"n": {"$regex": "x"}}, {}, False),
        ({"n": {"$notRegex": "x"}}, {}, True),
        ({"s": {"$regexi": "^AB"}}, {"s": "abc"}, True),
        # nested paths and list indices
        ({"a.b.c": 1}, {"a": {"b": {"c": 1}}}, True),
        ({"tags.0": "x"}, {"tags": ["x", "y"]}, True),
        ({"tags.length": 2}, {"tags": ["x", "y"]}, True),
        ({"tags.01": "y"}, {"tags": ["x", "y"]}, False),
        # $exists, $type
        ({"a": {"$exists": True}}, {"a": 0}, True),
        ({"a": {"$exists": False}}, {"a": None}, True),
        ({"a": {"$type": "number"}}, {"a": True}, False),
        # $all with operators, $elemMatch on objects, $size with operators
        ({"t": {"$all": [{"$gt": 5}, "a"]}}, {"t": ["a", 7]}, True),
        ({"t": {"$elemMatch": {"n": {"$gt": 1}}}}, {"t": [{"n": 0}, {"n": 2}]}, True),
        ({"t": {"$size": {"$lte": 1}}}, {"t": []}, True),
        # saved groups
        ({"id": {"$inGroup": "beta"}}, {"id": "u2"}, True),
        ({"id": {"$notInGroup": "beta"}}, {"id": "u9"}, True),
        ({"id": {"$inGroup": "nope"}}, {"id": "u2"}, False),
        # logic
        ({"$nor": []}, {}, False),
        ({"$not": {"$or": [{"a": 1}, {"b": 2}]}}, {"a": 3}, True),
    ],
)
def test_semantics(condition: dict, attributes: dict, expected: bool) -> None:
    assert eval_condition(attributes, condition, {"beta": ["u1", "u2"]}) is expected


@pytest.mark.parametrize(
    "condition",
    [
        {"$and": "not a list"},
        {"$or": [1, 2]},
        {"a": {"$in": "x"}},
        {"a": {"$regex": 5}},
        {"a": {"$regex": "("}},
        {"a": {"$elemMatch": 5}},
        {"$not": 3},
        {"a": {"$size": "big"}},
    ],
)
def test_malformed_conditions_do_not_match_and_do_not_raise(condition: dict) -> None:
    assert eval_condition({"a": [1, 2]}, condition) is False


def test_check_condition_finds_mistakes_with_their_paths() -> None:
    problems = dict(
        check_condition(
            {
                "country": {"$in": "JP"},
                "$or": [{"ua": {"$regex": "(unclosed"}}, {"age": {"$gtt": 3}}],
                "kind": {"$type": "integer"},
                "id": {"$inGroup": "missing"},
                "v": {"$vgt": True},
                "$nor": {"a": 1},
                "$eq": 3,
                "mix": {"$gt": 1, "plain": 2},
            },
            saved_groups={"present": []},
        )
    )
    assert "takes a list" in problems[("country", "$in")]
    assert "invalid regular expression" in problems[("$or", 0, "ua", "$regex")]
    assert "did you mean '$gt'" in problems[("$or", 1, "age", "$gtt")]
    assert "unknown type 'integer'" in problems[("kind", "$type")]
    assert "unknown saved group 'missing'" in problems[("id", "$inGroup")]
    assert "version string" in problems[("v", "$vgt")]
    assert "list of conditions" in problems[("$nor",)]
    assert "applies to an attribute" in problems[("$eq",)]
    assert "cannot mix" in problems[("mix",)]


def test_check_condition_accepts_every_operator() -> None:
    condition = {
        "a": {"$eq": 1, "$ne": 2, "$lt": 3, "$lte": 3, "$gt": 0, "$gte": 0},
        "v": {"$veq": "1.0.0", "$vne": "2", "$vlt": "3", "$vlte": "3", "$vgt": "0", "$vgte": "0"},
        "s": {
            "$in": [],
            "$nin": [],
            "$ini": [],
            "$nini": [],
            "$regex": "x",
            "$regexi": "x",
            "$notRegex": "y",
            "$notRegexi": "y",
            "$exists": True,
            "$type": "string",
        },
        "t": {
            "$elemMatch": {"$eq": 1},
            "$size": 2,
            "$all": [1],
            "$alli": ["a"],
            "$not": {"$size": 3},
        },
        "g": {"$inGroup": "grp", "$notInGroup": "grp"},
        "$and": [{"x": 1}],
        "$or": [{"x": 1}],
        "$nor": [{"x": 2}],
        "$not": {"x": 3},
    }
    assert check_condition(condition, {"grp": []}) == []


def test_condition_attributes_are_top_level_names() -> None:
    condition = {
        "device.os": "ios",
        "$or": [{"country": "JP"}, {"$not": {"age": {"$lt": 18}}}],
        "$nor": [{"tags": {"$elemMatch": {"name": "x"}}}],
    }
    assert condition_attributes(condition) == {"device", "country", "age", "tags"}


def test_get_path_and_padded_versions() -> None:
    assert get_path({"a": {"b": [5, 6]}}, "a.b.1") == 6
    assert get_path({"a": 1}, "a.b") is None
    assert padded_version("v1.2.3+build") == padded_version("1.2.3")
    assert padded_version("1.2.3-rc.1") < padded_version("1.2.3")
    assert padded_version("1.10.0") > padded_version("1.9.0")
