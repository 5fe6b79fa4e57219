"""Encoders by name: the built-in ones, those registered in code, and plugins.

Other packages add encoders through the entry-point group ``looklift.encoders``:

.. code-block:: toml

    [project.entry-points."looklift.encoders"]
    my-encoder = "my_package.module:MyEncoder"

The entry point names a factory (usually a class) called with the encoder's
options; a factory with a ``from_pretrained`` classmethod can also be reloaded
from a saved state by :func:`load_encoder`.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from importlib import metadata
from typing import Any

from encoders.errors import EncoderError
from encoders.protocol import Encoder
from encoders.state import read_state

ENTRY_POINT_GROUP = "looklift.encoders"

Factory = Callable[..., Encoder]

_BUILTIN: dict[str, str] = {
    "cnn-pca": "encoders.cnn_pca:CnnPcaEncoder",
    "siglip": "encoders.siglip:SiglipEncoder",
    "finetuned": "encoders.finetuned:FinetunedEncoder",
}
_registered: dict[str, Factory] = {}
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # matched in full: "x\n" is no name


def check_name(name: str, what: str = "encoder name") -> str:
    """Names are lowercase letters, digits, '.', '_' and '-' (they become folder names)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise EncoderError(
            f"invalid {what} {name!r}: use lowercase letters, digits, '.', '_' and '-' "
            "(at most 64 characters, starting with a letter or digit)"
        )
    return name


def register(
    name: str, factory: Factory | None = None, *, replace: bool = False
) -> Callable[[Factory], Factory] | Factory:
    """Register ``factory`` under ``name``; usable as a decorator (``@register("x")``)."""
    check_name(name)

    def _add(f: Factory) -> Factory:
        if not replace and (name in _BUILTIN or name in _registered):
            raise EncoderError(f"an encoder named {name!r} is already registered")
        _registered[name] = f
        return f

    return _add if factory is None else _add(factory)


def unregister(name: str) -> None:
    """Remove an encoder registered in code (built-ins and plugins stay)."""
    _registered.pop(name, None)


def _plugins() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def available() -> tuple[str, ...]:
    """Every encoder name that :func:`create` accepts, sorted."""
    return tuple(sorted({*_BUILTIN, *_registered, *_plugins()}))


def get_factory(name: str) -> Factory:
    """The factory registered as ``name``; an unknown name lists the known ones."""
    if name in _registered:
        return _registered[name]
    if name in _BUILTIN:
        module, _, attr = _BUILTIN[name].partition(":")
        return getattr(importlib.import_module(module), attr)
    plugin = _plugins().get(name)
    if plugin is None:
        raise EncoderError(f"unknown encoder {name!r}; known encoders: {', '.join(available())}")
    try:
        return plugin.load()
    except Exception as exc:
        raise EncoderError(
            f"encoder {name!r} (entry point {plugin.value!r}) failed to load: {exc}"
        ) from None


def create(name: str, **options: Any) -> Encoder:
    """A new encoder by name, with its options (e.g. ``create("cnn-pca", dim=64)``)."""
    factory = get_factory(name)
    try:
        encoder = factory(**options)
    except TypeError as exc:
        raise EncoderError(f"encoder {name!r}: bad options {sorted(options)}: {exc}") from None
    if not isinstance(encoder, Encoder):
        raise EncoderError(
            f"encoder {name!r} does not follow the Encoder protocol "
            "(it needs name, dim and encode(images))"
        )
    return encoder


def load_encoder(directory: str | os.PathLike[str]) -> Encoder:
    """Reload an encoder saved with ``save_pretrained`` (its ``encoder.json`` says which)."""
    name, _ = read_state(directory)
    factory = get_factory(name)
    loader = getattr(factory, "from_pretrained", None)
    if loader is None:
        raise EncoderError(f"encoder {name!r} cannot be reloaded: it has no from_pretrained")
    return loader(directory)
