"""Principal component analysis in numpy, with a deterministic sign per component."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from encoders.errors import EncoderError


@dataclass(frozen=True, eq=False)
class Pca:
    """A fitted projection: ``(x - mean) @ components.T``."""

    mean: np.ndarray  # (d_in,)
    components: np.ndarray  # (dim, d_in), orthonormal rows
    explained_variance_ratio: np.ndarray  # (dim,)

    @classmethod
    def fit(cls, x: np.ndarray, dim: int, *, what: str = "catalog") -> Pca:
        """Fit ``dim`` components on the rows of ``x``; needs at least ``dim`` rows."""
        x = np.asarray(x, dtype=np.float64)
        n, d_in = x.shape
        if dim < 1 or dim > d_in:
            raise EncoderError(f"PCA dims must be between 1 and {d_in} (got {dim})")
        if n < dim:
            raise EncoderError(
                f"PCA to {dim} dims needs at least {dim} items, but the {what} has {n}; "
                f"use a smaller --dim (at most {n}) or a larger catalog"
            )
        mean = x.mean(axis=0)
        _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
        comps = vt[:dim]
        # The sign of a singular vector is arbitrary: make each one's largest entry positive.
        signs = np.sign(comps[np.arange(dim), np.argmax(np.abs(comps), axis=1)])
        comps = comps * np.where(signs == 0, 1.0, signs)[:, None]
        var = s**2
        ratio = var[:dim] / var.sum() if var.sum() > 0 else np.zeros(dim)
        return cls(mean.astype(np.float32), comps.astype(np.float32), ratio.astype(np.float32))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float32) - self.mean) @ self.components.T

    def save(self, path: str | os.PathLike[str]) -> None:
        np.savez(
            path,
            mean=self.mean,
            components=self.components,
            explained_variance_ratio=self.explained_variance_ratio,
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Pca:
        if not Path(path).is_file():
            raise EncoderError(f"PCA file not found: {path}")
        with np.load(path) as z:
            return cls(z["mean"], z["components"], z["explained_variance_ratio"])
