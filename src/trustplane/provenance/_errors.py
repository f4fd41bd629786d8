"""Errors of the provenance capability, each with a stable code."""

from __future__ import annotations

from trustplane.core.errors import (
    EX_UNAVAILABLE,
    EX_VERIFY,
    InvalidInputError,
    NotFoundError,
    TrustplaneError,
    UpstreamUnavailableError,
)


class ImageInputError(InvalidInputError):
    """Images of the wrong shape, dtype or value range for the certificate."""

    code = "provenance.bad_images"
    title = "Images do not fit the certificate"


class CertificateNotFoundError(NotFoundError):
    """No certificate has this id."""

    code = "provenance.unknown_certificate"
    title = "Unknown certificate"


class CertificateRevokedError(TrustplaneError):
    """The certificate was revoked (or rotated out) and can no longer vouch for anything."""

    code = "provenance.revoked_certificate"
    title = "Certificate revoked"
    status = 410
    exit_code = EX_VERIFY


class TooFewSamplesError(InvalidInputError):
    """The calibration set or the batch is too small to reach the requested error rate; ``needed`` says how many."""

    code = "provenance.too_few_samples"
    title = "Too few samples for the requested error rate"


class CertificateIntegrityError(TrustplaneError):
    """A sealed certificate file is missing, cannot be decrypted or does not hash to its recorded hash."""

    code = "provenance.certificate_corrupt"
    title = "Certificate file unreadable or altered"
    status = 500
    exit_code = EX_VERIFY


class ProvenanceInputError(InvalidInputError):
    """Any other invalid argument to a provenance procedure."""

    code = "provenance.invalid_input"
    title = "Invalid provenance input"


class CandidateUnreachableError(UpstreamUnavailableError):
    """The candidate model API of an LLM provenance test could not be reached."""

    code = "provenance.candidate_unreachable"
    title = "Candidate model API unreachable"
    status = 502
    exit_code = EX_UNAVAILABLE


class SubstitutionDetectedError(TrustplaneError):
    """The command line's way to end with status 1 after reporting a ``substitute`` decision."""

    code = "provenance.substitution_detected"
    title = "Outputs not from the certified model"
    status = 422
    exit_code = EX_VERIFY
