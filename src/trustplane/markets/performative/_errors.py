"""Errors raised by the performative-risk module."""

from __future__ import annotations

from trustplane.core.errors import InvalidInputError


class PerformativeInputError(InvalidInputError):
    """Parameters of the performative model (or of a method on it) are outside the allowed set."""

    code = "markets.invalid_parameters"
    title = "Invalid performative-model parameters"


class NotFittedError(PerformativeInputError):
    """An estimator was used before ``fit``."""

    code = "markets.not_fitted"
    title = "Estimator not fitted"
