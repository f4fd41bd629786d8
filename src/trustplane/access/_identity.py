"""Identity: API keys, OIDC bearer tokens and W3C VC-JWTs, all mapped to one :class:`Principal`.

Signatures and claims are checked with PyJWT (keys from a JWKS: an https URL through
``PyJWKClient``, or a local file). Verified identity arrives as

* OpenID Connect for Identity Assurance ``verified_claims`` (``verification.trust_framework``,
  ``assurance_level``, ``evidence``; verified ``claims`` such as ``affiliation`` and
  ``domain_authorisations``),
* REFEDS Assurance Framework values in ``eduperson_assurance`` (``.../IAP/high``, ``.../ID/unique``,
  ``.../profile/espresso``), with ``eduperson_scoped_affiliation``,
* W3C Verifiable Credentials as JWT (VCDM 1.1 ``vc`` claim, or VCDM 2.0 secured with JOSE), whose
  ``credentialStatus`` entries of type ``BitstringStatusListEntry`` are checked against the
  issuer's status list (:class:`StatusLists`).

Only verified claims count: a top-level ``affiliation`` claim outside ``verified_claims`` confers nothing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
from sqlalchemy import Connection

from trustplane.access._errors import (
    AccessConfigError,
    CredentialRevokedError,
    CredentialsMissingError,
    CredentialSubjectMismatchError,
    InvalidTokenError,
    JwksUnavailableError,
    KeyRevokedError,
    MalformedClaimsError,
    StatusListUnavailableError,
    TokenExpiredError,
    UntrustedIssuerError,
    WrongAudienceError,
)
from trustplane.access._keys import ApiKeys, Revocations
from trustplane.access._principal import ASSURANCE_LEVELS, Principal, StatusEntry, pseudonym
from trustplane.core.config import Settings

REFEDS_UNIQUE_ID = (
    "https://refeds.org/assurance/id/unique",
    "https://refeds.org/assurance/id/eppn-unique-no-reassign",
)
REFEDS_PROFILES = (
    "https://refeds.org/assurance/profile/cappuccino",
    "https://refeds.org/assurance/profile/espresso",
)
REFEDS_PREFIX = "https://refeds.org/assurance"
VC_JWT_TYPES = ("vc+jwt", "vc+ld+jwt", "vc+sd-jwt")
STATUS_LIST_MIN_BITS = 131_072  # the W3C recommendation's minimum list length (16 KiB), for herd privacy


# --- keys ------------------------------------------------------------------------------------------------
class JwksSource:
    """Signing keys of one issuer: an ``https://`` JWKS URL (PyJWKClient, cached) or a local JSON file."""

    def __init__(self, location: str, *, lifespan: float = 300.0) -> None:
        self.location = location
        self.remote = location.startswith(("https://", "http://"))
        self._client = jwt.PyJWKClient(location, cache_jwk_set=True, lifespan=lifespan) if self.remote else None
        self._file_cache: tuple[float, jwt.PyJWKSet] | None = None

    def _file_keys(self) -> jwt.PyJWKSet:
        path = Path(self.location.removeprefix("file://"))
        try:
            mtime = path.stat().st_mtime
            if self._file_cache is not None and self._file_cache[0] == mtime:
                return self._file_cache[1]
            keys = jwt.PyJWKSet.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, jwt.PyJWKSetError) as exc:
            raise JwksUnavailableError(f"cannot read the JWKS file {path}: {exc}") from None
        self._file_cache = (mtime, keys)
        return keys

    def _key_sync(self, token: str) -> Any:
        try:
            if self._client is not None:
                return self._client.get_signing_key_from_jwt(token).key
            header = jwt.get_unverified_header(token)
        except jwt.PyJWKClientConnectionError as exc:
            raise JwksUnavailableError(f"cannot fetch the issuer's keys from {self.location}: {exc}") from None
        except jwt.PyJWKClientError as exc:
            raise InvalidTokenError(
                f"the token is signed by a key its issuer does not publish: {exc}", hint="the token may be forged"
            ) from None
        except jwt.DecodeError as exc:
            raise InvalidTokenError(f"the token is not a JWT: {exc}") from None
        keys = self._file_keys().keys
        kid = header.get("kid")
        matches = [k for k in keys if k.key_id == kid] if kid is not None else list(keys)
        if len(matches) != 1:
            raise InvalidTokenError(
                "the token is signed by a key its issuer does not publish"
                if kid is not None
                else "the token names no key (kid) and the issuer publishes several",
                hint="the token may be forged",
            )
        return matches[0].key

    async def key_for(self, token: str) -> Any:
        if self.remote:
            return await asyncio.to_thread(self._key_sync, token)
        return self._key_sync(token)


def _decode_error(exc: jwt.PyJWTError, what: str) -> Exception:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return TokenExpiredError(f"the {what} has expired", hint="get a fresh one from your identity provider")
    if isinstance(exc, jwt.InvalidAudienceError):
        return WrongAudienceError(f"the {what} is for another audience: {exc}", hint="request a token for this gateway")
    if isinstance(exc, jwt.InvalidIssuerError):
        return UntrustedIssuerError(f"the {what} comes from an issuer this gateway does not trust: {exc}")
    if isinstance(exc, jwt.InvalidSignatureError):
        return InvalidTokenError(f"the {what}'s signature does not verify", hint="the token may be forged or altered")
    if isinstance(exc, jwt.ImmatureSignatureError):
        return InvalidTokenError(f"the {what} is not valid yet: {exc}")
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return InvalidTokenError(f"the {what} uses a signature algorithm this gateway does not accept: {exc}")
    return InvalidTokenError(f"the {what} is not valid: {exc}")


# --- claim mapping -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Facts:
    assurance: int
    attributes: frozenset[str]
    evidence: tuple[str, ...]
    frameworks: tuple[str, ...]
    unrecognised: tuple[str, ...]


class ClaimMapper:
    """Turns verified claims into assurance and attributes, using ``TRUSTPLANE_ACCESS_ASSURANCE_MAP``."""

    def __init__(self, assurance_map: Mapping[str, str]) -> None:
        self.levels: dict[str, int] = {}
        for value, level in assurance_map.items():
            if level not in ASSURANCE_LEVELS:
                raise AccessConfigError(
                    f"TRUSTPLANE_ACCESS_ASSURANCE_MAP maps {value!r} to {level!r}",
                    hint=f"levels: {', '.join(ASSURANCE_LEVELS)}",
                )
            self.levels[value.lower()] = ASSURANCE_LEVELS.index(level)

    def level(self, value: Any) -> int | None:
        return self.levels.get(value.lower()) if isinstance(value, str) else None

    @staticmethod
    def _strings(value: Any, where: str) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise MalformedClaimsError(f"{where} must be a string or a list of strings")

    @staticmethod
    def _affiliations(value: Any, where: str) -> set[str]:
        out: set[str] = set()
        items = value if isinstance(value, list) else [value] if value is not None else []
        for item in items:
            name = item.get("id") or item.get("name") if isinstance(item, dict) else item
            if not isinstance(name, str) or not name.strip():
                raise MalformedClaimsError(f"{where} must name an organisation (a string, or an object with id/name)")
            out |= {"affiliation", f"affiliation:{name.strip().replace(' ', '_')}"}
        return out

    @staticmethod
    def _authorisations(value: Any, where: str) -> set[str]:
        out: set[str] = set()
        items = value if isinstance(value, list) else [value] if value is not None else []
        for item in items:
            domain = item.get("domain") if isinstance(item, dict) else item
            if not isinstance(domain, str) or not domain.strip():
                raise MalformedClaimsError(f"{where} entries must name a domain (a string, or an object with domain)")
            out.add(f"authorisation:{domain.strip()}")
        return out

    def oidc(self, claims: Mapping[str, Any]) -> _Facts:
        """OIDC4IDA ``verified_claims`` plus REFEDS ``eduperson_assurance`` / scoped affiliation."""
        assurance, attributes = 0, set()
        evidence: list[str] = []
        frameworks: list[str] = []
        unrecognised: list[str] = []
        raw = claims.get("verified_claims")
        blocks = raw if isinstance(raw, list) else [raw] if raw is not None else []
        for n, block in enumerate(blocks):
            where = f"verified_claims[{n}]"
            verification = block.get("verification") if isinstance(block, dict) else None
            if not isinstance(verification, dict):
                raise MalformedClaimsError(f"{where} has no verification object (OIDC4IDA requires one)")
            framework = verification.get("trust_framework")
            if not isinstance(framework, str) or not framework:
                raise MalformedClaimsError(f"{where}.verification has no trust_framework (OIDC4IDA requires one)")
            verified = block.get("claims")
            if not isinstance(verified, dict):
                raise MalformedClaimsError(f"{where} has no claims object (OIDC4IDA requires one)")
            frameworks.append(framework)
            value = verification.get("assurance_level")
            level = self.level(value)
            if level is not None:
                assurance = max(assurance, level)
            elif value is not None:
                unrecognised.append(str(value))
            for item in verification.get("evidence") or []:
                if isinstance(item, dict) and isinstance(item.get("type"), str):
                    evidence.append(item["type"])
            attributes |= self._affiliations(verified.get("affiliation"), f"{where}.claims.affiliation")
            for key in ("domain_authorisations", "domain_authorizations"):
                attributes |= self._authorisations(verified.get(key), f"{where}.claims.{key}")
        for uri in self._strings(claims.get("eduperson_assurance"), "eduperson_assurance"):
            lowered = uri.lower()
            level = self.level(uri)
            if level is not None:
                assurance = max(assurance, level)
            if lowered in REFEDS_UNIQUE_ID or lowered in REFEDS_PROFILES:
                attributes.add("unique_id")  # both REFEDS profiles include ID/unique
            if level is None and lowered not in REFEDS_UNIQUE_ID and not lowered.startswith(REFEDS_PREFIX):
                unrecognised.append(uri)
        for scoped in self._strings(claims.get("eduperson_scoped_affiliation"), "eduperson_scoped_affiliation"):
            _, at, scope = scoped.partition("@")
            if not at or not scope:
                raise MalformedClaimsError(f"eduperson_scoped_affiliation {scoped!r} must look like role@scope")
            attributes |= {"affiliation", f"affiliation:{scope}"}
        return _Facts(assurance, frozenset(attributes), tuple(evidence), tuple(frameworks), tuple(unrecognised))

    def vc_subject(self, subject: Mapping[str, Any]) -> _Facts:
        """A VC's ``credentialSubject``: ``assuranceLevel``, ``affiliation``, ``domainAuthorisations``."""
        value = subject.get("assuranceLevel")
        level = self.level(value)
        attributes = self._affiliations(subject.get("affiliation"), "credentialSubject.affiliation")
        for key in ("domainAuthorisations", "domainAuthorizations"):
            attributes |= self._authorisations(subject.get(key), f"credentialSubject.{key}")
        unrecognised = (str(value),) if value is not None and level is None else ()
        return _Facts(level or 0, frozenset(attributes), (), (), unrecognised)


# --- status lists --------------------------------------------------------------------------------------------
def decode_status_list(encoded: str) -> bytes:
    """The bitstring of a ``BitstringStatusList``: multibase base64url (``u`` prefix) of GZIP bytes."""
    if not isinstance(encoded, str) or not encoded:
        raise ValueError("encodedList must be a non-empty string")
    body = encoded[1:] if encoded[0] == "u" else encoded
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return gzip.decompress(raw)
    except (binascii.Error, OSError, EOFError) as exc:
        raise ValueError(f"encodedList is not base64url-encoded GZIP: {exc}") from None


def encode_status_list(bits: bytes) -> str:
    """Inverse of :func:`decode_status_list` (used by issuers and tests)."""
    return "u" + base64.urlsafe_b64encode(gzip.compress(bits, mtime=0)).decode("ascii").rstrip("=")


def status_bit(bits: bytes, index: int) -> bool:
    """Bit ``index`` of the list; index 0 is the most significant bit of the first byte."""
    if not 0 <= index < len(bits) * 8:
        raise ValueError(f"statusListIndex {index} is outside the list of {len(bits) * 8} entries")
    return bool(bits[index // 8] >> (7 - index % 8) & 1)


def _vc_body(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The credential inside a VC-JWT payload: the ``vc`` claim (VCDM 1.1) or the payload (VCDM 2.0)."""
    body = payload.get("vc", payload)
    if not isinstance(body, dict):
        raise MalformedClaimsError("the credential's vc claim must be an object")
    return body


def _vc_issuer(payload: Mapping[str, Any]) -> str | None:
    if isinstance(payload.get("iss"), str):
        return str(payload["iss"])
    issuer = _vc_body(payload).get("issuer")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) else None


class StatusLists:
    """Fetches, verifies and caches Bitstring Status List credentials (W3C), and answers bit lookups."""

    def __init__(
        self,
        keys_for: Callable[[str], JwksSource],
        algorithms: Sequence[str],
        ttl_s: float,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        leeway_s: float = 30.0,
    ) -> None:
        self._keys_for = keys_for
        self._algorithms = list(algorithms)
        self._ttl = ttl_s
        self._leeway = leeway_s
        self._transport = transport
        self._cache: dict[tuple[str, str], tuple[float, bytes]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def _fetch(self, entry: StatusEntry) -> bytes:
        try:
            async with httpx.AsyncClient(timeout=10.0, transport=self._transport) as client:
                response = await client.get(
                    entry.list_url, headers={"accept": "application/vc+jwt, application/jwt, application/vc"}
                )
        except httpx.HTTPError as exc:
            raise StatusListUnavailableError(
                f"cannot fetch the status list {entry.list_url}: {exc}",
                hint="the credential cannot be checked for revocation now; try again later",
            ) from None
        if response.status_code != 200:
            raise StatusListUnavailableError(
                f"the status list {entry.list_url} answered HTTP {response.status_code}",
                hint="the credential cannot be checked for revocation now; try again later",
            )
        token = response.text.strip()
        if not token.startswith("ey"):
            raise StatusListUnavailableError(
                f"the status list {entry.list_url} is not a signed VC-JWT",
                hint="trustplane accepts status list credentials secured as JWT by the credential's issuer",
            )
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise StatusListUnavailableError(f"the status list {entry.list_url} is not a JWT: {exc}") from None
        issuer = _vc_issuer(claims)
        if issuer != entry.issuer:
            raise StatusListUnavailableError(
                f"the status list {entry.list_url} is issued by {issuer!r}, not by the credential's issuer"
            )
        key = await self._keys_for(issuer).key_for(token)
        try:
            verified = jwt.decode(
                token, key, algorithms=self._algorithms, options={"verify_aud": False}, leeway=self._leeway
            )
        except jwt.PyJWTError as exc:
            raise StatusListUnavailableError(
                f"the status list {entry.list_url} does not verify: {_decode_error(exc, 'status list')}"
            ) from None
        subject = _vc_body(verified).get("credentialSubject")
        if not isinstance(subject, dict) or subject.get("type") != "BitstringStatusList":
            raise StatusListUnavailableError(f"{entry.list_url} is not a BitstringStatusList credential")
        purposes = subject.get("statusPurpose")
        purposes = purposes if isinstance(purposes, list) else [purposes]
        if entry.purpose not in purposes:
            raise StatusListUnavailableError(
                f"the status list {entry.list_url} is for {purposes}, the credential asks about {entry.purpose!r}"
            )
        try:
            return decode_status_list(subject.get("encodedList", ""))
        except ValueError as exc:
            raise StatusListUnavailableError(f"the status list {entry.list_url} is malformed: {exc}") from None

    async def is_set(self, entry: StatusEntry) -> bool:
        """Whether the entry's bit is set (the credential is revoked or suspended); cached for the TTL."""
        key = (entry.list_url, entry.purpose)
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is None or now - cached[0] > self._ttl:
            lock = self._locks.setdefault(key, asyncio.Lock())
            async with lock:
                cached = self._cache.get(key)
                if cached is None or time.monotonic() - cached[0] > self._ttl:
                    bits = await self._fetch(entry)
                    cached = (time.monotonic(), bits)
                    self._cache[key] = cached
        try:
            return status_bit(cached[1], entry.index)
        except ValueError as exc:
            raise MalformedClaimsError(f"credential {entry.credential_id}: {exc}") from None

    def forget(self) -> None:
        self._cache.clear()


# --- the verifier --------------------------------------------------------------------------------------------
def _expiry(payload: Mapping[str, Any], body: Mapping[str, Any]) -> float | None:
    if isinstance(payload.get("exp"), int | float):
        return float(payload["exp"])
    for key in ("validUntil", "expirationDate"):
        value = body.get(key)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                raise MalformedClaimsError(f"the credential's {key} {value!r} is not an ISO 8601 date") from None
    return None


class IdentityVerifier:
    """Authenticates a request's credentials and returns its :class:`Principal`."""

    def __init__(
        self,
        settings: Settings,
        keys: ApiKeys,
        revocations: Revocations,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.revocations = revocations
        self.mapper = ClaimMapper(settings.access_assurance_map)
        if settings.oidc_issuer and not settings.oidc_audience:
            raise AccessConfigError(
                "TRUSTPLANE_OIDC_ISSUER is set but TRUSTPLANE_OIDC_AUDIENCE is not",
                hint="without an audience any token the issuer mints for other services would be accepted",
            )
        if settings.oidc_issuer and not settings.oidc_jwks_url:
            raise AccessConfigError("TRUSTPLANE_OIDC_ISSUER is set but TRUSTPLANE_OIDC_JWKS_URL is not")
        self._sources: dict[str, JwksSource] = {}
        self.status_lists = StatusLists(
            self._vc_keys,
            settings.oidc_algorithms,
            settings.access_status_list_ttl_seconds,
            transport=transport,
            leeway_s=settings.oidc_leeway_seconds,
        )

    def _source(self, location: str) -> JwksSource:
        source = self._sources.get(location)
        if source is None:
            source = self._sources[location] = JwksSource(location)
        return source

    def _vc_keys(self, issuer: str) -> JwksSource:
        location = self.settings.access_vc_issuers.get(issuer)
        if location is None:
            raise UntrustedIssuerError(
                f"credential issuer {issuer!r} is not trusted",
                hint="trusted issuers are listed in TRUSTPLANE_ACCESS_VC_ISSUERS",
            )
        return self._source(location)

    # --- entry points --------------------------------------------------------------------------------------
    async def authenticate(self, authorization: str | None, credentials: Sequence[str] = ()) -> Principal:
        """The principal for an ``Authorization`` header plus extra VC-JWTs (``Trustplane-Credential``)."""
        token = _bearer(authorization)
        if self.keys.looks_like_key(token):
            # the key and its subject's revocation are read in one transaction
            principal: Principal = await self._db(self._key_principal, token)
            from_key = checked = True
        else:
            principal = await self.verify_token(token)
            from_key = checked = False
        for extra in credentials:
            other = await self.verify_token(extra, require_vc=True)
            if other.subject != principal.subject:
                raise CredentialSubjectMismatchError(
                    "a Trustplane-Credential is about another subject than the caller",
                    hint="present credentials issued to the identity you authenticate as",
                )
            principal = principal.merged(other)
            checked = False
        if checked:
            await self.ensure_current(principal)
        else:
            await self.ensure_not_revoked(principal, check_key=not from_key)
        return principal

    def _key_principal(self, token: str) -> Principal:
        with self.keys.store.read() as conn:
            principal = self.keys.authenticate(token, conn=conn).principal()  # active, unrevoked, unexpired
            self._raise_if_revoked(
                principal, self.revocations.find(principal.subjects, principal.credentials, conn=conn)
            )
        return principal

    def revocation_guard(self, principal: Principal) -> Callable[[Connection], None]:
        """A check of admin revocation (key, subject, credentials) to run inside another transaction, such as
        the log append that releases an answer: the answer is logged and released only if nothing was revoked."""

        def guard(conn: Connection) -> None:
            self._raise_if_revoked(
                principal,
                self.revocations.find(principal.subjects, principal.credentials, principal.key_id, conn=conn),
            )

        return guard

    @staticmethod
    def _raise_if_revoked(principal: Principal, reason: str | None) -> None:
        if reason is None:
            return
        if principal.key_id is not None and reason.startswith("API key"):
            raise KeyRevokedError(reason, key_id=principal.key_id)
        raise CredentialRevokedError(reason)

    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a store call: inline on SQLite (a local read takes microseconds), in a thread otherwise."""
        if self.keys.store.dialect == "sqlite":
            return fn(*args)
        return await asyncio.to_thread(fn, *args)

    async def verify_token(self, token: str, *, require_vc: bool = False) -> Principal:
        """Verify an OIDC token or VC-JWT and map its claims (revocation is checked by :meth:`authenticate`)."""
        try:
            header = jwt.get_unverified_header(token)
            peek = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise InvalidTokenError(
                "the bearer token is neither an API key nor a JWT", hint="send Authorization: Bearer <key or token>"
            ) from None
        is_vc = "vc" in peek or str(header.get("typ", "")).lower() in VC_JWT_TYPES or "credentialSubject" in peek
        if is_vc:
            return await self._verify_vc(token, peek)
        if require_vc:
            raise MalformedClaimsError("a Trustplane-Credential must be a verifiable credential (VC-JWT)")
        return await self._verify_oidc(token, peek)

    async def ensure_not_revoked(self, principal: Principal, *, check_key: bool = True) -> None:
        """Raise if the principal's key, subject or any credential was revoked (admin or status list)."""
        reason = await self._db(
            self.revocations.find, principal.subjects, principal.credentials, principal.key_id if check_key else None
        )
        self._raise_if_revoked(principal, reason)
        await self.ensure_current(principal)

    async def ensure_current(self, principal: Principal) -> None:
        """Raise if a credential is marked in its issuer's status list, or the session's credential expired."""
        for entry in principal.status_entries:
            if await self.status_lists.is_set(entry):
                raise CredentialRevokedError(
                    f"credential {entry.credential_id} is marked {entry.purpose} in its issuer's status list",
                    credential=entry.credential_id,
                )
        if principal.expires_at is not None and principal.expires_at + self.settings.oidc_leeway_seconds < time.time():
            raise TokenExpiredError("the credential this session rests on has expired")

    # --- OIDC ----------------------------------------------------------------------------------------------
    async def _verify_oidc(self, token: str, peek: Mapping[str, Any]) -> Principal:
        settings = self.settings
        if not settings.oidc_issuer or not settings.oidc_jwks_url:
            raise UntrustedIssuerError(
                "this gateway accepts no OIDC tokens", hint="use an API key, or configure TRUSTPLANE_OIDC_ISSUER"
            )
        if peek.get("iss") != settings.oidc_issuer:
            raise UntrustedIssuerError(
                f"the token's issuer {peek.get('iss')!r} is not this gateway's identity provider",
                hint=f"tokens must come from {settings.oidc_issuer}",
            )
        key = await self._source(settings.oidc_jwks_url).key_for(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=settings.oidc_algorithms,
                audience=settings.oidc_audience,
                issuer=settings.oidc_issuer,
                leeway=settings.oidc_leeway_seconds,
                options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise _decode_error(exc, "token") from None
        facts = self.mapper.oidc(claims)
        subject = str(claims["sub"])
        issuer = str(claims["iss"])
        jti = claims.get("jti")
        return Principal(
            id=f"oidc:{pseudonym(issuer, subject)}",
            method="oidc",
            subject=subject,
            issuer=issuer,
            assurance=facts.assurance,
            attributes=facts.attributes,
            tier="verified" if facts.assurance >= 2 else "default",
            expires_at=float(claims["exp"]),
            credentials=(str(jti),) if jti is not None else (),
            evidence=facts.evidence,
            trust_frameworks=facts.frameworks,
            extra={"unrecognised_assurance": list(facts.unrecognised)} if facts.unrecognised else {},
        )

    # --- VC-JWT --------------------------------------------------------------------------------------------
    async def _verify_vc(self, token: str, peek: Mapping[str, Any]) -> Principal:
        issuer = _vc_issuer(peek)
        if issuer is None:
            raise MalformedClaimsError("the credential names no issuer")
        key = await self._vc_keys(issuer).key_for(token)
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=self.settings.oidc_algorithms,
                options={"verify_aud": False},
                leeway=self.settings.oidc_leeway_seconds,
            )
        except jwt.PyJWTError as exc:
            raise _decode_error(exc, "credential") from None
        body = _vc_body(payload)
        types = body.get("type")
        types = types if isinstance(types, list) else [types]
        if "VerifiableCredential" not in types:
            raise MalformedClaimsError("the credential's type does not include VerifiableCredential")
        subject_claims = body.get("credentialSubject")
        if not isinstance(subject_claims, dict):
            raise MalformedClaimsError("the credential has no credentialSubject object")
        subject = payload.get("sub") or subject_claims.get("id")
        if not isinstance(subject, str) or not subject:
            raise MalformedClaimsError("the credential names no subject (sub or credentialSubject.id)")
        expires = _expiry(payload, body)
        if expires is not None and expires + self.settings.oidc_leeway_seconds < time.time():
            raise TokenExpiredError("the credential has expired")
        credential_id = payload.get("jti") or body.get("id")
        cred_ids = (str(credential_id),) if credential_id else ()
        entries = self._status_entries(body, issuer, str(credential_id or "(unnamed credential)"))
        facts = self.mapper.vc_subject(subject_claims)
        return Principal(
            id=f"vc:{pseudonym(issuer, subject)}",
            method="vc",
            subject=subject,
            issuer=issuer,
            assurance=facts.assurance,
            attributes=facts.attributes,
            tier="verified" if facts.assurance >= 2 else "default",
            expires_at=expires,
            credentials=cred_ids,
            status_entries=entries,
            extra={"unrecognised_assurance": list(facts.unrecognised)} if facts.unrecognised else {},
        )

    @staticmethod
    def _status_entries(body: Mapping[str, Any], issuer: str, credential_id: str) -> tuple[StatusEntry, ...]:
        raw = body.get("credentialStatus")
        items = raw if isinstance(raw, list) else [raw] if raw is not None else []
        entries = []
        for item in items:
            if not isinstance(item, dict) or item.get("type") != "BitstringStatusListEntry":
                kind = item.get("type") if isinstance(item, dict) else type(item).__name__
                raise MalformedClaimsError(
                    f"credentialStatus of type {kind!r} cannot be checked",
                    hint="trustplane checks BitstringStatusListEntry status (W3C Bitstring Status List)",
                )
            purpose = item.get("statusPurpose")
            url = item.get("statusListCredential")
            try:
                index = int(item.get("statusListIndex", ""))
            except (TypeError, ValueError):
                raise MalformedClaimsError("credentialStatus.statusListIndex must be an integer") from None
            if purpose not in ("revocation", "suspension") or not isinstance(url, str) or index < 0:
                raise MalformedClaimsError(
                    "a BitstringStatusListEntry needs statusPurpose revocation or suspension, "
                    "a statusListIndex and a statusListCredential URL"
                )
            entries.append(StatusEntry(credential_id, issuer, purpose, index, url))
        return tuple(entries)


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise CredentialsMissingError(
            "this endpoint needs credentials", hint="send Authorization: Bearer <API key or OIDC token>"
        )
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise CredentialsMissingError("the Authorization header must be 'Bearer <token>'")
    return token.strip()
