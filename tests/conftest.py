"""Fixtures shared by every room's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from abtest.simulate.world import WorldConfig, WorldSummary, build_world


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> WorldSummary:
    """A 240-item, 400-user marketplace, built once per test session. Treat as read-only."""
    folder = tmp_path_factory.mktemp("small-world")
    return build_world(WorldConfig(n_items=240, n_users=400, seed=7), folder / "world.duckdb")


@pytest.fixture()
def world_copy(small_world: WorldSummary, tmp_path: Path) -> Path:
    """A private, writable copy of the small world's database (photos are shared)."""
    import shutil

    target = tmp_path / small_world.db.name
    shutil.copy(small_world.db, target)
    (tmp_path / small_world.images_dir.name).symlink_to(small_world.images_dir)
    return target
