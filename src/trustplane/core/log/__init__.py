"""The transparency log: an append-only RFC 9162 Merkle tree of typed, canonical-JSON entries.

Every claim a provider makes goes here. Tree heads are signed with Ed25519; anyone can ask for
inclusion and consistency proofs, and :func:`verify_export` checks an exported log offline.
"""

from trustplane.core.log._entries import (
    Entry,
    EntryKind,
    canonical,
    get_kind,
    register_kind,
    registered_kinds,
)
from trustplane.core.log._export import ExportReport, export_log, import_log, verify_export
from trustplane.core.log._keys import load_public_key, public_pem
from trustplane.core.log._log import AppendResult, LogKey, TransparencyLog
from trustplane.core.log._merkle import (
    ProofError,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from trustplane.core.log._treehead import ConsistencyProof, InclusionProof, TreeHead

__all__ = [
    "AppendResult",
    "ConsistencyProof",
    "Entry",
    "EntryKind",
    "ExportReport",
    "InclusionProof",
    "LogKey",
    "ProofError",
    "TransparencyLog",
    "TreeHead",
    "canonical",
    "export_log",
    "get_kind",
    "import_log",
    "leaf_hash",
    "load_public_key",
    "node_hash",
    "public_pem",
    "register_kind",
    "registered_kinds",
    "root_of",
    "verify_consistency",
    "verify_export",
    "verify_inclusion",
]
