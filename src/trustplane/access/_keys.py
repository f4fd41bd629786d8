"""API keys for machines, hashed at rest, and admin revocation of keys, subjects and credentials.

A key reads ``tp_<key id>_<secret>``. Only ``HMAC-SHA256(pepper, secret)`` is stored, where the
pepper is a server secret (``TRUSTPLANE_API_KEY_PEPPER``, else a file created once under
``<home>/keys``): a stolen database does not yield usable keys. The secret is shown once, on creation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    and_,
    bindparam,
    case,
    exists,
    false,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from trustplane.access._errors import (
    InvalidApiKeyError,
    KeyExpiredError,
    KeyNotFoundError,
    KeyRevokedError,
)
from trustplane.access._principal import ASSURANCE_LEVELS, ATTRIBUTE_PATTERN, Principal, assurance_rank
from trustplane.access._tables import api_keys, revocations
from trustplane.core.config import Settings
from trustplane.core.errors import ConflictError, InvalidInputError
from trustplane.core.store import Prepared, Store

# Statements on every request's path are built once and run as prepared statements (building and executing a
# SQLAlchemy expression costs several times the database's own work for these one-row lookups).
_KEY_COLUMNS = tuple(c.key for c in api_keys.columns)
_KEY_BY_ID = Prepared(select(api_keys).where(api_keys.c.key_id == bindparam("key_id")))
_KEY_STATE = Prepared(
    select(api_keys.c.revoked_ms, api_keys.c.expires_ms).where(api_keys.c.key_id == bindparam("key_id"))
)


def _revoked_where(n_subjects: int, n_credentials: int) -> ColumnElement[bool]:
    """Revocations matching ``s0…`` (subjects) or ``c0…`` (credentials): one bound parameter per value."""
    conditions = []
    if n_subjects:
        subjects: list[BindParameter[Any]] = [bindparam(f"s{i}") for i in range(n_subjects)]
        conditions.append(and_(revocations.c.kind == "subject", revocations.c.value.in_(subjects)))
    if n_credentials:
        credentials: list[BindParameter[Any]] = [bindparam(f"c{i}") for i in range(n_credentials)]
        conditions.append(and_(revocations.c.kind == "credential", revocations.c.value.in_(credentials)))
    return or_(*conditions) if conditions else false()


@cache
def _revocation_check(n_subjects: int, n_credentials: int, with_key: bool) -> Prepared:
    """One query: is the key unusable (when ``with_key``), or is any subject or credential revoked?"""
    checks: list[ColumnElement[bool]] = [
        exists(select(revocations.c.id).where(_revoked_where(n_subjects, n_credentials)))
    ]
    if with_key:
        usable = select(api_keys.c.key_id).where(
            api_keys.c.key_id == bindparam("key_id"),
            api_keys.c.revoked_ms.is_(None),
            or_(api_keys.c.expires_ms.is_(None), api_keys.c.expires_ms > bindparam("now")),
        )
        checks.append(~exists(usable))
    return Prepared(select(case((or_(*checks), 1), else_=0)))


@cache
def _first_revoked(n_subjects: int, n_credentials: int) -> Prepared:
    where = _revoked_where(n_subjects, n_credentials)
    return Prepared(select(revocations.c.kind, revocations.c.value).where(where).limit(1))


KEY_PREFIX = "tp_"
MAX_KEY_LIFETIME_S = 10 * 366 * 86400
PEPPER_FILE = "access-pepper"
RevocationKind = Literal["subject", "credential"]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def load_pepper(settings: Settings) -> bytes:
    """The server pepper: the setting, else a 32-byte secret created once (mode 0600) under the keys folder."""
    if settings.api_key_pepper is not None:
        return settings.api_key_pepper.get_secret_value().encode("utf-8")
    path = Path(settings.keys_dir) / PEPPER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be writing it right now
            value = path.read_bytes().strip()
            if value:
                return value
            time.sleep(0.01)
        raise InvalidInputError(
            f"the API-key pepper file {path} is empty", hint="delete it or set the pepper"
        ) from None
    value = secrets.token_hex(32).encode("ascii")
    with os.fdopen(fd, "wb") as handle:
        handle.write(value + b"\n")
    return value


@dataclass(frozen=True)
class ApiKey:
    """An API key's record (never its secret)."""

    key_id: str
    name: str
    tier: str
    subject: str | None
    assurance: int
    attributes: tuple[str, ...]
    rate_limit: str | None
    token_budget: str | None
    created_ms: int
    expires_ms: int | None
    revoked_ms: int | None
    revoked_reason: str | None

    @property
    def active(self) -> bool:
        return self.revoked_ms is None and (self.expires_ms is None or self.expires_ms > _now_ms())

    def principal(self) -> Principal:
        """The principal this key authenticates: ``key:<id>``, with what the admin vouched for at creation."""
        return Principal(
            id=f"key:{self.key_id}",
            method="api_key",
            subject=self.subject or f"key:{self.key_id}",
            issuer="trustplane",
            assurance=self.assurance,
            attributes=frozenset(self.attributes),
            tier=self.tier,
            expires_at=None if self.expires_ms is None else self.expires_ms / 1000,
            key_id=self.key_id,
            rate_limit=self.rate_limit,
            token_budget=self.token_budget,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "name": self.name,
            "tier": self.tier,
            "subject": self.subject,
            "assurance": ASSURANCE_LEVELS[self.assurance],
            "attributes": list(self.attributes),
            "rate_limit": self.rate_limit,
            "token_budget": self.token_budget,
            "created_ms": self.created_ms,
            "expires_ms": self.expires_ms,
            "revoked_ms": self.revoked_ms,
            "revoked_reason": self.revoked_reason,
            "active": self.active,
        }


@dataclass(frozen=True)
class CreatedKey:
    """A new key and its secret token, which is shown this once and never stored."""

    key: ApiKey
    token: str

    def as_json(self) -> dict[str, Any]:
        return {**self.key.as_json(), "api_key": self.token}


@dataclass(frozen=True)
class Revocation:
    kind: RevocationKind
    value: str
    reason: str | None
    created_ms: int

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "reason": self.reason, "created_ms": self.created_ms}


def _row_to_key(row: Any) -> ApiKey:
    return ApiKey(
        key_id=row.key_id,
        name=row.name,
        tier=row.tier,
        subject=row.subject,
        assurance=int(row.assurance),
        attributes=tuple(json.loads(row.attributes)),
        rate_limit=row.rate_limit,
        token_budget=row.token_budget,
        created_ms=int(row.created_ms),
        expires_ms=None if row.expires_ms is None else int(row.expires_ms),
        revoked_ms=None if row.revoked_ms is None else int(row.revoked_ms),
        revoked_reason=row.revoked_reason,
    )


class ApiKeys:
    """Create, list, revoke and authenticate API keys."""

    def __init__(self, store: Store, pepper: bytes) -> None:
        self.store = store
        self._pepper = pepper

    def _hash(self, secret: str) -> str:
        return hmac.new(self._pepper, secret.encode("utf-8"), hashlib.sha256).hexdigest()

    def create(
        self,
        name: str,
        *,
        tier: str = "default",
        subject: str | None = None,
        assurance: str = "none",
        attributes: Sequence[str] = (),
        rate_limit: str | None = None,
        token_budget: str | None = None,
        expires_in_s: float | None = None,
    ) -> CreatedKey:
        """A new key. ``assurance`` and ``attributes`` are what the operator vouches for about its holder."""
        if not name.strip():
            raise InvalidInputError("an API key needs a name")
        try:
            rank = assurance_rank(assurance)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None
        bad = [a for a in attributes if not ATTRIBUTE_PATTERN.match(a)]
        if bad:
            raise InvalidInputError(f"attributes {bad} must look like 'name' or 'name:value'")
        if expires_in_s is not None and not 0 < expires_in_s <= MAX_KEY_LIFETIME_S:
            raise InvalidInputError(f"expires_in must be between 0 and {MAX_KEY_LIFETIME_S} seconds (ten years)")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        now = _now_ms()
        row = {
            "key_id": key_id,
            "name": name.strip(),
            "secret_hash": self._hash(secret),
            "tier": tier,
            "subject": subject,
            "assurance": rank,
            "attributes": json.dumps(sorted(set(attributes))),
            "rate_limit": rate_limit,
            "token_budget": token_budget,
            "created_ms": now,
            "expires_ms": None if expires_in_s is None else now + int(expires_in_s * 1000),
            "revoked_ms": None,
            "revoked_reason": None,
        }
        with self.store.write() as conn:
            conn.execute(api_keys.insert().values(**row))
        return CreatedKey(_row_to_key(_Row(row)), f"{KEY_PREFIX}{key_id}_{secret}")

    def get(self, key_id: str) -> ApiKey:
        with self.store.read() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
        if row is None:
            raise KeyNotFoundError(f"no API key {key_id!r}", hint="`trustplane access keys list` shows them")
        return _row_to_key(row)

    def list(self, *, include_revoked: bool = True) -> list[ApiKey]:
        query = select(api_keys).order_by(api_keys.c.created_ms, api_keys.c.key_id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_ms.is_(None))
        with self.store.read() as conn:
            return [_row_to_key(r) for r in conn.execute(query)]

    def revoke(self, key_id: str, reason: str | None = None) -> ApiKey:
        """Revoke a key; it stops working on the next request and cuts off its streams in flight."""
        with self.store.write() as conn:
            result = conn.execute(
                update(api_keys)
                .where(and_(api_keys.c.key_id == key_id, api_keys.c.revoked_ms.is_(None)))
                .values(revoked_ms=_now_ms(), revoked_reason=reason)
            )
            if result.rowcount == 0:
                exists = conn.execute(select(api_keys.c.key_id).where(api_keys.c.key_id == key_id)).first()
                if exists is None:
                    raise KeyNotFoundError(f"no API key {key_id!r}", hint="`trustplane access keys list` shows them")
        return self.get(key_id)

    @staticmethod
    def looks_like_key(token: str) -> bool:
        return token.startswith(KEY_PREFIX)

    def authenticate(self, token: str, *, conn: Connection | None = None) -> ApiKey:
        """The active key ``token`` names, or an error saying why not (invalid, revoked, expired).

        With ``conn`` the lookup runs on that connection."""
        body = token[len(KEY_PREFIX) :] if token.startswith(KEY_PREFIX) else ""
        key_id, sep, secret = body.partition("_")
        if not sep or not key_id or not secret:
            raise InvalidApiKeyError("the API key is malformed", hint="keys look like tp_<id>_<secret>")
        if conn is None:
            with self.store.read() as own:
                found = _KEY_BY_ID.first(own, {"key_id": key_id})
        else:
            found = _KEY_BY_ID.first(conn, {"key_id": key_id})
        row: Any = None if found is None else _Row(dict(zip(_KEY_COLUMNS, found, strict=True)))
        expected = row.secret_hash if row is not None else "0" * 64
        if not hmac.compare_digest(self._hash(secret), expected) or row is None:
            raise InvalidApiKeyError("the API key is not valid", hint="ask the operator for a key")
        key = _row_to_key(row)
        if key.revoked_ms is not None:
            raise KeyRevokedError(f"API key {key.key_id} was revoked", key_id=key.key_id)
        if key.expires_ms is not None and key.expires_ms <= _now_ms():
            raise KeyExpiredError(f"API key {key.key_id} has expired", key_id=key.key_id)
        return key


class _Row:
    """Attribute access over a dict, to build an :class:`ApiKey` from values just inserted."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


class Revocations:
    """Admin revocation of subjects (``issuer|subject`` or a principal id) and credentials (jti, VC id)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def revoke(self, kind: RevocationKind, value: str, reason: str | None = None) -> Revocation:
        if kind not in ("subject", "credential"):
            raise InvalidInputError(f"revocation kind must be 'subject' or 'credential', not {kind!r}")
        if not value.strip():
            raise InvalidInputError("say what to revoke")
        created = _now_ms()
        try:
            with self.store.write() as conn:
                conn.execute(revocations.insert().values(kind=kind, value=value, reason=reason, created_ms=created))
        except IntegrityError:
            raise ConflictError(f"{kind} {value!r} is already revoked", kind=kind, value=value) from None
        return Revocation(kind, value, reason, created)

    def list(self) -> list[Revocation]:
        with self.store.read() as conn:
            rows = conn.execute(select(revocations).order_by(revocations.c.id)).all()
        return [Revocation(r.kind, r.value, r.reason, int(r.created_ms)) for r in rows]

    def find(
        self,
        subjects: Iterable[str],
        credentials: Iterable[str],
        key_id: str | None = None,
        *,
        conn: Connection | None = None,
    ) -> str | None:
        """Why a principal with these subjects, credentials and key is revoked, or ``None``.

        One query on the usual path (nothing revoked); the reason is looked up only when something is. With
        ``conn`` the queries run on that connection (inside the caller's transaction).
        """
        subjects, credentials = list(subjects), list(credentials)
        if key_id is None and not subjects and not credentials:
            return None
        if conn is None:
            with self.store.read() as own:
                return self._find(own, subjects, credentials, key_id)
        return self._find(conn, subjects, credentials, key_id)

    @staticmethod
    def _find(conn: Connection, subjects: Sequence[str], credentials: Sequence[str], key_id: str | None) -> str | None:
        now = _now_ms()
        params: dict[str, Any] = {f"s{i}": v for i, v in enumerate(subjects)}
        params.update((f"c{i}", v) for i, v in enumerate(credentials))
        if key_id is not None:
            params.update(key_id=key_id, now=now)
        row = _revocation_check(len(subjects), len(credentials), key_id is not None).first(conn, params)
        if row is None or not row[0]:
            return None
        if key_id is not None:
            state = _KEY_STATE.first(conn, {"key_id": key_id})
            if state is None or state[0] is not None:
                return f"API key {key_id} was revoked"
            if state[1] is not None and state[1] <= now:
                return f"API key {key_id} has expired"
        hit = _first_revoked(len(subjects), len(credentials)).first(conn, params)
        return None if hit is None else f"{hit[0]} {hit[1]!r} was revoked"
