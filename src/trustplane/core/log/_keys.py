"""Ed25519 signing keys for tree heads: created on first start, stored 0600, identified by hash."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from trustplane.core.errors import SigningKeyMissingError, WrongKeyError


def key_id(public_key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, hex (the RFC 9162 log-ID convention)."""
    return hashlib.sha256(raw_public(public_key)).hexdigest()


def raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_from_raw(raw: bytes) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise WrongKeyError(f"not an Ed25519 public key: {exc}") from None


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_key(text: str) -> Ed25519PublicKey:
    """Parse a public key given as PEM, hex (64 chars) or base64 of the raw 32 bytes, or a file holding one."""
    candidate = text.strip()
    path = Path(candidate)
    if len(candidate) < 4096 and "\n" not in candidate and path.is_file():
        candidate = path.read_text().strip()
    if candidate.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(candidate.encode())
        except ValueError as exc:
            raise WrongKeyError(f"cannot parse PEM public key: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise WrongKeyError("the PEM key is not an Ed25519 public key")
        return key
    raw: bytes | None = None
    if len(candidate) == 64:
        try:
            raw = bytes.fromhex(candidate)
        except ValueError:
            raw = None
    if raw is None:
        try:
            raw = base64.b64decode(candidate, validate=True)
        except ValueError:
            raw = None
    if raw is None or len(raw) != 32:
        raise WrongKeyError(
            "public key is neither PEM, 64 hex digits nor base64 of 32 bytes, nor a file holding one",
            hint="fetch it with `trustplane log public-key` or GET /log/public-key",
        )
    return public_from_raw(raw)


def verify_signature(public_key: Ed25519PublicKey, signature_hex: str, message: bytes) -> bool:
    try:
        public_key.verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
        return False
    return True


class KeyStore:
    """Private signing keys under ``<home>/keys``, one PKCS#8 PEM file per key, mode 0600."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, kid: str) -> Path:
        return self.directory / f"{kid}.pem"

    def create(self) -> Ed25519PrivateKey:
        """Generate a key and write it atomically with 0600 permissions (the directory is 0700)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        final = self._path(key_id(key.public_key()))
        tmp = final.with_suffix(f".tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        return key

    def load(self, kid: str) -> Ed25519PrivateKey:
        path = self._path(kid)
        if not path.is_file():
            raise SigningKeyMissingError(
                f"the log's signing key {kid[:16]}… is not in {self.directory}",
                hint="copy the key file into TRUSTPLANE_HOME/keys, or point TRUSTPLANE_HOME at the log's home",
                key_id=kid,
            )
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise SigningKeyMissingError(
                f"signing key file {path.name} is readable by others (mode {mode:o})",
                hint=f"chmod 600 {path}",
                key_id=kid,
            )
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey) or key_id(key.public_key()) != kid:
            raise SigningKeyMissingError(f"key file {path.name} does not hold key {kid[:16]}…", key_id=kid)
        return key
