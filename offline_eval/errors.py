"""The one error type of offline evaluation.

Raised for input a person can fix (an unknown encoder, logs without taps,
``k <= 0``, an empty date range, ...). The message says what is wrong and what
to do; the CLI prints it as one line (see ``looklift.errors``).
"""

from __future__ import annotations


class OfflineEvalError(ValueError):
    """The input of an offline evaluation is wrong; the message says how to fix it."""
