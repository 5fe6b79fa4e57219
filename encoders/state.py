"""An encoder's saved state: ``encoder.json`` (its registry name and config) plus its files.

``save_pretrained(directory)`` of every built-in encoder writes ``encoder.json``
here; :func:`encoders.registry.load_encoder` reads it back to find the class.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from encoders.errors import EncoderError

STATE_FILE = "encoder.json"


def write_state(directory: str | os.PathLike[str], encoder: str, config: dict[str, Any]) -> Path:
    """Write ``encoder.json`` into ``directory`` (created if needed)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / STATE_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"encoder": encoder, "config": config}, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def has_state(directory: str | os.PathLike[str]) -> bool:
    return (Path(directory) / STATE_FILE).is_file()


def read_state(directory: str | os.PathLike[str]) -> tuple[str, dict[str, Any]]:
    """``(encoder name, config)`` from ``directory/encoder.json``."""
    path = Path(directory) / STATE_FILE
    if not path.is_file():
        raise EncoderError(f"no saved encoder in {directory} ({STATE_FILE} is missing)")
    try:
        data = json.loads(path.read_text())
        return str(data["encoder"]), dict(data.get("config") or {})
    except (ValueError, KeyError, TypeError) as exc:
        raise EncoderError(f"{path} is not a valid encoder state file: {exc}") from None
