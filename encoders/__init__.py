"""Image encoders and their recommendations: embeddings, FAISS indexes, neighbor tables.

The Python API the CLI and ``looklift demo`` use (imported lazily, so that
``import encoders`` does not load torch)::

    from encoders import encode_catalog, finetune, write_neighbors, FinetuneConfig

    encode_catalog(db, "cnn-pca")                             # baseline embeddings
    run = finetune(db, FinetuneConfig())                      # sigmoid-loss heads
    encode_catalog(db, FinetunedEncoder(run.out_dir), "finetuned")
    write_neighbors(db, "cnn-pca"); write_neighbors(db, "finetuned")

Encoders by name: :func:`encoders.registry.create`; plugins register through
the ``looklift.encoders`` entry-point group.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

logging.getLogger(__name__).addHandler(logging.NullHandler())

_EXPORTS = {
    "EncoderError": "encoders.errors",
    "Encoder": "encoders.protocol",
    "create": "encoders.registry",
    "register": "encoders.registry",
    "available": "encoders.registry",
    "load_encoder": "encoders.registry",
    "encode_catalog": "encoders.encode",
    "EncodeResult": "encoders.encode",
    "FinetuneConfig": "encoders.finetuning",
    "FinetuneResult": "encoders.finetuning",
    "finetune": "encoders.finetuning",
    "FinetunedEncoder": "encoders.finetuned",
    "CnnPcaEncoder": "encoders.cnn_pca",
    "SiglipEncoder": "encoders.siglip",
    "IndexSpec": "encoders.index",
    "write_neighbors": "encoders.neighbors",
    "NeighborsResult": "encoders.neighbors",
    "Artifacts": "encoders.artifacts",
    "read_embeddings": "encoders.artifacts",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'encoders' has no attribute {name!r}")
