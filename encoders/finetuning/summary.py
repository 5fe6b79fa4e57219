"""What a fine-tuning run did: its training log, its result, and ``training.json``.

The result is returned to the caller; ``training.json`` beside the weights
keeps the settings, the result and the whole log for people and later runs.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from encoders.finetuning.config import FinetuneConfig
from encoders.images import BadImage

TRAINING_FILE = "training.json"


@dataclass(frozen=True)
class LogEntry:
    """One optimizer step of the training log (``val_loss`` on evaluation steps only).

    Both losses are per image-text pair
    (:func:`~encoders.finetuning.objective.per_pair_loss`), so they compare.
    """

    step: int
    train_loss: float
    val_loss: float | None
    lr: float


@dataclass(frozen=True)
class FinetuneResult:
    """What a fine-tuning run did and where its checkpoint is.

    ``first_loss``, ``last_loss`` (training batches) and ``best_val_loss``
    (held-out pairs) are per image-text pair, on the same scale
    (:func:`~encoders.finetuning.objective.per_pair_loss`). ``reset_logits``:
    the checkpoint's temperature and bias were transformers' untrained 0 and 0,
    and training started from log 10 and -10 instead.
    """

    out_dir: Path
    towers: str
    steps: int
    best_step: int
    stopped_early: bool
    resumed_from: int | None
    first_loss: float
    last_loss: float
    best_val_loss: float | None
    n_pairs: int
    n_train: int
    n_val: int
    skipped: tuple[BadImage, ...]
    trainable_parameters: int
    frozen_parameters: int
    cached_features: tuple[str, ...]
    history: tuple[LogEntry, ...]
    seconds: float
    reset_logits: bool = False


def write_summary(
    result: FinetuneResult,
    config: FinetuneConfig,
    freeze: tuple[str, ...] | list[str],
    source: str | os.PathLike[str],
) -> None:
    """Write ``training.json`` into the result's folder: settings, result and log."""
    summary: dict[str, Any] = {
        "config": {**asdict(config), "freeze": list(freeze)},
        "source": str(source),
        "result": {k: v for k, v in asdict(result).items() if k not in ("history", "out_dir")},
        "history": [asdict(h) for h in result.history],
    }
    text = json.dumps(summary, indent=2, default=str) + "\n"
    (result.out_dir / TRAINING_FILE).write_text(text)
