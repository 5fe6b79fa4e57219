"""Experiment specs: the examples load, and every kind of mistake is reported precisely."""

from __future__ import annotations

import copy
import datetime as dt
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
