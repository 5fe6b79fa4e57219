"""Small bridges to transformers that hold for both its 4.x and 5.x lines.

- ``get_image_features``/``get_text_features`` return a tensor in 4.x and an
  output object in 5.x, whose ``pooler_output`` is the embedding: :func:`pooled`.
- Image processors: 5.x picks a backend (``backend="pil"`` needs no
  torchvision), 4.x a slow or fast class (``use_fast=False``): :func:`load_image_processor`.
- Loading prints progress bars and advice; :func:`quiet` keeps the terminal for ours.
- A hub id with no hub reachable makes huggingface_hub retry five times with
  backoff (measured: 27-39 s and 11 lines of warnings) before it falls back to
  its cache: :func:`hub_unavailable` finds out at once, so that loaders can go
  straight to the cache (``local_files_only=True``) and fail in one line.
"""

from __future__ import annotations

import os
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import transformers
from transformers.utils import logging as hf_logging

TRANSFORMERS_MAJOR = int(transformers.__version__.split(".")[0])
HUB_PROBE_TIMEOUT_S = 3.0
"""How long :func:`hub_unavailable` waits for the hub to answer."""
_HUB_VERDICT_TTL_S = 60.0
_hub_verdicts: dict[str, tuple[float, str | None]] = {}


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


def _hub_offline_mode() -> bool:
    """Whether huggingface_hub was told to stay offline (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE)."""
    from huggingface_hub import constants

    probe = getattr(constants, "is_offline_mode", None)
    return bool(probe() if callable(probe) else constants.HF_HUB_OFFLINE)


def _probe(endpoint: str, timeout: float) -> str | None:
    """One HEAD request to ``endpoint``: None when anything answers, else why nothing did.

    Any HTTP status, or a TLS problem (a server answered; the hub client, with
    its own certificates, may still get through), counts as an answer; only a
    name that does not resolve, a refused connection or silence is "unreachable".
    Proxies in the environment (``HTTPS_PROXY``...) are honoured, as the hub
    client honours them.
    """
    host = urllib.parse.urlsplit(endpoint).hostname or endpoint
    request = urllib.request.Request(endpoint, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None
    except urllib.error.URLError as exc:
        reason = exc.reason
    except OSError as exc:  # a timeout while reading the answer
        reason = exc
    if isinstance(reason, ssl.SSLError):
        return None
    if isinstance(reason, socket.gaierror):
        return f"{endpoint}: the name {host} does not resolve"
    if isinstance(reason, TimeoutError):
        return f"{endpoint}: no answer within {timeout:g} s"
    if isinstance(reason, OSError) and reason.strerror:
        return f"{endpoint}: {reason.strerror.lower()}"
    return f"{endpoint}: {reason}"


def hub_unavailable(timeout: float = HUB_PROBE_TIMEOUT_S) -> str | None:
    """Why no model hub can be used right now, or None when the hub answers.

    Offline mode (``HF_HUB_OFFLINE=1``) is the first answer; otherwise one quick
    request to the hub's endpoint (``HF_ENDPOINT``, https://huggingface.co by
    default). A verdict is remembered for a minute, so that a command that
    checks a checkpoint first and loads it later (``finetune``) asks once.
    """
    if _hub_offline_mode():
        return "HF_HUB_OFFLINE is set"
    from huggingface_hub import constants

    endpoint = constants.ENDPOINT
    now = time.monotonic()
    cached = _hub_verdicts.get(endpoint)
    if cached is not None and now - cached[0] < _HUB_VERDICT_TTL_S:
        return cached[1]
    verdict = _probe(endpoint, timeout)
    _hub_verdicts[endpoint] = (now, verdict)
    return verdict
