"""HTTP surface: ``POST /provenance/verify`` (uploaded images against a certificate) and certificate listings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool

from trustplane.core.config import Settings
from trustplane.provenance._errors import ImageInputError
from trustplane.provenance._images import decode_image_bytes, stack
from trustplane.provenance._registry import CertificateStore

router = APIRouter(prefix="/provenance", tags=["provenance"])

MAX_UPLOAD_BYTES = 64 * 1024 * 1024


def _certificates(request: Request) -> CertificateStore:
    settings: Settings = request.app.state.settings
    return CertificateStore(settings, request.app.state.store)


@router.post("/verify", summary="Verify that uploaded images come from a certified generator")
async def verify_images(
    request: Request,
    certificate_id: Annotated[str, Form(description="Certificate id (cert-...).")],
    files: Annotated[list[UploadFile], File(description=".npy arrays (N, C, H, W) or (C, H, W), or 8-bit PNG files.")],
    alpha: Annotated[float, Form(gt=0.0, lt=1.0, description="Type-I error rate.")] = 0.05,
    seed: Annotated[int, Form(ge=0, description="Seed of the permutations.")] = 0,
) -> dict[str, Any]:
    """All uploaded images form one batch of n outputs; the answer carries the decision and the p-values."""
    store = _certificates(request)
    record = store.record(certificate_id)  # unknown or malformed id: 404 before reading any upload
    parts = []
    total = 0
    from_png = False
    for upload in files:
        data = await upload.read(MAX_UPLOAD_BYTES + 1 - total)
        total += len(data)
        if total > MAX_UPLOAD_BYTES:
            raise ImageInputError(
                f"uploads exceed {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB", hint="send fewer images per request"
            )
        name = upload.filename or "upload"
        parts.append(decode_image_bytes(name, data))
        from_png = from_png or name.lower().endswith(".png")
    images = stack(parts)

    def work() -> dict[str, Any]:
        from trustplane.provenance._certificate import verify
        from trustplane.provenance._images import check_pixel_format
        from trustplane.provenance._torch import require_torch

        require_torch()
        cert = store.load(record.certificate_id)
        check_pixel_format(cert.pixel_format, from_png)
        return verify(images, cert, alpha=alpha, random_state=seed).as_dict()

    return await run_in_threadpool(work)


@router.get("/certificates", summary="Registered certificates (public facts)")
def list_certificates(request: Request, include_revoked: bool = True) -> list[dict[str, Any]]:
    return [r.as_dict() for r in _certificates(request).list(include_revoked=include_revoked)]


@router.get("/certificates/{certificate_id}", summary="One certificate's public record")
def get_certificate(request: Request, certificate_id: str) -> dict[str, Any]:
    return _certificates(request).record(certificate_id).as_dict()
