"""``finetuned``: the image tower of a checkpoint written by ``looklift finetune``.

Recommendations are image-to-image, as in the seed system, so only the image
tower (trunk + head) embeds; the text tower only served training. When the
image trunk was frozen during training its pooled features are the pristine
pretrained ones, shared (through the feature cache) with ``cnn-pca``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from encoders.device import autocast, resolve_device
from encoders.efficientnet import BATCH_SIZE
from encoders.embedding import embed_images
from encoders.errors import EncoderError
from encoders.feature_cache import FeatureCache
from encoders.images import ImageInput
from encoders.protocol import ProgressCallback, l2_normalize
from encoders.state import has_state, read_state, write_state
from encoders.towers import DualEncoder, load_dual_encoder

_HEAD_BATCH = 4096


class FinetunedEncoder:
    """Embeds images with a fine-tuned checkpoint's image tower, L2-normalised."""

    name = "finetuned"

    def __init__(
        self,
        checkpoint: str | os.PathLike[str],
        batch_size: int = BATCH_SIZE,
        device: str | None = None,
    ) -> None:
        path = Path(checkpoint)
        if not path.exists():
            raise EncoderError(
                f"fine-tuned checkpoint not found: {path}; create one with 'looklift finetune'"
            )
        if batch_size < 1:
            raise EncoderError(f"batch size must be at least 1 (got {batch_size})")
        self.checkpoint = path.resolve()
        self.batch_size = batch_size
        self.device = resolve_device(device)
        self.model: DualEncoder = load_dual_encoder(path, with_text=False).to(self.device).eval()
        key = self.model.image_feature_key
        self._cache = FeatureCache(key) if key else None

    @property
    def dim(self) -> int:
        return self.model.dim

    @property
    def feature_key(self) -> str | None:
        return self.model.image_feature_key

    def use_feature_cache(self, cache: FeatureCache) -> None:
        if self.feature_key is not None:
            self._cache = cache

    def encode(
        self, images: Sequence[ImageInput], *, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.model

        def features(batch: list[Image.Image]) -> torch.Tensor:
            inputs = {k: v.to(self.device) for k, v in model.image_inputs(batch).items()}
            with autocast(self.device):
                if self._cache is not None:
                    return model.image_features(**inputs)
                return model.embed_images(**inputs)

        out = embed_images(
            images, features, batch_size=self.batch_size, progress=progress, cache=self._cache
        )
        if self._cache is not None:  # cached trunk features: apply the head now
            with torch.inference_mode():
                out = np.concatenate(
                    [
                        model.image_head(torch.from_numpy(out[i : i + _HEAD_BATCH]).to(self.device))
                        .float()
                        .cpu()
                        .numpy()
                        for i in range(0, len(out), _HEAD_BATCH)
                    ]
                )
        return l2_normalize(out)

    def save_pretrained(self, directory: str | os.PathLike[str]) -> None:
        """Store a reference to the checkpoint (the weights stay in ``models/<name>``)."""
        config = {"checkpoint": str(self.checkpoint), "batch_size": self.batch_size}
        write_state(directory, self.name, config)

    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike[str], *, device: str | None = None
    ) -> FinetunedEncoder:
        """A saved encoder state (``encoder.json``), or a fine-tuned checkpoint itself."""
        if not has_state(directory):
            return cls(directory, device=device)
        name, config = read_state(directory)
        if name != cls.name:
            raise EncoderError(f"{directory} holds a {name!r} encoder, not {cls.name!r}")
        return cls(**config, device=device)
