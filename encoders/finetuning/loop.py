"""The training loop: optimizer steps, evaluation, early stopping and checkpoints.

AdamW (weight decay on weight matrices only) with linear warmup and cosine
decay; gradient accumulation; gradient clipping; mixed precision on CUDA.
Every ``eval_every`` steps the held-out loss is measured; the best weights
are saved, and training stops once ``patience`` evaluations in a row did not
improve (the heads otherwise start memorising the items after a few hundred
steps: measured).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from encoders.device import autocast_dtype
from encoders.finetuning.checkpoints import Book, best_dir, restore_trainer, save_checkpoint
from encoders.finetuning.config import FinetuneConfig
from encoders.finetuning.data import TrainingData, batch_rows
from encoders.finetuning.freezing import train_mode
from encoders.finetuning.objective import loss, val_loss
from encoders.finetuning.summary import LogEntry
from encoders.protocol import StageProgress
from encoders.towers import DualEncoder


def lr_lambda(warmup: int, total: int) -> Callable[[int], float]:
    """Linear warmup to the peak, then cosine decay to zero."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def make_optimizer(model: DualEncoder, config: FinetuneConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on weight matrices only (not biases, norms, scale or bias)."""
    decay, no_decay = [], []
    for _, p in model.qualified_parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.learning_rate,
    )


class Trainer:
    """A model, its data and its optimizer, stepping until the run is done."""

    def __init__(
        self,
        model: DualEncoder,
        data: TrainingData,
        config: FinetuneConfig,
        device: torch.device,
        amp: bool,
    ) -> None:
        self.model = model
        self.data = data
        self.config = config
        self.device = device
        self.amp = amp
        self.optimizer = make_optimizer(model, config)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(config.warmup, config.steps)
        )
        self.scaler = (
            torch.amp.GradScaler("cuda")
            if amp and autocast_dtype(device) == torch.float16
            else None
        )
        self.book = Book()

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint's trainer state."""
        self.book = restore_trainer(state, self.optimizer, self.scheduler, self.scaler)

    def run(self, out_dir: Path, progress: StageProgress | None) -> bool:
        """Train up to ``config.steps``; whether it stopped early (patience ran out)."""
        config, book = self.config, self.book
        train_mode(self.model)
        params = [p for _, p in self.model.qualified_parameters() if p.requires_grad]
        while book.step < config.steps:
            if config.patience > 0 and book.bad_evals >= config.patience:
                return True
            total, lr = self._step(params)
            val = None
            if book.step % config.eval_every == 0 or book.step == config.steps:
                val = self._evaluate(best_dir(out_dir))
            book.history.append(LogEntry(book.step, total, val, lr))
            if progress:
                progress("fine-tuning", book.step, config.steps)
            stop = config.patience > 0 and book.bad_evals >= config.patience
            if book.step % config.checkpoint_every == 0 or book.step == config.steps or stop:
                save_checkpoint(
                    self.model,
                    out_dir,
                    book,
                    self.optimizer,
                    self.scheduler,
                    self.scaler,
                    config,
                )
        return False

    def _step(self, params: list[torch.nn.Parameter]) -> tuple[float, float]:
        """One optimizer step over ``grad_accum`` batches: (training loss per pair, its lr)."""
        config, optimizer, scaler = self.config, self.optimizer, self.scaler
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for micro in range(config.grad_accum):
            index = self.book.step * config.grad_accum + micro
            rows = batch_rows(self.data.train, config.batch_size, config.seed, index)
            batch_loss = loss(self.model, self.data, rows, self.device, self.amp)
            batch_loss = batch_loss / config.grad_accum
            (scaler.scale(batch_loss) if scaler is not None else batch_loss).backward()
            total += batch_loss.item() / len(rows)  # per image-text pair: sum / n^2
        if scaler is not None:
            scaler.unscale_(optimizer)
        if config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        lr = self.scheduler.get_last_lr()[0]
        self.scheduler.step()
        self.book.step += 1
        return total, lr

    def _evaluate(self, best: Path) -> float | None:
        """The held-out loss now; saves the weights to ``best`` when it is the best yet."""
        book = self.book
        val = val_loss(self.model, self.data, self.config, self.device)
        if val is not None and (book.best_val is None or val < book.best_val):
            book.best_val, book.best_step, book.bad_evals = val, book.step, 0
            self.model.save_pretrained(best)
        elif val is not None:
            book.bad_evals += 1
        return val
