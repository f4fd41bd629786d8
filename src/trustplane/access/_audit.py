"""``access.decision``: every gateway decision in the transparency log, with hashes instead of text."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from trustplane.core.log import canonical, register_kind

DECISION_KIND = "access.decision"
_HEX64 = r"^[0-9a-f]{64}$"


class AccessDecisionPayload(BaseModel):
    """An access decision: who (pseudonymous id, assurance), what (category, band), which action, under which
    policy and taxonomy, and SHA-256 hashes of the prompt and of the output delivered; never raw text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decision_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="Unique id of this decision.")
    request_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="The request it belongs to.")
    stage: Literal["request", "prompt", "output", "review"] = Field(
        description="request: the whole exchange; prompt/output: the two halves of a stream; review: a human."
    )
    action: Literal["allow", "redact", "escalate", "refuse", "approve", "deny", "error"]
    category: str = Field(min_length=1, max_length=64, description="Taxonomy domain, or benign.")
    band: Literal["grey", "prohibited"] | None = None
    score: float | None = Field(None, ge=0.0, le=1.0, description="The classifier's probability for it.")
    prompt_category: str | None = Field(None, max_length=64)
    prompt_band: Literal["grey", "prohibited"] | None = None
    principal_id: str = Field(min_length=1, max_length=200, description="Pseudonymous principal id.")
    method: Literal["api_key", "oidc", "vc", "dry_run", "admin"]
    assurance: Literal["none", "low", "substantial", "high"]
    policy_sha256: str = Field(pattern=_HEX64)
    taxonomy_sha256: str = Field(pattern=_HEX64)
    classifier: str = Field(min_length=1, max_length=100)
    model: str = Field(min_length=1, max_length=200)
    prompt_sha256: str = Field(pattern=_HEX64)
    output_sha256: str | None = Field(None, pattern=_HEX64, description="Hash of the output delivered.")
    upstream_sha256: str | None = Field(None, pattern=_HEX64, description="Hash of the upstream's whole output.")
    redactions: int = Field(0, ge=0)
    stream: bool = False
    outcome: str | None = Field(None, max_length=200, description="completed, content_filter, revoked, ...")
    review_id: str | None = Field(None, pattern=r"^[0-9a-f]{32}$")
    reasons: list[str] = Field(default_factory=list, max_length=50, description="Policy ids that decided.")


register_kind(DECISION_KIND, AccessDecisionPayload, "An access-control decision of the gateway (hashes, no text).")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def prompt_digest(messages: list[dict[str, Any]]) -> str:
    """SHA-256 of the canonical JSON (RFC 8785) of the messages: the same prompt hashes the same everywhere."""
    return hashlib.sha256(canonical(messages)).hexdigest()


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Decisions (``index``, ``timestamp`` and payload fields) counted per UTC day, category and action."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for row in rows:
        day = datetime.fromtimestamp(row["timestamp"] / 1000, tz=UTC).strftime("%Y-%m-%d")
        counts[(day, str(row.get("category", "?")), str(row.get("action", "?")))] += 1
    return [
        {"day": day, "category": category, "action": action, "count": n}
        for (day, category, action), n in sorted(counts.items(), reverse=True)
    ]
