"""Which parameters train: freezing by name pattern, and the train mode that respects it.

Parts of either tower are frozen by patterns over qualified parameter names
(``image.trunk.*``...); a tower whose trunk is wholly frozen has its features
computed once rather than at every step (see :mod:`encoders.finetuning.data`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

import torch

from encoders.errors import EncoderError
from encoders.towers import DualEncoder


def apply_freeze(model: DualEncoder, patterns: Sequence[str]) -> tuple[int, int]:
    """Freeze parameters whose qualified name matches a pattern; ``(trainable, frozen)`` counts.

    Also records which trunks train (``model.trained_trunks``), which decides
    what is cached during training and what a checkpoint must store.
    """
    named = model.qualified_parameters()
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(n, pattern) for n, _ in named):
            examples = ", ".join(n for n, _ in named[:: max(1, len(named) // 4)][:4])
            raise EncoderError(
                f"freeze pattern {pattern!r} matches no parameter; names look like {examples}"
            )
    trainable = frozen = 0
    for n, p in named:
        p.requires_grad_(not any(fnmatch.fnmatchcase(n, pat) for pat in patterns))
        trainable += p.numel() if p.requires_grad else 0
        frozen += 0 if p.requires_grad else p.numel()
    if trainable == 0:
        raise EncoderError("every parameter is frozen; nothing would train")
    model.trained_trunks = frozenset(
        side
        for side, trunk in model.trunks().items()
        if any(p.requires_grad for p in trunk.parameters())
    )
    return trainable, frozen


def train_mode(model: DualEncoder) -> None:
    """Train mode, except what is frozen: frozen trunks (no dropout noise) and frozen
    batch norms inside trained trunks (their running statistics stay the pretrained ones)."""
    model.train()
    for side, trunk in model.trunks().items():
        if side not in model.trained_trunks:
            trunk.eval()
            continue
        for module in trunk.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and not any(
                p.requires_grad for p in module.parameters()
            ):
                module.eval()
