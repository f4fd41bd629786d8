"""Certificates at rest: sealed, logged (hash and public metadata only), revoked, rotated."""

from __future__ import annotations

import json
import os
import stat

import pytest

from trustplane.core.log import TransparencyLog
from trustplane.provenance import (
    Certificate,
    CertificateIntegrityError,
    CertificateNotFoundError,
    CertificateRevokedError,
    CertificateStore,
    ProvenanceInputError,
    Reconstructor,
    certify,
    sample_images,
    verify,
)

from ._helpers import tiny_generator


@pytest.fixture
def certificates(settings, store) -> CertificateStore:  # type: ignore[no-untyped-def]
    return CertificateStore(settings, store)


def _entries(log: TransparencyLog, kind: str) -> list[dict]:  # type: ignore[type-arg]
    return [e.payload for e in log.entries(0, 1000, kind=kind)]


def test_register_logs_hash_and_public_metadata_only(certificates, certificate: Certificate, log) -> None:  # type: ignore[no-untyped-def]
    rec = certificates.register(certificate)
    assert rec.certificate_id == certificate.certificate_id and rec.sha256 == certificate.sha256
    [payload] = _entries(log, "provenance.certificate")
    assert payload["sha256"] == certificate.sha256
    assert payload["certificate_id"] == certificate.certificate_id
    assert payload["key_ids"] == [m.key_id for m in certificate.members]
    coords = certificate.members[0].reconstructor.coords_
    assert "coords" not in json.dumps(payload) and json.dumps(coords.tolist()) not in json.dumps(payload)
    path = certificates.directory / f"{rec.certificate_id}.sealed"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert certificate.to_bytes() not in path.read_bytes()
    # registering again is idempotent: one log entry
    certificates.register(certificate)
    assert len(_entries(log, "provenance.certificate")) == 1


def test_loaded_certificate_verifies_like_the_original(certificates, certificate: Certificate, generator) -> None:  # type: ignore[no-untyped-def]
    certificates.register(certificate)
    loaded = certificates.load(certificate.certificate_id)
    x = sample_images(generator, 30, random_state=8)
    assert verify(x, loaded) == verify(x, certificate)


def test_unknown_and_revoked_certificates_get_specific_errors(certificates, certificate: Certificate, log) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CertificateNotFoundError) as info:
        certificates.load("cert-0000000000000000")
    assert info.value.code == "provenance.unknown_certificate"
    with pytest.raises(CertificateNotFoundError):
        certificates.load("../../etc/passwd")
    certificates.register(certificate)
    rec = certificates.revoke(certificate.certificate_id, "weights leaked")
    assert rec.revoked and rec.revoke_reason == "weights leaked"
    with pytest.raises(CertificateRevokedError) as revoked:
        certificates.load(certificate.certificate_id)
    assert revoked.value.code == "provenance.revoked_certificate" and "weights leaked" in revoked.value.message
    [entry] = _entries(log, "provenance.revocation")
    assert entry["sha256"] == certificate.sha256
    with pytest.raises(CertificateRevokedError):
        certificates.revoke(certificate.certificate_id, "again")
    assert [r.certificate_id for r in certificates.list(include_revoked=False)] == []


def test_tampered_or_missing_files_are_detected(certificates, certificate: Certificate) -> None:  # type: ignore[no-untyped-def]
    rec = certificates.register(certificate)
    path = certificates.directory / f"{rec.certificate_id}.sealed"
    blob = bytearray(path.read_bytes())
    blob[100] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(CertificateIntegrityError):
        certificates.load(rec.certificate_id)
    path.unlink()
    with pytest.raises(CertificateIntegrityError):
        certificates.load(rec.certificate_id)


def test_key_rotation_replaces_and_revokes(certificates, certificate: Certificate, generator, log) -> None:  # type: ignore[no-untyped-def]
    certificates.register(certificate)
    kwargs = {"k": 32, "n_train": 300, "n_reference": 60, "n_calibration": 60}
    rec_small = Reconstructor(width=8, hidden=64, epochs=2)
    with pytest.raises(ProvenanceInputError):  # the same key is not a rotation
        certificates.rotate(
            certificate.certificate_id,
            certify(generator, b"test-key-0123456789abcdef", reconstructor=rec_small, **kwargs),  # type: ignore[arg-type]
        )
    fresh = certify(generator, b"rotated-key-0123456789ab", reconstructor=rec_small, **kwargs)  # type: ignore[arg-type]
    old, new = certificates.rotate(certificate.certificate_id, fresh)
    assert old.superseded_by == new.certificate_id and new.rotated_from == old.certificate_id
    with pytest.raises(CertificateRevokedError) as info:
        certificates.load(certificate.certificate_id)
    assert info.value.extra["superseded_by"] == new.certificate_id
    loaded = certificates.load(new.certificate_id)
    assert loaded.members[0].key_id != certificate.members[0].key_id
    [entry] = [p for p in _entries(log, "provenance.certificate") if p.get("rotated_from")]
    assert entry["rotated_from"] == certificate.certificate_id
    assert certificates.load(new.certificate_id).certificate_id == new.certificate_id
    assert verify(sample_images(tiny_generator(1), 40, random_state=1), loaded).decision == "substitute"


@pytest.mark.postgres
def test_register_revoke_on_postgres(tmp_path, certificate: Certificate) -> None:  # type: ignore[no-untyped-def]
    from tests._postgres import fresh_schema_url
    from trustplane.core.config import Settings
    from trustplane.core.store import Store

    with fresh_schema_url("tp_provenance") as url:
        settings = Settings(home=tmp_path / "home", database_url=url)
        pg = Store(settings.resolved_database_url)
        pg.upgrade()
        try:
            certs = CertificateStore(settings, pg)
            rec = certs.register(certificate)
            assert certs.load(rec.certificate_id).sha256 == certificate.sha256
            certs.revoke(rec.certificate_id, "postgres test")
            with pytest.raises(CertificateRevokedError):
                certs.load(rec.certificate_id)
        finally:
            pg.dispose()
