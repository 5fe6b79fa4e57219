"""The settings of a fine-tuning run: what, with the data and the seed, fixes its result."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from encoders.errors import EncoderError

DEFAULT_LR = {"efficientnet-minilm": 1e-3, "siglip": 1e-5}
"""Peak learning rate per towers: new heads on frozen trunks vs a pretrained SigLIP."""


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything that decides a fine-tuning run (with the data, the seed fixes the result)."""

    towers: str = "efficientnet-minilm"
    checkpoint: str | None = None
    dim: int = 128
    input_size: int = 128
    dropout: float = 0.2
    max_length: int = 32
    steps: int = 300
    batch_size: int = 256
    grad_accum: int = 1
    lr: float | None = None
    weight_decay: float = 0.1
    warmup_steps: int | None = None
    max_grad_norm: float | None = 1.0
    freeze: tuple[str, ...] | None = None
    val_fraction: float = 0.1
    eval_every: int = 25
    patience: int = 4
    checkpoint_every: int = 100
    seed: int = 0
    mixed_precision: bool = True
    device: str | None = field(default=None, compare=False)

    def validate(self) -> FinetuneConfig:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise EncoderError(message)

        need(
            self.towers in DEFAULT_LR,
            f"unknown towers {self.towers!r}; choose from {', '.join(DEFAULT_LR)}",
        )
        need(
            self.towers != "siglip" or bool(self.checkpoint),
            "siglip towers need --checkpoint (a local folder or a hub id)",
        )
        need(self.steps >= 1, f"steps must be at least 1 (got {self.steps})")
        need(self.batch_size >= 2, f"batch size must be at least 2 (got {self.batch_size})")
        need(self.grad_accum >= 1, f"grad accumulation must be at least 1 (got {self.grad_accum})")
        need(self.lr is None or self.lr > 0, f"learning rate must be positive (got {self.lr})")
        need(self.weight_decay >= 0, f"weight decay must be >= 0 (got {self.weight_decay})")
        need(0 <= self.dropout < 1, f"dropout must be in [0, 1) (got {self.dropout})")
        need(
            0 <= self.val_fraction < 0.5,
            f"val fraction must be in [0, 0.5) (got {self.val_fraction})",
        )
        need(self.eval_every >= 1, f"eval every must be at least 1 (got {self.eval_every})")
        need(self.patience >= 0, f"patience must be >= 0 (got {self.patience})")
        need(self.checkpoint_every >= 1, "checkpoint every must be at least 1")
        need(
            self.warmup_steps is None or 0 <= self.warmup_steps < self.steps,
            f"warmup steps must be in [0, steps) (got {self.warmup_steps})",
        )
        need(self.seed >= 0, f"seed must be >= 0 (got {self.seed})")
        return self

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.towers]

    @property
    def warmup(self) -> int:
        return self.warmup_steps if self.warmup_steps is not None else self.steps // 10

    def identity(self) -> dict[str, Any]:
        """The fields a resumed run must share with the run it resumes."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.compare}
