"""Access control for dual-use outputs: an OpenAI-compatible gateway that gates risk categories by verified identity.

A classifier places prompts and outputs in a risk taxonomy (dual-use domains, each with a grey-zone
and a prohibited band); callers hold verified credentials (API keys, OIDC tokens carrying OIDC4IDA
``verified_claims`` or REFEDS assurance, W3C VC-JWTs); a Cedar policy maps (category, band,
principal) to allow, redact, escalate or refuse, and every decision goes into the transparency log.

* :class:`Gateway`: the whole request path (``trustplane.access.router`` serves it as ``/v1``).
* :class:`AccessEngine`: taxonomy + classifier + policy, without I/O (``trustplane access check``).
* :class:`StreamGuard`: fail-closed incremental output filtering with a hold-back window.
* :class:`PolicyEngine`, :class:`Decision`, :class:`Unlock`: the Cedar policy and its verdicts.
* :func:`load_taxonomy`, :class:`Taxonomy`: the risk taxonomy (YAML).
* :class:`Principal`, :class:`IdentityVerifier`, :class:`ApiKeys`, :class:`Revocations`: identity.
* :class:`ReviewQueue`, :class:`RateLimiter`: the human review queue; limits and budgets.
* ``access.decision`` log entries: :class:`AccessDecisionPayload`.
"""

from trustplane.access._audit import DECISION_KIND, AccessDecisionPayload, prompt_digest, summarise
from trustplane.access._engine import AccessEngine, ReviewGrant
from trustplane.access._errors import (
    BudgetExhaustedError,
    ClassifierUnavailableError,
    CredentialRevokedError,
    DecisionLogError,
    InvalidTokenError,
    PolicyError,
    RateLimitedError,
    RefusedError,
    ReviewRequiredError,
    TaxonomyError,
    TokenExpiredError,
    UnknownPolicyFieldError,
    WrongAudienceError,
)
from trustplane.access._gateway import Admission, Gateway, StreamEvent
from trustplane.access._identity import (
    ClaimMapper,
    IdentityVerifier,
    JwksSource,
    StatusLists,
    decode_status_list,
    encode_status_list,
    status_bit,
)
from trustplane.access._keys import ApiKey, ApiKeys, CreatedKey, Revocation, Revocations, load_pepper
from trustplane.access._policy import Decision, PolicyEngine, Unlock, default_policy_text, validate_policy
from trustplane.access._principal import ASSURANCE_LEVELS, Principal, StatusEntry, assurance_rank
from trustplane.access._ratelimit import RateLimiter
from trustplane.access._reviews import Review, ReviewQueue
from trustplane.access._stream import GuardEvent, StreamGuard, redaction_marker
from trustplane.access._taxonomy import BENIGN, Requirement, Taxonomy, load_taxonomy, parse_taxonomy

__all__ = [
    "ASSURANCE_LEVELS",
    "BENIGN",
    "DECISION_KIND",
    "AccessDecisionPayload",
    "AccessEngine",
    "Admission",
    "ApiKey",
    "ApiKeys",
    "BudgetExhaustedError",
    "ClaimMapper",
    "ClassifierUnavailableError",
    "CreatedKey",
    "CredentialRevokedError",
    "Decision",
    "DecisionLogError",
    "Gateway",
    "GuardEvent",
    "IdentityVerifier",
    "InvalidTokenError",
    "JwksSource",
    "PolicyEngine",
    "PolicyError",
    "Principal",
    "RateLimitedError",
    "RateLimiter",
    "RefusedError",
    "Requirement",
    "Review",
    "ReviewGrant",
    "ReviewQueue",
    "ReviewRequiredError",
    "Revocation",
    "Revocations",
    "StatusEntry",
    "StatusLists",
    "StreamEvent",
    "StreamGuard",
    "Taxonomy",
    "TaxonomyError",
    "TokenExpiredError",
    "UnknownPolicyFieldError",
    "Unlock",
    "WrongAudienceError",
    "assurance_rank",
    "decode_status_list",
    "default_policy_text",
    "encode_status_list",
    "load_pepper",
    "load_taxonomy",
    "parse_taxonomy",
    "prompt_digest",
    "redaction_marker",
    "status_bit",
    "summarise",
    "validate_policy",
]
