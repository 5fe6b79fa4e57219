"""Errors of the encoders room that mean "the input was wrong, here is what to fix"."""

from __future__ import annotations


class EncoderError(Exception):
    """A user-fixable problem: a bad option, a missing file, an unknown encoder name.

    The CLI prints the message as one line and exits with code 2, so the message
    names the item, path or option at fault and says what to do.
    """


class ImageError(EncoderError):
    """An image that is missing or cannot be decoded; ``path`` says which."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path
