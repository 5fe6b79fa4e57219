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

One job per module; import from here (the names below are the public ones):

- :mod:`~encoders.finetuning.config`: the settings (:class:`FinetuneConfig`);
- :mod:`~encoders.finetuning.data`: readable pairs, the split, batches, cached features;
- :mod:`~encoders.finetuning.freezing`: which parameters train;
- :mod:`~encoders.finetuning.objective`: the loss optimised and the losses reported;
- :mod:`~encoders.finetuning.loop`: optimizer steps, evaluation, early stopping;
- :mod:`~encoders.finetuning.checkpoints`: saving, resuming, keeping the best weights;
- :mod:`~encoders.finetuning.summary`: the result and ``training.json``;
- :mod:`~encoders.finetuning.run`: :func:`finetune`, the steps above in order.
"""

from __future__ import annotations

from encoders.finetuning.checkpoints import STATE_FILE
from encoders.finetuning.config import DEFAULT_LR, FinetuneConfig
from encoders.finetuning.freezing import apply_freeze
from encoders.finetuning.objective import per_pair_loss
from encoders.finetuning.run import finetune
from encoders.finetuning.summary import TRAINING_FILE, FinetuneResult, LogEntry

__all__ = [
    "DEFAULT_LR",
    "STATE_FILE",
    "TRAINING_FILE",
    "FinetuneConfig",
    "FinetuneResult",
    "LogEntry",
    "apply_freeze",
    "finetune",
    "per_pair_loss",
]
