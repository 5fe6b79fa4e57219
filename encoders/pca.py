"""Principal component analysis in numpy, with a deterministic sign per component.

How many components a catalog allows: at most ``items - 1`` (and the input
size). scikit-learn's PCA accepts up to ``min(n_samples, n_features)``
components (``svd_solver="full"``; ``"arpack"`` needs strictly fewer), but once
the mean is subtracted n items span at most n - 1 directions: the n-th
component carries no variance (measured: a share of 2e-32 on 10 random items)
and its direction is arbitrary, so the items of the catalog all get 0 on it
while new items get noise as large as a real component's (measured). So
:func:`max_components` is ``min(items - 1, input size)``, and :func:`auto_dim`
(``--dim auto``) asks for 128 but no more than that.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from encoders.errors import EncoderError

DEFAULT_DIM = 128
"""The dims ``auto`` asks for: the seed system's baseline (PCA to 128)."""


def max_components(n_items: int, d_in: int) -> int:
    """The most components a PCA fitted on ``n_items`` rows of ``d_in`` values can carry."""
    return max(0, min(n_items - 1, d_in))


def auto_dim(n_items: int, d_in: int, wanted: int = DEFAULT_DIM) -> int:
    """``min(wanted, items - 1, d_in)``: ``wanted`` dims where the catalog allows them."""
    most = max_components(n_items, d_in)
    if most < 1:
        raise EncoderError(f"PCA needs at least 2 items (the catalog has {n_items})")
    return min(wanted, most)


@dataclass(frozen=True, eq=False)
class Pca:
    """A fitted projection: ``(x - mean) @ components.T``."""

    mean: np.ndarray  # (d_in,)
    components: np.ndarray  # (dim, d_in), orthonormal rows
    explained_variance_ratio: np.ndarray  # (dim,)

    @classmethod
    def fit(cls, x: np.ndarray, dim: int, *, what: str = "catalog") -> Pca:
        """Fit ``dim`` components on the rows of ``x``; needs more rows than ``dim``
        (see :func:`max_components`)."""
        x = np.asarray(x, dtype=np.float64)
        n, d_in = x.shape
        if dim < 1 or dim > d_in:
            raise EncoderError(f"PCA dims must be between 1 and {d_in} (got {dim})")
        if n < 2:
            raise EncoderError(f"PCA needs at least 2 items, but the {what} has {n}")
        if dim > max_components(n, d_in):
            raise EncoderError(
                f"PCA to {dim} dims needs at least {dim + 1} items, but the {what} has {n} "
                f"(n items span at most n - 1 directions); use a --dim of at most {n - 1} "
                f"(cnn-pca: --dim auto picks min({DEFAULT_DIM}, items - 1)) or a larger catalog"
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
