"""Declarative access policy on Cedar: (category, band, principal) to allow, redact, escalate or refuse.

The policy is Cedar text validated against ``policy/schema.cedarschema`` when it is loaded; a policy
that refers to an attribute the gateway does not provide is refused with
:class:`UnknownPolicyFieldError` naming the file, line and field. For each piece of content the
engine asks Cedar, in order, whether the principal may ``receive`` it, ``receive_redacted`` (the
answer with it cut out) or, at the prompt stage, ``request_review``; the first permitted action wins,
and none means refuse. Every non-allow decision carries an :class:`Unlock` statement: which
credential would let the caller receive the content, checked against the policy itself.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import cedarpy

from trustplane.access._errors import PolicyError, UnknownPolicyFieldError
from trustplane.access._principal import ASSURANCE_LEVELS, Principal
from trustplane.access._taxonomy import BENIGN, Band, Taxonomy

Action = Literal["allow", "redact", "escalate", "refuse"]
Stage = Literal["prompt", "output"]
ACTION_SEVERITY: dict[str, int] = {"allow": 0, "redact": 1, "escalate": 2, "refuse": 3}
_LADDER: tuple[tuple[str, Action], ...] = (
    ("receive", "allow"),
    ("receive_redacted", "redact"),
    ("request_review", "escalate"),
)
_CACHE_SIZE = 4096
_FIELD_RE = re.compile(r"attribute `([^`]+)`")


def _resource_text(name: str) -> str:
    return resources.files("trustplane.access").joinpath("policy", name).read_text(encoding="utf-8")


def schema_text() -> str:
    """The Cedar schema policies are validated against."""
    return _resource_text("schema.cedarschema")


def default_policy_text() -> str:
    return _resource_text("default.cedar")


@dataclass(frozen=True)
class Unlock:
    """A machine-readable statement of the credential that would unlock a category and band.

    ``sufficient`` is true when the policy itself was asked and would let this caller receive the
    content with the stated assurance and attributes; when no credential would, ``sufficient`` is
    false and the statement says so.
    """

    category: str
    band: str
    min_assurance: str
    required_attributes: tuple[str, ...]
    missing_assurance: bool
    missing_attributes: tuple[str, ...]
    sufficient: bool
    accepted_assurance_values: tuple[str, ...]
    trusted_vc_issuers: tuple[str, ...]
    oidc_issuer: str | None

    def as_json(self) -> dict[str, Any]:
        need = {
            "category": self.category,
            "band": self.band,
            "min_assurance": self.min_assurance,
            "required_attributes": list(self.required_attributes),
            "missing": {"assurance": self.missing_assurance, "attributes": list(self.missing_attributes)},
            "sufficient": self.sufficient,
        }
        if not self.sufficient:
            need["note"] = "no credential unlocks this content under the current policy"
            return need
        authorisations = [a.split(":", 1)[1] for a in self.required_attributes if a.startswith("authorisation:")]
        wants_affiliation = any(a == "affiliation" or a.startswith("affiliation:") for a in self.required_attributes)
        affiliation = next((a.split(":", 1)[1] for a in self.required_attributes if a.startswith("affiliation:")), None)
        example_affiliation = affiliation or "<your institution>"
        need["credentials"] = [
            {
                "form": "oidc4ida",
                "issuer": self.oidc_issuer,
                "claim": "verified_claims",
                "verification": {"trust_framework": "<any>", "assurance_level": list(self.accepted_assurance_values)},
                "claims": {
                    **({"affiliation": example_affiliation} if wants_affiliation else {}),
                    **({"domain_authorisations": [{"domain": d} for d in authorisations]} if authorisations else {}),
                },
            },
            {
                "form": "refeds",
                "issuer": self.oidc_issuer,
                "claim": "eduperson_assurance",
                "values": [v for v in self.accepted_assurance_values if v.startswith("https://refeds.org/")],
                **({"affiliation_claim": "eduperson_scoped_affiliation"} if wants_affiliation else {}),
                "conveys_authorisations": False,
            },
            {
                "form": "vc-jwt",
                "trusted_issuers": list(self.trusted_vc_issuers),
                "credentialSubject": {
                    "assuranceLevel": self.min_assurance,
                    **({"affiliation": example_affiliation} if wants_affiliation else {}),
                    **({"domainAuthorisations": [{"domain": d} for d in authorisations]} if authorisations else {}),
                },
                "header": "Trustplane-Credential",
            },
        ]
        need["combine"] = "credentials about the same subject add up: assurance is the highest, attributes the union"
        return need


@dataclass(frozen=True)
class Decision:
    """What the policy says about one piece of content for one principal at one stage."""

    action: Action
    category: str
    band: Band | None
    stage: Stage
    reasons: tuple[str, ...]
    unlock: Unlock | None = None

    @property
    def allowed(self) -> bool:
        return self.action == "allow"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "action": self.action,
            "category": self.category,
            "band": self.band,
            "stage": self.stage,
            "reasons": list(self.reasons),
        }
        if self.unlock is not None:
            out["unlock"] = self.unlock.as_json()
        return out


def most_severe(decisions: list[Decision]) -> Decision:
    """The decision with the strongest action (refuse > escalate > redact > allow); the first on ties."""
    return max(decisions, key=lambda d: ACTION_SEVERITY[d.action])


class PolicyEngine:
    """A validated Cedar policy set bound to a taxonomy."""

    def __init__(
        self,
        text: str,
        taxonomy: Taxonomy,
        *,
        source: str = "<text>",
        assurance_values: dict[str, str] | None = None,
        trusted_vc_issuers: tuple[str, ...] = (),
        oidc_issuer: str | None = None,
    ) -> None:
        self.text = text
        self.source = source
        self.taxonomy = taxonomy
        self.sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
        self._schema_text = schema_text()
        validate_policy(text, source=source, schema=self._schema_text)
        try:
            self._policies = cedarpy.PolicySet.from_str(text)
            self._schema = cedarpy.Schema.from_str(self._schema_text)
        except ValueError as exc:  # pragma: no cover - validate_policy catches these first
            raise PolicyError(f"{source}: {exc}", path=source) from None
        self._assurance_values = assurance_values or {}
        self._vc_issuers = trusted_vc_issuers
        self._oidc_issuer = oidc_issuer
        self._cache: OrderedDict[tuple[Any, ...], Decision] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path | str | None, taxonomy: Taxonomy, **options: Any) -> PolicyEngine:
        """The policy in ``path`` (``None``: the shipped default)."""
        if path is None:
            return cls(default_policy_text(), taxonomy, source="default", **options)
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(f"cannot read policy {path}: {exc.strerror}", path=str(path)) from None
        return cls(text, taxonomy, source=str(path), **options)

    @property
    def version(self) -> str:
        return f"{self.source}@sha256:{self.sha256[:16]}"

    # --- deciding --------------------------------------------------------------------------------------------
    def decide(
        self, principal: Principal, category: str, band: Band | None, stage: Stage, *, review_approved: bool = False
    ) -> Decision:
        """The action for ``principal`` receiving content of (category, band) at ``stage``; cached."""
        if category == BENIGN:
            band = None
        key = (principal.fingerprint(), category, band, stage, review_approved)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        decision = self._decide(principal, category, band, stage, review_approved)
        with self._lock:
            self._cache[key] = decision
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return decision

    def _entities(self, principal: Principal, category: str, band: Band | None) -> list[dict[str, Any]]:
        requirement = self.taxonomy.requirement(category, band)
        return [
            {
                "uid": {"type": "Trustplane::Principal", "id": "caller"},
                "attrs": {
                    "assurance": principal.assurance,
                    "attributes": sorted(principal.attributes),
                    "method": principal.method,
                    "tier": principal.tier,
                },
                "parents": [],
            },
            {
                "uid": {"type": "Trustplane::Content", "id": f"{category}/{band or 'none'}"},
                "attrs": {
                    "category": category,
                    "band": band or "none",
                    "min_assurance": requirement.rank,
                    "required_attributes": list(requirement.attributes),
                },
                "parents": [],
            },
        ]

    def _permitted(
        self, principal: Principal, category: str, band: Band | None, stage: Stage, review_approved: bool
    ) -> list[tuple[str, Action, bool, tuple[str, ...]]]:
        ladder = [step for step in _LADDER if stage == "prompt" or step[1] != "escalate"]
        requests = [
            {
                "principal": {"type": "Trustplane::Principal", "id": "caller"},
                "action": {"type": "Trustplane::Action", "id": cedar_action},
                "resource": {"type": "Trustplane::Content", "id": f"{category}/{band or 'none'}"},
                "context": {"stage": stage, "review_approved": review_approved},
            }
            for cedar_action, _ in ladder
        ]
        results = cedarpy.is_authorized_batch(
            requests, self._policies, self._entities(principal, category, band), self._schema
        )
        out = []
        for (cedar_action, action), result in zip(ladder, results, strict=True):
            if result.diagnostics.errors:
                raise PolicyError(
                    f"policy {self.source} failed to evaluate: {'; '.join(result.diagnostics.errors)}",
                    path=self.source,
                )
            annotations = result.diagnostics.id_annotations_by_reason
            reasons = tuple(annotations.get(r, r) for r in result.diagnostics.reasons)
            out.append((cedar_action, action, result.allowed, reasons))
        return out

    def _decide(
        self, principal: Principal, category: str, band: Band | None, stage: Stage, review_approved: bool
    ) -> Decision:
        for _, action, allowed, reasons in self._permitted(principal, category, band, stage, review_approved):
            if allowed:
                unlock = None if action == "allow" else self._unlock(principal, category, band, stage)
                return Decision(action, category, band, stage, reasons, unlock)
        return Decision("refuse", category, band, stage, (), self._unlock(principal, category, band, stage))

    def _unlock(self, principal: Principal, category: str, band: Band | None, stage: Stage) -> Unlock:
        requirement = self.taxonomy.requirement(category, band)
        missing_attributes = tuple(a for a in requirement.attributes if a not in principal.attributes)
        hypothetical = replace(
            principal,
            assurance=max(principal.assurance, requirement.rank),
            attributes=principal.attributes | frozenset(requirement.attributes),
        )
        receive = self._permitted(hypothetical, category, band, stage, False)[0]
        accepted = tuple(
            value
            for value, level in sorted(self._assurance_values.items())
            if level in ASSURANCE_LEVELS and ASSURANCE_LEVELS.index(level) >= requirement.rank
        )
        return Unlock(
            category=category,
            band=band or "none",
            min_assurance=requirement.assurance,
            required_attributes=tuple(requirement.attributes),
            missing_assurance=principal.assurance < requirement.rank,
            missing_attributes=missing_attributes,
            sufficient=receive[2],
            accepted_assurance_values=accepted,
            trusted_vc_issuers=self._vc_issuers,
            oidc_issuer=self._oidc_issuer,
        )


# --- validation -------------------------------------------------------------------------------------------
def validate_policy(text: str, *, source: str = "<text>", schema: str | None = None) -> None:
    """Parse and validate Cedar ``text`` against the gateway's schema; raise with file, line and field."""
    try:
        result = cedarpy.validate_policies(text, schema or schema_text())
    except ValueError as exc:  # the schema itself (shipped) failed to parse
        raise PolicyError(f"{source}: {exc}", path=source) from None
    if result.validation_passed:
        return
    first = result.errors[0]
    spans = _policy_spans(text)
    match = re.fullmatch(r"policy(\d+)", first.policy_id or "")
    start, end = spans[int(match.group(1))] if match and int(match.group(1)) < len(spans) else (0, len(text))
    more = f" (and {len(result.errors) - 1} more)" if len(result.errors) > 1 else ""
    field = _FIELD_RE.search(first.error)
    if field is not None:
        name = field.group(1)
        field_line = _line_of_token(text, start, end, name)
        raise UnknownPolicyFieldError(
            f"{source}, line {field_line}, field {name}: {first.error}{more}",
            hint="principal has assurance, attributes, method, tier; resource has category, band, min_assurance, "
            "required_attributes; context has stage, review_approved",
            path=source,
            line=field_line,
            field=name,
        )
    line = text.count("\n", 0, start) + 1 if match else _parse_error_line(first.error)
    raise PolicyError(
        f"{source}{f', line {line}' if line else ''}: {first.error}{more}", path=source, line=line, field=None
    )


def _parse_error_line(message: str) -> int | None:
    found = re.search(r"line (\d+)", message)
    return int(found.group(1)) if found else None


def _line_of_token(text: str, start: int, end: int, token: str) -> int:
    found = re.search(r"\b" + re.escape(token) + r"\b", text[start:end])
    offset = start + (found.start() if found else 0)
    return text.count("\n", 0, offset) + 1


def _policy_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the top-level statements (policies end with ';'), skipping comments and strings."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(text)
    start: int | None = None
    while i < n:
        ch = text[i]
        if text.startswith("//", i):
            newline = text.find("\n", i)
            i = n if newline < 0 else newline + 1
            continue
        if ch.isspace():
            i += 1
            continue
        if start is None:
            start = i
        if ch == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            continue
        if ch == ";":
            spans.append((start, i + 1))
            start = None
        i += 1
    return spans
