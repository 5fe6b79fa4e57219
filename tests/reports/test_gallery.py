"""The gallery: a deterministic, varied sample and each variant's real top-k."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image

from abtest.store import Store
from reports import ReportError, VariantInfo, build_gallery
from reports.gallery import sample_items
from tests.hostile_files import make_fifo, make_png_bomb, returns_within

VARIANTS = (VariantInfo("control", "base", 0.5), VariantInfo("treatment", "better", 0.5))


@pytest.fixture()
def store(reported_db: tuple[Path, Path], tmp_path: Path):
    db, _ = reported_db
    shutil.copy(db, tmp_path / db.name)
    for images in db.parent.glob("*-images"):
        (tmp_path / images.name).symlink_to(images.resolve())
    with Store(tmp_path / db.name) as s:
        yield s


def test_sample_is_deterministic_and_spans_categories(store: Store) -> None:
    first = sample_items(store, ["base", "better"], 8, seed=0)
    assert first == sample_items(store, ["base", "better"], 8, seed=0)
    assert first != sample_items(store, ["base", "better"], 8, seed=1)
    categories = store.query(
        f"SELECT item_id, category FROM items WHERE item_id IN ({', '.join(map(str, first))})"
    )
    n_categories = store.query("SELECT COUNT(DISTINCT category) AS n FROM items")["n"][0]
    assert categories["category"].n_unique() == min(8, n_categories)


def test_each_variant_shows_its_encoders_top_k(store: Store) -> None:
    gallery = build_gallery(store, VARIANTS, n_items=3, k=5, seed=0)
    assert gallery is not None and len(gallery.rows) == 3
    for row in gallery.rows:
        for n, encoder in zip(row.neighbors, ("base", "better"), strict=True):
            expected = store.query(
                "SELECT neighbor_id FROM neighbors WHERE encoder = ? AND item_id = ? "
                "AND rank <= 5 ORDER BY rank",
                [encoder, row.item.item_id],
            )["neighbor_id"].to_list()
            assert n.encoder == encoder and [t.item_id for t in n.items] == expected


def test_thumbnails_are_small_jpegs(store: Store) -> None:
    gallery = build_gallery(store, VARIANTS, n_items=2, seed=0)
    assert gallery is not None
    for row in gallery.rows:
        thumbs = [row.item, *(t for n in row.neighbors for t in n.items)]
        for thumb in thumbs:
            assert thumb.jpeg is not None
            with Image.open(io.BytesIO(thumb.jpeg)) as image:
                assert image.format == "JPEG" and max(image.size) <= 280


def test_missing_photo_and_missing_title(store: Store) -> None:
    gallery = build_gallery(store, VARIANTS, n_items=1, seed=0)
    assert gallery is not None
    item = gallery.rows[0].item.item_id
    neighbor = gallery.rows[0].neighbors[0].items[0].item_id
    store.con.execute("UPDATE items SET image_path = 'gone.jpg' WHERE item_id = ?", [item])
    store.con.execute("DELETE FROM items WHERE item_id = ?", [neighbor])
    gallery = build_gallery(store, VARIANTS, n_items=1, seed=0)
    assert gallery is not None
    row = gallery.rows[0]
    assert row.item.item_id == item and row.item.jpeg is None
    missing = row.neighbors[0].items[0]
    assert missing.item_id == neighbor and missing.title == f"item {neighbor}"


def test_nothing_to_show(store: Store) -> None:
    assert build_gallery(store, (VariantInfo("control", None, 1.0),)) is None
    assert build_gallery(store, (VariantInfo("x", "no-such-encoder", 1.0),)) is None
    with pytest.raises(ReportError, match="at least one item"):
        build_gallery(store, VARIANTS, n_items=0)


def test_a_fifo_or_a_pixel_bomb_shows_no_photo(store: Store) -> None:
    """An ``image_path`` that is a FIFO (opening it waits forever) or a 70-byte PNG that
    declares 40000×40000 pixels is "no photo", read only through the limits of
    :mod:`abtest.photos`; the other photos still show."""
    gallery = build_gallery(store, VARIANTS, n_items=1, seed=0)
    assert gallery is not None
    item = gallery.rows[0].item.item_id
    neighbor = gallery.rows[0].neighbors[0].items[0].item_id
    fifo, bomb = store.root / "photo-fifo.jpg", store.root / "photo-bomb.png"
    make_fifo(fifo)
    make_png_bomb(bomb)
    for item_id, path in ((item, fifo.name), (neighbor, bomb.name)):
        store.con.execute("UPDATE items SET image_path = ? WHERE item_id = ?", [path, item_id])
    gallery = returns_within(
        30, lambda: build_gallery(store, VARIANTS, n_items=1, seed=0), fifos=(fifo,)
    )
    assert gallery is not None
    row = gallery.rows[0]
    assert row.item.item_id == item and row.item.jpeg is None
    shown = {t.item_id: t.jpeg for n in row.neighbors for t in n.items}
    assert shown[neighbor] is None
    assert sum(jpeg is not None for jpeg in shown.values()) >= len(shown) - 1
