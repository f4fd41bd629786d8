"""Typed log entries: kinds registered by name, payloads validated, canonical JSON (RFC 8785)."""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import rfc8785
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticSerializationError

from trustplane.core.errors import EntryTooLargeError, MalformedEntryError, UnknownEntryKindError
from trustplane.core.log._merkle import leaf_hash

KIND_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"


@dataclass(frozen=True)
class EntryKind:
    """A registered entry kind: its name, payload schema (``None``: any JSON object) and description."""

    name: str
    schema: type[BaseModel] | None
    description: str


_KINDS: dict[str, EntryKind] = {}
_LOCK = threading.Lock()
_ENTRY_POINTS_LOADED = False


def register_kind(name: str, schema: type[BaseModel] | None = None, description: str = "") -> EntryKind:
    """Register an entry kind. Capabilities call this for the claims they make (``arena.battle``...).

    Re-registering the same name with the same schema is a no-op; a different schema is an error.
    """
    import re

    if not re.match(KIND_PATTERN, name):
        raise ValueError(f"entry kind {name!r} must look like 'capability.claim' (lowercase, dotted)")
    with _LOCK:
        existing = _KINDS.get(name)
        if existing is not None:
            if existing.schema is not schema:
                raise ValueError(f"entry kind {name!r} is already registered with another schema")
            return existing
        kind = EntryKind(name, schema, description or (schema.__doc__ or "").strip().split("\n")[0])
        _KINDS[name] = kind
        return kind


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for ep in entry_points(group="trustplane.log_kinds"):
        ep.load()  # importing the module registers its kinds


def get_kind(name: str) -> EntryKind:
    kind = _KINDS.get(name)
    if kind is None:
        _load_entry_points()
        kind = _KINDS.get(name)
    if kind is None:
        raise UnknownEntryKindError(
            f"unknown entry kind {name!r}",
            hint=f"registered kinds: {', '.join(sorted(_KINDS))}",
            kind=name,
        )
    return kind


def registered_kinds() -> list[EntryKind]:
    _load_entry_points()
    return [_KINDS[k] for k in sorted(_KINDS)]


# --- kinds the core itself writes ------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GenesisPayload(_Strict):
    """The log's first entry: the public key that signs its first tree heads."""

    log_id: str = Field(pattern=r"^[0-9a-f]{64}$")
    key_id: str = Field(pattern=r"^[0-9a-f]{64}$")
    public_key: str = Field(pattern=r"^[0-9a-f]{64}$", description="Raw Ed25519 public key, hex.")


class KeyRotationPayload(_Strict):
    """A signing-key rotation, signed by both keys so trust flows either way along the chain."""

    log_id: str = Field(pattern=r"^[0-9a-f]{64}$")
    previous_key_id: str = Field(pattern=r"^[0-9a-f]{64}$")
    key_id: str = Field(pattern=r"^[0-9a-f]{64}$")
    public_key: str = Field(pattern=r"^[0-9a-f]{64}$")
    endorsement: str = Field(description="Signature by the previous key over the rotation statement, hex.")
    acceptance: str = Field(description="Signature by the new key over the rotation statement, hex.")


class NotePayload(_Strict):
    """A free-form statement by the operator, e.g. an incident note or a policy change."""

    text: str = Field(min_length=1, max_length=8000)
    subject: str | None = Field(None, max_length=500)
    data: dict[str, Any] | None = None


GENESIS = "log.genesis"
KEY_ROTATION = "log.key_rotation"
register_kind(GENESIS, GenesisPayload, "The log's first entry: its first signing key.")
register_kind(
    KEY_ROTATION, KeyRotationPayload, "A signing-key rotation, endorsed by the old key and accepted by the new."
)
register_kind("log.note", NotePayload, "A free-form statement by the operator.")


# --- encoding --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """A log entry as stored: its index, kind, payload, time and the canonical bytes that are hashed."""

    index: int
    kind: str
    payload: dict[str, Any]
    timestamp: int  # milliseconds since the Unix epoch, UTC
    data: bytes  # canonical JSON of {"kind", "payload", "timestamp"}: the Merkle leaf input
    leaf_hash: bytes

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "kind": self.kind,
            "payload": self.payload,
            "timestamp": self.timestamp,
            "leaf_hash": self.leaf_hash.hex(),
        }


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_MAX_SAFE_INT = 2**53 - 1


def _plain(value: Any) -> bool:
    """True for JSON made only of ASCII-keyed objects, arrays, strings, booleans, null and integers within
    ±(2^53 − 1): the values whose RFC 8785 form the standard library's sorted, compact ``json.dumps`` already
    writes byte for byte (no floats, whose ECMAScript formatting differs; ASCII keys, so code-point order is
    UTF-16 order; exact built-in types, so no subclass serialises differently)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_MAX_SAFE_INT <= value <= _MAX_SAFE_INT)
    if kind is dict:
        return all(type(k) is str and k.isascii() and _plain(v) for k, v in value.items())
    if kind is list or kind is tuple:
        return all(_plain(v) for v in value)
    return False


def canonical(obj: Any) -> bytes:
    """RFC 8785 (JCS) canonical JSON; a clear error for values JSON can't carry exactly.

    Plain values (see :func:`_plain`) take the standard library's C encoder, several times faster than the
    general implementation; a property test holds the two to the same bytes.
    """
    if _plain(obj):
        try:
            return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        except UnicodeEncodeError:  # a lone surrogate: let the general implementation name the problem
            pass
    try:
        return rfc8785.dumps(obj)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise MalformedEntryError(f"payload is not canonicalisable JSON: {exc}") from None


def encode_payload(kind: str, payload: Any, *, max_bytes: int) -> tuple[dict[str, Any], bytes]:
    """Validate ``payload`` against the kind's schema; return it normalised and canonicalised.

    The leaf is stamped later, under the write lock, by :func:`leaf_data` (so timestamps follow
    log order), and the size limit counts the whole stamped entry.
    """
    spec = get_kind(kind)
    if isinstance(payload, (str, bytes)):
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise MalformedEntryError(f"payload is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(payload, dict):
        raise MalformedEntryError(f"payload must be a JSON object, not {type(payload).__name__}")
    _reject_non_json(payload, "payload")
    if spec.schema is not None:
        try:
            payload = spec.schema.model_validate(payload).model_dump(mode="json", exclude_none=True)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "payload"
            raise MalformedEntryError(
                f"payload for {kind!r} is invalid at {loc}: {first['msg']}"
                + (f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""),
                kind=kind,
            ) from None
        except PydanticSerializationError as exc:
            raise MalformedEntryError(
                f"payload for {kind!r} holds a value JSON can't carry: {exc}", kind=kind
            ) from None
    body = canonical(payload)
    size = len(body) + len(kind) + _LEAF_OVERHEAD
    if size > max_bytes:
        raise EntryTooLargeError(
            f"entry is {size} bytes canonicalised; the limit is {max_bytes}",
            hint="store large artefacts elsewhere and log their hash, or raise TRUSTPLANE_LOG_MAX_ENTRY_BYTES",
            size=size,
            limit=max_bytes,
        )
    return payload, body


def _reject_non_json(value: Any, where: str) -> None:
    """Refuse what canonical JSON can't carry exactly, before a schema could coerce it silently."""
    if isinstance(value, float) and not math.isfinite(value):
        raise MalformedEntryError(
            f"payload is not canonicalisable JSON: {where} is {value!r} (JSON has no NaN or infinity)"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise MalformedEntryError(f"payload is not canonicalisable JSON: {where} has a non-string key {key!r}")
            _reject_non_json(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _reject_non_json(item, f"{where}[{i}]")
    elif not isinstance(value, (str, int, float, bool, type(None))):
        raise MalformedEntryError(f"payload is not canonicalisable JSON: {where} is a {type(value).__name__}")


def leaf_data(kind: str, canonical_payload: bytes, timestamp: int) -> bytes:
    """Canonical JSON of ``{"kind", "payload", "timestamp"}`` without re-encoding the payload.

    RFC 8785 orders members by key, and ``kind`` < ``payload`` < ``timestamp``, so concatenation
    yields exactly ``canonical({"kind": kind, "payload": payload, "timestamp": timestamp})``.
    """
    # Registered kinds match KIND_PATTERN (lowercase ASCII, digits, '_' and '.'): nothing to escape.
    return b'{"kind":"%s","payload":%s,"timestamp":%d}' % (kind.encode(), canonical_payload, timestamp)


_LEAF_OVERHEAD = len(leaf_data("", b"", 10**13 - 1))  # bytes around kind and payload, 13-digit timestamp


def make_entry(
    index: int,
    data: bytes,
    kind: str | None = None,
    payload: dict[str, Any] | None = None,
    timestamp: int | None = None,
) -> Entry:
    """An :class:`Entry` from its leaf bytes; pass the parts when known to skip re-parsing."""
    if kind is not None and payload is not None and timestamp is not None:
        return Entry(index, kind, payload, timestamp, data, leaf_hash(data))
    obj = json.loads(data)
    return Entry(index, obj["kind"], obj["payload"], obj["timestamp"], data, leaf_hash(data))
