"""Training data: readable pairs, the held-out split and the batches."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from encoders.catalog import read_catalog
from encoders.errors import EncoderError
from encoders.finetuning import finetune
from encoders.finetuning.data import batch_rows, split
from tests.encoders.conftest import SMALL_FINETUNE


def test_pairs_from_parquet_empty_titles_and_bad_photos(world: Path, tmp_path: Path) -> None:
    catalog = read_catalog(world)
    frame = pl.DataFrame(
        {"image_path": list(catalog.image_paths[:60]), "title": list(catalog.titles[:60])}
    )
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 5)
        .then(pl.lit(str(tmp_path / "gone.jpg")))
        .otherwise(pl.col("image_path"))
        .alias("image_path")
    )
    frame.write_parquet(tmp_path / "pairs.parquet")
    config = replace(SMALL_FINETUNE, steps=3, batch_size=16, eval_every=3)
    r = finetune(tmp_path / "pairs.parquet", config, tmp_path / "out")
    assert r.n_pairs == 59 and [b.item_id for b in r.skipped] == [6]

    frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 2).then(pl.lit("  ")).otherwise("title").alias("title")
    ).write_parquet(tmp_path / "empty.parquet")
    with pytest.raises(EncoderError, match=r"item 3 in .*empty\.parquet has an empty title"):
        finetune(tmp_path / "empty.parquet", config, tmp_path / "out2")
    with pytest.raises(EncoderError, match="needs an output folder"):
        finetune(tmp_path / "pairs.parquet", config)


def test_the_split_is_seeded_sorted_and_never_holds_out_one_pair() -> None:
    train, val = split(240, 0.1, seed=0)
    assert len(val) == 24 and len(train) == 216
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(240))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)
    again, other = split(240, 0.1, seed=0), split(240, 0.1, seed=1)
    assert np.array_equal(again[1], val) and not np.array_equal(other[1], val)
    assert len(split(10, 0.1, seed=0)[1]) == 0  # one held-out pair cannot give a loss
    assert len(split(3, 0.6, seed=0)[1]) == 0  # it would leave one pair to train on
    assert len(split(50, 0.0, seed=0)[1]) == 0


def test_batches_are_seeded_shuffles_of_the_training_rows_per_epoch() -> None:
    train = np.arange(100, 110)
    epoch = [batch_rows(train, 4, seed=3, index=i) for i in range(2)]  # 2 batches, tail dropped
    assert all(len(b) == 4 for b in epoch)
    assert len(set(np.concatenate(epoch).tolist())) == 8 and set(epoch[0]) <= set(train)
    assert np.array_equal(batch_rows(train, 4, seed=3, index=0), epoch[0])
    next_epoch = batch_rows(train, 4, seed=3, index=2)
    assert not np.array_equal(next_epoch, epoch[0])
    assert len(batch_rows(train, 64, seed=3, index=5)) == 10  # a batch larger than the set
