"""Experiments as a GrowthBook SDK payload, so that apps assign every user as looklift does.

Each experiment becomes a feature (named after its key) whose value is the
variant's name, with rules a GrowthBook SDK evaluates exactly as
:class:`~abtest.assignment.Assigner` decides:

- one ``force`` rule per variant with forced units (``condition`` on the unit
  attribute): a forced unit gets its variant and is not an exposure, as in
  looklift;
- one experiment rule: ``key``, ``seed``, ``hashVersion``, ``hashAttribute`` (the
  unit), ``coverage``, ``weights``, ``variations``, ``condition`` (the targeting),
  and the namespace. GrowthBook SDKs ignore ``namespace`` when a rule has
  ``filters``, so an experiment with a holdout states both as hash-range
  ``filters``: the namespace's (seed ``__<name>``, version 1, its range) and the
  holdout's (its seed and version, ``[fraction, 1)``: the held-out units are
  those below the fraction).

The default value, for users in no variant, is the control's name: the
experience an SDK serves outside the experiment. Saved groups that targeting
names travel as the payload's ``savedGroups``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from abtest.assignment.assigner import Assigner
from abtest.spec import ExperimentSpec


def growthbook_payload(specs: Sequence[ExperimentSpec]) -> dict[str, Any]:
    """The SDK payload (``{"features": ..., "savedGroups": ...}``) of ``specs``."""
    features: dict[str, Any] = {}
    saved: dict[str, Any] = {}
    for spec in specs:
        features[spec.key] = _feature(Assigner(spec))
        saved |= dict(spec.saved_groups or {})
    payload: dict[str, Any] = {"features": features}
    if saved:
        payload["savedGroups"] = saved
    return payload


def _feature(assigner: Assigner) -> dict[str, Any]:
    spec = assigner.spec
    names = list(spec.variant_names)
    rules: list[dict[str, Any]] = []
    by_variant: dict[int, list[str]] = {}
    for unit_id, index in assigner.forced.items():
        by_variant.setdefault(index, []).append(unit_id)
    for index, units in sorted(by_variant.items()):
        rules.append(
            {
                "id": f"{spec.key}-forced-{names[index]}",
                "condition": {assigner.unit: {"$in": sorted(units)}},
                "force": names[index],
            }
        )
    rule: dict[str, Any] = {
        "id": f"{spec.key}-experiment",
        "key": spec.key,
        "seed": assigner.seed,
        "hashVersion": assigner.hash_version,
        "hashAttribute": assigner.unit,
        "coverage": spec.coverage,
        "weights": list(spec.weights),
        "variations": names,
        "meta": [{"key": n, "name": n} for n in names],
    }
    if assigner.condition:
        rule["condition"] = assigner.condition
    namespace = assigner.namespace
    if assigner.holdout is not None:
        seed, version, fraction = assigner.holdout
        filters = [
            {
                "attribute": assigner.unit,
                "seed": seed,
                "hashVersion": version,
                "ranges": [[fraction, 1.0]],
            }
        ]
        if namespace is not None:
            filters.insert(
                0,
                {
                    "attribute": assigner.unit,
                    "seed": assigner.namespace_seed,
                    "hashVersion": 1,
                    "ranges": [[namespace[1], namespace[2]]],
                },
            )
        rule["filters"] = filters
    elif namespace is not None:
        rule["namespace"] = [namespace[0], namespace[1], namespace[2]]
    rules.append(rule)
    return {"defaultValue": names[0], "rules": rules}
