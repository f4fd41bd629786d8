"""Errors of the access gateway: each has a stable code and the HTTP status OpenAI clients expect."""

from __future__ import annotations

from trustplane.core.errors import (
    EX_CONFIG,
    EX_NOPERM,
    EX_TEMPFAIL,
    EX_UNAVAILABLE,
    AuthRequiredError,
    ConfigError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    TrustplaneError,
)


# --- the request itself --------------------------------------------------------------------------------
class MalformedRequestError(InvalidInputError):
    """The body is not JSON, or not a JSON object."""

    code = "access.malformed_json"
    title = "Malformed JSON"
    status = 400


class InvalidRequestError(InvalidInputError):
    """The body is JSON but not a valid chat completion request."""

    code = "access.invalid_request"
    title = "Invalid request"
    status = 400


class UnsupportedFieldError(InvalidRequestError):
    """A request field the gateway does not implement (it would otherwise be silently ignored)."""

    code = "access.unsupported_field"
    title = "Unsupported request field"


class RequestTooLargeError(InvalidInputError):
    code = "access.request_too_large"
    title = "Request too large"
    status = 413


# --- identity --------------------------------------------------------------------------------------------
class CredentialsMissingError(AuthRequiredError):
    code = "access.credentials_missing"
    title = "No credentials"


class InvalidTokenError(AuthRequiredError):
    """A bearer token or credential that is malformed, forged or signed by an unknown key."""

    code = "access.token_invalid"
    title = "Invalid token"


class TokenExpiredError(InvalidTokenError):
    code = "access.token_expired"
    title = "Token expired"


class WrongAudienceError(InvalidTokenError):
    code = "access.token_wrong_audience"
    title = "Token for another audience"


class UntrustedIssuerError(InvalidTokenError):
    code = "access.token_untrusted_issuer"
    title = "Token from an untrusted issuer"


class MalformedClaimsError(InvalidTokenError):
    """A verified token whose identity claims (verified_claims, vc) do not follow their specification."""

    code = "access.claims_malformed"
    title = "Malformed identity claims"


class InvalidApiKeyError(AuthRequiredError):
    code = "access.key_invalid"
    title = "Invalid API key"


class KeyRevokedError(InvalidApiKeyError):
    code = "access.key_revoked"
    title = "API key revoked"


class KeyExpiredError(InvalidApiKeyError):
    code = "access.key_expired"
    title = "API key expired"


class CredentialRevokedError(ForbiddenError):
    """The subject or one of its credentials was revoked (admin revoke or a Bitstring Status List)."""

    code = "access.credential_revoked"
    title = "Credential revoked"


class CredentialSubjectMismatchError(ForbiddenError):
    code = "access.credential_subject_mismatch"
    title = "Credential is about someone else"


class StatusListUnavailableError(TrustplaneError):
    """A credential's status list cannot be fetched or verified: the credential cannot be trusted now."""

    code = "access.status_list_unavailable"
    title = "Credential status unavailable"
    status = 503
    exit_code = EX_UNAVAILABLE


# --- decisions ---------------------------------------------------------------------------------------------
class RefusedError(ForbiddenError):
    """The policy refuses this principal this content; ``extra['refusal']`` says what would unlock it."""

    code = "access.refused"
    title = "Refused by policy"


class ReviewRequiredError(ForbiddenError):
    """The policy escalated the request to human review; ``extra['review_id']`` names the queue item."""

    code = "access.review_required"
    title = "Human review required"
    status = 403


class ReviewPendingError(ForbiddenError):
    code = "access.review_pending"
    title = "Review pending"


class ReviewDeniedError(ForbiddenError):
    code = "access.review_denied"
    title = "Review denied"


class ReviewMismatchError(ForbiddenError):
    code = "access.review_mismatch"
    title = "Review is for another request"


class ReviewNotFoundError(NotFoundError):
    code = "access.review_not_found"
    title = "No such review"


class ReviewStateError(ConflictError):
    code = "access.review_already_decided"
    title = "Review already decided"


class KeyNotFoundError(NotFoundError):
    code = "access.key_not_found"
    title = "No such API key"


class RateLimitedError(TrustplaneError):
    code = "access.rate_limited"
    title = "Rate limit exceeded"
    status = 429
    exit_code = EX_TEMPFAIL


class BudgetExhaustedError(RateLimitedError):
    code = "access.budget_exhausted"
    title = "Token budget exhausted"


class DecisionLogError(TrustplaneError):
    """The decision could not be written to the transparency log, so the request is denied."""

    code = "access.log_unavailable"
    title = "Decision log unavailable"
    status = 503
    exit_code = EX_UNAVAILABLE


class ClassifierUnavailableError(TrustplaneError):
    """The configured classifier cannot be built or failed; requests are refused rather than let through."""

    code = "access.classifier_unavailable"
    title = "Classifier unavailable"
    status = 503
    exit_code = EX_UNAVAILABLE


# --- configuration -----------------------------------------------------------------------------------------
class TaxonomyError(InvalidInputError):
    """A taxonomy file that does not validate; the message names the file, line and field."""

    code = "access.taxonomy_invalid"
    title = "Invalid taxonomy"
    exit_code = EX_CONFIG


class PolicyError(InvalidInputError):
    """A policy that does not parse or validate against the gateway's Cedar schema."""

    code = "access.policy_invalid"
    title = "Invalid policy"
    exit_code = EX_CONFIG


class UnknownPolicyFieldError(PolicyError):
    """A policy refers to an attribute the gateway does not provide (a typo would otherwise never match)."""

    code = "access.unknown_policy_field"
    title = "Unknown policy field"


class AccessConfigError(ConfigError):
    code = "access.config_invalid"
    title = "Invalid access setting"


class AdminRequiredError(AuthRequiredError):
    code = "access.admin_required"
    title = "Admin token required"


class AdminForbiddenError(ForbiddenError):
    code = "access.admin_forbidden"
    title = "Admin token wrong or admin access disabled"
    exit_code = EX_NOPERM


class JwksUnavailableError(TrustplaneError):
    """The issuer's signing keys (JWKS) cannot be fetched, so no token from it can be checked now."""

    code = "access.jwks_unavailable"
    title = "Issuer keys unavailable"
    status = 503
    exit_code = EX_UNAVAILABLE
