"""The traffic tests' database: the small world with two encoders' neighbors, and a
fresh copy of it for each test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import served_copy


@pytest.fixture(scope="session")
def served_world(small_world, tmp_path_factory) -> Path:
    """The small world with two encoders' neighbors: 'better' matches colour too."""
    folder = tmp_path_factory.mktemp("served")
    return served_copy(small_world, folder / small_world.db.name, ("base", "better"))


@pytest.fixture()
def db(served_world: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "world.duckdb"
    shutil.copy(served_world, copy)
    return copy
