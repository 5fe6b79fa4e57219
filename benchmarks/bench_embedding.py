"""Embedding throughput of the EfficientNet-Lite0 trunk (``cnn-pca``, ``finetuned``), img/s.

For each input size and batch size, two figures:

- model: the trunk's forward pass alone on ready tensors;
- end to end: ``CnnPcaEncoder.features`` on JPEG files (decode, resize,
  normalise, forward), as ``looklift encode`` runs it (without the cache).

Photos come from ``--db`` (a looklift world) or, without one, are random
128 px JPEGs written to a temporary folder. The machine is shared: the load
average is printed before and after, and each figure is the best of
``--repeats`` timed passes.

    .venv/bin/python benchmarks/bench_embedding.py [--db /tmp/enc/world.duckdb]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from encoders.cnn_pca import CnnPcaEncoder
from encoders.efficientnet import EfficientNetTrunk
from encoders.feature_cache import FeatureCache


def photo_paths(db: Path | None, n: int, folder: Path) -> list[str]:
    if db is not None:
        from encoders.catalog import read_catalog

        return list(read_catalog(db).image_paths[:n])
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"{i:05d}.jpg"
        Image.fromarray(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def model_pass(trunk: EfficientNetTrunk, pixels: torch.Tensor, batch: int) -> None:
    with torch.inference_mode():
        for i in range(0, len(pixels), batch):
            trunk(pixels[i : i + batch])


def end_to_end(encoder: CnnPcaEncoder, paths: list[str]) -> None:
    encoder.use_feature_cache(FeatureCache(encoder.feature_key))  # empty: every photo is read
    encoder.features(paths)


def best_rate(fn: Callable[[], None], n_images: int, repeats: int) -> float:
    fn()  # warm up
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = max(best, n_images / (time.perf_counter() - t0))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=None, help="a looklift world for real photos")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 160, 224])
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--images", type=int, default=128, help="images per timed pass")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, CUDA: {torch.cuda.is_available()}")
    print(f"load average before: {os.getloadavg()[0]:.2f}")

    with tempfile.TemporaryDirectory() as tmp:
        paths = photo_paths(args.db, args.images, Path(tmp))
        images = [Image.open(p).convert("RGB") for p in paths]
        print(f"{'input':>6} {'batch':>6} {'model img/s':>12} {'end-to-end img/s':>17}")
        for size in args.sizes:
            trunk = EfficientNetTrunk(size).eval()
            pixels = trunk.preprocess(images)
            for batch in args.batches:
                encoder = CnnPcaEncoder(input_size=size, batch_size=batch)
                assert encoder.trunk is not None  # load the weights before timing
                model = best_rate(
                    partial(model_pass, trunk, pixels, batch), len(paths), args.repeats
                )
                e2e = best_rate(partial(end_to_end, encoder, paths), len(paths), args.repeats)
                print(f"{size:>6} {batch:>6} {model:>12.1f} {e2e:>17.1f}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
