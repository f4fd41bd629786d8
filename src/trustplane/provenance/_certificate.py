"""Certify an image generator (secret coordinates, reconstructors, calibration) and verify images against it.

``certify`` draws the certified generator's outputs from seeded latents and splits them three ways:
training images for each reconstructor, reference images that fix how scores are standardised, and
calibration images whose scores are kept in the certificate. ``verify`` compares a batch of n images
with the calibration images by a permutation test, so under "these images come from the certified
generator" its p-value is valid (the calibration and the batch are exchangeable), whatever n is.

Two statistics are tested and combined by Bonferroni (p = min(1, 2 min(p1, p2))):

- ``mse``: the mean over the batch of the standardised reconstruction error (AuthPrint's score);
- ``bias``: n/K times the squared norm of the batch's mean standardised residual vector. A substitute
  that shifts the generator slightly but systematically (quantisation, fine-tuning) moves the residuals'
  mean; averaging n outputs shrinks the noise like 1/sqrt(n) but not the shift, so this statistic keeps
  gaining power with n where the error alone saturates.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

import trustplane
from trustplane.provenance._errors import ProvenanceInputError
from trustplane.provenance._format import pack, unpack
from trustplane.provenance._reconstructor import Reconstructor, check_images
from trustplane.provenance._secret import derive_coordinates, key_fingerprint
from trustplane.provenance._stats import check_attainable, n_permutations, permutation_pvalues

PixelFormat = Literal["float", "uint8"]
Decision = Literal["certified", "substitute"]
FORMAT_VERSION = 1


@dataclass(frozen=True)
class CertificateMember:
    """One key of a certificate: its public fingerprint, its reconstructor and its reference statistics."""

    key_id: str
    reconstructor: Reconstructor
    error_mean: float
    error_std: float
    residual_std: np.ndarray


@dataclass(frozen=True)
class ImageFeatures:
    """Per-image quantities the tests use: standardised error z (N,) and standardised residuals u (N, K)."""

    z: np.ndarray
    u: np.ndarray
    raw_error: np.ndarray


@dataclass(frozen=True)
class Certificate:
    """A sealed-at-rest record that a generator was certified: members (keys), calibration and public metadata.

    Only :meth:`public_metadata` and :attr:`sha256` may be published; the rest (secret coordinates,
    reconstructors, calibration) stays sealed.
    """

    image_shape: tuple[int, int, int]
    members: tuple[CertificateMember, ...]
    calibration_z: np.ndarray
    calibration_u: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    # --- identity ----------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {"calibration_z": self.calibration_z, "calibration_u": self.calibration_u}
        members = []
        for j, mem in enumerate(self.members):
            rec_meta, rec_arrays = mem.reconstructor.to_arrays(f"m{j}.")
            arrays.update(rec_arrays)
            arrays[f"m{j}.residual_std"] = mem.residual_std
            members.append({"key_id": mem.key_id, "error_mean": mem.error_mean, "error_std": mem.error_std, **rec_meta})
        header = {
            "format": FORMAT_VERSION,
            "image_shape": list(self.image_shape),
            "members": members,
            "meta": self.meta,
        }
        return pack(header, arrays)

    @classmethod
    def from_bytes(cls, data: bytes, device: str = "cpu") -> Certificate:
        header, arrays = unpack(data)
        members = []
        for j, m in enumerate(header["members"]):
            rec = Reconstructor.from_arrays(m, arrays, f"m{j}.", device=device)
            members.append(
                CertificateMember(
                    m["key_id"], rec, float(m["error_mean"]), float(m["error_std"]), arrays[f"m{j}.residual_std"]
                )
            )
        shape = tuple(int(s) for s in header["image_shape"])
        return cls(
            (shape[0], shape[1], shape[2]),
            tuple(members),
            arrays["calibration_z"],
            arrays["calibration_u"],
            dict(header["meta"]),
        )

    @property
    def sha256(self) -> str:
        """SHA-256 of the certificate's canonical bytes (what the transparency log records)."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @property
    def certificate_id(self) -> str:
        return "cert-" + self.sha256[:16]

    @property
    def n_calibration(self) -> int:
        return int(self.calibration_z.shape[0])

    @property
    def pixel_format(self) -> PixelFormat:
        fmt = self.meta.get("pixel_format", "float")
        return "uint8" if fmt == "uint8" else "float"

    def public_metadata(self) -> dict[str, Any]:
        """What may be published: no coordinates, no weights, no calibration values."""
        return {
            "certificate_id": self.certificate_id,
            "sha256": self.sha256,
            "image_shape": list(self.image_shape),
            "k": [int(m.reconstructor.coords_.size) for m in self.members],
            "key_ids": [m.key_id for m in self.members],
            "n_calibration": self.n_calibration,
            **{k: v for k, v in self.meta.items() if k in _PUBLIC_META},
        }

    # --- scoring -----------------------------------------------------------------------------------
    def prepare(self, images: Any) -> np.ndarray:
        """Validate images against the certificate; 8-bit certificates see values on the 1/255 grid."""
        arr = check_images(images, self.image_shape)
        if self.pixel_format == "uint8":
            arr = np.round(arr * 255.0) / np.float32(255.0)
        return arr

    def features(self, images: Any) -> ImageFeatures:
        arr = self.prepare(images)
        zs, us, raws = [], [], []
        for mem in self.members:
            resid = mem.reconstructor.residuals(arr)
            err = np.mean(resid**2, axis=1)
            raws.append(err)
            zs.append((err - mem.error_mean) / mem.error_std)
            us.append(resid / mem.residual_std)
        return ImageFeatures(np.mean(zs, axis=0), np.concatenate(us, axis=1), np.mean(raws, axis=0))


_PUBLIC_META = ("generator", "n_train", "n_reference", "random_state", "pixel_format", "trustplane_version", "format")


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify`: the decision at ``alpha`` and the p-values behind it."""

    certificate_id: str
    n: int
    alpha: float
    p_value: float
    p_value_mse: float
    p_value_bias: float
    decision: Decision
    mean_error: float
    permutations: int
    random_state: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "certificate_id": self.certificate_id,
            "n": self.n,
            "alpha": self.alpha,
            "p_value": self.p_value,
            "p_value_mse": self.p_value_mse,
            "p_value_bias": self.p_value_bias,
            "decision": self.decision,
            "mean_error": self.mean_error,
            "permutations": self.permutations,
            "random_state": self.random_state,
        }


def _stat_mse(z: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    return lambda idx: np.asarray(z[idx].mean(axis=1))


def _stat_bias(u: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    k = u.shape[1]

    def stat(idx: np.ndarray) -> np.ndarray:
        n = idx.shape[1]
        out = np.empty(idx.shape[0])
        step = max(1, 4_000_000 // max(1, n * k))
        for s in range(0, idx.shape[0], step):
            out[s : s + step] = (u[idx[s : s + step]].mean(axis=1) ** 2).sum(axis=1) * n / k
        return out

    return stat


def verify_features(
    features: ImageFeatures,
    certificate: Certificate,
    *,
    alpha: float = 0.05,
    permutations: int | None = None,
    random_state: int = 0,
) -> VerifyResult:
    """:func:`verify` on already computed features (lets callers score once and test many batches)."""
    n = int(features.z.shape[0])
    m = certificate.n_calibration
    check_attainable(alpha, m, n)
    z = np.concatenate([certificate.calibration_z, features.z])
    u = np.concatenate([certificate.calibration_u, features.u])
    b = n_permutations(alpha, permutations)
    (p_mse, p_bias), used = permutation_pvalues(
        z, n, [_stat_mse(z), _stat_bias(u)], permutations=b, random_state=random_state
    )
    p = min(1.0, 2.0 * min(p_mse, p_bias))
    return VerifyResult(
        certificate_id=certificate.certificate_id,
        n=n,
        alpha=alpha,
        p_value=p,
        p_value_mse=p_mse,
        p_value_bias=p_bias,
        decision="certified" if p > alpha else "substitute",
        mean_error=float(np.mean(features.raw_error)),
        permutations=used,
        random_state=random_state,
    )


def verify(
    images: Any,
    certificate: Certificate,
    *,
    alpha: float = 0.05,
    permutations: int | None = None,
    random_state: int = 0,
) -> VerifyResult:
    """Test whether ``images`` (N, C, H, W floats in [0, 1]) come from the certified generator.

    All N images are one sample of the provider's outputs (averaging over n outputs is the main lever
    of power). The p-value is valid: if the images are independent outputs of the certified generator,
    ``P(p <= alpha) <= alpha``. Decision ``substitute`` when ``p <= alpha``.

    Raises:
        ImageInputError: wrong shape or value range.
        TooFewSamplesError: no p-value this small can come out of the calibration set and the batch;
            the error says how many calibration samples are needed.
    """
    features = certificate.features(images)
    return verify_features(features, certificate, alpha=alpha, permutations=permutations, random_state=random_state)


# --- certification -----------------------------------------------------------------------------------------
def _latent_dim(generator: Any, latent_dim: int | None) -> int:
    dim = latent_dim if latent_dim is not None else getattr(generator, "latent_dim", None)
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
        raise ProvenanceInputError(
            "the generator's latent dimension is unknown",
            hint="pass latent_dim=..., or give the generator a latent_dim attribute",
        )
    return dim


def sample_images(
    generator: Callable[[torch.Tensor], torch.Tensor],
    n: int,
    *,
    latent_dim: int | None = None,
    random_state: int = 0,
    batch_size: int = 512,
    device: str = "cpu",
) -> np.ndarray:
    """``n`` outputs of ``generator`` on standard-normal latents drawn with ``random_state``, as float32 numpy."""
    dim = _latent_dim(generator, latent_dim)
    gen = torch.Generator().manual_seed(int(random_state))
    out = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            z = torch.randn(min(batch_size, n - start), dim, generator=gen).to(device)
            out.append(generator(z).detach().float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0,), dtype=np.float32)


def certify(
    generator: Callable[[torch.Tensor], torch.Tensor],
    key: bytes | Sequence[bytes],
    k: int = 64,
    n_train: int = 20_000,
    *,
    n_reference: int = 500,
    n_calibration: int = 1000,
    latent_dim: int | None = None,
    reconstructor: Reconstructor | None = None,
    pixel_format: PixelFormat = "float",
    generator_name: str = "unnamed",
    random_state: int = 0,
    batch_size: int = 512,
    device: str = "cpu",
) -> Certificate:
    """Certify ``generator``: secret coordinates from each key, one reconstructor per key, calibration scores.

    Args:
        generator: any callable mapping a (B, latent_dim) standard-normal latent tensor to (B, C, H, W)
            images with values in [0, 1] (wrap generators that output [-1, 1]).
        key: a secret key (>= 16 bytes), or several for an ensemble; each gives its own coordinates.
        k: secret coordinates per key.
        n_train: generated images each reconstructor is trained on.
        n_reference: generated images that fix the standardisation of scores.
        n_calibration: generated images whose scores the certificate keeps for the p-values.
        latent_dim: the latent size, if the generator has no ``latent_dim`` attribute.
        reconstructor: a template whose hyper-parameters every member copies (default ``Reconstructor()``).
        pixel_format: "uint8" when outputs will be delivered as 8-bit images (PNG): calibration and
            verification then see values rounded to multiples of 1/255.
        generator_name: public name recorded in the certificate's metadata.
        random_state: seed of the latents and of every reconstructor.
    """
    keys = [key] if isinstance(key, bytes | bytearray) else list(key)
    if not keys:
        raise ProvenanceInputError("certify needs at least one key")
    for name, value in (("n_train", n_train), ("n_reference", n_reference), ("n_calibration", n_calibration)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ProvenanceInputError(f"{name} must be an integer of at least 2, got {value!r}")
    if pixel_format not in ("float", "uint8"):
        raise ProvenanceInputError(f"pixel_format must be 'float' or 'uint8', got {pixel_format!r}")
    total = n_train + n_reference + n_calibration
    images = sample_images(
        generator,
        total,
        latent_dim=latent_dim,
        random_state=random_state,
        batch_size=batch_size,
        device=device,
    )
    images = check_images(images, what="generator outputs")
    if pixel_format == "uint8":
        images = np.round(images * 255.0) / np.float32(255.0)
    shape = (int(images.shape[1]), int(images.shape[2]), int(images.shape[3]))
    train = images[:n_train]
    reference = images[n_train : n_train + n_reference]
    calibration = images[n_train + n_reference :]
    template = reconstructor or Reconstructor()
    members = []
    for j, member_key in enumerate(keys):
        coords = derive_coordinates(bytes(member_key), shape, k)
        params = {**template.get_params(), "random_state": random_state + j, "device": device}
        rec = Reconstructor(**params).fit(train, coords)
        resid = rec.residuals(reference)
        err = np.mean(resid**2, axis=1)
        members.append(
            CertificateMember(
                key_id=key_fingerprint(bytes(member_key)),
                reconstructor=rec,
                error_mean=float(err.mean()),
                error_std=float(max(err.std(), 1e-12)),
                residual_std=np.maximum(resid.std(axis=0), 1e-9).astype(np.float64),
            )
        )
    meta = {
        "generator": generator_name,
        "n_train": n_train,
        "n_reference": n_reference,
        "random_state": random_state,
        "pixel_format": pixel_format,
        "trustplane_version": trustplane.__version__,
        "format": FORMAT_VERSION,
    }
    cert = Certificate(shape, tuple(members), np.zeros(0), np.zeros((0, 0)), meta)
    feats = cert.features(calibration)
    return Certificate(shape, tuple(members), feats.z.astype(np.float64), feats.u.astype(np.float64), meta)


def describe(certificate: Certificate) -> str:
    """One line for people."""
    meta = certificate.public_metadata()
    return json.dumps(meta, sort_keys=True)
