"""The GrowthBook export: the official Python SDK, fed the payload, assigns every user as
``looklift assign`` does (100k users per experiment, every spec feature)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from looklift import cli
from tests.abtest.assignment.builders import random_ids

SPECS = {
    "holdout-namespace-targeting-forced": {
        "key": "gb-one",
        "hash_version": 1,
        "coverage": 0.9,
        "namespace": {"name": "module", "range": [0.0, 0.8]},
        "holdout": {"fraction": 0.1, "hash_version": 1},
        "targeting": {
            "platform": {"$in": ["ios", "web"]},
            "$or": [{"age": {"$gte": 25}}, {"is_new": True}],
        },
    },
    "v2-three-arms-namespace": {
        "key": "gb-two",
        "seed": "another-seed",
        "hash_version": 2,
        "coverage": 0.85,
        "namespace": {"name": "module", "range": [0.1, 0.9]},
        "variants": [
            {"name": "a", "weight": 0.2},
            {"name": "b", "weight": 0.3},
            {"name": "c", "weight": 0.5},
        ],
    },
}
VARIANTS = [
    {"name": "control", "weight": 0.5, "encoder": "cnn-pca"},
    {"name": "treatment", "weight": 0.5, "encoder": "finetuned"},
]


@pytest.mark.parametrize("name", list(SPECS))
def test_the_sdk_assigns_as_looklift_does(name: str, tmp_path: Path, capsys) -> None:
    from growthbook import GrowthBook

    n = 100_000
    rng = np.random.default_rng(7)
    ids = [i if i else f"blank-{k}" for k, i in enumerate(random_ids(n, seed=11))]
    users = pl.DataFrame(
        {
            "user_id": ids,
            "platform": rng.choice(["ios", "android", "web"], n),
            "age": rng.integers(10, 60, n),
            "is_new": rng.random(n) < 0.3,
        }
    )
    data = {"variants": VARIANTS, **SPECS[name]}
    data["forced"] = {ids[0]: data["variants"][-1]["name"], ids[1]: data["variants"][0]["name"]}
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(data))
    users.write_parquet(tmp_path / "users.parquet")
    args = ["assign", str(spec), "--users", str(tmp_path / "users.parquet")]
    assert cli.run([*args, "--out", str(tmp_path / "a.parquet")]) == 0
    assert cli.run(["export-growthbook", str(spec), "--out", str(tmp_path / "f.json")]) == 0
    capsys.readouterr()
    ours = pl.read_parquet(tmp_path / "a.parquet")
    payload = json.loads((tmp_path / "f.json").read_text())
    gb = GrowthBook(features=payload["features"])
    theirs = []
    for attrs in users.iter_rows(named=True):
        gb.set_attributes(attrs)
        result = gb.eval_feature(data["key"])
        served = result.source == "force" or (
            result.source == "experiment" and result.experimentResult.inExperiment
        )
        theirs.append(result.value if served else None)
    expected = ours["variant"].to_list()
    assert theirs == expected
    assert len(set(expected)) > 2  # users in every variant and users outside
    assert theirs[0] == data["variants"][-1]["name"]  # forced


def test_mistakes_are_one_line(tmp_path: Path, capsys) -> None:
    assert cli.run(["export-growthbook", "missing.yaml", "--out", str(tmp_path / "f.json")]) == 2
    demo = Path(__file__).resolve().parents[3] / "examples" / "similar-looks.yaml"
    code = cli.run(["export-growthbook", str(demo), "--out", str(tmp_path / "no/f.json")])
    captured = capsys.readouterr()
    assert code == 2 and "folder does not exist" in captured.err
    assert not list(tmp_path.iterdir())
