"""Provenance against malicious providers: check that outputs come from the model that was certified.

Images (AuthPrint-style fingerprints, torch needed):

- :func:`certify` derives secret output coordinates from a key, trains a :class:`Reconstructor` that
  predicts them from the rest of the image (with them masked), and keeps calibration scores in a
  :class:`Certificate`;
- :func:`verify` tests a batch of images against a certificate and returns a :class:`VerifyResult`
  with a permutation p-value that is valid whatever the batch size;
- :class:`CertificateStore` seals certificates at rest, logs their hash and public metadata to the
  transparency log (``provenance.certificate``), revokes and rotates them.

LLM APIs (numpy only): :func:`mmd_test` (Model Equality Testing with a character Hamming kernel) and
:func:`rank_uniformity_test`; :func:`run_llm_test` runs both against configured models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from trustplane.provenance import _schemas as _schemas  # registers the log kinds
from trustplane.provenance._errors import (
    CandidateUnreachableError,
    CertificateIntegrityError,
    CertificateNotFoundError,
    CertificateRevokedError,
    ImageInputError,
    ProvenanceInputError,
    SubstitutionDetectedError,
    TooFewSamplesError,
)
from trustplane.provenance._llm import (
    LLMTestResult,
    MMDResult,
    RankResult,
    hamming_kernel_matrix,
    mmd_test,
    rank_uniformity_test,
    run_llm_test,
)
from trustplane.provenance._registry import CertificateRecord, CertificateStore
from trustplane.provenance._secret import derive_coordinates, key_fingerprint, new_key
from trustplane.provenance._stats import auroc, bootstrap_ci, calibration_needed, fpr_at_tpr

if TYPE_CHECKING:
    from trustplane.provenance._certificate import (
        Certificate,
        CertificateMember,
        VerifyResult,
        certify,
        sample_images,
        verify,
    )
    from trustplane.provenance._reconstructor import Reconstructor
    from trustplane.provenance._substitutes import prune_weights, quantize_weights

_LAZY = {
    "Certificate": "_certificate",
    "CertificateMember": "_certificate",
    "VerifyResult": "_certificate",
    "certify": "_certificate",
    "sample_images": "_certificate",
    "verify": "_certificate",
    "Reconstructor": "_reconstructor",
    "prune_weights": "_substitutes",
    "quantize_weights": "_substitutes",
}


def __getattr__(name: str) -> Any:
    """Names that need torch are imported on first use, so the package imports without it."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trustplane.provenance' has no attribute {name!r}")
    from trustplane.provenance._torch import require_torch

    require_torch()
    return getattr(importlib.import_module(f"trustplane.provenance.{module}"), name)


__all__ = [
    "CandidateUnreachableError",
    "Certificate",
    "CertificateIntegrityError",
    "CertificateMember",
    "CertificateNotFoundError",
    "CertificateRecord",
    "CertificateRevokedError",
    "CertificateStore",
    "ImageInputError",
    "LLMTestResult",
    "MMDResult",
    "ProvenanceInputError",
    "RankResult",
    "Reconstructor",
    "SubstitutionDetectedError",
    "TooFewSamplesError",
    "VerifyResult",
    "auroc",
    "bootstrap_ci",
    "calibration_needed",
    "certify",
    "derive_coordinates",
    "fpr_at_tpr",
    "hamming_kernel_matrix",
    "key_fingerprint",
    "mmd_test",
    "new_key",
    "prune_weights",
    "quantize_weights",
    "rank_uniformity_test",
    "run_llm_test",
    "sample_images",
    "verify",
]
