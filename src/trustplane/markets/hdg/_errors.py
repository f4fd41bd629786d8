"""Errors specific to the heterogeneous data game."""

from __future__ import annotations

from trustplane.core.errors import InvalidInputError


class MarketInputError(InvalidInputError):
    """A game or solver was given input that does not describe a valid instance."""

    code = "markets.invalid_input"
    title = "Invalid market input"


class SearchTooLargeError(InvalidInputError):
    """An equilibrium search would take longer than the time it was allowed."""

    code = "markets.search_too_large"
    title = "Equilibrium search too large"
    status = 413
