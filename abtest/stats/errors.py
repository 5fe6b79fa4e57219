"""The one exception the stats engine raises on purpose.

Invalid *inputs* (a negative count, an alpha outside (0, 1), moments no data set
could produce) are a caller's bug and raise :class:`StatsInputError`. Valid but
degenerate *data* (a variant with no users, zero variance, a zero control mean)
never raise: they come back as a result whose ``message`` says what could not be
computed and why.
"""

from __future__ import annotations


class StatsInputError(ValueError):
    """Inputs to the stats engine that no real experiment could produce.

    Subclasses :class:`ValueError`, so callers that already catch it keep working;
    the message names the offending field and value.
    """
