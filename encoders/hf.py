"""Small bridges to transformers that hold for both its 4.x and 5.x lines.

- ``get_image_features``/``get_text_features`` return a tensor in 4.x and an
  output object in 5.x, whose ``pooler_output`` is the embedding: :func:`pooled`.
- Image processors: 5.x picks a backend (``backend="pil"`` needs no
  torchvision), 4.x a slow or fast class (``use_fast=False``): :func:`load_image_processor`.
- Loading prints progress bars and advice; :func:`quiet` keeps the terminal for ours.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import transformers
from transformers.utils import logging as hf_logging

TRANSFORMERS_MAJOR = int(transformers.__version__.split(".")[0])


def pooled(output: Any) -> torch.Tensor:
    """The embedding tensor from a ``get_*_features`` result of any transformers version."""
    if isinstance(output, torch.Tensor):
        return output
    return output.pooler_output


@contextmanager
def quiet() -> Iterator[None]:
    """Silence transformers' progress bars and warnings while loading."""
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_image_processor(name_or_path: str | os.PathLike[str], **kwargs: Any) -> Any:
    """The checkpoint's image processor, in its PIL/numpy form (no torchvision needed)."""
    from transformers import AutoImageProcessor

    backend = {"backend": "pil"} if TRANSFORMERS_MAJOR >= 5 else {"use_fast": False}
    with quiet():
        return AutoImageProcessor.from_pretrained(str(name_or_path), **backend, **kwargs)
