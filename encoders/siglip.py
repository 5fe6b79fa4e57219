"""``siglip``: image embeddings from any SigLIP or SigLIP 2 checkpoint.

The checkpoint is loaded with transformers ``from_pretrained(name_or_path)``,
a hub id (when a hub is reachable or the model is cached) or a local folder,
exactly as its users would. The embedding is the image tower's
``pooler_output``, optionally reduced to ``dim`` by a PCA fitted on the catalog
(``reduce="pca"``) or by keeping the first ``dim`` values (``"truncate"``),
then L2-normalised.

Where no hub is reachable (or ``HF_HUB_OFFLINE`` is set), a hub id is looked
up in the Hugging Face cache only (``local_files_only=True``): a model that is
not there fails at once, in one line that says what was tried, instead of
after half a minute of retries and a dozen lines of warnings.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from encoders.device import autocast, resolve_device
from encoders.embedding import embed_images
from encoders.errors import EncoderError
from encoders.hf import hub_unavailable, load_image_processor, pooled, quiet
from encoders.images import ImageInput
from encoders.pca import Pca
from encoders.protocol import ProgressCallback, l2_normalize
from encoders.state import has_state, read_state, write_state

SIGLIP_MODEL_TYPES = ("siglip", "siglip2")
REDUCTIONS = ("none", "pca", "truncate")
PCA_FILE = "pca.npz"


def _is_hub_id(name: str) -> bool:
    """``name`` or ``org/name``, as on a model hub (anything else must be a local path)."""
    parts = name.split("/")
    return len(parts) <= 2 and all(parts) and not name.startswith((".", "~"))


MISSING_CHECKPOINT = "siglip needs --checkpoint (a local folder or a hub id)"


def _resolve(name_or_path: str | os.PathLike[str]) -> tuple[str, bool, str | None]:
    """``(name for from_pretrained, local_files_only, why the hub is not used)``.

    A local folder is used as it is. A hub id goes to the hub when one answers;
    otherwise only the Hugging Face cache is looked at, and the reason (offline
    mode, a name that does not resolve...) is kept for the error message.
    """
    name = str(name_or_path)
    path = Path(name).expanduser()
    if path.exists():
        return str(path), False, None
    if isinstance(name_or_path, Path) or not _is_hub_id(name):
        raise EncoderError(f"checkpoint not found: {name}")
    why = hub_unavailable()
    return name, why is not None, why


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _open_checkpoint(name_or_path: str | os.PathLike[str] | None) -> tuple[str, bool, Any]:
    """``(name, local_files_only, config)`` of a usable SigLIP checkpoint, or an EncoderError."""
    from transformers import AutoConfig

    if name_or_path is None or not str(name_or_path).strip():
        raise EncoderError(MISSING_CHECKPOINT)
    name, local_only, why = _resolve(name_or_path)
    path = Path(name)
    if path.is_dir() and not (path / "config.json").is_file():
        raise EncoderError(
            f"{name_or_path} is not a SigLIP checkpoint: it has no config.json "
            "(expected a folder written by save_pretrained)"
        )
    try:
        with quiet():
            config = AutoConfig.from_pretrained(name, local_files_only=local_only)
    except (OSError, ValueError) as exc:
        if why is not None:
            raise EncoderError(
                f"cannot load checkpoint {name!r}: tried a local folder of that name (none), "
                f"the Hugging Face cache (no copy) and the hub (not reachable: {why}); pass a "
                "local folder written by save_pretrained, e.g. "
                f"--checkpoint ./{name.rsplit('/', 1)[-1]}"
            ) from None
        raise EncoderError(
            f"cannot load checkpoint {name!r}: {_first_line(exc)} (a hub id needs a reachable "
            "hub or a local copy; pass the path of a folder written by save_pretrained)"
        ) from None
    model_type = getattr(config, "model_type", None)
    if model_type not in SIGLIP_MODEL_TYPES:
        raise EncoderError(
            f"{name_or_path} is not a SigLIP checkpoint (its model type is {model_type!r}; "
            f"expected one of {', '.join(SIGLIP_MODEL_TYPES)})"
        )
    return name, local_only, config


def check_siglip_checkpoint(name_or_path: str | os.PathLike[str] | None) -> Any:
    """The checkpoint's config, or an :class:`EncoderError` saying why it is not usable.

    Cheap (a config file, and at most one quick request to the hub): callers
    use it to refuse a bad ``--checkpoint`` before any long work starts.
    """
    return _open_checkpoint(name_or_path)[2]


def load_siglip(
    name_or_path: str | os.PathLike[str] | None, *, with_tokenizer: bool = False
) -> tuple[Any, Any, Any]:
    """``(model, image_processor, tokenizer or None)`` of a SigLIP / SigLIP 2 checkpoint."""
    from transformers import AutoModel, AutoTokenizer

    name, local_only, _ = _open_checkpoint(name_or_path)
    try:
        with quiet():
            model = AutoModel.from_pretrained(name, local_files_only=local_only)
            tokenizer = (
                AutoTokenizer.from_pretrained(name, local_files_only=local_only)
                if with_tokenizer
                else None
            )
        processor = load_image_processor(name, local_files_only=local_only)
    except (OSError, ValueError) as exc:
        raise EncoderError(f"cannot load SigLIP checkpoint {name!r}: {_first_line(exc)}") from None
    return model.eval(), processor, tokenizer


def siglip_image_inputs(processor: Any, images: Sequence[Image.Image]) -> dict[str, torch.Tensor]:
    """The model inputs for ``images`` (pixel values, and SigLIP 2's masks and shapes)."""
    return dict(processor(images=list(images), return_tensors="pt"))


class SiglipEncoder:
    """A SigLIP / SigLIP 2 image tower: ``pooler_output`` -> optional PCA/truncation -> L2."""

    name = "siglip"

    def __init__(
        self,
        checkpoint: str | os.PathLike[str] | None = None,
        dim: int | None = None,
        reduce: str = "pca",
        batch_size: int = 32,
        device: str | None = None,
    ) -> None:
        if checkpoint is None:  # a default of None, so that this message replaces a TypeError
            raise EncoderError(MISSING_CHECKPOINT)
        if reduce not in REDUCTIONS:
            raise EncoderError(f"unknown reduction {reduce!r}; choose from {', '.join(REDUCTIONS)}")
        if isinstance(dim, str):
            raise EncoderError(
                f"siglip takes a number of dims (got {dim!r}); without --dim it keeps the "
                "checkpoint's own size (--dim auto is for cnn-pca)"
            )
        if dim is not None and dim < 1:
            raise EncoderError(f"dim must be at least 1 (got {dim})")
        if batch_size < 1:
            raise EncoderError(f"batch size must be at least 1 (got {batch_size})")
        self.checkpoint = str(checkpoint)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.model, self.processor, _ = load_siglip(checkpoint)
        self.model.to(self.device)
        self.native_dim = int(self.model.config.vision_config.hidden_size)
        if dim is not None and dim > self.native_dim:
            raise EncoderError(
                f"dim {dim} is larger than the checkpoint's embedding size {self.native_dim}"
            )
        self.reduce = "none" if dim is None or dim == self.native_dim else reduce
        if self.reduce == "none" and dim is not None and dim != self.native_dim:
            raise EncoderError(f"dim {dim} needs reduce='pca' or 'truncate'")
        self.out_dim = dim or self.native_dim
        self.pca: Pca | None = None

    @property
    def dim(self) -> int:
        return self.out_dim

    def pooled_features(
        self, images: Sequence[ImageInput], *, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """The image tower's ``pooler_output`` for each image (before reduction)."""

        def forward(batch: list[Image.Image]) -> torch.Tensor:
            inputs = siglip_image_inputs(self.processor, batch)
            inputs = {k: v.to(self.device) for k, v in inputs.items()}
            with autocast(self.device):
                return pooled(self.model.get_image_features(**inputs))

        return embed_images(images, forward, batch_size=self.batch_size, progress=progress)

    def fit(
        self, images: Sequence[ImageInput], *, progress: ProgressCallback | None = None
    ) -> SiglipEncoder:
        """Fit the PCA on ``images`` (only when ``reduce='pca'`` to a smaller dim)."""
        if self.reduce == "pca":
            self.pca = Pca.fit(self.pooled_features(images, progress=progress), self.out_dim)
        return self

    def encode(
        self, images: Sequence[ImageInput], *, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        if self.reduce == "pca" and self.pca is None:
            raise EncoderError("siglip with reduce='pca' must be fitted on the catalog first")
        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        x = self.pooled_features(images, progress=progress)
        if self.reduce == "pca":
            x = self.pca.transform(x)  # type: ignore[union-attr]
        elif self.reduce == "truncate":
            x = x[:, : self.out_dim]
        return l2_normalize(x)

    def save_pretrained(self, directory: str | os.PathLike[str]) -> None:
        """Store the checkpoint reference and the PCA (the weights stay where they are)."""
        checkpoint = self.checkpoint
        if Path(checkpoint).exists():
            checkpoint = str(Path(checkpoint).resolve())
        config = {"checkpoint": checkpoint, "dim": self.out_dim, "reduce": self.reduce}
        write_state(directory, self.name, config | {"batch_size": self.batch_size})
        if self.pca is not None:
            self.pca.save(Path(directory) / PCA_FILE)

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike[str], *, device: str | None = None, **options: Any
    ) -> SiglipEncoder:
        """A saved encoder state (``encoder.json``), or a SigLIP checkpoint itself."""
        if not has_state(name_or_path):
            return cls(name_or_path, device=device, **options)
        name, config = read_state(name_or_path)
        if name != cls.name:
            raise EncoderError(f"{name_or_path} holds a {name!r} encoder, not {cls.name!r}")
        encoder = cls(**config, device=device)
        if encoder.reduce == "pca":
            encoder.pca = Pca.load(Path(name_or_path) / PCA_FILE)
        return encoder
