"""looklift: A/B tests of visually-similar-item recommenders, end to end."""

__version__ = "0.1.0"
