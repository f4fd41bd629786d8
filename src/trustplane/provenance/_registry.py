"""Where certificates live: sealed files under ``<home>/provenance/certificates`` and a table of public facts.

Registering a certificate writes its sealed file (mode 0600), appends ``provenance.certificate`` (hash
and public metadata only) to the transparency log, then records the row. Revoking appends
``provenance.revocation`` and marks the row; a revoked certificate can no longer be loaded for
verification. Rotation registers a certificate made with a fresh key and revokes the old one, both
entries pointing at each other.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Column, MetaData, String, Table, Text, select, update

from trustplane.core.config import Settings
from trustplane.core.log import TransparencyLog
from trustplane.core.store import Store, get_store
from trustplane.provenance._errors import (
    CertificateIntegrityError,
    CertificateNotFoundError,
    CertificateRevokedError,
    ProvenanceInputError,
)
from trustplane.provenance._schemas import CERTIFICATE_KIND, REVOCATION_KIND
from trustplane.provenance._secret import Sealer

if TYPE_CHECKING:
    from trustplane.provenance._certificate import Certificate

metadata = MetaData()
certificates_table = Table(
    "provenance_certificates",
    metadata,
    Column("certificate_id", String(40), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("generator", String(500), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("public", Text, nullable=False),
    Column("log_index", BigInteger, nullable=False),
    Column("rotated_from", String(40), nullable=True),
    Column("revoked_ms", BigInteger, nullable=True),
    Column("revoke_reason", String(500), nullable=True),
    Column("superseded_by", String(40), nullable=True),
    Column("revocation_log_index", BigInteger, nullable=True),
)
_ID = re.compile(r"^cert-[0-9a-f]{16}$")


@dataclass(frozen=True)
class CertificateRecord:
    """The public facts about a registered certificate."""

    certificate_id: str
    sha256: str
    generator: str
    created_ms: int
    public: dict[str, Any]
    log_index: int
    rotated_from: str | None
    revoked_ms: int | None
    revoke_reason: str | None
    superseded_by: str | None
    revocation_log_index: int | None

    @property
    def revoked(self) -> bool:
        return self.revoked_ms is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "certificate_id": self.certificate_id,
            "sha256": self.sha256,
            "generator": self.generator,
            "created_ms": self.created_ms,
            "log_index": self.log_index,
            "rotated_from": self.rotated_from,
            "revoked": self.revoked,
            "revoked_ms": self.revoked_ms,
            "revoke_reason": self.revoke_reason,
            "superseded_by": self.superseded_by,
            "revocation_log_index": self.revocation_log_index,
            "public": self.public,
        }


def _record(row: Any) -> CertificateRecord:
    return CertificateRecord(
        certificate_id=row.certificate_id,
        sha256=row.sha256,
        generator=row.generator,
        created_ms=int(row.created_ms),
        public=json.loads(row.public),
        log_index=int(row.log_index),
        rotated_from=row.rotated_from,
        revoked_ms=None if row.revoked_ms is None else int(row.revoked_ms),
        revoke_reason=row.revoke_reason,
        superseded_by=row.superseded_by,
        revocation_log_index=None if row.revocation_log_index is None else int(row.revocation_log_index),
    )


class CertificateStore:
    """Registered certificates of one trustplane home and database."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or get_store(settings)
        self.directory = Path(settings.home) / "provenance" / "certificates"
        self.sealer = Sealer(settings.keys_dir)

    def _path(self, certificate_id: str) -> Path:
        return self.directory / f"{certificate_id}.sealed"

    # --- reads -----------------------------------------------------------------------------------------
    def record(self, certificate_id: str) -> CertificateRecord:
        """The public record of ``certificate_id``, revoked or not."""
        if not isinstance(certificate_id, str) or not _ID.match(certificate_id):
            raise CertificateNotFoundError(
                f"{certificate_id!r} is not a certificate id",
                hint="certificate ids look like cert-0123456789abcdef; see `trustplane provenance list`",
                certificate_id=str(certificate_id),
            )
        with self.store.read() as conn:
            row = conn.execute(
                select(certificates_table).where(certificates_table.c.certificate_id == certificate_id)
            ).first()
        if row is None:
            raise CertificateNotFoundError(
                f"no certificate {certificate_id}",
                hint="see `trustplane provenance list` for registered certificates",
                certificate_id=certificate_id,
            )
        return _record(row)

    def list(self, *, include_revoked: bool = True) -> list[CertificateRecord]:
        """Every registered certificate, newest first."""
        query = select(certificates_table).order_by(
            certificates_table.c.created_ms.desc(), certificates_table.c.certificate_id
        )
        if not include_revoked:
            query = query.where(certificates_table.c.revoked_ms.is_(None))
        with self.store.read() as conn:
            return [_record(r) for r in conn.execute(query)]

    def load(self, certificate_id: str, *, device: str = "cpu") -> Certificate:
        """Unseal a certificate for verification; revoked certificates are refused with their reason."""
        from trustplane.provenance._certificate import Certificate

        rec = self.record(certificate_id)
        if rec.revoked:
            extra = f" (superseded by {rec.superseded_by})" if rec.superseded_by else ""
            raise CertificateRevokedError(
                f"certificate {certificate_id} was revoked: {rec.revoke_reason}{extra}",
                hint=f"verify against {rec.superseded_by}" if rec.superseded_by else "ask the verifier to re-certify",
                certificate_id=certificate_id,
                superseded_by=rec.superseded_by,
                revoked_ms=rec.revoked_ms,
            )
        path = self._path(certificate_id)
        try:
            blob = path.read_bytes()
        except OSError as exc:
            raise CertificateIntegrityError(
                f"the sealed file of certificate {certificate_id} cannot be read: {exc.strerror}",
                hint="restore <home>/provenance/certificates from a backup",
                certificate_id=certificate_id,
            ) from None
        data = self.sealer.open(blob, certificate_id)
        import hashlib

        if hashlib.sha256(data).hexdigest() != rec.sha256:
            raise CertificateIntegrityError(
                f"certificate {certificate_id} does not hash to the value recorded in the log",
                certificate_id=certificate_id,
            )
        return Certificate.from_bytes(data, device=device)

    # --- writes ----------------------------------------------------------------------------------------
    def register(self, certificate: Certificate, *, rotated_from: str | None = None) -> CertificateRecord:
        """Seal, log (hash and public metadata only) and record ``certificate``."""
        data = certificate.to_bytes()
        cid = certificate.certificate_id
        sha = certificate.sha256
        with self.store.read() as conn:
            exists = conn.execute(
                select(certificates_table.c.certificate_id).where(certificates_table.c.certificate_id == cid)
            ).first()
        if exists is not None:
            return self.record(cid)
        self.sealer.write(self._path(cid), data, cid)
        public = certificate.public_metadata()
        payload = {
            "certificate_id": cid,
            "sha256": sha,
            "generator": str(public.get("generator", "unnamed"))[:500] or "unnamed",
            "image_shape": public["image_shape"],
            "k": public["k"],
            "key_ids": public["key_ids"],
            "n_train": int(public["n_train"]),
            "n_reference": int(public["n_reference"]),
            "n_calibration": int(public["n_calibration"]),
            "pixel_format": public["pixel_format"],
            "random_state": int(public["random_state"]),
            "trustplane_version": str(public["trustplane_version"]),
            "format": int(public["format"]),
            "rotated_from": rotated_from,
        }
        result = TransparencyLog(self.store, self.settings).append(CERTIFICATE_KIND, payload)
        with self.store.write() as conn:
            conn.execute(
                certificates_table.insert().values(
                    certificate_id=cid,
                    sha256=sha,
                    generator=payload["generator"],
                    created_ms=int(time.time() * 1000),
                    public=json.dumps(public, sort_keys=True),
                    log_index=result.entries[0].index,
                    rotated_from=rotated_from,
                )
            )
        return self.record(cid)

    def revoke(self, certificate_id: str, reason: str, *, superseded_by: str | None = None) -> CertificateRecord:
        """Revoke ``certificate_id`` (logged as ``provenance.revocation``); revoking twice is an error."""
        if not reason or not reason.strip():
            raise ProvenanceInputError("a revocation needs a reason")
        rec = self.record(certificate_id)
        if rec.revoked:
            raise CertificateRevokedError(
                f"certificate {certificate_id} is already revoked: {rec.revoke_reason}",
                certificate_id=certificate_id,
            )
        payload = {
            "certificate_id": certificate_id,
            "sha256": rec.sha256,
            "reason": reason.strip()[:500],
            "superseded_by": superseded_by,
        }
        result = TransparencyLog(self.store, self.settings).append(REVOCATION_KIND, payload)
        with self.store.write() as conn:
            conn.execute(
                update(certificates_table)
                .where(certificates_table.c.certificate_id == certificate_id)
                .values(
                    revoked_ms=int(time.time() * 1000),
                    revoke_reason=payload["reason"],
                    superseded_by=superseded_by,
                    revocation_log_index=result.entries[0].index,
                )
            )
        return self.record(certificate_id)

    def rotate(self, old_id: str, new_certificate: Certificate) -> tuple[CertificateRecord, CertificateRecord]:
        """Key rotation: register ``new_certificate`` (made with a fresh key) and revoke ``old_id`` in its favour."""
        old = self.record(old_id)
        if old.revoked:
            raise CertificateRevokedError(
                f"certificate {old_id} is already revoked: {old.revoke_reason}", certificate_id=old_id
            )
        if set(old.public.get("key_ids", [])) & {m.key_id for m in new_certificate.members}:
            raise ProvenanceInputError(
                "a rotated certificate must use fresh keys; this one reuses a key of the old certificate",
                hint="certify again with a new key (trustplane.provenance.new_key())",
            )
        new = self.register(new_certificate, rotated_from=old_id)
        revoked = self.revoke(old_id, "key rotated", superseded_by=new.certificate_id)
        return revoked, new
