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


DEMO_ENCODERS = ("cnn-pca", "finetuned")
"""The demo's encoders; tests of the stats side name theirs ``("base", "better")``."""


def served_copy(world: WorldSummary, path: Path, encoders: tuple[str, str] = DEMO_ENCODERS) -> Path:
    """A copy of ``world``'s database at ``path`` where two encoders have toy neighbors.

    The first recommends items of the same category, the second also matches
    the colour (the better encoder); no traffic yet.
    """
    import shutil

    shutil.copy(world.db, path)
    write_toy_neighbors(path, encoders[0], match="category")
    write_toy_neighbors(path, encoders[1], match="colour")
    return path


def write_toy_neighbors(
    db: Path, encoder: str, *, k: int = 20, match: str = "category", seed: int = 0
) -> None:
    """Neighbors for tests, built from the simulator's truth (never do this in looklift itself).

    ``match="category"`` recommends random items of the same category;
    ``match="colour"`` prefers same category *and* colour (a better encoder);
    ``match="random"`` ignores the item entirely (a bad one).
    """
    import numpy as np
    import polars as pl

    from abtest.simulate.marketplace import Marketplace
    from abtest.store import Store

    rng = np.random.default_rng(seed)
    with Store(db) as store:
        market = Marketplace.from_store(store)
        frames = []
        for i in range(market.n_items):
            if match == "random":
                score = rng.random(market.n_items)
            else:
                score = (market.codes[:, 0] == market.codes[i, 0]) * 2.0 + rng.random(
                    market.n_items
                )
                if match == "colour":
                    score += (market.codes[:, 1] == market.codes[i, 1]) * 1.0
            score[i] = -np.inf
            top = np.argsort(-score, kind="stable")[:k]
            frames.append(
                pl.DataFrame(
                    {
                        "encoder": encoder,
                        "item_id": market.item_ids[i],
                        "rank": np.arange(1, k + 1, dtype=np.int32),
                        "neighbor_id": market.item_ids[top],
                        "score": score[top],
                    }
                )
            )
        store.replace_rows("neighbors", pl.concat(frames), where="encoder = ?", params=[encoder])


@pytest.fixture(scope="session")
def spark_session():
    """One local Spark session (2 cores) shared by every Spark test of the run; the tests
    that need it skip, saying why, where pyspark or a Java runtime is missing."""
    import shutil

    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install '.[spark]')")
    if shutil.which("java") is None and "JAVA_HOME" not in __import__("os").environ:
        pytest.skip("no Java runtime (make test installs openjdk-17-jre-headless as root)")
    from abtest.analysis.spark import local_session

    log = Path(__import__("tempfile").gettempdir()) / "looklift-tests-spark.log"
    session = local_session("local[2]", app_name="looklift-tests", log=log)
    yield session
    session.stop()
