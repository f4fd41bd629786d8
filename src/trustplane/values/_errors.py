"""The values capability's errors: each bad input gets its own stable code."""

from __future__ import annotations

from trustplane.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    UnsupportedOperationError,
)


class UnknownInstrumentError(NotFoundError):
    """No built-in or dropped-in instrument has that name."""

    code = "values.unknown_instrument"
    title = "Unknown instrument"


class MalformedInstrumentError(InvalidInputError):
    """An instrument file (spec or items table) is malformed; ``path``, ``line`` and ``field`` say where."""

    code = "values.malformed_instrument"
    title = "Malformed instrument file"


class UnknownMethodError(InvalidInputError):
    """A scoring method name that is not registered."""

    code = "values.unknown_method"
    title = "Unknown scoring method"


class LogprobsUnavailableError(UnsupportedOperationError):
    """A log-probability method was requested for a model that cannot score continuations."""

    code = "values.logprobs_unavailable"
    title = "Model gives no log-probabilities"


class RunInterruptedError(ConflictError):
    """A run stopped before every item was answered; ``run_id``, ``answered`` and ``planned`` say how far it got."""

    code = "values.run_interrupted"
    title = "Run interrupted"


class UnknownRunError(NotFoundError):
    code = "values.unknown_run"
    title = "Unknown run"


class AuditConfigError(InvalidInputError):
    """An administration option is out of range or inconsistent."""

    code = "values.invalid_config"
    title = "Invalid audit configuration"


class InsufficientDataError(InvalidInputError):
    """A statistic was asked of data that cannot support it (too few answered items, models or cells)."""

    code = "values.insufficient_data"
    title = "Not enough data for this statistic"
