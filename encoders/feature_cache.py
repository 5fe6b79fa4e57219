"""Cached trunk features of image files, so a frozen trunk runs once per photo.

The baseline (``cnn-pca``) and the fine-tuned variant share the EfficientNet
trunk; with its weights frozen its pooled features of an unchanged file never
change, so the second encoder (and every fine-tuning step) reuses them. A
file is identified by its absolute path, size and modification time: a
rewritten photo is recomputed. One parquet file per trunk (``key``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl


def file_key(path: str | os.PathLike[str]) -> str | None:
    """``absolute path|size|mtime_ns`` of an existing file, else None."""
    try:
        p = Path(path).resolve()
        st = p.stat()
    except OSError:
        return None
    return f"{p}|{st.st_size}|{st.st_mtime_ns}"


class FeatureCache:
    """Feature vectors by file key, in memory and (when ``path`` is set) in a parquet file."""

    def __init__(self, key: str, path: str | os.PathLike[str] | None = None) -> None:
        self.key = key
        self.path = Path(path) if path is not None else None
        self._vectors: dict[str, np.ndarray] | None = None
        self._dirty = False

    @classmethod
    def in_folder(cls, folder: str | os.PathLike[str], key: str) -> FeatureCache:
        """The cache of trunk ``key`` stored as ``folder/<key>.parquet``."""
        return cls(key, Path(folder) / f"{key}.parquet")

    def _load(self) -> dict[str, np.ndarray]:
        if self._vectors is None:
            self._vectors = {}
            if self.path is not None and self.path.is_file():
                frame = pl.read_parquet(self.path)
                vectors = frame["vector"].to_numpy()
                self._vectors = dict(zip(frame["file"].to_list(), vectors, strict=True))
        return self._vectors

    def get(self, keys: Sequence[str | None]) -> list[np.ndarray | None]:
        """The stored vector of each key (None where absent or the key is None)."""
        stored = self._load()
        return [stored.get(k) if k is not None else None for k in keys]

    def put(self, keys: Sequence[str | None], vectors: np.ndarray) -> None:
        stored = self._load()
        for k, v in zip(keys, np.asarray(vectors, dtype=np.float32), strict=True):
            if k is not None:
                stored[k] = v
                self._dirty = True

    def save(self) -> None:
        """Write the cache to its parquet file (atomically), if it has one and changed."""
        if self.path is None or not self._dirty or not self._vectors:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        files = list(self._vectors)
        frame = pl.DataFrame({"file": files, "vector": np.stack([self._vectors[f] for f in files])})
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        frame.write_parquet(tmp)
        os.replace(tmp, self.path)
        self._dirty = False
