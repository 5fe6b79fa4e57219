"""Checkpoints: saving and resuming a run, and keeping its best weights.

Every ``checkpoint_every`` steps the model (``save_pretrained``) and the
trainer's state (optimizer, scheduler, gradient scaler, bookkeeping, random
number generators) are saved under ``checkpoints/step-NNNNNNN`` (the newest
two are kept), so that a run resumes to the weights it would have reached
uninterrupted. The best weights by validation loss are saved under
``checkpoints/best`` and become the run's output.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from encoders.errors import EncoderError
from encoders.finetuning.config import FinetuneConfig
from encoders.finetuning.summary import LogEntry
from encoders.towers import DualEncoder, load_dual_encoder

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.pt"


@dataclass
class Book:
    """The trainer's mutable bookkeeping, saved with each checkpoint."""

    step: int = 0
    best_val: float | None = None
    best_step: int = 0
    bad_evals: int = 0
    history: list[LogEntry] = field(default_factory=list)


def best_dir(out_dir: Path) -> Path:
    """Where the best weights so far are saved."""
    return out_dir / "checkpoints" / "best"


def _step_dir(out_dir: Path, step: int) -> Path:
    return out_dir / "checkpoints" / f"step-{step:07d}"


def _latest_checkpoint(out_dir: Path) -> Path | None:
    found = sorted((out_dir / "checkpoints").glob("step-*/" + STATE_FILE))
    return found[-1].parent if found else None


def resume_point(
    out_dir: Path, config: FinetuneConfig, resume: bool
) -> tuple[Path | None, dict[str, Any] | None]:
    """The checkpoint a run starts from and its trainer state; ``(None, None)`` afresh.

    With ``resume``, the newest checkpoint in ``out_dir`` (whose settings must
    be the run's); starting afresh removes the old checkpoints.
    """
    resume_from = _latest_checkpoint(out_dir) if resume else None
    if resume and resume_from is None:
        log.warning("nothing to resume in %s; starting afresh", out_dir)
    if resume_from is None:
        shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    state = _load_trainer_state(resume_from, config) if resume_from else None
    return resume_from, state


def _load_trainer_state(folder: Path, config: FinetuneConfig) -> dict[str, Any]:
    state = torch.load(folder / STATE_FILE, weights_only=False, map_location="cpu")
    saved = state["config"]
    differs = sorted(k for k, v in config.identity().items() if saved.get(k) != v)
    if differs:
        raise EncoderError(
            f"cannot resume from {folder}: it was trained with different settings "
            f"({', '.join(f'{k}={saved.get(k)!r}' for k in differs)}); "
            "use the same settings, or start afresh without --resume"
        )
    return state


def save_checkpoint(
    model: DualEncoder,
    out_dir: Path,
    book: Book,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler | None,
    config: FinetuneConfig,
) -> None:
    """Save the model and the trainer's state at ``book.step`` (atomically), keeping two."""
    folder = _step_dir(out_dir, book.step)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    torch.save(
        {
            "config": config.identity(),
            "progress": {**asdict(book), "history": [asdict(h) for h in book.history]},
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        },
        tmp / STATE_FILE,
    )
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    for old in sorted((out_dir / "checkpoints").glob("step-*")):  # keep the newest two
        if old.name.endswith(".tmp") or old == folder:
            continue
        if old < _step_dir(out_dir, book.step - config.checkpoint_every):
            shutil.rmtree(old, ignore_errors=True)


def restore_trainer(
    state: dict[str, Any],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler | None,
) -> Book:
    """Put a saved trainer state back (and the random number generators); its bookkeeping."""
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    saved = state["progress"]
    book = Book(
        step=saved["step"],
        best_val=saved["best_val"],
        best_step=saved["best_step"],
        bad_evals=saved["bad_evals"],
        history=[LogEntry(**h) for h in saved["history"]],
    )
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return book


def keep_best(model: DualEncoder, book: Book, out_dir: Path) -> None:
    """Save the run's output into ``out_dir``: the best weights by validation loss, or
    the last ones when nothing was validated (``book.best_step`` then says the last step)."""
    best = best_dir(out_dir)
    if book.best_val is not None and best.is_dir():
        final = load_dual_encoder(best)
    else:
        final, book.best_step = model, book.step
    final.save_pretrained(out_dir)
