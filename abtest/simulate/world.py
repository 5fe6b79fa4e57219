"""Generate a synthetic C2C marketplace: catalog photos and titles, users, truth.

``build_world`` writes, atomically:

- product photos (JPEG) in a folder beside the database,
- ``items`` and ``users`` (what a real marketplace would have),
- ``truth_items``, ``truth_users`` and ``truth_world`` (latent attributes,
  tastes and the behaviour model's parameters: only the simulator reads them),
- a contact sheet PNG of a sample of items, for people to look at.

Everything is a deterministic function of the seed. Each item's photo and
title use their own random stream, so they do not depend on the order (or the
number of processes) in which they are drawn.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
from PIL import Image, ImageDraw, ImageFont

from abtest.simulate.behaviour import BehaviourParams
from abtest.simulate.drawing import draw_nuisance, encode_jpeg, render_item
from abtest.simulate.titles import make_title
from abtest.simulate.vocab import (
    ATTRIBUTES,
    COUNTRIES,
    PLATFORMS,
    PRICE_MEDIAN,
)
from abtest.store import Store, StoreError, ensure_writable_folder

# How common each attribute value is in the catalog (same order as vocab).
_VALUE_WEIGHTS: dict[str, tuple[float, ...]] = {
    "category": (0.18, 0.14, 0.13, 0.10, 0.12, 0.13, 0.08, 0.12),
    "colour": (0.09, 0.06, 0.06, 0.09, 0.14, 0.07, 0.09, 0.10, 0.16, 0.14),
    "pattern": (0.45, 0.20, 0.15, 0.20),
    "style": (0.35, 0.20, 0.25, 0.20),
    "price_band": (0.45, 0.40, 0.15),
}

EPOCH = dt.datetime(2026, 2, 1)
"""The day the simulated catalog is "now": items were listed before it."""


class WorldError(Exception):
    """Bad arguments for building a world, or a database that has none."""


@dataclass(frozen=True)
class WorldConfig:
    """Sizes, seed and realism of a simulated marketplace."""

    n_items: int = 2000
    n_users: int = 10000
    seed: int = 0
    image_size: int = 128
    nuisance: float = 1.0
    params: BehaviourParams = field(default_factory=BehaviourParams)

    def validate(self) -> None:
        if self.n_items < 10:
            raise WorldError(f"--items must be at least 10 (got {self.n_items})")
        if self.n_users < 1:
            raise WorldError(f"--users must be at least 1 (got {self.n_users})")
        if self.seed < 0:
            raise WorldError(f"--seed must be a non-negative integer (got {self.seed})")
        if not 32 <= self.image_size <= 512:
            raise WorldError(f"--image-size must be between 32 and 512 (got {self.image_size})")
        if not 0.0 <= self.nuisance <= 1.0:
            raise WorldError(f"--nuisance must be between 0 and 1 (got {self.nuisance})")


@dataclass(frozen=True)
class WorldSummary:
    """What ``build_world`` wrote."""

    db: Path
    images_dir: Path
    contact_sheet: Path
    n_items: int
    n_users: int
    seed: int
    items_per_category: dict[str, int]
    users_per_platform: dict[str, int]
    seconds: float


def images_dir_for(db: Path) -> Path:
    """Where a database's product photos live: ``<stem>-images`` beside it."""
    return db.parent / f"{db.stem}-images"


def contact_sheet_for(db: Path) -> Path:
    return db.parent / f"{db.stem}-contact-sheet.png"


# ---------------------------------------------------------------------------------------
# Drawing the world
# ---------------------------------------------------------------------------------------
def _choice(rng: np.random.Generator, name: str, n: int) -> np.ndarray:
    w = np.asarray(_VALUE_WEIGHTS[name])
    return rng.choice(len(w), size=n, p=w / w.sum()).astype(np.int16)


def draw_items(config: WorldConfig) -> pl.DataFrame:
    """Latent attributes and public fields of every item (no photos or titles yet)."""
    rng = np.random.default_rng([config.seed, 0])
    n = config.n_items
    cols = {name: _choice(rng, name, n) for name in ATTRIBUTES}
    band = np.asarray(ATTRIBUTES["price_band"])[cols["price_band"]]
    median = np.array([PRICE_MEDIAN[b] for b in band])
    price = np.round(median * np.exp(rng.normal(0, 0.35, n)), 0).clip(1)
    n_sellers = max(1, n // 3)
    seller = (rng.zipf(1.7, n) - 1) % n_sellers
    listed_at = [EPOCH - dt.timedelta(seconds=int(s)) for s in rng.uniform(0, 120 * 86400, n)]
    return pl.DataFrame(
        {
            "item_id": np.arange(1, n + 1, dtype=np.int64),
            **{name: np.asarray(ATTRIBUTES[name])[cols[name]] for name in ATTRIBUTES},
            "price": price,
            "seller_id": [f"s{s:05d}" for s in seller],
            "listed_at": listed_at,
            "popularity": np.exp(rng.normal(0, 1.0, n)),
        }
    )


def draw_users(config: WorldConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Public user attributes (``users``) and their latent tastes (``truth_users``)."""
    rng = np.random.default_rng([config.seed, 1])
    m = config.n_users
    platforms, countries = list(PLATFORMS), list(COUNTRIES)
    platform = rng.choice(len(platforms), m, p=list(PLATFORMS.values()))
    country = rng.choice(len(countries), m, p=list(COUNTRIES.values()))
    is_new = rng.random(m) < 0.2
    age_days = np.where(is_new, rng.uniform(0, 14, m), rng.uniform(30, 900, m))
    user_ids = [f"u{i:07d}" for i in range(1, m + 1)]
    users = pl.DataFrame(
        {
            "user_id": user_ids,
            "platform": np.asarray(platforms)[platform],
            "country": np.asarray(countries)[country],
            "is_new": is_new,
            "first_seen_at": [EPOCH - dt.timedelta(days=float(d)) for d in age_days],
        }
    )
    n_cat = len(ATTRIBUTES["category"])
    cat_alpha = 2.0 * np.asarray(_VALUE_WEIGHTS["category"]) * n_cat / 1.0
    truth = pl.DataFrame(
        {
            "user_id": user_ids,
            # Item views per active day: heavy-tailed, most users browse little, a few a lot.
            "activity": np.minimum(np.exp(rng.normal(0.2, 1.0, m)), 200.0),
            "price_sensitivity": rng.normal(0.5, 0.5, m),
            "category_pref": rng.dirichlet(cat_alpha * 0.3, m).tolist(),
            "colour_pref": rng.dirichlet(np.ones(len(ATTRIBUTES["colour"])), m).tolist(),
            "style_pref": rng.dirichlet(1.5 * np.ones(len(ATTRIBUTES["style"])), m).tolist(),
        }
    )
    return users, truth


def _render_one(args: tuple[int, int, int, float, dict[str, str], str]) -> dict[str, object]:
    """Render, title and save one item; returns its title and photo conditions."""
    seed, item_id, size, strength, attrs, path = args
    rng = np.random.default_rng([seed, 2, item_id])
    nuisance = draw_nuisance(rng, strength)
    image = render_item(rng, nuisance=nuisance, size=size, **attrs)
    with open(path, "wb") as fh:
        fh.write(encode_jpeg(image, nuisance.jpeg_quality))
    title = make_title(np.random.default_rng([seed, 3, item_id]), **attrs)
    return {"item_id": item_id, "title": title, **asdict(nuisance)}


def render_catalog(
    config: WorldConfig,
    items: pl.DataFrame,
    folder: Path,
    stored_folder: str,
    progress: Callable[[int, int], None] | None = None,
) -> pl.DataFrame:
    """Write one photo per item into ``folder``; return titles, paths and conditions.

    ``image_path`` is ``stored_folder/<item_id>.jpg``: where the photos will be
    relative to the database once moved into place.
    """
    folder.mkdir(parents=True, exist_ok=True)
    jobs = []
    for row in items.iter_rows(named=True):
        attrs = {name: row[name] for name in ATTRIBUTES}
        path = folder / f"{row['item_id']:07d}.jpg"
        jobs.append(
            (config.seed, row["item_id"], config.image_size, config.nuisance, attrs, str(path))
        )
    results: list[dict[str, object]] = []
    workers = min(os.cpu_count() or 1, 4)
    if len(jobs) >= 400 and workers > 1:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(workers) as pool:
            for r in pool.imap(_render_one, jobs, chunksize=32):
                results.append(r)
                if progress and len(results) % 50 == 0:
                    progress(len(results), len(jobs))
    else:
        for job in jobs:
            results.append(_render_one(job))
            if progress and len(results) % 50 == 0:
                progress(len(results), len(jobs))
    if progress:
        progress(len(jobs), len(jobs))
    return pl.DataFrame(results).with_columns(
        image_path=pl.format(
            "{}/{}.jpg", pl.lit(stored_folder), pl.col("item_id").cast(pl.Utf8).str.zfill(7)
        )
    )


def draw_contact_sheet(
    image_paths: Sequence[Path], titles: Sequence[str], out: Path, columns: int = 8
) -> None:
    """A grid of product photos with their titles, for a person to look at."""
    cell, text_h = 160, 40
    rows = (len(image_paths) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * cell, rows * (cell + text_h)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    try:
        font = ImageFont.load_default(size=11)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    for i, (path, title) in enumerate(zip(image_paths, titles, strict=True)):
        x, y = (i % columns) * cell, (i // columns) * (cell + text_h)
        with Image.open(path) as im:
            sheet.paste(im.convert("RGB").resize((cell - 8, cell - 8)), (x + 4, y + 4))
        words, lines, line = title.split(), [], ""
        for w in words:
            if len(line) + len(w) + 1 > 22 and line:
                lines.append(line)
                line = w
            else:
                line = f"{line} {w}".strip()
        lines.append(line)
        for j, text in enumerate(lines[:3]):
            draw.text((x + 4, y + cell + j * 12), text, fill=(20, 20, 20), font=font)
    sheet.save(out, format="PNG")


# ---------------------------------------------------------------------------------------
# Writing it
# ---------------------------------------------------------------------------------------
def _check_target(db: Path, overwrite: bool) -> None:
    ensure_writable_folder(db.parent, WorldError)
    if db.exists() and not overwrite:
        raise WorldError(f"{db} already exists; pass --overwrite to replace it with a new world")


def build_world(
    config: WorldConfig,
    db: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> WorldSummary:
    """Generate a marketplace into a new database file ``db`` (and photos beside it).

    Nothing is left half-written: the world is built under temporary names and
    moved into place at the end; on any error the temporary files are removed.
    """
    config.validate()
    started = time.perf_counter()
    db = Path(db)
    _check_target(db, overwrite)
    images = images_dir_for(db)
    sheet = contact_sheet_for(db)
    tag = f".tmp-{os.getpid()}"
    tmp_db = db.parent / f".{db.name}{tag}"
    tmp_images = db.parent / f".{images.name}{tag}"
    tmp_sheet = db.parent / f".{sheet.name}{tag}"
    for p in (tmp_db, tmp_images, tmp_sheet):
        _remove(p)

    def report(stage: str) -> Callable[[int, int], None]:
        return lambda done, total: progress(stage, done, total) if progress else None

    try:
        items = draw_items(config)
        rendered = render_catalog(config, items, tmp_images, images.name, report("photos"))
        items = items.join(rendered, on="item_id")
        users, truth_users = draw_users(config)
        report("database")(0, 1)
        _write_database(tmp_db, config, items, users, truth_users)
        report("database")(1, 1)
        sample = items.sample(n=min(48, len(items)), seed=config.seed).sort("item_id")
        draw_contact_sheet(
            [tmp_images / Path(p).name for p in sample["image_path"]],
            sample["title"].to_list(),
            tmp_sheet,
        )
        # Move into place: photos first, then the sheet, then the database.
        for tmp, final in ((tmp_images, images), (tmp_sheet, sheet), (tmp_db, db)):
            _remove(final)
            os.replace(tmp, final)
        _remove(Path(str(db) + ".wal"))
    except BaseException:
        for p in (tmp_db, Path(str(tmp_db) + ".wal"), tmp_images, tmp_sheet):
            _remove(p)
        raise

    return WorldSummary(
        db=db,
        images_dir=images,
        contact_sheet=sheet,
        n_items=config.n_items,
        n_users=config.n_users,
        seed=config.seed,
        items_per_category=dict(items.group_by("category").len().sort("category").iter_rows()),
        users_per_platform=dict(users.group_by("platform").len().sort("platform").iter_rows()),
        seconds=time.perf_counter() - started,
    )


_ITEM_COLUMNS = (
    "item_id",
    "title",
    "image_path",
    "category",
    "price",
    "seller_id",
    "listed_at",
)
"""``items``: what a real marketplace knows of an item."""
_TRUTH_ITEM_COLUMNS = (
    "item_id",
    *ATTRIBUTES,
    "popularity",
    "background",
    "texture",
    "clutter",
    "dx",
    "dy",
    "scale",
    "rotation",
    "brightness",
    "warmth",
    "noise",
    "jpeg_quality",
)
"""``truth_items``: an item's latent attributes, popularity and photo conditions."""


def _write_database(
    path: Path,
    config: WorldConfig,
    items: pl.DataFrame,
    users: pl.DataFrame,
    truth_users: pl.DataFrame,
) -> None:
    """Write the world's tables into a new database at ``path``: what a marketplace
    would have (``items``, ``users``) and the simulator's truth (``truth_*``)."""
    with Store(path) as store:
        store.ingest("items", items.select(*_ITEM_COLUMNS), source_name="simulated catalog")
        store.ingest("users", users, source_name="simulated users")
        store.replace_table("truth_items", items.select(*_TRUTH_ITEM_COLUMNS))
        store.replace_table("truth_users", truth_users)
        store.replace_table(
            "truth_world",
            pl.DataFrame(
                {
                    "seed": [config.seed],
                    "n_items": [config.n_items],
                    "n_users": [config.n_users],
                    "image_size": [config.image_size],
                    "nuisance": [config.nuisance],
                    "params": [json.dumps(config.params.to_dict())],
                }
            ),
        )
        store.con.execute("CHECKPOINT")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def check_world(db: str | os.PathLike[str]) -> None:
    """Raise WorldError unless ``db`` holds a marketplace made by ``build_world``."""
    try:
        with Store(db, read_only=True) as store:
            if not store.has_table("truth_world"):
                raise WorldError(
                    f"{db} has no simulated marketplace; create one with 'looklift world'"
                )
    except StoreError as exc:
        raise WorldError(str(exc)) from None
