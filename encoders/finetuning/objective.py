"""The loss: what training optimises, and the per-pair losses it reports.

The optimised objective is the paper's: the sigmoid loss of a batch's
image-text pairs, summed per image. Losses are reported per image-text pair
(:func:`per_pair_loss`), so that training and validation losses compare
whatever the sizes of the batches they were computed on.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from encoders.device import autocast
from encoders.finetuning.config import FinetuneConfig
from encoders.finetuning.data import TrainingData
from encoders.finetuning.freezing import train_mode
from encoders.images import load_image
from encoders.sigmoid_loss import sigmoid_loss, sigmoid_loss_sums
from encoders.towers import DualEncoder


def embed_pair(
    model: DualEncoder, data: TrainingData, rows: np.ndarray, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-normalised image and text embeddings of ``rows`` (float32)."""
    if data.image_features is not None:
        zi = model.image_head(data.image_features[rows].to(device))
    else:
        images = [load_image(data.pairs.image_paths[i]) for i in rows]
        zi = model.embed_images(**{k: v.to(device) for k, v in model.image_inputs(images).items()})
    titles = data.title_index[rows]
    if data.text_features is not None:
        zt = model.text_head(data.text_features[titles].to(device))
    else:
        inputs = model.text_inputs([data.unique_titles[i] for i in titles])
        zt = model.embed_texts(**{k: v.to(device) for k, v in inputs.items()})
    return F.normalize(zi.float(), dim=-1), F.normalize(zt.float(), dim=-1)


def per_pair_loss(positive_mean: float, negative_mean: float, batch_size: int) -> float:
    """The mean sigmoid loss per image-text pair of a batch of ``batch_size`` pairs.

    A batch of n pairs holds n matching and n^2 - n non-matching image-text
    pairs, so its mean loss per pair, ``sum / n^2``, weighs the matching ones
    by 1/n: the same weights give validation pairs (averaged over chunks of
    any size) a loss on the scale of the training batches'. (The optimised
    objective, ``sum / n``, grows with n; so does any per-batch sum, which is
    why a validation set smaller than a batch once looked far better.)
    """
    share = 1.0 / batch_size
    return share * positive_mean + (1.0 - share) * negative_mean


def loss(
    model: DualEncoder, data: TrainingData, rows: np.ndarray, device: torch.device, amp: bool
) -> torch.Tensor:
    """The objective of the pairs ``rows``: the sigmoid loss summed per image (as in the paper)."""
    with autocast(device, enabled=amp):
        zi, zt = embed_pair(model, data, rows, device)
    scale, bias = model.logit_parameters()
    return sigmoid_loss(zi, zt, scale.float(), bias.float())


def train_batch_size(data: TrainingData, config: FinetuneConfig) -> int:
    """Pairs per training batch (a small training set makes one smaller batch)."""
    return min(config.batch_size, len(data.train))


def val_loss(
    model: DualEncoder, data: TrainingData, config: FinetuneConfig, device: torch.device
) -> float | None:
    """The held-out pairs' loss per pair, on the training batches' scale (None without them).

    Evaluates in chunks of a batch (a last chunk of one pair joins the one
    before: a loss needs two), then puts the model back in train mode.
    """
    if len(data.val) < 2:
        return None
    model.eval()
    chunks = [
        data.val[i : i + config.batch_size] for i in range(0, len(data.val), config.batch_size)
    ]
    if len(chunks) > 1 and len(chunks[-1]) < 2:
        chunks[-2] = np.concatenate(chunks[-2:])
        chunks.pop()
    positive = negative = 0.0
    n_positive = n_negative = 0
    with torch.inference_mode():
        for rows in chunks:
            with autocast(device, enabled=config.mixed_precision):
                zi, zt = embed_pair(model, data, rows, device)
            scale, bias = model.logit_parameters()
            pos, neg = sigmoid_loss_sums(zi, zt, scale.float(), bias.float())
            positive, negative = positive + pos.item(), negative + neg.item()
            n_positive, n_negative = (
                n_positive + len(rows),
                n_negative + len(rows) * (len(rows) - 1),
            )
    train_mode(model)
    return per_pair_loss(
        positive / n_positive, negative / n_negative, train_batch_size(data, config)
    )
