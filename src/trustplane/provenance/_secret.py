"""Secrets: coordinates derived from a key (HKDF), public key fingerprints (HMAC), sealing at rest (AES-SIV).

The secret coordinates of a certificate are a pure function of the key, the image shape and ``k``, so
the same key gives the same coordinates on every machine. A certificate is stored sealed: encrypted
and authenticated with AES-SIV under a sealing key kept in ``<home>/keys/provenance-seal.key`` (mode
0600). AES-SIV is deterministic, so the same certificate seals to the same bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from trustplane.provenance._errors import CertificateIntegrityError, ProvenanceInputError

_SALT = b"trustplane.provenance.v1"
SEAL_KEY_FILE = "provenance-seal.key"


def new_key() -> bytes:
    """A fresh 32-byte secret key."""
    return secrets.token_bytes(32)


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) < 16:
        raise ProvenanceInputError(
            "a provenance key must be at least 16 bytes", hint="use trustplane.provenance.new_key() or 32 random bytes"
        )
    return bytes(key)


def key_fingerprint(key: bytes) -> str:
    """A public identifier of ``key`` (HMAC-SHA256 of a fixed label, 16 hex digits); reveals nothing about it."""
    return hmac.new(_check_key(key), b"trustplane.provenance.key-id", hashlib.sha256).hexdigest()[:16]


def derive_coordinates(key: bytes, shape: tuple[int, ...], k: int) -> np.ndarray:
    """``k`` distinct flat indices into an image of ``shape`` (C, H, W), sorted, derived from ``key`` by HKDF."""
    size = int(np.prod(shape))
    if not 1 <= k < size:
        raise ProvenanceInputError(f"k must be between 1 and {size - 1} for images of shape {tuple(shape)}, got {k}")
    info = f"coordinates|{'x'.join(str(int(s)) for s in shape)}|{k}".encode()
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=info).derive(_check_key(key))
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big")))
    return np.sort(rng.choice(size, size=k, replace=False)).astype(np.int64)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class Sealer:
    """Seals and opens certificate bytes with the sealing key under ``keys_dir`` (created on first use, 0600)."""

    def __init__(self, keys_dir: Path) -> None:
        self.path = Path(keys_dir) / SEAL_KEY_FILE

    def _key(self) -> bytes:
        if not self.path.exists():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process made it first
            except FileNotFoundError:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                return self._key()
            else:
                try:
                    os.write(fd, AESSIV.generate_key(512))
                finally:
                    os.close(fd)
        key = self.path.read_bytes()
        if len(key) != 64:
            raise CertificateIntegrityError(f"the sealing key {self.path.name} is damaged (wrong length)")
        return key

    def seal(self, data: bytes, label: str) -> bytes:
        return AESSIV(self._key()).encrypt(data, [label.encode()])

    def open(self, blob: bytes, label: str) -> bytes:
        try:
            return AESSIV(self._key()).decrypt(blob, [label.encode()])
        except InvalidTag:
            raise CertificateIntegrityError(
                f"certificate {label} cannot be unsealed: altered, or sealed under another key",
                hint="restore the certificate file and the sealing key from a backup",
                certificate_id=label,
            ) from None

    def write(self, path: Path, data: bytes, label: str) -> None:
        _write_private(path, self.seal(data, label))
