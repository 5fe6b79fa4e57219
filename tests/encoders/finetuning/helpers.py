"""Helpers of the fine-tuning tests: saved heads and SigLIP checkpoints with set logits."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from encoders.towers import HEADS_FILE


def heads(folder: Path) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in load_file(str(folder / HEADS_FILE)).items()}


def assert_same_heads(a: Path, b: Path) -> None:
    ha, hb = heads(a), heads(b)
    assert ha.keys() == hb.keys()
    for k in ha:
        np.testing.assert_array_equal(ha[k], hb[k], err_msg=k)


def siglip_with_logits(checkpoint: Path, folder: Path, scale: float, bias: float) -> Path:
    """A copy of ``checkpoint`` whose temperature and bias are ``scale`` and ``bias``."""
    from transformers import SiglipModel

    shutil.copytree(checkpoint, folder)
    model = SiglipModel.from_pretrained(str(checkpoint))
    with torch.no_grad():
        model.logit_scale.fill_(scale)
        model.logit_bias.fill_(bias)
    model.save_pretrained(str(folder))
    return folder


def saved_logits(folder: Path) -> tuple[float, float]:
    weights = load_file(str(folder / "model.safetensors"))
    return weights["logit_scale"].item(), weights["logit_bias"].item()
