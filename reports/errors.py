"""The one error type of the reports room: a report cannot be built or written as asked."""

from __future__ import annotations


class ReportError(Exception):
    """A user-facing problem with a report: bad output path, missing inputs, unreadable data.

    The CLI prints it as one line and exits with code 2.
    """
