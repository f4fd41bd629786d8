"""Signed tree heads and proofs as data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from trustplane.core.errors import InvalidInputError
from trustplane.core.log._entries import canonical
from trustplane.core.log._keys import verify_signature

TREE_HEAD_TYPE = "trustplane.tree_head.v1"
ROTATION_TYPE = "trustplane.key_rotation.v1"


@dataclass(frozen=True)
class TreeHead:
    """A signed statement of the log's size and root at a time (RFC 9162 §4.10 in spirit)."""

    log_id: str
    tree_size: int
    root_hash: bytes
    timestamp: int
    key_id: str
    signature: str = ""

    def signed_message(self) -> bytes:
        """The exact bytes that are signed: canonical JSON of every field but the signature."""
        return canonical(
            {
                "type": TREE_HEAD_TYPE,
                "log_id": self.log_id,
                "tree_size": self.tree_size,
                "root_hash": self.root_hash.hex(),
                "timestamp": self.timestamp,
                "key_id": self.key_id,
            }
        )

    def sign(self, key: Ed25519PrivateKey) -> TreeHead:
        sig = key.sign(self.signed_message()).hex()
        return TreeHead(self.log_id, self.tree_size, self.root_hash, self.timestamp, self.key_id, sig)

    def verify(self, key: Ed25519PublicKey) -> bool:
        return verify_signature(key, self.signature, self.signed_message())

    def as_json(self) -> dict[str, Any]:
        return {
            "type": TREE_HEAD_TYPE,
            "log_id": self.log_id,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp": self.timestamp,
            "key_id": self.key_id,
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, obj: Any) -> TreeHead:
        try:
            if obj.get("type", TREE_HEAD_TYPE) != TREE_HEAD_TYPE:
                raise ValueError(f"type is {obj.get('type')!r}")
            root = bytes.fromhex(obj["root_hash"])
            if len(root) != 32:
                raise ValueError("root_hash must be 32 bytes")
            size = obj["tree_size"]
            if not isinstance(size, int) or size < 0:
                raise ValueError("tree_size must be a non-negative integer")
            return cls(str(obj["log_id"]), size, root, int(obj["timestamp"]), str(obj["key_id"]), str(obj["signature"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInputError(f"not a trustplane tree head: {exc}") from None


def rotation_statement(log_id: str, previous_key_id: str, key_id: str, public_key_hex: str) -> bytes:
    return canonical(
        {
            "type": ROTATION_TYPE,
            "log_id": log_id,
            "previous_key_id": previous_key_id,
            "key_id": key_id,
            "public_key": public_key_hex,
        }
    )


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: bytes
    path: list[bytes]

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "tree_size": self.tree_size,
            "leaf_hash": self.leaf_hash.hex(),
            "path": [p.hex() for p in self.path],
        }


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    path: list[bytes]

    def as_json(self) -> dict[str, Any]:
        return {"first": self.first, "second": self.second, "path": [p.hex() for p in self.path]}
