"""Checkpoints: a seed repeats a run, a resumed run reaches the same weights, the best are kept."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from encoders.errors import EncoderError
from encoders.finetuning import finetune
from encoders.towers import HEADS_FILE
from tests.encoders.conftest import SMALL_FINETUNE
from tests.encoders.finetuning.helpers import assert_same_heads


def test_a_seed_makes_a_run_repeatable(world: Path, tmp_path: Path) -> None:
    config = replace(SMALL_FINETUNE, steps=12, eval_every=4, checkpoint_every=12, seed=5)
    a = finetune(world, config, tmp_path / "a")
    b = finetune(world, config, tmp_path / "b")
    assert [h.train_loss for h in a.history] == [h.train_loss for h in b.history]
    assert_same_heads(a.out_dir, b.out_dir)
    c = finetune(world, replace(config, seed=6), tmp_path / "c")
    assert c.history[-1].train_loss != a.history[-1].train_loss


def test_an_interrupted_run_resumes_to_the_same_weights(world: Path, tmp_path: Path) -> None:
    config = replace(SMALL_FINETUNE, steps=16, eval_every=4, checkpoint_every=8)
    straight = finetune(world, config, tmp_path / "straight")
    interrupted = finetune(world, config, tmp_path / "interrupted")
    # Simulate a crash just after the step-8 checkpoint: later files never got written.
    shutil.rmtree(interrupted.out_dir / "checkpoints" / "step-0000016")
    (interrupted.out_dir / HEADS_FILE).unlink()
    resumed = finetune(world, config, tmp_path / "interrupted", resume=True)
    assert resumed.resumed_from == 8 and resumed.steps == 16
    assert [h.train_loss for h in resumed.history] == [h.train_loss for h in straight.history]
    assert_same_heads(straight.out_dir, resumed.out_dir)
    with pytest.raises(EncoderError, match=r"different settings \(lr=None\)"):
        finetune(world, replace(config, lr=0.5), tmp_path / "interrupted", resume=True)


def test_early_stopping_keeps_the_best_weights(world: Path, tmp_path: Path) -> None:
    config = replace(SMALL_FINETUNE, steps=200, lr=0.05, eval_every=2, patience=2, weight_decay=0.0)
    r = finetune(world, config, tmp_path / "run")
    assert r.stopped_early and r.steps < 200 and r.best_step <= r.steps - 4
    assert_same_heads(r.out_dir, r.out_dir / "checkpoints" / "best")
