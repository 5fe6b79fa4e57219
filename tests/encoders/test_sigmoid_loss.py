"""The sigmoid loss equals a hand computation and transformers' own SigLIP loss."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from transformers import SiglipConfig, SiglipModel

from encoders.sigmoid_loss import (
    INIT_LOGIT_BIAS,
    INIT_LOGIT_SCALE,
    sigmoid_loss,
    sigmoid_loss_sums,
)


def hand_loss(x: list[list[float]], y: list[list[float]], t: float, b: float) -> float:
    n = len(x)
    total = 0.0
    for i in range(n):
        for j in range(n):
            logit = math.exp(t) * sum(a * c for a, c in zip(x[i], y[j], strict=True)) + b
            z = 1.0 if i == j else -1.0
            total += math.log(1.0 + math.exp(-z * logit))  # -log sigmoid(z * logit)
    return total / n


def test_equals_a_hand_computation() -> None:
    g = torch.Generator().manual_seed(0)
    x = F.normalize(torch.randn(5, 4, generator=g, dtype=torch.float64), dim=-1)
    y = F.normalize(torch.randn(5, 4, generator=g, dtype=torch.float64), dim=-1)
    for t, b in ((INIT_LOGIT_SCALE, INIT_LOGIT_BIAS), (0.3, 1.5)):
        got = sigmoid_loss(x, y, torch.tensor(t, dtype=x.dtype), torch.tensor(b, dtype=x.dtype))
        assert math.isclose(got.item(), hand_loss(x.tolist(), y.tolist(), t, b), rel_tol=1e-12)


def test_equals_transformers_siglip_return_loss() -> None:
    torch.manual_seed(0)
    config = SiglipConfig(
        text_config={
            "vocab_size": 50,
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 8,
            "pad_token_id": 0,
            "bos_token_id": 0,
            "eos_token_id": 0,
        },
        vision_config={
            "image_size": 16,
            "patch_size": 8,
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
        },
    )
    model = SiglipModel(config).eval()
    with torch.no_grad():
        model.logit_scale.fill_(0.7)
        model.logit_bias.fill_(-2.0)
        ids = torch.randint(1, 50, (6, 8))
        pixels = torch.randn(6, 3, 16, 16)
        out = model(input_ids=ids, pixel_values=pixels, return_loss=True)
        ours = sigmoid_loss(out.image_embeds, out.text_embeds, model.logit_scale, model.logit_bias)
    torch.testing.assert_close(ours, out.loss, rtol=1e-5, atol=1e-6)


def test_matching_and_other_pairs_sum_to_the_loss() -> None:
    """The two sums fine-tuning reports per pair with: their total is n times the loss."""
    g = torch.Generator().manual_seed(1)
    x = F.normalize(torch.randn(6, 4, generator=g, dtype=torch.float64), dim=-1)
    y = F.normalize(torch.randn(6, 4, generator=g, dtype=torch.float64), dim=-1)
    t, b = torch.tensor(0.3, dtype=x.dtype), torch.tensor(-1.0, dtype=x.dtype)
    positive, negative = sigmoid_loss_sums(x, y, t, b)
    diagonal = sum(-F.logsigmoid(math.exp(0.3) * x[i] @ y[i] - 1.0) for i in range(6))
    assert math.isclose(positive.item(), float(diagonal), rel_tol=1e-12)
    total = (positive + negative).item()
    assert math.isclose(total, 6 * sigmoid_loss(x, y, t, b).item(), rel_tol=1e-12)
