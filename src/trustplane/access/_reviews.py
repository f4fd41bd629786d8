"""The human review queue: escalated requests wait here for an admin to approve or deny them.

An approval is single-use and bound to the principal, the prompt (by hash) and the category and
band that were escalated: the caller retries the same request with ``Trustplane-Review: <id>``. The
prompt text is kept for the reviewer and wiped once the review is decided (unless
``TRUSTPLANE_ACCESS_STORE_TEXT`` is set).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, select, update

from trustplane.access._errors import (
    ReviewDeniedError,
    ReviewMismatchError,
    ReviewNotFoundError,
    ReviewPendingError,
    ReviewStateError,
)
from trustplane.access._principal import Principal
from trustplane.access._tables import reviews
from trustplane.core.errors import InvalidInputError
from trustplane.core.store import Store

ReviewStatus = Literal["pending", "approved", "denied", "used", "expired"]
STATUSES: tuple[str, ...] = ("pending", "approved", "denied", "used", "expired")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Review:
    review_id: str
    status: ReviewStatus
    created_ms: int
    expires_ms: int
    principal_id: str
    principal: dict[str, Any]
    category: str
    band: str
    score: float | None
    model: str
    prompt_hash: str
    prompt_text: str | None
    decided_ms: int | None
    decided_by: str | None
    note: str | None
    used_ms: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "review_id": self.review_id,
            "status": self.status,
            "created_ms": self.created_ms,
            "expires_ms": self.expires_ms,
            "principal_id": self.principal_id,
            "principal": self.principal,
            "category": self.category,
            "band": self.band,
            "score": self.score,
            "model": self.model,
            "prompt_sha256": self.prompt_hash,
            "prompt_text": self.prompt_text,
            "decided_ms": self.decided_ms,
            "decided_by": self.decided_by,
            "note": self.note,
            "used_ms": self.used_ms,
        }


def _row(row: Any) -> Review:
    status = row.status
    if status in ("pending", "approved") and int(row.expires_ms) <= _now_ms():
        status = "expired"
    return Review(
        review_id=row.review_id,
        status=status,
        created_ms=int(row.created_ms),
        expires_ms=int(row.expires_ms),
        principal_id=row.principal_id,
        principal=json.loads(row.principal),
        category=row.category,
        band=row.band,
        score=None if row.score is None else float(row.score),
        model=row.model,
        prompt_hash=row.prompt_hash,
        prompt_text=row.prompt_text,
        decided_ms=None if row.decided_ms is None else int(row.decided_ms),
        decided_by=row.decided_by,
        note=row.note,
        used_ms=None if row.used_ms is None else int(row.used_ms),
    )


class ReviewQueue:
    """Escalated requests in the store."""

    def __init__(self, store: Store, *, ttl_s: int, keep_text: bool) -> None:
        self.store = store
        self.ttl_ms = ttl_s * 1000
        self.keep_text = keep_text

    def open(
        self,
        principal: Principal,
        *,
        category: str,
        band: str,
        score: float | None,
        model: str,
        prompt_hash: str,
        prompt_text: str,
    ) -> tuple[Review, bool]:
        """Queue a request for review; the same request already pending returns that review. ``(review, new)``."""
        now = _now_ms()
        with self.store.write() as conn:
            existing = conn.execute(
                select(reviews).where(
                    and_(
                        reviews.c.principal_id == principal.id,
                        reviews.c.prompt_hash == prompt_hash,
                        reviews.c.category == category,
                        reviews.c.band == band,
                        reviews.c.status == "pending",
                        reviews.c.expires_ms > now,
                    )
                )
            ).first()
            if existing is not None:
                return _row(existing), False
            review_id = secrets.token_hex(16)
            values = {
                "review_id": review_id,
                "status": "pending",
                "created_ms": now,
                "expires_ms": now + self.ttl_ms,
                "principal_id": principal.id,
                "principal": json.dumps(
                    {
                        "method": principal.method,
                        "assurance": principal.assurance_name,
                        "attributes": sorted(principal.attributes),
                        "tier": principal.tier,
                        "trust_frameworks": list(principal.trust_frameworks),
                        "evidence": list(principal.evidence),
                    }
                ),
                "category": category,
                "band": band,
                "score": None if score is None else f"{score:.6f}",
                "model": model,
                "prompt_hash": prompt_hash,
                "prompt_text": prompt_text,
            }
            conn.execute(reviews.insert().values(**values))
            row = conn.execute(select(reviews).where(reviews.c.review_id == review_id)).one()
        return _row(row), True

    def get(self, review_id: str) -> Review:
        with self.store.read() as conn:
            row = conn.execute(select(reviews).where(reviews.c.review_id == review_id)).first()
        if row is None:
            raise ReviewNotFoundError(f"no review {review_id!r}", review_id=review_id)
        return _row(row)

    def list(self, status: str | None = None, limit: int = 100) -> list[Review]:
        if status is not None and status not in STATUSES:
            raise InvalidInputError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        if limit < 1:
            raise InvalidInputError("limit must be at least 1")
        query = select(reviews).order_by(reviews.c.created_ms.desc(), reviews.c.review_id).limit(limit)
        now = _now_ms()
        if status == "expired":
            query = query.where(and_(reviews.c.status.in_(("pending", "approved")), reviews.c.expires_ms <= now))
        elif status in ("pending", "approved"):
            query = query.where(and_(reviews.c.status == status, reviews.c.expires_ms > now))
        elif status is not None:
            query = query.where(reviews.c.status == status)
        with self.store.read() as conn:
            return [_row(r) for r in conn.execute(query)]

    def decide(self, review_id: str, *, approve: bool, by: str, note: str | None = None) -> Review:
        """Approve or deny a pending review (once)."""
        now = _now_ms()
        values: dict[str, Any] = {
            "status": "approved" if approve else "denied",
            "decided_ms": now,
            "decided_by": by,
            "note": note,
        }
        if not self.keep_text:
            values["prompt_text"] = None
        with self.store.write() as conn:
            result = conn.execute(
                update(reviews)
                .where(
                    and_(reviews.c.review_id == review_id, reviews.c.status == "pending", reviews.c.expires_ms > now)
                )
                .values(**values)
            )
            if result.rowcount == 0:
                row = conn.execute(select(reviews).where(reviews.c.review_id == review_id)).first()
                if row is None:
                    raise ReviewNotFoundError(f"no review {review_id!r}", review_id=review_id)
                current = _row(row)
                raise ReviewStateError(
                    f"review {review_id} is {current.status}; only pending reviews can be decided",
                    review_id=review_id,
                    status=current.status,
                )
        return self.get(review_id)

    def redeem(self, review_id: str, principal: Principal, prompt_hash: str) -> Review:
        """Use an approval: it must be approved, unexpired, unused, for this principal and this prompt."""
        with self.store.write() as conn:
            row = conn.execute(select(reviews).where(reviews.c.review_id == review_id)).first()
            if row is None:
                raise ReviewNotFoundError(f"no review {review_id!r}", review_id=review_id)
            review = _row(row)
            if review.principal_id != principal.id or review.prompt_hash != prompt_hash:
                raise ReviewMismatchError(
                    f"review {review_id} was opened for another caller or another prompt",
                    hint="retry exactly the request that was escalated, with the same credentials",
                    review_id=review_id,
                )
            if review.status == "pending":
                raise ReviewPendingError(
                    f"review {review_id} is still pending", hint="retry once an admin approved it", review_id=review_id
                )
            if review.status == "denied":
                raise ReviewDeniedError(f"review {review_id} was denied", review_id=review_id, note=review.note)
            if review.status != "approved":
                raise ReviewStateError(f"review {review_id} is {review.status}", review_id=review_id)
            conn.execute(
                update(reviews).where(reviews.c.review_id == review_id).values(status="used", used_ms=_now_ms())
            )
        return review

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for review in self.list(limit=10_000):
            out[review.status] += 1
        return out
