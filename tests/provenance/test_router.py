"""POST /provenance/verify with uploaded .npy and PNG files; errors as problem+json."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from trustplane.provenance import Certificate, CertificateStore, Reconstructor, certify, sample_images
from trustplane.provenance._images import write_png
from trustplane.server import create_app

from ._helpers import tiny_generator

PROBLEM = "application/problem+json"


@pytest.fixture
def client(settings) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(create_app(settings)) as c:
        yield c


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def test_verify_uploaded_arrays(client: TestClient, settings, certificate: Certificate, generator) -> None:  # type: ignore[no-untyped-def]
    CertificateStore(settings).register(certificate)
    cid = certificate.certificate_id
    good = sample_images(generator, 40, random_state=21)
    r = client.post(
        "/provenance/verify",
        data={"certificate_id": cid},
        files=[
            ("files", ("a.npy", _npy(good[:20]), "application/octet-stream")),
            ("files", ("b.npy", _npy(good[20:]), "application/octet-stream")),
        ],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["n"] == 40 and body["decision"] == "certified" and body["certificate_id"] == cid
    bad = sample_images(tiny_generator(1), 40, random_state=21)
    r = client.post("/provenance/verify", data={"certificate_id": cid}, files=[("files", ("s.npy", _npy(bad), "x"))])
    assert r.json()["decision"] == "substitute"
    listing = client.get("/provenance/certificates").json()
    assert [c["certificate_id"] for c in listing] == [cid]
    assert client.get(f"/provenance/certificates/{cid}").json()["sha256"] == certificate.sha256


def test_errors_are_problem_json(client: TestClient, settings, certificate: Certificate, generator) -> None:  # type: ignore[no-untyped-def]
    store = CertificateStore(settings)
    store.register(certificate)
    cid = certificate.certificate_id
    wrong_shape = np.zeros((2, 3, 8, 8), dtype=np.float32)
    r = client.post(
        "/provenance/verify", data={"certificate_id": cid}, files=[("files", ("w.npy", _npy(wrong_shape), "x"))]
    )
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["code"] == "provenance.bad_images" and r.json()["expected"] == [3, 16, 16]
    r = client.post(
        "/provenance/verify", data={"certificate_id": cid}, files=[("files", ("w.npy", _npy(wrong_shape * 0 + 3), "x"))]
    )
    assert r.json()["code"] == "provenance.bad_images"
    r = client.post("/provenance/verify", data={"certificate_id": cid}, files=[("files", ("w.txt", b"hello", "x"))])
    assert r.status_code == 422 and "only .npy and .png" in r.json()["detail"]
    r = client.post(
        "/provenance/verify",
        data={"certificate_id": "cert-0000000000000000"},
        files=[("files", ("a.npy", _npy(sample_images(generator, 2)), "x"))],
    )
    assert r.status_code == 404 and r.json()["code"] == "provenance.unknown_certificate"
    # PNG is 8-bit: refused for a certificate calibrated on floats
    png = io.BytesIO()
    write_png(png, sample_images(generator, 1)[0])
    r = client.post(
        "/provenance/verify", data={"certificate_id": cid}, files=[("files", ("a.png", png.getvalue(), "image/png"))]
    )
    assert r.status_code == 422 and "8-bit" in r.json()["detail"]
    r = client.post(
        "/provenance/verify",
        data={"certificate_id": cid, "alpha": "0.0001"},
        files=[("files", ("a.npy", _npy(sample_images(generator, 1)), "x"))],
    )
    assert r.status_code == 422 and r.json()["code"] == "provenance.too_few_samples" and r.json()["needed"] == 9999
    store.revoke(cid, "compromised")
    r = client.post(
        "/provenance/verify",
        data={"certificate_id": cid},
        files=[("files", ("a.npy", _npy(sample_images(generator, 2)), "x"))],
    )
    assert r.status_code == 410 and r.json()["code"] == "provenance.revoked_certificate"


def test_png_uploads_against_an_8bit_certificate(client: TestClient, settings, generator) -> None:  # type: ignore[no-untyped-def]
    cert = certify(
        generator,
        b"png-key-0123456789abcdef",
        k=32,
        n_train=600,
        n_reference=100,
        n_calibration=200,
        reconstructor=Reconstructor(width=8, hidden=128, epochs=8, batch_size=32, learning_rate=3e-3),
        pixel_format="uint8",
    )
    CertificateStore(settings).register(cert)
    files = []
    for i, img in enumerate(sample_images(generator, 30, random_state=4)):
        buf = io.BytesIO()
        write_png(buf, img)
        files.append(("files", (f"{i}.png", buf.getvalue(), "image/png")))
    r = client.post("/provenance/verify", data={"certificate_id": cert.certificate_id}, files=files)
    assert r.status_code == 200, r.text
    assert r.json()["n"] == 30 and r.json()["decision"] == "certified"
