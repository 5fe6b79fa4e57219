"""Where an encoder's files live, beside the database they were made from.

For a database ``X.duckdb`` everything goes under ``X-artifacts/``::

    X-artifacts/
      encoders/<name>/embeddings.parquet   item_id, vector (float32, L2-normalised)
      encoders/<name>/index.faiss          the FAISS index the neighbors were searched with
      encoders/<name>/index.json           what kind of index, and its recall against exact
      encoders/<name>/encoder.json (+ ...) the encoder's saved state (e.g. its PCA)
      models/<name>/                       fine-tuned checkpoints (save_pretrained format)
      cache/<trunk>.parquet                cached trunk features of unchanged photos

``<name>`` is what goes into ``neighbors.encoder`` and what experiment
variants reference (e.g. ``cnn-pca``, ``finetuned``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from encoders.errors import EncoderError
from encoders.registry import check_name

EMBEDDINGS_FILE = "embeddings.parquet"
INDEX_FILE = "index.faiss"
INDEX_INFO_FILE = "index.json"


@dataclass(frozen=True)
class Artifacts:
    """The artifact folders of one database."""

    root: Path

    @classmethod
    def for_db(cls, db: str | os.PathLike[str]) -> Artifacts:
        db = Path(db)
        return cls(db.resolve().parent / f"{db.stem}-artifacts")

    def encoder_dir(self, name: str) -> Path:
        return self.root / "encoders" / check_name(name)

    def embeddings_path(self, name: str) -> Path:
        return self.encoder_dir(name) / EMBEDDINGS_FILE

    def index_path(self, name: str) -> Path:
        return self.encoder_dir(name) / INDEX_FILE

    def index_info_path(self, name: str) -> Path:
        return self.encoder_dir(name) / INDEX_INFO_FILE

    def model_dir(self, name: str) -> Path:
        return self.root / "models" / check_name(name, "model name")

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    def encoded(self) -> tuple[str, ...]:
        """Names of the encoders that have embeddings here."""
        folder = self.root / "encoders"
        if not folder.is_dir():
            return ()
        return tuple(sorted(p.parent.name for p in folder.glob(f"*/{EMBEDDINGS_FILE}")))


@dataclass(frozen=True, eq=False)
class Embeddings:
    """One encoder's vectors of the catalog, rows in ``item_ids`` order (ascending)."""

    item_ids: np.ndarray  # (n,) int64
    vectors: np.ndarray  # (n, dim) float32

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.item_ids)


def write_embeddings(
    path: str | os.PathLike[str], item_ids: np.ndarray, vectors: np.ndarray
) -> None:
    """Write ``item_id, vector`` rows sorted by item id, atomically."""
    ids = np.asarray(item_ids, dtype=np.int64)
    vecs = np.asarray(vectors, dtype=np.float32)
    order = np.argsort(ids, kind="stable")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pl.DataFrame({"item_id": ids[order], "vector": vecs[order]}).write_parquet(tmp)
    os.replace(tmp, path)


def read_embeddings(path: str | os.PathLike[str]) -> Embeddings:
    """Read an embeddings parquet (``item_id``, ``vector``)."""
    path = Path(path)
    if not path.is_file():
        raise EncoderError(f"embeddings not found: {path}; run 'looklift encode' first")
    frame = pl.read_parquet(path).sort("item_id")
    if frame.is_empty():
        raise EncoderError(f"{path} holds no embeddings")
    vectors = np.stack(frame["vector"].to_numpy()).astype(np.float32, copy=False)
    return Embeddings(frame["item_id"].to_numpy().astype(np.int64), vectors)
