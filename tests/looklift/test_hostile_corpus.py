"""Hostile inputs, one case each: the command's exit code, one line naming the problem,
and nothing written (see ``tests/looklift/hostile/corpus.py``).

The cases run in subprocesses, in parallel (one per core), once per session; each
parametrised test then judges its own case.
"""

from __future__ import annotations

import importlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from abtest.simulate.traffic import TrafficConfig, simulate_traffic
from abtest.spec import load_spec
from tests.conftest import served_copy
from tests.looklift.hostile.corpus import EXAMPLE_SPEC, Case, Result, judge, run_case

MODULES = ("cases_spec", "cases_data", "cases_simulate", "cases_report")


def _cases() -> list[Case]:
    cases: list[Case] = []
    for name in MODULES:
        try:
            module = importlib.import_module(f"tests.looklift.hostile.{name}")
        except ModuleNotFoundError:
            continue
        cases.extend(module.CASES)
    names = [c.name for c in cases]
    duplicated = {n for n in names if names.count(n) > 1}
    assert not duplicated, f"case names must be unique: {duplicated}"
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def template(small_world, tmp_path_factory) -> Path:
    """A small looklift database: world, two encoders' neighbors, 3 days of an experiment."""
    db = served_copy(small_world, tmp_path_factory.mktemp("hostile-template") / "looklift.duckdb")
    simulate_traffic(db, load_spec(EXAMPLE_SPEC), TrafficConfig(days=3, pre_days=0))
    return db


@pytest.fixture(scope="module")
def outcomes(template: Path, small_world, tmp_path_factory) -> dict[str, tuple[Path, Result]]:
    root = tmp_path_factory.mktemp("hostile")

    def one(case: Case) -> tuple[str, tuple[Path, Result]]:
        folder = root / case.name
        return case.name, (folder, run_case(case, template, small_world.images_dir, folder))

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(pool.map(one, CASES))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input(case: Case, outcomes: dict[str, tuple[Path, Result]]) -> None:
    folder, result = outcomes[case.name]
    judge(case, result, folder)
