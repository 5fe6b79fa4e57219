"""Where models run: CUDA with mixed precision when it is there, the CPU otherwise."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

from encoders.errors import EncoderError


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` picks CUDA when available, else the CPU; an explicit choice is checked."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        raise EncoderError(f"unknown device {device!r}; use 'cpu' or 'cuda'") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise EncoderError("device 'cuda' was asked for but no CUDA GPU is available; use 'cpu'")
    return chosen


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The reduced precision to compute in on ``device`` (None: full precision)."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device, enabled: bool = True) -> AbstractContextManager[object]:
    """Mixed precision on CUDA (bfloat16 where supported, else float16); a no-op on CPU."""
    dtype = autocast_dtype(device)
    if not enabled or dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
