"""``cnn-pca``, the baseline: ImageNet EfficientNet-Lite0 features, PCA, L2.

The seed system's "before": a mobile CNN that was never fine-tuned on the
marketplace. Its global-average-pooled features are projected onto the
catalog's top principal components and L2-normalised. ``fit`` learns the PCA
on the catalog; ``save_pretrained`` stores it.

``dim="auto"`` (the default) is 128, or ``items - 1`` on a catalog of 128
items or fewer: a PCA fitted on n items has at most n - 1 meaningful
components (see :mod:`encoders.pca`). A number is used as given, and a catalog
too small for it is an error that says so.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from encoders.device import autocast, resolve_device
from encoders.efficientnet import (
    BATCH_SIZE,
    FEATURE_DIM,
    EfficientNetTrunk,
    check_input_size,
    trunk_feature_key,
)
from encoders.embedding import embed_images
from encoders.errors import EncoderError
from encoders.feature_cache import FeatureCache
from encoders.images import ImageInput
from encoders.pca import DEFAULT_DIM, Pca, auto_dim
from encoders.protocol import ProgressCallback, l2_normalize
from encoders.state import read_state, write_state

PCA_FILE = "pca.npz"
AUTO = "auto"


class CnnPcaEncoder:
    """EfficientNet-Lite0 (ImageNet) pooled features -> PCA (``dim``, or ``"auto"``) -> L2."""

    name = "cnn-pca"

    def __init__(
        self,
        dim: int | str = AUTO,
        input_size: int = 128,
        batch_size: int = BATCH_SIZE,
        device: str | None = None,
    ) -> None:
        if dim != AUTO and (
            not isinstance(dim, int) or isinstance(dim, bool) or not 1 <= dim <= FEATURE_DIM
        ):
            raise EncoderError(
                f"cnn-pca dim must be between 1 and {FEATURE_DIM}, or 'auto' (got {dim!r})"
            )
        if batch_size < 1:
            raise EncoderError(f"batch size must be at least 1 (got {batch_size})")
        self.n_components: int | str = dim
        self.input_size = check_input_size(input_size)
        self.batch_size = batch_size
        self.device = resolve_device(device)
        self.pca: Pca | None = None
        self._trunk: EfficientNetTrunk | None = None
        self._cache = FeatureCache(self.feature_key)

    # -- Encoder ------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """The output size: the fitted PCA's; before a fit with ``auto``, at most 128."""
        if self.pca is not None:
            return int(self.pca.components.shape[0])
        return self.n_components if isinstance(self.n_components, int) else DEFAULT_DIM

    @property
    def feature_key(self) -> str:
        return trunk_feature_key(self.input_size)

    def use_feature_cache(self, cache: FeatureCache) -> None:
        self._cache = cache

    @property
    def trunk(self) -> EfficientNetTrunk:
        if self._trunk is None:
            self._trunk = EfficientNetTrunk(self.input_size).to(self.device).eval()
        return self._trunk

    def features(
        self, images: Sequence[ImageInput], *, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """The trunk's pooled ``(n, 1280)`` features (before PCA)."""

        def forward(batch: list[Image.Image]) -> torch.Tensor:
            pixels = self.trunk.preprocess(batch).to(self.device)
            with autocast(self.device):
                return self.trunk(pixels)

        return embed_images(
            images, forward, batch_size=self.batch_size, progress=progress, cache=self._cache
        )

    def fit(
        self, images: Sequence[ImageInput], *, progress: ProgressCallback | None = None
    ) -> CnnPcaEncoder:
        """Learn the PCA on ``images`` (the catalog); ``auto`` dims are decided here."""
        features = self.features(images, progress=progress)
        dim = self.n_components
        if not isinstance(dim, int):
            dim = auto_dim(len(features), FEATURE_DIM)
        self.pca = Pca.fit(features, dim)
        return self

    def encode(
        self, images: Sequence[ImageInput], *, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        if self.pca is None:
            raise EncoderError(
                "cnn-pca has no PCA yet: fit it on the catalog first (encode_catalog does) "
                "or load a saved one with CnnPcaEncoder.from_pretrained"
            )
        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalize(self.pca.transform(self.features(images, progress=progress)))

    # -- persistence --------------------------------------------------------------------
    def save_pretrained(self, directory: str | os.PathLike[str]) -> None:
        if self.pca is None:
            raise EncoderError("cnn-pca has no PCA to save: fit it first")
        config = {"dim": self.dim, "input_size": self.input_size}
        write_state(directory, self.name, config | {"batch_size": self.batch_size})
        self.pca.save(Path(directory) / PCA_FILE)

    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike[str], *, device: str | None = None
    ) -> CnnPcaEncoder:
        name, config = read_state(directory)
        if name != cls.name:
            raise EncoderError(f"{directory} holds a {name!r} encoder, not {cls.name!r}")
        encoder = cls(**config, device=device)
        encoder.pca = Pca.load(Path(directory) / PCA_FILE)
        return encoder
