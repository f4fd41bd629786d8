"""Transparency-log entry kinds of the provenance capability (registered when the package is imported)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from trustplane.core.log import register_kind

CERTIFICATE_KIND = "provenance.certificate"
REVOCATION_KIND = "provenance.revocation"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CertificatePayload(_Strict):
    """A generator was certified: the certificate's hash and public metadata (never its secrets)."""

    certificate_id: str = Field(pattern=r"^cert-[0-9a-f]{16}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the certificate's canonical bytes.")
    generator: str = Field(min_length=1, max_length=500, description="Public name of the certified generator.")
    image_shape: list[int] = Field(min_length=3, max_length=3, description="Channels, height, width.")
    k: list[int] = Field(min_length=1, description="Secret coordinates per key.")
    key_ids: list[str] = Field(min_length=1, description="Public fingerprints (HMAC) of the keys.")
    n_train: int = Field(ge=1)
    n_reference: int = Field(ge=1)
    n_calibration: int = Field(ge=1)
    pixel_format: str = Field(pattern=r"^(float|uint8)$")
    random_state: int
    trustplane_version: str
    format: int = Field(ge=1)
    rotated_from: str | None = Field(None, description="The certificate this one replaces (key rotation).")


class RevocationPayload(_Strict):
    """A certificate was revoked; verifying against it fails from now on."""

    certificate_id: str = Field(pattern=r"^cert-[0-9a-f]{16}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    reason: str = Field(min_length=1, max_length=500)
    superseded_by: str | None = Field(None, description="The replacing certificate, when revoked by a rotation.")


register_kind(
    CERTIFICATE_KIND, CertificatePayload, "A generator certified for provenance checks (hash and public metadata)."
)
register_kind(REVOCATION_KIND, RevocationPayload, "A provenance certificate revoked (or rotated out).")
