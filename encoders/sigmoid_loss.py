"""SigLIP's pairwise sigmoid loss (Zhai et al., 2023: Sigmoid Loss for Language Image Pre-Training).

Every image-text pair of a batch is a binary problem: matching pairs (the
diagonal) should score high, all others low. With L2-normalised embeddings
``x`` (images) and ``y`` (texts), a learnable temperature ``t`` and bias ``b``:

    logits_ij = exp(t) * <x_i, y_j> + b
    loss = -1/n * sum_ij log sigmoid(z_ij * logits_ij),  z_ij = 1 if i == j else -1

New heads start at ``t = log 10`` and ``b = -10`` as in the paper: with
transformers' default of 0 and 0 the n^2 - n negatives swamp the n positives
and training stalls (measured).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

INIT_LOGIT_SCALE = math.log(10.0)
INIT_LOGIT_BIAS = -10.0


def sigmoid_logits(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    logit_scale: torch.Tensor,
    logit_bias: torch.Tensor,
) -> torch.Tensor:
    """``(n_images, n_texts)`` pair logits: ``exp(scale) * cosine + bias``."""
    return image_emb @ text_emb.T * logit_scale.exp() + logit_bias


def sigmoid_loss_sums(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    logit_scale: torch.Tensor,
    logit_bias: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(matching, non-matching)``: the loss summed over the n matching pairs (the
    diagonal) and over the n^2 - n others, kept apart so that batches of any size can
    be averaged on one scale (see ``encoders.finetuning.per_pair_loss``)."""
    logits = sigmoid_logits(image_emb, text_emb, logit_scale, logit_bias)
    n = logits.shape[0]
    eye = torch.eye(n, device=logits.device, dtype=torch.bool)
    per_pair = -F.logsigmoid(torch.where(eye, logits, -logits))
    positive = per_pair.diagonal().sum()
    return positive, per_pair.sum() - positive


def sigmoid_loss(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    logit_scale: torch.Tensor,
    logit_bias: torch.Tensor,
) -> torch.Tensor:
    """The sigmoid loss of a batch where row i of each embedding matrix is one pair.

    Embeddings must already be L2-normalised; the result is summed over all
    n^2 pairs and divided by n (the normalisation of the paper and of
    transformers' ``SiglipModel(return_loss=True)``): the objective that is
    optimised. Divided by n once more it is the mean loss per image-text pair,
    which is what fine-tuning reports.
    """
    logits = sigmoid_logits(image_emb, text_emb, logit_scale, logit_bias)
    n = logits.shape[0]
    signs = 2.0 * torch.eye(n, device=logits.device, dtype=logits.dtype) - 1.0
    return -F.logsigmoid(signs * logits).sum() / n
