"""Assignment by spec: what a unit is served, through cached assigners."""

from __future__ import annotations

from abtest.assignment import assign_many, assign_user, assigner_for, decide_user
from tests.abtest.assignment.builders import spec_of


def test_assign_user_returns_what_the_variant_serves() -> None:
    spec = spec_of()
    a = assign_user(spec, "some-user")
    assert a is not None
    variant = spec.variant(a.variant)
    assert a.encoder == variant.encoder and a.params == variant.params
    assert a.experiment == "exp" and a.unit_id == "some-user" and not a.forced
    assert a.bucket is not None and 0 <= a.bucket < 1
    assert assign_user(spec, {}) is None
    assert decide_user(spec, {"user_id": ""}).reason == "no_unit"


def test_assign_many_assigns_the_same_units_to_each_experiment() -> None:
    ids = [f"u{i}" for i in range(10_000)]
    specs = [
        spec_of(key="one", namespace={"name": "n", "range": [0, 0.5]}),
        spec_of(key="two", namespace={"name": "n", "range": [0.5, 1]}),
    ]
    result = assign_many(specs, ids)
    assert set(result) == {"one", "two"}
    assert not (result["one"].in_experiment & result["two"].in_experiment).any()
    assert (result["one"].in_experiment | result["two"].in_experiment).all()


def test_a_spec_reuses_its_assigner_and_forcing_bypasses_the_cache() -> None:
    spec, other = spec_of(), spec_of(key="other")
    assert assigner_for(spec) is assigner_for(spec)
    assert assigner_for(other) is not assigner_for(spec)
    # a forced argument assigns through a fresh assigner: the cached one stays unforced
    forced = assign_user(spec, "u1", forced={"u1": "treatment"})
    assert forced is not None and forced.forced
    assert assigner_for(spec).forced == {}
    assert decide_user(spec, "u1").reason == "assigned"


def test_the_package_exports_each_modules_public_names() -> None:
    import abtest.assignment as package
    from abtest.assignment import assigner, cache, exposures, outcomes

    assert package.Assigner is assigner.Assigner
    assert package.assign_user is cache.assign_user
    assert package.record_exposures is exposures.record_exposures
    assert package.AssignmentError is outcomes.AssignmentError
    assert all(hasattr(package, name) for name in package.__all__)
