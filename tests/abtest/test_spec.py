"""Experiment specs: the examples load, and every kind of mistake is reported precisely."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from abtest.spec import (
    ExperimentSpec,
    SpecError,
    load_spec,
    load_specs,
    parse_spec,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

BASE: dict[str, Any] = {
    "key": "exp-1",
    "unit": "user_id",
    "seed": "seed-1",
    "hash_version": 2,
    "namespace": {"name": "module", "range": [0.0, 0.5]},
    "variants": [
        {"name": "control", "weight": 0.5, "encoder": "cnn-pca", "params": {"k": 10}},
        {"name": "treatment", "weight": 0.5, "encoder": "finetuned", "params": {"k": 10}},
    ],
    "metrics": {"primary": ["ctr"], "guardrail": ["imps"]},
    "metric_definitions": {
        "ctr": {
            "kind": "ratio",
            "numerator": {"event": "tap"},
            "denominator": {"event": "impression"},
        },
        "imps": {"kind": "mean", "numerator": "impression", "direction": "higher_is_better"},
    },
    "schedule": {"start": dt.date(2026, 3, 2), "end": dt.date(2026, 3, 16)},
}


def write(tmp_path: Path, data: dict[str, Any] | str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def problems_of(tmp_path: Path, data: dict[str, Any] | str, **kwargs: Any) -> list[str]:
    path = write(tmp_path, data)
    with pytest.raises(SpecError) as info:
        load_spec(path, **kwargs)
    assert all(p.file == str(path) for p in info.value.problems)
    assert str(info.value).startswith(str(path))
    return [f"{p.path}: {p.message}" for p in info.value.problems]


def changed(**updates: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    for dotted, value in updates.items():
        target = data
        *parents, last = dotted.split("__")
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        if value is ...:
            del target[last]
        else:
            target[last] = value
    return data


# --------------------------------------------------------------------------- valid specs
def test_examples_load_and_are_what_the_demo_needs() -> None:
    demo, three = load_specs([EXAMPLES / "similar-looks.yaml", EXAMPLES / "three-arms.yaml"])
    assert demo.variant_names == ("control", "treatment")
    assert [v.encoder for v in demo.variants] == ["cnn-pca", "finetuned"]
    assert demo.weights == (0.5, 0.5)
    assert demo.unit == "user_id"
    assert demo.analysis.alpha == 0.05 and demo.analysis.cuped_pre_period_days == 7
    assert demo.schedule is not None and demo.schedule.days == 14
    assert demo.schedule.start == dt.datetime(2026, 3, 2)
    kinds = {name: m.kind for name, m in demo.metric_definitions.items()}
    assert kinds["tap_through_rate"] == "ratio"
    assert kinds["purchase_conversion"] == "proportion"
    revenue = demo.metric("revenue_per_user")
    assert revenue.numerator.aggregate == "sum" and revenue.winsorize is not None
    assert demo.metrics is not None and len(demo.metrics.guardrail) == 1
    assert set(demo.event_types) == {"tap", "impression", "purchase"}
    assert len(three.variants) == 3 and three.holdout is not None
    assert three.analysis.sequential and three.analysis.correction == "bh"
    assert demo.source and demo.source.endswith("similar-looks.yaml")


def test_defaults_and_shorthands() -> None:
    spec = parse_spec({"key": "k", "variants": [{"name": "a"}, {"name": "b"}, {"name": "c"}]})
    assert spec.hash_seed == "k" and spec.hash_version == 2 and spec.coverage == 1.0
    assert spec.weights == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert spec.unit == "user_id" and spec.analysis.correction == "holm"
    m = parse_spec(BASE).metric("imps")
    assert m.numerator.event == "impression" and m.numerator.aggregate == "count"


def test_numbers_in_yaml_become_text_where_text_is_meant(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, changed(seed=42, forced={123: "treatment"})))
    assert spec.seed == "42" and spec.forced == {"123": "treatment"}


def test_specs_are_frozen() -> None:
    spec = parse_spec(BASE)
    with pytest.raises(Exception, match="frozen"):
        spec.key = "other"  # type: ignore[misc]


def test_schedule_times_are_naive_utc() -> None:
    spec = parse_spec(
        changed(schedule={"start": "2026-03-02T09:00:00+09:00", "end": "2026-03-03T00:00:00Z"})
    )
    assert spec.schedule is not None and spec.schedule.start == dt.datetime(2026, 3, 2, 0, 0)


def test_known_encoders_none_means_no_check(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    assert load_spec(path, known_encoders=None).encoders == ("cnn-pca", "finetuned")
    assert load_spec(path, known_encoders={"cnn-pca", "finetuned", "other"})


# --------------------------------------------------------------------------- mistakes
@pytest.mark.parametrize(
    ("updates", "path", "fragment"),
    [
        ({"variants__1__weight": 0.6}, "variants", "weights sum to 1.1, they must sum to 1"),
        ({"variants__1__name": "control"}, "variants[1].name", "duplicate variant name"),
        ({"metrics": {"primary": ["nope"]}}, "metrics.primary[0]", "unknown metric 'nope'"),
        (
            {"schedule": {"start": "2026-03-02", "end": "2026-03-01"}},
            "schedule",
            "must be after start",
        ),
        (
            {"metric_definitions__ctr__numerator": {"event": "Tap-Event"}},
            "metric_definitions.ctr.numerator.event",
            "not a safe identifier",
        ),
        (
            {"variants__0__name": "control; DROP TABLE events"},
            "variants[0].name",
            "names are used in SQL",
        ),
        (
            {
                "metric_definitions": {"Bad Name": {"kind": "mean", "numerator": "tap"}},
                "metrics": {"primary": ["Bad Name"]},
            },
            "metric_definitions.Bad Name",
            "not a safe identifier",
        ),
        ({"variants__1__weight": ...}, "variants", "weight for every variant or for none"),
        ({"varaints": []}, "varaints", "unknown field"),
        ({"coverage": 1.5}, "coverage", "less than or equal to 1"),
        ({"hash_version": 3}, "hash_version", "Input should be 1 or 2"),
        (
            {"namespace": {"name": "m", "range": [0.6, 0.2]}},
            "namespace.range",
            "start must be below end",
        ),
        ({"variants": [{"name": "only"}]}, "variants", "at least 2"),
        (
            {"metric_definitions__ctr__denominator": ...},
            "metric_definitions.ctr",
            "needs a denominator",
        ),
        (
            {"metric_definitions__imps__direction": ...},
            "metric_definitions.imps.direction",
            "guardrail metric 'imps' needs a direction",
        ),
        (
            {
                "metric_definitions__imps__kind": "proportion",
                "metric_definitions__imps__winsorize": {"upper": 3},
            },
            "metric_definitions.imps",
            "cannot be winsorized",
        ),
        (
            {"metric_definitions__ctr__winsorize": {"percentile": 99}},
            "metric_definitions.ctr.winsorize.percentile",
            "less than 1",
        ),
        (
            {"metric_definitions__ctr__winsorize": {"upper": 3, "percentile": 0.9}},
            "metric_definitions.ctr.winsorize",
            "exactly one of",
        ),
        (
            {"metrics": {"primary": ["ctr"], "secondary": ["ctr"]}},
            "metrics.secondary[0]",
            "already listed in primary",
        ),
        (
            {"targeting": {"country": {"$regx": "JP"}}},
            "targeting.country.$regx",
            "did you mean '$regex'",
        ),
        ({"forced": {"qa-1": "nope"}}, "forced.qa-1", "unknown variant 'nope'"),
        (
            {"analysis": {"sequential_tuning": 100}},
            "analysis",
            "only applies with test: sequential",
        ),
        (
            {"metric_definitions__ctr__cuped": True},
            "metric_definitions.ctr.cuped",
            "asks for CUPED but the analysis has no pre-period",
        ),
        ({"metric_definitions__ctr__cuped": "sometimes"}, "metric_definitions.ctr.cuped", "bool"),
        ({"analysis": {"correction": "bonferroni"}}, "analysis.correction", "'holm', 'bh' or"),
        ({"analysis": {"alpha": 0}}, "analysis.alpha", "greater than 0"),
        ({"variants__0__params": {"k": 0}}, "variants[0].params", "k must be a positive"),
        ({"unit": "user id"}, "unit", "not a valid attribute name"),
        ({"key": "my key!"}, "key", "not a valid key"),
        ({"variants__0__encoder": "cnn pca"}, "variants[0].encoder", "not a valid encoder"),
        ({"key": ...}, "key", "required field is missing"),
    ],
)
def test_each_mistake_is_named(tmp_path: Path, updates: dict, path: str, fragment: str) -> None:
    found = problems_of(tmp_path, changed(**updates))
    assert any(p.startswith(path + ":") and fragment in p for p in found), found


def test_unknown_encoder_is_named_with_the_known_ones(tmp_path: Path) -> None:
    found = problems_of(tmp_path, BASE, known_encoders={"cnn-pca", "siglip"})
    assert found == [
        "variants[1].encoder: unknown encoder 'finetuned'; known encoders: cnn-pca, siglip"
    ]


def test_every_problem_of_a_file_is_reported_at_once_with_lines(tmp_path: Path) -> None:
    text = """\
key: exp-1
variants:
  - name: a
    weight: 0.5
  - name: a
    weight: 0.6
schedule: {start: 2026-03-02, end: 2026-03-01}
metrics: {primary: [nope]}
"""
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    by_path = {p.path: p for p in info.value.problems}
    assert set(by_path) == {"variants", "variants[1].name", "schedule", "metrics.primary[0]"}
    assert by_path["variants[1].name"].line == 5
    assert by_path["schedule"].line == 7
    assert by_path["metrics.primary[0]"].line == 8
    assert f"{path}:5: variants[1].name: duplicate variant name 'a'" in str(info.value)


def test_yaml_syntax_error_has_a_line_number(tmp_path: Path) -> None:
    found = problems_of(tmp_path, "key: x\nvariants: [\n  - name: a\n")
    path = tmp_path / "spec.yaml"
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.problems[0].line is not None
    assert "YAML syntax error" in found[0]


def test_duplicate_yaml_keys_are_reported(tmp_path: Path) -> None:
    text = yaml.safe_dump(BASE, sort_keys=False) + "seed: again\n"
    found = problems_of(tmp_path, text)
    assert found == ["seed: duplicate key 'seed' (the last one would silently win)"]


@pytest.mark.parametrize(("text", "fragment"), [("", "an empty file"), ("- a\n- b\n", "a list")])
def test_a_spec_must_be_a_mapping(tmp_path: Path, text: str, fragment: str) -> None:
    assert fragment in problems_of(tmp_path, text)[0]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "nope.yaml")


# --------------------------------------------------------------------------- several files
def test_overlapping_namespace_ranges_between_files(tmp_path: Path) -> None:
    a = write(tmp_path, BASE, "a.yaml")
    b = write(
        tmp_path, changed(key="exp-2", namespace={"name": "module", "range": [0.4, 0.9]}), "b.yaml"
    )
    with pytest.raises(SpecError) as info:
        load_specs([a, b])
    (problem,) = info.value.problems
    assert problem.file == str(b) and problem.path == "namespace.range"
    assert "overlaps [0, 0.5) of 'exp-1'" in problem.message and str(a) in problem.message


def test_touching_ranges_and_other_namespaces_are_fine(tmp_path: Path) -> None:
    a = write(tmp_path, BASE, "a.yaml")
    b = write(
        tmp_path, changed(key="exp-2", namespace={"name": "module", "range": [0.5, 1.0]}), "b.yaml"
    )
    c = write(
        tmp_path, changed(key="exp-3", namespace={"name": "other", "range": [0.0, 1.0]}), "c.yaml"
    )
    d = write(tmp_path, changed(key="exp-4", namespace=...), "d.yaml")
    assert [s.key for s in load_specs([a, b, c, d])] == ["exp-1", "exp-2", "exp-3", "exp-4"]


def test_duplicate_keys_between_files_and_problems_of_all_files(tmp_path: Path) -> None:
    a = write(tmp_path, BASE, "a.yaml")
    b = write(tmp_path, changed(namespace=...), "b.yaml")
    bad = write(tmp_path, changed(key="exp-9", coverage=2), "bad.yaml")
    with pytest.raises(SpecError) as info:
        load_specs([a, b, bad])
    messages = [str(p) for p in info.value.problems]
    assert any("coverage" in m and m.startswith(str(bad)) for m in messages)
    assert any("experiment key 'exp-1' is also used by" in m for m in messages)


def test_parse_spec_accepts_a_mapping_directly() -> None:
    spec = parse_spec(BASE, source="inline")
    assert isinstance(spec, ExperimentSpec) and spec.source == "inline"
    with pytest.raises(SpecError, match="inline: variants"):
        parse_spec(changed(variants__1__weight=0.9), source="inline")


# --------------------------------------------------------------------------- hostile YAML
def _bomb(levels: int) -> str:
    """A "billion laughs": each level is a list of 9 aliases to the level before."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in itertools.pairwise("abcdefghij"[:levels]):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_aliases_that_expand_past_the_limit_are_refused_at_the_alias(tmp_path: Path) -> None:
    """Six levels expand to 9^6 (half a million) nodes from 300 bytes; the nine levels of
    the classic bomb to 10^9. Each alias adds its anchor's expanded size to a running count,
    so the document is refused while composing, before anything is constructed."""
    for levels in (6, 9):
        found = problems_of(tmp_path, _bomb(levels))
        assert len(found) == 1 and "aliases expand to more than 10,000 nodes" in found[0], found
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "spec.yaml")
    assert info.value.problems[0].line == 5  # the level whose aliases pass the limit


def test_aliases_within_the_limit_and_merge_keys_still_work(tmp_path: Path) -> None:
    text = yaml.safe_dump(changed(metric_definitions=...), sort_keys=False) + (
        "metric_definitions:\n"
        "  ctr: &ratio {kind: ratio, numerator: {event: tap}, denominator: {event: impression}}\n"
        "  imps:\n"
        "    <<: *ratio\n"
        "    kind: mean\n"
        "    denominator: null\n"
        "    numerator: impression\n"
        "    direction: higher_is_better\n"
    )
    spec = load_spec(write(tmp_path, text))
    assert spec.metric("ctr").kind == "ratio" and spec.metric("imps").kind == "mean"


@pytest.mark.parametrize("text", ["key: &a [*a]\n", "key: x\nvariants: &v [{name: a, more: *v}]\n"])
def test_recursive_aliases_are_refused(tmp_path: Path, text: str) -> None:
    found = problems_of(tmp_path, text)
    assert len(found) == 1 and "refers to a node that contains it" in found[0], found


def test_deep_nesting_is_refused_with_its_line(tmp_path: Path) -> None:
    text = yaml.safe_dump(BASE, sort_keys=False) + "targeting: " + "[" * 5000 + "]" * 5000 + "\n"
    found = problems_of(tmp_path, text)
    assert len(found) == 1 and "nested deeper than 50 levels" in found[0], found
    assert found[0].startswith("targeting[0][0]")


def test_an_impossible_date_is_a_problem_of_its_field(tmp_path: Path) -> None:
    text = yaml.safe_dump(changed(schedule=...), sort_keys=False) + (
        "schedule:\n  start: 2026-04-01\n  end: 2026-04-31\n"
    )
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    (problem,) = info.value.problems
    assert problem.path == "schedule.end" and problem.line == text.count("\n")
    assert (
        problem.message == "'2026-04-31' is not a valid date or time: day is out of range for month"
    )


@pytest.mark.parametrize(
    ("field", "literal"),
    [("hash_version", "9" * 5000), ("seed", "1_" * 3000 + "1"), ("coverage", "0x" + "f" * 200)],
)
def test_an_integer_of_thousands_of_digits_is_a_problem_of_its_field(
    tmp_path: Path, field: str, literal: str
) -> None:
    data = {k: v for k, v in BASE.items() if k != field}
    text = yaml.safe_dump(data, sort_keys=False) + f"{field}: {literal}\n"
    found = problems_of(tmp_path, text)
    assert len(found) == 1, found
    assert found[0].startswith(f"{field}: a ") and "-digit integer is too long" in found[0]


@pytest.mark.parametrize(
    ("literal", "problem"),
    [
        ("!!int two", "'two' is not a valid integer"),
        ('!!int ""', "'' is not a valid integer"),
        ("!!float half", "'half' is not a valid number"),
        ("!!bool maybe", "'maybe' is not a valid boolean"),
        ("!!timestamp soon", "'soon' is not a valid date or time"),
    ],
)
def test_explicitly_tagged_scalars_that_are_not_their_type(
    tmp_path: Path, literal: str, problem: str
) -> None:
    """PyYAML's constructors raise ValueError, IndexError, KeyError or AttributeError on
    ``!!int two`` and the like; each is a problem of its field instead."""
    data = {k: v for k, v in BASE.items() if k != "seed"}
    found = problems_of(tmp_path, yaml.safe_dump(data, sort_keys=False) + f"seed: {literal}\n")
    assert found == [f"seed: {problem}"]


@pytest.mark.parametrize(
    ("updates", "path", "fragment"),
    [
        ({"variants__0__params": {"k": 10**29}}, "variants[0].params", "at most 100"),
        ({"variants__0__params": {"k": 101}}, "variants[0].params", "k must be a positive"),
        ({"variants__0__params": {"k": 3, "boost": float("inf")}}, "variants[0].params", "finite"),
        ({"variants__0__weight": True}, "variants[0].weight", "got the boolean true"),
        ({"coverage": True}, "coverage", "a number is needed"),
        ({"hash_version": True}, "hash_version", "a number is needed"),
        ({"namespace__range": [False, True]}, "namespace.range[0]", "a number is needed"),
        ({"holdout": {"fraction": True}}, "holdout.fraction", "a number is needed"),
        ({"analysis": {"alpha": float("nan")}}, "analysis.alpha", "finite"),
        (
            {"analysis": {"cuped_pre_period_days": True}},
            "analysis.cuped_pre_period_days",
            "boolean",
        ),
        (
            {"analysis": {"test": "sequential", "sequential_tuning": 1e-300}},
            "analysis.sequential_tuning",
            "greater than or equal to 1",
        ),
        (
            {"analysis": {"test": "sequential", "sequential_tuning": 1e300}},
            "analysis.sequential_tuning",
            "less than or equal to 10000000000",
        ),
        (
            {"metric_definitions__ctr__winsorize": {"percentile": float("nan")}},
            "metric_definitions.ctr.winsorize.percentile",
            "finite",
        ),
        (
            {"metric_definitions__ctr__winsorize": {"upper": True}},
            "metric_definitions.ctr.winsorize.upper",
            "boolean",
        ),
        ({"schedule__start": 20260302}, "schedule.start", "write a date as YYYY-MM-DD"),
        ({"schedule__start": dt.date(1, 1, 1)}, "schedule.start", "from 2000-01-01 to before"),
        ({"schedule__end": dt.date(9999, 12, 31)}, "schedule.end", "to before 2100-01-01"),
        (
            {"schedule__start": "0001-01-01T00:00:00+01:00"},  # before year 1 in UTC
            "schedule.start",
            "from 2000-01-01",
        ),
        (
            {"schedule__end": "9999-12-31T23:00:00-05:00"},  # after year 9999 in UTC
            "schedule.end",
            "to before 2100-01-01",
        ),
    ],
)
def test_numbers_and_dates_are_bounded(
    tmp_path: Path, updates: dict, path: str, fragment: str
) -> None:
    """Every numeric and date field refuses what would crash or silently mislead a verb:
    a k no module shows (the simulator allocated k columns per item), booleans taken as 1
    (``weight: yes``), a date written as a number (read as seconds since 1970), and dates
    whose pre-period or time zone would overflow Python's calendar."""
    found = problems_of(tmp_path, changed(**updates))
    assert any(p.startswith(path + ":") and fragment in p for p in found), found


def test_k_up_to_the_bound_and_dates_inside_it_are_valid(tmp_path: Path) -> None:
    spec = load_spec(
        write(
            tmp_path,
            changed(
                variants__0__params={"k": 100},
                schedule={"start": "2000-01-01T00:00:00Z", "end": "2099-12-31T23:59:59+00:00"},
            ),
        )
    )
    assert spec.variants[0].params["k"] == 100 and spec.schedule is not None
    assert spec.schedule.start == dt.datetime(2000, 1, 1)


# --------------------------------------------------------------------------- names
@pytest.mark.parametrize(
    ("updates", "path"),
    [
        ({"key": "similar-looks\n"}, "key"),
        ({"variants__1__name": "treatment\n"}, "variants[1].name"),
        ({"variants__0__encoder": "cnn-pca\n"}, "variants[0].encoder"),
        ({"unit": "user_id\n"}, "unit"),
        ({"namespace__name": "module\n"}, "namespace.name"),
        ({"metric_definitions__ctr__numerator": {"event": "tap\n"}}, "metric_definitions.ctr"),
        ({"metrics": {"primary": ["ctr\n"]}}, "metrics.primary[0]"),
        ({"forced": {"qa-1": "control\n"}}, "forced.qa-1"),
        ({"saved_groups": {"vip\n": ["u1"]}}, "saved_groups"),
    ],
)
def test_names_ending_in_a_newline_are_refused_on_one_line(
    tmp_path: Path, updates: dict, path: str
) -> None:
    """``re.match`` with ``$`` accepts "treatment\\n" (``$`` matches before a final
    newline); names are matched in full, and the message quotes the name escaped."""
    path_ = write(tmp_path, changed(**updates))
    with pytest.raises(SpecError) as info:
        load_spec(path_)
    message = str(info.value)
    assert "\n" not in message and "\\n'" in message, message
    assert any(p.path.startswith(path) for p in info.value.problems), message


def test_every_problem_is_one_line_whatever_the_names_it_quotes(tmp_path: Path) -> None:
    """Field names, unit ids and variant names come from the file: newlines, carriage
    returns, Unicode line separators and terminal escapes in them are escaped."""
    text = yaml.safe_dump(BASE, sort_keys=False) + (
        '"evil\\nfield\\u2028": 1\n'
        'forced: {"qa\\r1": "nope\\n", "qa-2": "\\e[31mred"}\n'
        'tags: "\\x85"\n'
    )
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert len(message.splitlines()) == 1 and message.isprintable(), message
    assert "evil\\nfield\\u2028: unknown field" in message
    assert "forced.qa\\r1" in message and "\\x1b[31mred" in message


def test_control_characters_and_oversized_files_are_one_line_problems(tmp_path: Path) -> None:
    found = problems_of(tmp_path, "key: x\x00\n")
    assert found == [
        ": character '\\x00' is not allowed in YAML (special characters are not allowed)"
    ]
    big = tmp_path / "big.yaml"
    big.write_text("key: x\ndescription: " + "x" * (5 * 1024 * 1024) + "\n")
    with pytest.raises(SpecError, match="larger than 4 MiB"):
        load_spec(big)


# --------------------------------------------------------------------------- filters, windows,
# ranking and quantile metrics, the Bayesian engine's settings
def with_metric(name: str, definition: dict[str, Any], **analysis: Any) -> dict[str, Any]:
    """BASE with one more metric definition, listed as secondary."""
    data = copy.deepcopy(BASE)
    data["metric_definitions"][name] = definition
    data["metrics"]["secondary"] = [name]
    data["analysis"] = analysis
    return data


def test_filters_windows_ranking_and_quantiles_parse() -> None:
    spec = parse_spec(
        with_metric(
            "module_buys",
            {
                "kind": "mean",
                "numerator": {"event": "purchase", "filter": {"source_item_id": {"$exists": True}}},
                "window": {"delay": "30m", "within": "1d"},
            },
        )
    )
    m = spec.metric("module_buys")
    assert m.numerator is not None and m.numerator.filter == {"source_item_id": {"$exists": True}}
    assert m.window is not None and m.window.key == (30, 1440) and m.window.end_minutes == 1470
    assert not m.cuped_applies and m.cuped  # windowed: never adjusted
    weeks = {"kind": "mean", "numerator": "tap", "window": {"within": "2w"}}
    window = parse_spec(with_metric("w", weeks)).metric("w").window
    assert window is not None and window.delay == "0h" and window.key == (0, 2 * 7 * 24 * 60)
    ndcg = parse_spec(with_metric("ndcg", {"kind": "ndcg", "k": 10})).metric("ndcg")
    assert ndcg.k == 10 and ndcg.numerator is None and ndcg.higher_is_better
    assert ndcg.ranking_events.view == "impression"
    assert ndcg.ranking_events.gains == {"tap": 1.0, "purchase": 2.0}
    assert set(ndcg.event_types) == {"impression", "tap", "purchase"}
    tap_position = parse_spec(with_metric("tp", {"kind": "tap_position"})).metric("tp")
    assert tap_position.direction == "lower_is_better" and not tap_position.higher_is_better
    custom = parse_spec(
        with_metric(
            "mrr", {"kind": "mrr", "ranking": {"view": "shown", "gains": {"click": 1, "buy": 5}}}
        )
    ).metric("mrr")
    assert custom.k is None and custom.ranking_events.gains == {"click": 1.0, "buy": 5.0}
    q = parse_spec(
        with_metric("p90", {"kind": "quantile", "quantile": 0.9, "numerator": "purchase"})
    ).metric("p90")
    assert q.quantile == 0.9 and q.quantile_over == "unit" and not q.cuped_applies


def test_a_guardrail_on_tap_position_needs_no_direction(tmp_path: Path) -> None:
    data = with_metric("tp", {"kind": "tap_position"})
    data["metrics"] = {"primary": ["ctr"], "guardrail": ["imps", "tp"]}
    assert load_spec(write(tmp_path, data)).metric("tp").direction == "lower_is_better"


def test_the_bayesian_engine_s_settings() -> None:
    a = parse_spec(changed(analysis={"engine": "bayesian"})).analysis
    assert a.bayesian and a.chance_to_win == 0.95 and a.risk_threshold == 0.0025
    assert a.prior is None
    a = parse_spec(
        changed(analysis={"engine": "bayesian", "prior": {"variance": 0.09}, "chance_to_win": 0.9})
    ).analysis
    assert a.prior is not None and (a.prior.mean, a.prior.variance) == (0.0, 0.09)
    assert parse_spec(BASE).analysis.engine == "frequentist"


def _m(definition: dict[str, Any]) -> dict[str, Any]:
    return {"metric_definitions__ctr": definition}


def _filtered(condition: Any) -> dict[str, Any]:
    return _m({"kind": "mean", "numerator": {"event": "purchase", "filter": condition}})


@pytest.mark.parametrize(
    ("updates", "path", "fragment"),
    [
        (
            _filtered({"position": {"$lte2": 3}}),
            "metric_definitions.ctr.numerator.filter.position.$lte2",
            "unknown operator '$lte2'; did you mean '$lte'?",
        ),
        (
            _filtered({"view_id": {"$regex": "^v"}}),
            "metric_definitions.ctr.numerator.filter.view_id.$regex",
            "operator $regex is not supported in metric filters",
        ),
        (
            _filtered({"$or": [{"position": 1}, {"brand": {"$vgt": "1.0"}}]}),
            "metric_definitions.ctr.numerator.filter.$or[1].brand.$vgt",
            "not supported in metric filters",
        ),
        (
            _filtered({"bad col": 1}),
            "metric_definitions.ctr.numerator.filter.bad col",
            "is not a column name",
        ),
        (
            _filtered({"position": "1"}),
            "metric_definitions.ctr.numerator.filter.position",
            "column 'position' holds numbers; compare it with a number, got '1'",
        ),
        (
            _filtered({"view_id": {"$in": ["v1", 2]}}),
            "metric_definitions.ctr.numerator.filter.view_id.$in[1]",
            "holds text",
        ),
        (
            _filtered({"position": {"$in": 3}}),
            "metric_definitions.ctr.numerator.filter.position.$in",
            "$in takes a list",
        ),
        (
            _filtered({"position": [1, 2]}),
            "metric_definitions.ctr.numerator.filter.position",
            "did you mean $in?",
        ),
        (
            _filtered({"source_item_id": {"$exists": "yes"}}),
            "metric_definitions.ctr.numerator.filter.source_item_id.$exists",
            "takes true or false",
        ),
        (
            _filtered({"position": {"$lt": None}}),
            "metric_definitions.ctr.numerator.filter.position.$lt",
            "cannot compare with null",
        ),
        (
            _filtered({"value": {"$gt": float("inf")}}),
            "metric_definitions.ctr.numerator.filter.value.$gt",
            "finite",
        ),
        (
            _filtered({"ts": {"$gte": "2026-03-02"}}),
            "metric_definitions.ctr.numerator.filter.ts",
            "cannot be filtered on",
        ),
        (
            _filtered({"$lte": 3}),
            "metric_definitions.ctr.numerator.filter.$lte",
            "applies to a column",
        ),
        (_filtered([1]), "metric_definitions.ctr.numerator.filter", "valid dictionary"),
        (
            _m({"kind": "mean", "numerator": "tap", "window": {"delay": "48h", "within": "24h"}}),
            "metric_definitions.ctr.window",
            "within (24h) is shorter than delay (48h)",
        ),
        (
            _m({"kind": "mean", "numerator": "tap", "window": {"within": "24 hours"}}),
            "metric_definitions.ctr.window.within",
            "write a duration as a whole number and a unit",
        ),
        (
            _m({"kind": "mean", "numerator": "tap", "window": {"within": "0h"}}),
            "metric_definitions.ctr.window.within",
            "must be longer than 0",
        ),
        (
            _m({"kind": "mean", "numerator": "tap", "window": {"delay": "-1h", "within": "1h"}}),
            "metric_definitions.ctr.window.delay",
            "write a duration",
        ),
        (
            _m({"kind": "mean", "numerator": "tap", "window": {"within": "400d"}}),
            "metric_definitions.ctr.window.within",
            "at most 365d",
        ),
        (
            _m({"kind": "mean", "numerator": "tap", "window": {"delay": "1h"}}),
            "metric_definitions.ctr.window.within",
            "required field is missing",
        ),
        (
            _m({"kind": "quantile", "quantile": 1.5, "numerator": "tap"}),
            "metric_definitions.ctr.quantile",
            "less than 1",
        ),
        (
            _m({"kind": "quantile", "quantile": 0, "numerator": "tap"}),
            "metric_definitions.ctr.quantile",
            "greater than 0",
        ),
        (_m({"kind": "quantile", "numerator": "tap"}), "metric_definitions.ctr", "needs quantile"),
        (
            _m({"kind": "quantile", "quantile": 0.5, "over": "event", "numerator": "purchase"}),
            "metric_definitions.ctr",
            "use aggregate: sum",
        ),
        (
            _m(
                {"kind": "quantile", "quantile": 0.5, "numerator": "tap", "winsorize": {"upper": 3}}
            ),
            "metric_definitions.ctr",
            "cannot be winsorized",
        ),
        (
            _m({"kind": "quantile", "quantile": 0.5, "numerator": "tap", "cuped": True}),
            "metric_definitions.ctr.cuped",
            "never CUPED-adjusted",
        ),
        (
            _m({"kind": "mean", "numerator": "tap", "window": {"within": "1d"}, "cuped": True}),
            "metric_definitions.ctr.cuped",
            "windowed metrics are never CUPED-adjusted",
        ),
        (
            _m({"kind": "mean", "numerator": "tap", "over": "unit"}),
            "metric_definitions.ctr",
            "only apply to kind: quantile",
        ),
        (_m({"kind": "ndcg"}), "metric_definitions.ctr", "needs k"),
        (_m({"kind": "ndcg", "k": 0}), "metric_definitions.ctr.k", "greater than or equal to 1"),
        (_m({"kind": "mrr", "k": 101}), "metric_definitions.ctr.k", "less than or equal to 100"),
        (_m({"kind": "ndcg", "k": True}), "metric_definitions.ctr.k", "boolean"),
        (
            _m({"kind": "ndcg", "k": 10, "numerator": "tap"}),
            "metric_definitions.ctr",
            "not a numerator or a denominator",
        ),
        (
            _m({"kind": "ndcg", "k": 10, "window": {"within": "1d"}}),
            "metric_definitions.ctr",
            "cannot have a window",
        ),
        (_m({"kind": "tap_position", "k": 3}), "metric_definitions.ctr", "takes no k"),
        (
            _m({"kind": "mean", "numerator": "tap", "k": 3}),
            "metric_definitions.ctr",
            "k and ranking",
        ),
        (
            _m({"kind": "mrr", "ranking": {"gains": {"impression": 1}}}),
            "metric_definitions.ctr.ranking",
            "cannot also judge it",
        ),
        (
            _m({"kind": "mrr", "ranking": {"gains": {"tap": 0}}}),
            "metric_definitions.ctr.ranking.gains.tap",
            "greater than 0",
        ),
        (
            {"analysis": {"engine": "bayesian", "test": "sequential"}},
            "analysis",
            "engine: bayesian cannot be combined with test: sequential",
        ),
        (
            {"analysis": {"prior": {"variance": 0.1}}},
            "analysis",
            "prior only apply with engine: bayesian",
        ),
        (
            {"analysis": {"engine": "bayesian", "chance_to_win": 0.5}},
            "analysis.chance_to_win",
            "greater than 0.5",
        ),
        (
            {"analysis": {"engine": "bayesian", "risk_threshold": 0}},
            "analysis.risk_threshold",
            "greater than 0",
        ),
        (
            {"analysis": {"engine": "bayesian", "prior": {"mean": 0, "variance": 0}}},
            "analysis.prior.variance",
            "greater than 0",
        ),
        ({"analysis": {"engine": "bayes"}}, "analysis.engine", "'frequentist' or 'bayesian'"),
    ],
)
def test_each_mistake_in_the_new_fields_is_named(
    tmp_path: Path, updates: dict, path: str, fragment: str
) -> None:
    found = problems_of(tmp_path, changed(**updates))
    assert any(p.startswith(path + ":") and fragment in p for p in found), found
