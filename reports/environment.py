"""The jinja2 environment of the report templates, shared by the HTML report and notebooks.

Its own module so that the notebook display needs neither plotly nor the full
report: both renderers take the templates from here.
"""

from __future__ import annotations

import base64
import functools
from typing import TYPE_CHECKING

from jinja2 import Environment, PackageLoader, StrictUndefined

from abtest import format as fmt

if TYPE_CHECKING:
    from reports.inputs import Thumbnail


@functools.cache
def environment() -> Environment:
    """The jinja2 environment of the report templates (autoescaping everything)."""
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["data_uri"] = data_uri
    env.filters["share"] = fmt.share
    return env


def data_uri(thumb: Thumbnail) -> str | None:
    """A gallery photo as a ``data:`` URI (``None`` when the photo could not be read)."""
    if thumb.jpeg is None:
        return None
    return "data:image/jpeg;base64," + base64.b64encode(thumb.jpeg).decode("ascii")
