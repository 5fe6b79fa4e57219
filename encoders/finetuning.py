"""Fine-tune two towers on the catalog's image-title pairs with the sigmoid loss.

The seed system fine-tuned SigLIP on its own product photos and titles; this is
that recipe for any towers of :mod:`encoders.towers`:

- pairs come from the ``items`` table (or a parquet of ``image_path, title``);
  an empty title is an error naming the item, an unreadable photo is skipped;
- AdamW (weight decay on weight matrices only) with linear warmup and cosine
  decay; gradient accumulation; gradient clipping; mixed precision on CUDA;
- parts of either tower are frozen by name patterns (``image.trunk.*``...);
  a frozen trunk's features are computed once (and cached on disk for the
  pretrained EfficientNet trunk), so training the heads takes seconds on a CPU;
- a held-out share of pairs gives a validation loss; training stops early when
  it stops improving and the best weights are kept (the heads otherwise start
  memorising the items after a few hundred steps: measured);
- losses are reported per image-text pair, so that training and validation
  losses compare (see :func:`per_pair_loss`); the optimised objective is the
  paper's (the same pairs, summed per image);
- a SigLIP checkpoint whose temperature and bias are transformers' untrained
  0 and 0 starts from log 10 and -10 instead (with a warning, and
  ``reset_logits`` in the result): at 0 and 0 the run does not learn
  (measured); a pretrained checkpoint's values are kept;
- checkpoints (``save_pretrained`` plus the optimizer's state) every
  ``checkpoint_every`` steps make a run resumable, and the seed makes it
  repeatable: the same seed and data give the same weights.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from encoders.artifacts import Artifacts
from encoders.catalog import Catalog, read_pairs
from encoders.device import autocast, autocast_dtype, resolve_device
from encoders.efficientnet import BATCH_SIZE
from encoders.embedding import embed_images
from encoders.errors import EncoderError
from encoders.feature_cache import FeatureCache
from encoders.images import BadImage, find_unreadable, load_image
from encoders.protocol import StageProgress
from encoders.siglip import check_siglip_checkpoint
from encoders.sigmoid_loss import sigmoid_loss, sigmoid_loss_sums
from encoders.towers import DualEncoder, load_dual_encoder, new_dual_encoder

log = logging.getLogger(__name__)

TRAINING_FILE = "training.json"
STATE_FILE = "trainer_state.pt"
DEFAULT_LR = {"efficientnet-minilm": 1e-3, "siglip": 1e-5}
_TEXT_BATCH = 256


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


@dataclass(frozen=True)
class LogEntry:
    """One optimizer step of the training log (``val_loss`` on evaluation steps only).

    Both losses are per image-text pair (:func:`per_pair_loss`), so they compare.
    """

    step: int
    train_loss: float
    val_loss: float | None
    lr: float


@dataclass(frozen=True)
class FinetuneResult:
    """What a fine-tuning run did and where its checkpoint is.

    ``first_loss``, ``last_loss`` (training batches) and ``best_val_loss``
    (held-out pairs) are per image-text pair, on the same scale
    (:func:`per_pair_loss`). ``reset_logits``: the checkpoint's temperature and
    bias were transformers' untrained 0 and 0, and training started from log 10
    and -10 instead.
    """

    out_dir: Path
    towers: str
    steps: int
    best_step: int
    stopped_early: bool
    resumed_from: int | None
    first_loss: float
    last_loss: float
    best_val_loss: float | None
    n_pairs: int
    n_train: int
    n_val: int
    skipped: tuple[BadImage, ...]
    trainable_parameters: int
    frozen_parameters: int
    cached_features: tuple[str, ...]
    history: tuple[LogEntry, ...]
    seconds: float
    reset_logits: bool = False


# ------------------------------------------------------------------------------------------
# Freezing
# ------------------------------------------------------------------------------------------
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


def _train_mode(model: DualEncoder) -> None:
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


# ------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Data:
    """Training pairs, with the frozen sides' features precomputed where possible."""

    pairs: Catalog
    train: np.ndarray  # row positions
    val: np.ndarray
    title_index: np.ndarray  # row -> position in unique titles
    unique_titles: list[str]
    image_features: torch.Tensor | None  # (n, d) per row, when the image trunk is frozen
    text_features: torch.Tensor | None  # (n_unique, d), when the text trunk is frozen


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng([seed, 1]).permutation(n)
    n_val = round(fraction * n) if fraction > 0 else 0
    if n_val and n - n_val < 2:
        n_val = 0
    if n_val == 1:  # a loss needs two pairs
        n_val = 0
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _text_features(
    model: DualEncoder, titles: list[str], device: torch.device, progress: StageProgress | None
) -> torch.Tensor:
    """The text trunk's features of ``titles``, batched by length (less padding)."""
    order = sorted(range(len(titles)), key=lambda i: (len(titles[i]), i))
    out: list[torch.Tensor | None] = [None] * len(titles)
    with torch.inference_mode():
        for start in range(0, len(order), _TEXT_BATCH):
            chunk = order[start : start + _TEXT_BATCH]
            inputs = model.text_inputs([titles[i] for i in chunk])
            with autocast(device):
                feats = model.text_features(**{k: v.to(device) for k, v in inputs.items()})
            for i, f in zip(chunk, feats.float().cpu(), strict=True):
                out[i] = f
            if progress:
                progress("text features", min(len(order), start + _TEXT_BATCH), len(order))
    return torch.stack(out)  # type: ignore[arg-type]


def _image_features(
    model: DualEncoder,
    paths: Sequence[str],
    device: torch.device,
    cache_dir: Path | None,
    progress: StageProgress | None,
) -> torch.Tensor:
    key = model.image_feature_key
    cache = (
        FeatureCache.in_folder(cache_dir, key)
        if key and cache_dir is not None
        else FeatureCache(key or "image-trunk")
    )

    def forward(batch: list[Any]) -> torch.Tensor:
        inputs = {k: v.to(device) for k, v in model.image_inputs(batch).items()}
        with autocast(device):
            return model.image_features(**inputs)

    report = (lambda d, t: progress("image features", d, t)) if progress else None
    feats = embed_images(paths, forward, batch_size=BATCH_SIZE, progress=report, cache=cache)
    return torch.from_numpy(feats)


def _prepare_data(
    model: DualEncoder,
    pairs: Catalog,
    config: FinetuneConfig,
    device: torch.device,
    cache_dir: Path | None,
    progress: StageProgress | None,
) -> _Data:
    train, val = _split(len(pairs), config.val_fraction, config.seed)
    unique = sorted(set(pairs.titles))
    position = {t: i for i, t in enumerate(unique)}
    title_index = np.array([position[t] for t in pairs.titles], dtype=np.int64)
    model.eval()
    image = (
        _image_features(model, pairs.image_paths, device, cache_dir, progress)
        if "image" not in model.trained_trunks
        else None
    )
    text = (
        _text_features(model, unique, device, progress)
        if "text" not in model.trained_trunks
        else None
    )
    return _Data(pairs, train, val, title_index, unique, image, text)


# ------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------
def _lr_lambda(warmup: int, total: int) -> Callable[[int], float]:
    """Linear warmup to the peak, then cosine decay to zero."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _batch_rows(train: np.ndarray, batch_size: int, seed: int, index: int) -> np.ndarray:
    """The ``index``-th batch; epochs are seeded shuffles of the training rows (tail dropped)."""
    size = min(batch_size, len(train))
    per_epoch = max(1, len(train) // size)
    epoch, pos = divmod(index, per_epoch)
    perm = np.random.default_rng([seed, 2, epoch]).permutation(len(train))
    return train[perm[pos * size : (pos + 1) * size]]


def _embed_pair(
    model: DualEncoder, data: _Data, rows: np.ndarray, device: torch.device
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


def _loss(
    model: DualEncoder, data: _Data, rows: np.ndarray, device: torch.device, amp: bool
) -> torch.Tensor:
    """The objective of the pairs ``rows``: the sigmoid loss summed per image (as in the paper)."""
    with autocast(device, enabled=amp):
        zi, zt = _embed_pair(model, data, rows, device)
    scale, bias = model.logit_parameters()
    return sigmoid_loss(zi, zt, scale.float(), bias.float())


def _train_batch_size(data: _Data, config: FinetuneConfig) -> int:
    """Pairs per training batch (a small training set makes one smaller batch)."""
    return min(config.batch_size, len(data.train))


def _val_loss(
    model: DualEncoder, data: _Data, config: FinetuneConfig, device: torch.device
) -> float | None:
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
                zi, zt = _embed_pair(model, data, rows, device)
            scale, bias = model.logit_parameters()
            pos, neg = sigmoid_loss_sums(zi, zt, scale.float(), bias.float())
            positive, negative = positive + pos.item(), negative + neg.item()
            n_positive, n_negative = (
                n_positive + len(rows),
                n_negative + len(rows) * (len(rows) - 1),
            )
    _train_mode(model)
    return per_pair_loss(
        positive / n_positive, negative / n_negative, _train_batch_size(data, config)
    )


def _optimizer(model: DualEncoder, config: FinetuneConfig) -> torch.optim.AdamW:
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


def _step_dir(out_dir: Path, step: int) -> Path:
    return out_dir / "checkpoints" / f"step-{step:07d}"


def _latest_checkpoint(out_dir: Path) -> Path | None:
    found = sorted((out_dir / "checkpoints").glob("step-*/" + STATE_FILE))
    return found[-1].parent if found else None


@dataclass
class _Book:
    """The trainer's mutable bookkeeping, saved with each checkpoint."""

    step: int = 0
    best_val: float | None = None
    best_step: int = 0
    bad_evals: int = 0
    history: list[LogEntry] = field(default_factory=list)


def _save_checkpoint(
    model: DualEncoder,
    out_dir: Path,
    book: _Book,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler | None,
    config: FinetuneConfig,
) -> None:
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


def finetune(
    source: str | os.PathLike[str],
    config: FinetuneConfig | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    resume: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: StageProgress | None = None,
) -> FinetuneResult:
    """Fine-tune towers on the image-title pairs of ``source`` and save the best weights.

    ``source`` is a database (its ``items``) or a ``.parquet`` of pairs;
    ``out_dir`` defaults to ``<db>-artifacts/models/finetuned``. With
    ``resume``, training continues from the newest checkpoint in ``out_dir``
    (same settings required). Trunk features are cached in ``cache_dir``
    (default: the database's artifacts cache, shared with ``cnn-pca``; none
    for a parquet source). Embed the catalog afterwards with
    ``encode_catalog(db, FinetunedEncoder(out_dir), "finetuned")``.
    """
    started = time.perf_counter()
    config = (config or FinetuneConfig()).validate()
    if config.towers == "siglip" and not resume:
        check_siglip_checkpoint(config.checkpoint)  # a bad or unreachable one fails at once
    is_db = not str(source).endswith(".parquet")
    if out_dir is None:
        if not is_db:
            raise EncoderError("fine-tuning on a parquet of pairs needs an output folder")
        out_dir = Artifacts.for_db(source).model_dir("finetuned")
    out_dir = Path(out_dir)
    if cache_dir is None and is_db:
        cache_dir = Artifacts.for_db(source).cache_dir

    pairs = read_pairs(source)
    pairs.check_titles()
    bad = find_unreadable(pairs.image_paths, pairs.item_ids)
    for b in bad:
        log.warning("skipping item %s: %s (%s)", b.item_id, b.path, b.reason)
    pairs = pairs.without({b.item_id for b in bad if b.item_id is not None})
    if len(pairs) < 2:
        raise EncoderError(
            f"fine-tuning needs at least 2 readable pairs; {source} has {len(pairs)}"
        )

    device = resolve_device(config.device)
    amp = config.mixed_precision and autocast_dtype(device) is not None
    resume_from = _latest_checkpoint(out_dir) if resume else None
    if resume and resume_from is None:
        log.warning("nothing to resume in %s; starting afresh", out_dir)
    if resume_from is None:
        shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    state = _load_trainer_state(resume_from, config) if resume_from else None

    torch.manual_seed(config.seed)
    model = (
        load_dual_encoder(resume_from)
        if resume_from
        else new_dual_encoder(
            config.towers,
            checkpoint=config.checkpoint,
            dim=config.dim,
            input_size=config.input_size,
            dropout=config.dropout,
            max_length=config.max_length,
        )
    )
    reset_logits = resume_from is None and model.reset_untrained_logits()
    if reset_logits:
        log.warning(
            "%s: its temperature and bias are transformers' untrained 0 and 0, with which "
            "training does not learn; starting from log 10 and -10 as the SigLIP paper does",
            config.checkpoint,
        )
    freeze = config.freeze if config.freeze is not None else model.default_freeze
    trainable, frozen = apply_freeze(model, freeze)
    model.to(device)
    data = _prepare_data(
        model, pairs, config, device, Path(cache_dir) if cache_dir else None, progress
    )
    if state is None:
        model.fit_standardizers(
            data.image_features[data.train] if data.image_features is not None else None,
            data.text_features[data.title_index[data.train]]
            if data.text_features is not None
            else None,
        )

    optimizer = _optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(config.warmup, config.steps)
    )
    scaler = (
        torch.amp.GradScaler("cuda") if amp and autocast_dtype(device) == torch.float16 else None
    )
    book = _Book()
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state["scaler"] is not None:
            scaler.load_state_dict(state["scaler"])
        saved = state["progress"]
        book = _Book(
            step=saved["step"],
            best_val=saved["best_val"],
            best_step=saved["best_step"],
            bad_evals=saved["bad_evals"],
            history=[LogEntry(**h) for h in saved["history"]],
        )
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])

    best_dir = out_dir / "checkpoints" / "best"
    stopped_early = False
    _train_mode(model)
    params = [p for _, p in model.qualified_parameters() if p.requires_grad]
    while book.step < config.steps:
        if config.patience > 0 and book.bad_evals >= config.patience:
            stopped_early = True
            break
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for micro in range(config.grad_accum):
            rows = _batch_rows(
                data.train, config.batch_size, config.seed, book.step * config.grad_accum + micro
            )
            loss = _loss(model, data, rows, device, amp) / config.grad_accum
            (scaler.scale(loss) if scaler is not None else loss).backward()
            total += loss.item() / len(rows)  # per image-text pair: sum / n^2
        if scaler is not None:
            scaler.unscale_(optimizer)
        if config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        lr = scheduler.get_last_lr()[0]
        scheduler.step()
        book.step += 1

        val = None
        if book.step % config.eval_every == 0 or book.step == config.steps:
            val = _val_loss(model, data, config, device)
            if val is not None and (book.best_val is None or val < book.best_val):
                book.best_val, book.best_step, book.bad_evals = val, book.step, 0
                model.save_pretrained(best_dir)
            elif val is not None:
                book.bad_evals += 1
        book.history.append(LogEntry(book.step, total, val, lr))
        if progress:
            progress("fine-tuning", book.step, config.steps)
        stop = config.patience > 0 and book.bad_evals >= config.patience
        if book.step % config.checkpoint_every == 0 or book.step == config.steps or stop:
            _save_checkpoint(model, out_dir, book, optimizer, scheduler, scaler, config)

    if book.best_val is not None and best_dir.is_dir():
        final = load_dual_encoder(best_dir)
    else:
        final, book.best_step = model, book.step
    final.save_pretrained(out_dir)
    result = FinetuneResult(
        out_dir=out_dir,
        towers=config.towers,
        steps=book.step,
        best_step=book.best_step,
        stopped_early=stopped_early,
        resumed_from=state["progress"]["step"] if state is not None else None,
        first_loss=book.history[0].train_loss if book.history else float("nan"),
        last_loss=book.history[-1].train_loss if book.history else float("nan"),
        best_val_loss=book.best_val,
        n_pairs=len(pairs),
        n_train=len(data.train),
        n_val=len(data.val),
        skipped=tuple(bad),
        trainable_parameters=trainable,
        frozen_parameters=frozen,
        cached_features=tuple(
            side
            for side, feats in (("image", data.image_features), ("text", data.text_features))
            if feats is not None
        ),
        history=tuple(book.history),
        seconds=time.perf_counter() - started,
        reset_logits=reset_logits,
    )
    summary = {
        "config": {**asdict(config), "freeze": list(freeze)},
        "source": str(source),
        "result": {k: v for k, v in asdict(result).items() if k not in ("history", "out_dir")},
        "history": [asdict(h) for h in book.history],
    }
    (out_dir / TRAINING_FILE).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return result
