"""The synthetic marketplace: deterministic, realistic enough, and written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

from abtest.simulate.marketplace import Marketplace
from abtest.simulate.vocab import ATTRIBUTES, CATEGORIES, COLOURS, PATTERNS
from abtest.simulate.world import (
    WorldConfig,
    WorldError,
    WorldSummary,
    build_world,
    contact_sheet_for,
    images_dir_for,
)
from abtest.store import Store


def read(db: Path, sql: str) -> pl.DataFrame:
    with Store(db, read_only=True) as store:
        return store.query(sql)


def test_writes_public_and_truth_tables(small_world: WorldSummary) -> None:
    items = read(small_world.db, "SELECT * FROM items ORDER BY item_id")
    users = read(small_world.db, "SELECT * FROM users ORDER BY user_id")
    truth = read(small_world.db, "SELECT * FROM truth_items ORDER BY item_id")
    assert len(items) == 240 and len(users) == 400 and len(truth) == 240
    assert items["title"].str.len_chars().min() > 0
    assert (items["category"] == truth["category"]).all()
    assert set(users["platform"]) <= {"ios", "android", "web"}
    assert "colour" not in items.columns  # latent attributes stay in truth_*
    assert small_world.contact_sheet.exists()


def test_every_photo_decodes_at_the_configured_size(small_world: WorldSummary) -> None:
    items = read(small_world.db, "SELECT image_path FROM items")
    root = small_world.db.parent
    for rel in items["image_path"]:
        assert not Path(rel).is_absolute()
        with Image.open(root / rel) as im:
            im.load()
            assert im.size == (128, 128) and im.mode == "RGB"
    with Image.open(small_world.contact_sheet) as sheet:
        assert sheet.width >= 8 * 128


def test_same_seed_same_world_and_other_seed_another(tmp_path: Path) -> None:
    config = WorldConfig(n_items=40, n_users=30, seed=3)
    a = build_world(config, tmp_path / "a.duckdb")
    b = build_world(config, tmp_path / "b.duckdb")
    c = build_world(WorldConfig(n_items=40, n_users=30, seed=4), tmp_path / "c.duckdb")
    for table in ("items", "users", "truth_items", "truth_users", "truth_world"):
        sql = f"SELECT * FROM {table} ORDER BY 1"
        assert (
            read(a.db, sql)
            .drop("image_path", strict=False)
            .equals(read(b.db, sql).drop("image_path", strict=False))
        ), table
    for name in sorted(os.listdir(a.images_dir)):
        assert (a.images_dir / name).read_bytes() == (b.images_dir / name).read_bytes()
    ta = read(a.db, "SELECT title FROM items ORDER BY item_id")["title"].to_list()
    tc = read(c.db, "SELECT title FROM items ORDER BY item_id")["title"].to_list()
    assert ta != tc


def test_titles_carry_the_attributes_most_of_the_time(small_world: WorldSummary) -> None:
    frame = read(
        small_world.db,
        "SELECT i.title, t.category, t.colour, t.pattern "
        "FROM items i JOIN truth_items t USING (item_id)",
    )

    def mentioned(words: dict[str, tuple[str, ...]], attr: str) -> float:
        hits = [
            any(w and w.lower() in title.lower() for w in words[value])
            for title, value in zip(frame["title"], frame[attr], strict=True)
        ]
        return float(np.mean(hits))

    # Typos and dropped words make some titles miss an attribute, but most carry it.
    assert mentioned(CATEGORIES, "category") > 0.85
    assert mentioned(COLOURS, "colour") > 0.75
    patterned = frame.filter(pl.col("pattern") != "solid")
    hits = [
        any(w.lower() in t.lower() for w in PATTERNS[p] if w)
        for t, p in zip(patterned["title"], patterned["pattern"], strict=True)
    ]
    assert np.mean(hits) > 0.6
    # ...and they are noisy: not every title is a clean template.
    assert frame["title"].n_unique() == len(frame)


def test_attribute_values_all_occur(tmp_path: Path) -> None:
    world = build_world(WorldConfig(n_items=600, n_users=10, seed=1), tmp_path / "w.duckdb")
    truth = read(world.db, "SELECT * FROM truth_items")
    for name, values in ATTRIBUTES.items():
        assert set(truth[name]) == set(values), name


def test_users_have_heavy_tailed_activity_and_tastes(small_world: WorldSummary) -> None:
    with Store(small_world.db, read_only=True) as store:
        market = Marketplace.from_store(store)
    activity = np.sort(market.activity)
    top_decile_share = activity[-len(activity) // 10 :].sum() / activity.sum()
    assert top_decile_share > 0.3  # a few users browse much more than the rest
    for prefs in (market.category_pref, market.colour_pref, market.style_pref):
        np.testing.assert_allclose(prefs.sum(axis=1), 1.0, rtol=1e-9)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (WorldConfig(n_items=-5), "--items must be at least 10"),
        (WorldConfig(n_users=0), "--users must be at least 1"),
        (WorldConfig(seed=-1), "--seed must be a non-negative"),
        (WorldConfig(image_size=8), "--image-size"),
        (WorldConfig(nuisance=2.0), "--nuisance"),
    ],
)
def test_bad_sizes_are_rejected_before_anything_is_written(
    tmp_path: Path, config: WorldConfig, message: str
) -> None:
    with pytest.raises(WorldError, match=message):
        build_world(config, tmp_path / "w.duckdb")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_database_is_kept_unless_overwrite(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    build_world(WorldConfig(n_items=20, n_users=5, seed=1), db)
    before = db.read_bytes()
    with pytest.raises(WorldError, match="already exists; pass --overwrite"):
        build_world(WorldConfig(n_items=30, n_users=5, seed=2), db)
    assert db.read_bytes() == before
    build_world(WorldConfig(n_items=30, n_users=5, seed=2), db, overwrite=True)
    assert len(read(db, "SELECT * FROM items")) == 30
    assert len(os.listdir(images_dir_for(db))) == 30


def test_a_failure_midway_leaves_nothing_behind(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"

    def explode(stage: str, done: int, total: int) -> None:
        if stage == "database":
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        build_world(WorldConfig(n_items=20, n_users=5), db, progress=explode)
    assert list(tmp_path.iterdir()) == []
    assert not contact_sheet_for(db).exists()
