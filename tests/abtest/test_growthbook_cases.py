"""GrowthBook's language-independent SDK test vectors, run against looklift.

Every case of the ``hash``, ``getBucketRange``, ``chooseVariation``,
``inNamespace``, ``getEqualWeights`` and ``evalCondition`` sections must pass,
through the scalar functions and, where one exists, the vectorised one. The
``run`` cases (whole experiments) run through an experiment spec and
:func:`abtest.assignment.assign_user`; those that use a feature looklift does
not have are skipped with the reason. Finally, looklift and the installed
``growthbook`` SDK assign the same random users identically.

The vector file is GrowthBook's ``cases.json`` (MIT, licence beside it),
vendored as ``tests/abtest/fixtures/growthbook-cases.json`` so that CI always
runs it; ``$GROWTHBOOK_CASES`` points the tests at a newer copy.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from abtest.assignment import Assigner, assign_batch, assign_user
from abtest.bucketing import (
    choose_variation,
    choose_variation_batch,
    get_bucket_ranges,
    get_equal_weights,
    in_namespace,
    in_namespace_batch,
)
from abtest.conditions import eval_condition
from abtest.hashing import UnitIds, gb_hash, gb_hash_batch
from abtest.spec import SpecError, parse_spec

VENDORED = Path(__file__).resolve().parent / "fixtures" / "growthbook-cases.json"
CASES_PATH = Path(os.environ.get("GROWTHBOOK_CASES") or VENDORED)
CASES: dict[str, Any] = json.loads(CASES_PATH.read_text())


def _ids(section: str) -> list[str]:
    cases = CASES[section]
    return [f"{i}:{c[0]}" if isinstance(c[0], str) else str(i) for i, c in enumerate(cases)]


# --------------------------------------------------------------------------- hash
@pytest.mark.parametrize("case", CASES["hash"], ids=[str(c) for c in CASES["hash"]])
def test_hash(case: list[Any]) -> None:
    seed, value, version, expected = case
    assert gb_hash(seed, value, version) == expected
    ids = UnitIds.from_any(np.array([value], dtype=object))
    if expected is None:
        with pytest.raises(ValueError, match="hash version"):
            gb_hash_batch(seed, ids, version)
    elif value:
        assert gb_hash_batch(seed, ids, version)[0] == expected


def test_hash_cases_in_one_batch() -> None:
    """The vectorised hash over all valid cases at once (mixed lengths and seeds per version)."""
    for version in (1, 2):
        for seed in {c[0] for c in CASES["hash"] if c[2] == version}:
            rows = [c for c in CASES["hash"] if c[2] == version and c[0] == seed and c[1]]
            if not rows:
                continue
            got = gb_hash_batch(seed, UnitIds.from_any([c[1] for c in rows]), version)
            assert got.tolist() == [c[3] for c in rows]


# --------------------------------------------------------------------------- bucketing
@pytest.mark.parametrize("case", CASES["getBucketRange"], ids=_ids("getBucketRange"))
def test_get_bucket_range(case: list[Any]) -> None:
    _, (n, coverage, weights), expected = case
    got = get_bucket_ranges(n, coverage, weights)
    assert len(got) == len(expected)
    for (a, b), (x, y) in zip(got, expected, strict=True):
        assert a == pytest.approx(x, abs=1e-9)
        assert b == pytest.approx(y, abs=1e-9)


@pytest.mark.parametrize("case", CASES["chooseVariation"], ids=_ids("chooseVariation"))
def test_choose_variation(case: list[Any]) -> None:
    _, n, ranges, expected = case
    ranges = [tuple(r) for r in ranges]
    assert choose_variation(n, ranges) == expected
    assert choose_variation_batch(np.array([n], dtype=float), ranges).tolist() == [expected]


@pytest.mark.parametrize("case", CASES["inNamespace"], ids=_ids("inNamespace"))
def test_in_namespace(case: list[Any]) -> None:
    _, unit, namespace, expected = case
    assert in_namespace(unit, tuple(namespace)) is expected
    assert in_namespace_batch(UnitIds.from_any([unit]), tuple(namespace)).tolist() == [expected]


@pytest.mark.parametrize("case", CASES["getEqualWeights"], ids=_ids("getEqualWeights"))
def test_get_equal_weights(case: list[Any]) -> None:
    n, expected = case
    got = get_equal_weights(n)
    assert got == pytest.approx(expected, abs=1e-8)
    if got:
        assert math.fsum(got) == pytest.approx(1.0)


# --------------------------------------------------------------------------- conditions
@pytest.mark.parametrize("case", CASES["evalCondition"], ids=_ids("evalCondition"))
def test_eval_condition(case: list[Any]) -> None:
    _, condition, attributes, expected, *rest = case
    saved_groups = rest[0] if rest else None
    assert eval_condition(attributes, condition, saved_groups) is expected


# --------------------------------------------------------------------------- run
_UNSUPPORTED_EXPERIMENT = {
    "force": "experiment-wide forced variations (looklift forces individual unit ids: `forced`)",
    "ranges": "explicit bucket ranges (looklift derives them from weights and coverage)",
    "filters": "hash-range filters (looklift uses namespaces and holdouts)",
    "parentConditions": "prerequisite feature flags (looklift has no feature flags)",
}
_UNSUPPORTED_CONTEXT = {
    "url": "URL query-string overrides (server-side assignment has no URL)",
    "qaMode": "the SDK's global QA mode (looklift forces unit ids instead)",
    "features": "feature definitions (looklift has no feature flags)",
}


def _skip_reason(context: dict[str, Any], experiment: dict[str, Any]) -> str | None:
    for key, why in _UNSUPPORTED_EXPERIMENT.items():
        if key in experiment:
            return f"not supported: {why}"
    if experiment.get("active") is False:
        return "not supported: the active flag (a looklift experiment runs during its schedule)"
    if context.get("enabled") is False:
        return "not supported: a global SDK kill switch"
    for key, why in _UNSUPPORTED_CONTEXT.items():
        if key in context:
            return f"not supported: {why}"
    return None


def _spec_for(experiment: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """A looklift spec for a GrowthBook experiment definition."""
    data: dict[str, Any] = {
        "key": experiment["key"],
        "unit": experiment.get("hashAttribute", "id"),
        "hash_version": experiment.get("hashVersion", 1),
        "variants": [
            {"name": f"v{i}", **({"weight": w} if "weights" in experiment else {})}
            for i, w in enumerate(experiment.get("weights", [None] * len(experiment["variations"])))
        ],
    }
    if "seed" in experiment:
        data["seed"] = experiment["seed"]
    if "coverage" in experiment:
        data["coverage"] = experiment["coverage"]
    if "namespace" in experiment:
        name, start, end = experiment["namespace"]
        data["namespace"] = {"name": name, "range": [start, end]}
    if "condition" in experiment:
        data["targeting"] = experiment["condition"]
    if "savedGroups" in context:
        data["saved_groups"] = context["savedGroups"]
    return data


@pytest.mark.parametrize("case", CASES["run"], ids=_ids("run"))
def test_run(case: list[Any]) -> None:
    _, context, experiment, value, in_experiment, hash_used = case
    reason = _skip_reason(context, experiment)
    if reason:
        pytest.skip(reason)
    data = _spec_for(experiment, context)
    if len(experiment["variations"]) < 2:
        # GrowthBook skips such an experiment at run time; looklift rejects the spec.
        with pytest.raises(SpecError, match="variants"):
            parse_spec(data)
        assert not in_experiment
        return
    spec = parse_spec(data)
    attributes = context.get("attributes", {})
    forced = None
    forced_index = context.get("forcedVariations", {}).get(experiment["key"])
    if forced_index is not None:
        forced = {str(attributes[spec.unit]): f"v{forced_index}"}

    got = assign_user(spec, attributes, forced=forced)
    assert (got is not None) is in_experiment
    index = got.variant_index if got is not None else 0
    assert experiment["variations"][index] == value
    assert (got is not None and not got.forced) is hash_used

    # The batch path agrees on the same unit.
    batch = assign_batch(
        spec,
        [attributes.get(spec.unit)],
        {k: [v] for k, v in attributes.items() if k != spec.unit} or None,
        forced=forced,
    )
    assert batch.variant_index.tolist() == [got.variant_index if got else -1]


# --------------------------------------------------------------------------- the SDK itself
SDK_EXPERIMENTS = [
    {"key": "sdk-v1", "variations": [0, 1], "hashVersion": 1},
    {
        "key": "sdk-v2-weights",
        "variations": [0, 1, 2],
        "weights": [0.2, 0.3, 0.5],
        "hashVersion": 2,
        "seed": "s33d",
    },
    {"key": "sdk-coverage", "variations": [0, 1], "coverage": 0.37, "hashVersion": 2},
    {
        "key": "sdk-namespace",
        "variations": [0, 1, 2, 3],
        "namespace": ["ns", 0.25, 0.8],
        "hashVersion": 1,
        "coverage": 0.9,
    },
    {
        "key": "sdk-targeting",
        "variations": [0, 1],
        "hashVersion": 2,
        "condition": {"country": {"$in": ["JP", "US"]}, "age": {"$gte": 18}},
    },
]


@pytest.mark.parametrize("experiment", SDK_EXPERIMENTS, ids=[e["key"] for e in SDK_EXPERIMENTS])
def test_same_variants_as_the_growthbook_sdk(experiment: dict[str, Any]) -> None:
    growthbook = pytest.importorskip("growthbook")
    rng = np.random.default_rng(11)
    n = 3000
    ids = [f"user-{x}" for x in rng.integers(0, 10**9, n)] + ["héllo", "日本語", "😀", "42"]
    country = rng.choice(["JP", "US", "DE"], len(ids)).tolist()
    age = rng.integers(10, 60, len(ids)).tolist()
    spec = parse_spec(_spec_for(experiment, {}) | {"unit": "id"})

    gb = growthbook.GrowthBook()
    exp = growthbook.Experiment(
        key=experiment["key"],
        variations=experiment["variations"],
        weights=experiment.get("weights"),
        coverage=experiment.get("coverage"),
        hashVersion=experiment.get("hashVersion"),
        seed=experiment.get("seed"),
        namespace=tuple(experiment["namespace"]) if "namespace" in experiment else None,
        condition=experiment.get("condition"),
    )
    expected = []
    for uid, c, a in zip(ids, country, age, strict=True):
        gb.set_attributes({"id": uid, "country": c, "age": a})
        result = gb.run(exp)
        expected.append(result.variationId if result.inExperiment else -1)

    assigner = Assigner(spec)
    online = [
        (x.variant_index if (x := assigner.assign({"id": u, "country": c, "age": a})) else -1)
        for u, c, a in zip(ids, country, age, strict=True)
    ]
    batch = assigner.assign_batch(ids, {"country": country, "age": age})
    assert online == expected
    assert batch.variant_index.tolist() == expected
    assert len(set(expected)) > 1  # the experiment actually splits users
