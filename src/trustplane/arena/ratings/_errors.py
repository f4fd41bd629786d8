"""Errors of the rating engine, each with a stable code."""

from __future__ import annotations

from trustplane.core.errors import InvalidInputError


class RatingsError(InvalidInputError):
    """Base of the rating engine's input errors."""

    code = "arena.ratings.invalid"
    title = "Invalid rating input"


class InvalidBattleError(RatingsError):
    """Battle arrays that cannot be rated: bad outcome labels, length mismatch, self-battles, bad weights."""

    code = "arena.invalid_battle"
    title = "Invalid battle data"


class UnknownModelError(RatingsError):
    """A model name (e.g. the anchor) that does not occur in the battles."""

    code = "arena.unknown_model"
    title = "Unknown model"


class NotFittedError(RatingsError):
    """An estimator used before ``fit``."""

    code = "arena.not_fitted"
    title = "Estimator not fitted"


class DisconnectedGraphError(RatingsError):
    """The comparison graph is disconnected: models in different components cannot be ranked together.

    ``extra["components"]`` lists the components (lists of model names), largest first.
    """

    code = "arena.disconnected"
    title = "Disconnected comparison graph"


class NoFiniteMLEError(RatingsError):
    """Ford's condition fails: the directed win graph is not strongly connected, so the MLE is infinite.

    ``extra["components"]`` lists the strongly connected components (lists of model names).
    """

    code = "arena.no_finite_mle"
    title = "No finite maximum-likelihood estimate"
