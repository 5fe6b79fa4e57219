"""One fine-tuning run, start to end: read the pairs, build the towers, train, summarise.

Each step is its own module's job (:mod:`~encoders.finetuning.data`,
:mod:`~encoders.finetuning.freezing`, :mod:`~encoders.finetuning.loop`,
:mod:`~encoders.finetuning.checkpoints`, :mod:`~encoders.finetuning.summary`);
this module only decides where things go and calls them in order (the order
of the random draws: the seed fixes the result).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import torch

from encoders.artifacts import Artifacts
from encoders.device import autocast_dtype, resolve_device
from encoders.errors import EncoderError
from encoders.finetuning.checkpoints import keep_best, resume_point
from encoders.finetuning.config import FinetuneConfig
from encoders.finetuning.data import fit_standardizers, prepare_data, readable_pairs
from encoders.finetuning.freezing import apply_freeze
from encoders.finetuning.loop import Trainer
from encoders.finetuning.summary import FinetuneResult, write_summary
from encoders.protocol import StageProgress
from encoders.siglip import check_siglip_checkpoint
from encoders.towers import DualEncoder, load_dual_encoder, new_dual_encoder

log = logging.getLogger(__name__)


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
    out, cache = _folders(source, out_dir, cache_dir)
    pairs, bad = readable_pairs(source)

    device = resolve_device(config.device)
    amp = config.mixed_precision and autocast_dtype(device) is not None
    resume_from, state = resume_point(out, config, resume)
    torch.manual_seed(config.seed)
    model, reset_logits = _towers(config, resume_from)
    freeze = config.freeze if config.freeze is not None else model.default_freeze
    trainable, frozen = apply_freeze(model, freeze)
    model.to(device)
    data = prepare_data(model, pairs, config, device, cache, progress)
    if state is None:
        fit_standardizers(model, data)

    trainer = Trainer(model, data, config, device, amp)
    if state is not None:
        trainer.restore(state)
    stopped_early = trainer.run(out, progress)
    book = trainer.book
    keep_best(model, book, out)
    result = FinetuneResult(
        out_dir=out,
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
        cached_features=data.cached_sides,
        history=tuple(book.history),
        seconds=time.perf_counter() - started,
        reset_logits=reset_logits,
    )
    write_summary(result, config, freeze, source)
    return result


def _folders(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None,
    cache_dir: str | os.PathLike[str] | None,
) -> tuple[Path, Path | None]:
    """The output folder and the trunk-feature cache folder of a run on ``source``.

    A database's default to its artifacts; a parquet of pairs needs an output
    folder and has no cache unless given one.
    """
    is_db = not str(source).endswith(".parquet")
    if out_dir is None:
        if not is_db:
            raise EncoderError("fine-tuning on a parquet of pairs needs an output folder")
        out_dir = Artifacts.for_db(source).model_dir("finetuned")
    if cache_dir is None and is_db:
        cache_dir = Artifacts.for_db(source).cache_dir
    return Path(out_dir), Path(cache_dir) if cache_dir else None


def _towers(config: FinetuneConfig, resume_from: Path | None) -> tuple[DualEncoder, bool]:
    """The towers to train (new, or a checkpoint's to resume) and whether their
    temperature and bias were reset from transformers' untrained 0 and 0."""
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
    return model, reset_logits
