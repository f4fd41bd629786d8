"""The one internal form of a caller: who, how sure we are, what is verified about them, until when."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal

ASSURANCE_LEVELS: tuple[str, ...] = ("none", "low", "substantial", "high")
"""Identity assurance, weakest first (eIDAS names; NIST IAL1-3 and REFEDS IAP map onto them)."""

AssuranceName = Literal["none", "low", "substantial", "high"]
Method = Literal["api_key", "oidc", "vc", "dry_run"]

ATTRIBUTE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(:[A-Za-z0-9_.@/\-]+)?$")
"""Verified attributes are ``name`` or ``name:value``: ``affiliation``, ``affiliation:uni.example``,
``authorisation:biological``, ``unique_id``."""


def assurance_rank(name: str) -> int:
    """Position of ``name`` on :data:`ASSURANCE_LEVELS` (0 for none ... 3 for high)."""
    try:
        return ASSURANCE_LEVELS.index(name)
    except ValueError:
        raise ValueError(f"unknown assurance level {name!r}; use one of {', '.join(ASSURANCE_LEVELS)}") from None


def pseudonym(issuer: str, subject: str) -> str:
    """A stable pseudonymous id for (issuer, subject): what the log records instead of the subject itself."""
    return hashlib.sha256(f"{issuer}\x00{subject}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller, whatever form its identity arrived in.

    ``id`` is stable and pseudonymous (``key:<key id>``, ``oidc:<hash>``, ``vc:<hash>``) and is what
    the transparency log records. ``assurance`` is a rank on :data:`ASSURANCE_LEVELS`. ``attributes``
    are the verified attributes (``affiliation``, ``affiliation:<org>``, ``authorisation:<domain>``,
    ...). ``expires_at`` is the earliest expiry (Unix seconds) of the credentials it rests on.
    ``credentials`` are the ids (``jti``, VC ``id``) admin revocation can name, and ``status_entries``
    the Bitstring Status List entries to re-check while a stream is in flight.
    """

    id: str
    method: Method
    subject: str
    issuer: str
    assurance: int = 0
    attributes: frozenset[str] = frozenset()
    tier: str = "default"
    expires_at: float | None = None
    key_id: str | None = None
    credentials: tuple[str, ...] = ()
    status_entries: tuple[StatusEntry, ...] = ()
    evidence: tuple[str, ...] = ()
    trust_frameworks: tuple[str, ...] = ()
    rate_limit: str | None = None
    token_budget: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def assurance_name(self) -> AssuranceName:
        return ASSURANCE_LEVELS[self.assurance]  # type: ignore[return-value]

    @property
    def subjects(self) -> tuple[str, ...]:
        """What admin revocation of a subject matches: ``issuer|subject`` and the principal id."""
        return (f"{self.issuer}|{self.subject}", self.id)

    def fingerprint(self) -> tuple[Any, ...]:
        """What policy decisions depend on; equal fingerprints get equal decisions."""
        return (self.assurance, self.attributes, self.method, self.tier)

    def merged(self, other: Principal) -> Principal:
        """This principal strengthened by another credential about the same subject."""
        expiries = [e for e in (self.expires_at, other.expires_at) if e is not None]
        return replace(
            self,
            assurance=max(self.assurance, other.assurance),
            attributes=self.attributes | other.attributes,
            expires_at=min(expiries) if expiries else None,
            credentials=self.credentials + other.credentials,
            status_entries=self.status_entries + other.status_entries,
            evidence=self.evidence + other.evidence,
            trust_frameworks=self.trust_frameworks + other.trust_frameworks,
        )

    def public(self) -> dict[str, Any]:
        """What the principal may be shown about itself (no secrets; the subject is the caller's own)."""
        return {
            "id": self.id,
            "method": self.method,
            "subject": self.subject,
            "issuer": self.issuer,
            "assurance": self.assurance_name,
            "attributes": sorted(self.attributes),
            "tier": self.tier,
            "expires_at": self.expires_at,
            "credentials": list(self.credentials),
            "evidence": list(self.evidence),
            "trust_frameworks": list(self.trust_frameworks),
        }


@dataclass(frozen=True)
class StatusEntry:
    """One ``credentialStatus`` of type ``BitstringStatusListEntry``."""

    credential_id: str
    issuer: str
    purpose: str
    index: int
    list_url: str
