"""Domain errors with stable codes, and the two mappings that surface them.

Every error a user can cause is a :class:`TrustplaneError` subclass carrying a stable ``code``,
a human ``message``, an optional remediation ``hint`` and structured ``extra`` fields. The server
turns them into RFC 9457 problem+json (:func:`to_problem`), the CLI into one line and an exit code
(:func:`to_cli_line`, :attr:`TrustplaneError.exit_code`).
"""

from __future__ import annotations

from typing import Any, ClassVar

# sysexits.h codes, so shell scripts can tell failures apart.
EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_TEMPFAIL = 75
EX_NOPERM = 77
EX_CONFIG = 78
EX_VERIFY = 1  # verification failed: the data is bad, the tool worked


class TrustplaneError(Exception):
    """Base of every error trustplane raises on purpose."""

    code: ClassVar[str] = "trustplane.error"
    title: ClassVar[str] = "trustplane error"
    status: ClassVar[int] = 500
    exit_code: ClassVar[int] = EX_SOFTWARE

    def __init__(self, message: str, *, hint: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.extra = extra

    def __str__(self) -> str:
        return self.message


# --- configuration and environment -------------------------------------------------------------
class ConfigError(TrustplaneError):
    code = "config.invalid"
    title = "Invalid setting"
    status = 500
    exit_code = EX_CONFIG


class MissingDependencyError(TrustplaneError):
    code = "dependency.missing"
    title = "Optional dependency not installed"
    status = 501
    exit_code = EX_UNAVAILABLE


class DataFileMissingError(TrustplaneError):
    code = "data.missing"
    title = "Data file missing"
    status = 500
    exit_code = EX_NOINPUT


# --- input ---------------------------------------------------------------------------------------
class InvalidInputError(TrustplaneError):
    code = "input.invalid"
    title = "Invalid input"
    status = 422
    exit_code = EX_DATAERR


class NotFoundError(TrustplaneError):
    code = "not_found"
    title = "Not found"
    status = 404
    exit_code = EX_NOINPUT


class ConflictError(TrustplaneError):
    code = "conflict"
    title = "Conflict"
    status = 409
    exit_code = EX_DATAERR


class AuthRequiredError(TrustplaneError):
    code = "auth.required"
    title = "Authentication required"
    status = 401
    exit_code = EX_NOPERM


class ForbiddenError(TrustplaneError):
    code = "auth.forbidden"
    title = "Forbidden"
    status = 403
    exit_code = EX_NOPERM


# --- transparency log ----------------------------------------------------------------------------
class MalformedEntryError(InvalidInputError):
    code = "log.entry_malformed"
    title = "Malformed log entry"


class EntryTooLargeError(InvalidInputError):
    code = "log.entry_too_large"
    title = "Log entry too large"
    status = 413


class UnknownEntryKindError(InvalidInputError):
    code = "log.unknown_kind"
    title = "Unknown log entry kind"


class EntryNotFoundError(NotFoundError):
    code = "log.not_found"
    title = "Log entry or tree head not found"


class InvalidRangeError(InvalidInputError):
    code = "log.invalid_range"
    title = "Invalid tree size or index"
    status = 400


class SigningKeyMissingError(TrustplaneError):
    code = "key.missing"
    title = "Signing key missing"
    status = 500
    exit_code = EX_NOPERM


class WrongKeyError(TrustplaneError):
    code = "key.wrong"
    title = "Wrong or unusable public key"
    status = 400
    exit_code = EX_DATAERR


class VerificationError(TrustplaneError):
    """The data failed verification; ``extra`` says where (``index`` or ``tree_size``) and why."""

    code = "log.verification_failed"
    title = "Verification failed"
    status = 422
    exit_code = EX_VERIFY


class ExportFormatError(VerificationError):
    code = "log.export_malformed"
    title = "Malformed or truncated log export"


# --- models --------------------------------------------------------------------------------------
class ModelNotFoundError(NotFoundError):
    code = "model.not_found"
    title = "Unknown model"


class UnsupportedOperationError(TrustplaneError):
    code = "model.unsupported"
    title = "Operation not supported by this backend"
    status = 501
    exit_code = EX_UNAVAILABLE


class UpstreamUnavailableError(TrustplaneError):
    code = "upstream.unavailable"
    title = "Upstream model unreachable"
    status = 502
    exit_code = EX_UNAVAILABLE


class UpstreamTimeoutError(UpstreamUnavailableError):
    code = "upstream.timeout"
    title = "Upstream model timed out"
    status = 504
    exit_code = EX_TEMPFAIL


class UpstreamError(TrustplaneError):
    code = "upstream.error"
    title = "Upstream model returned an error"
    status = 502
    exit_code = EX_UNAVAILABLE


def to_problem(err: TrustplaneError, *, instance: str | None = None) -> dict[str, Any]:
    """RFC 9457 problem details for ``err`` (media type ``application/problem+json``)."""
    body: dict[str, Any] = {
        "type": f"urn:trustplane:problem:{err.code}",
        "title": err.title,
        "status": err.status,
        "detail": err.message,
        "code": err.code,
    }
    if err.hint:
        body["hint"] = err.hint
    if instance:
        body["instance"] = instance
    for key, value in err.extra.items():
        if key not in body:
            body[key] = value
    return body


def to_openai_error(err: TrustplaneError) -> dict[str, Any]:
    """The OpenAI error envelope, used on the ``/v1`` routes so OpenAI clients raise the right class."""
    kind = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        409: "conflict_error",
        413: "invalid_request_error",
        422: "invalid_request_error",
    }.get(err.status, "api_error")
    message = err.message if not err.hint else f"{err.message} ({err.hint})"
    return {"error": {"message": message, "type": kind, "code": err.code, "param": None}}


def to_cli_line(err: TrustplaneError) -> str:
    """One line for a terminal: ``error[code]: message (hint: ...)``."""
    where = ""
    if "index" in err.extra:
        where = f" [index {err.extra['index']}]"
    elif "tree_size" in err.extra:
        where = f" [tree size {err.extra['tree_size']}]"
    line = f"error[{err.code}]{where}: {err.message}"
    if err.hint:
        line += f" (hint: {err.hint})"
    return " ".join(line.splitlines())
