"""Errors of the data layer (shared by the loaders without import cycles)."""


class DataError(ValueError):
    """Data that cannot serve the request; the message names what was asked and what exists."""
