"""The gateway: authenticate, limit, classify, decide, call the upstream, filter its output, log, answer.

Order of a request (nothing reaches the upstream model before the last check passes):

1. size and JSON checks (:func:`~trustplane.access._wire.parse_body`), credentials (:class:`IdentityVerifier`),
   the model name, rate limit and token budget;
2. the prompt is classified and the policy decides: ``refuse`` and ``escalate`` end here, logged, with
   the unlock statement or the review id;
3. the upstream answers; its output passes the :class:`~trustplane.access._stream.StreamGuard`
   (streams: chunk by chunk, with a revocation check between chunks);
4. the decision is appended to the transparency log before the answer (for streams: before the first
   byte, and again before the held-back tail); if the log write fails, the request is denied.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, select

from trustplane.access._audit import DECISION_KIND, AccessDecisionPayload, prompt_digest, sha256_text
from trustplane.access._engine import AccessEngine, ReviewGrant
from trustplane.access._errors import (
    CredentialRevokedError,
    DecisionLogError,
    KeyRevokedError,
    RefusedError,
    ReviewRequiredError,
    TokenExpiredError,
)
from trustplane.access._identity import IdentityVerifier
from trustplane.access._keys import ApiKeys, Revocations, load_pepper
from trustplane.access._policy import Decision, most_severe
from trustplane.access._principal import Principal
from trustplane.access._ratelimit import RateLimiter
from trustplane.access._reviews import Review, ReviewQueue
from trustplane.access._stream import GuardEvent, StreamGuard
from trustplane.access._tables import texts
from trustplane.access._wire import ChatCompletionBody
from trustplane.access.classifiers import Classification
from trustplane.core.config import Settings
from trustplane.core.errors import TrustplaneError
from trustplane.core.log import AppendResult, TransparencyLog
from trustplane.core.models import ChatResponse, Model, get_model
from trustplane.core.store import Store

logger = logging.getLogger(__name__)


def _new_id() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True)
class Admission:
    """A request that passed authentication, limits and the prompt-stage policy."""

    request_id: str
    principal: Principal
    body: ChatCompletionBody
    model: Model
    prompt: Classification
    decision: Decision
    prompt_hash: str
    messages: list[dict[str, str]]
    grant: ReviewGrant | None = None


@dataclass(frozen=True)
class StreamEvent:
    """What the router turns into SSE: a text ``delta``, the ``finish``, or an ``error`` mid-stream."""

    kind: Literal["delta", "finish", "error"]
    text: str = ""
    finish_reason: str | None = None
    usage: dict[str, int] | None = None
    extension: dict[str, Any] = field(default_factory=dict)
    error: TrustplaneError | None = None


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


class Gateway:
    """Everything a ``/v1`` request needs, built once per server from :class:`Settings`."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        log: TransparencyLog,
        *,
        engine: AccessEngine | None = None,
        transport: Any = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.log = log
        self.engine = engine or AccessEngine(settings)
        self.keys = ApiKeys(store, load_pepper(settings))
        self.revocations = Revocations(store)
        self.identity = IdentityVerifier(settings, self.keys, self.revocations, transport=transport)
        self.limiter = RateLimiter(settings.access_rate_limits, settings.access_token_budgets, settings.redis_url)
        for tier in ("default", "verified"):  # where OIDC and VC callers land; API keys may use others
            self.limiter.check_tier(tier)
        self.reviews = ReviewQueue(
            store, ttl_s=settings.access_review_ttl_seconds, keep_text=settings.access_store_text
        )

    # --- admission ---------------------------------------------------------------------------------------
    async def authenticate(self, authorization: str | None, credentials: Sequence[str] = ()) -> Principal:
        principal = await self.identity.authenticate(authorization, credentials)
        if principal.rate_limit is None or principal.token_budget is None:
            self.limiter.check_tier(principal.tier)
        return principal

    async def admit(self, principal: Principal, body: ChatCompletionBody, *, review_id: str | None = None) -> Admission:
        """Limits, model, prompt classification and the prompt-stage decision; refusals raise, logged."""
        model = get_model(self.settings, body.model)  # ModelNotFoundError (404) before anything else
        await self.limiter.hit_request(principal)
        await self.limiter.check_budget(principal)
        messages = [{"role": role, "content": content} for role, content in body.conversation()]
        prompt_hash = prompt_digest(messages)
        grant = None
        if review_id is not None:
            review = await asyncio.to_thread(self.reviews.redeem, review_id, principal, prompt_hash)
            grant = ReviewGrant(review.review_id, review.category, review.band)  # type: ignore[arg-type]
        c = await self._run(self.engine.classify_prompt, body.conversation())
        decision = self.engine.decide(principal, c, "prompt", grant)
        admission = Admission(_new_id(), principal, body, model, c, decision, prompt_hash, messages, grant)
        if decision.action == "refuse":
            entry = await self._append(self._payload(admission, stage="prompt", action="refuse", worst=decision))
            raise RefusedError(
                f"the policy refuses {c.category}/{c.band} content to this caller",
                hint="the refusal says which credential would unlock it",
                refusal=decision.unlock.as_json() if decision.unlock else None,
                request_id=admission.request_id,
                log_index=entry.entries[0].index,
            )
        if decision.action == "escalate":
            review_rec, _ = await asyncio.to_thread(
                self.reviews.open,
                principal,
                category=c.category,
                band=str(c.band),
                score=c.score,
                model=model.name,
                prompt_hash=prompt_hash,
                prompt_text=json.dumps(messages, ensure_ascii=False),
            )
            entry = await self._append(
                self._payload(
                    admission, stage="prompt", action="escalate", worst=decision, review_id=review_rec.review_id
                )
            )
            raise ReviewRequiredError(
                f"{c.category}/{c.band} requests from this caller need a human reviewer's approval",
                hint=f"retry the same request with the header 'Trustplane-Review: {review_rec.review_id}' once approved",
                review_id=review_rec.review_id,
                refusal=decision.unlock.as_json() if decision.unlock else None,
                request_id=admission.request_id,
                log_index=entry.entries[0].index,
            )
        return admission

    # --- non-streaming --------------------------------------------------------------------------------------
    async def complete(self, adm: Admission) -> dict[str, Any]:
        """Answer a non-streaming request; returns the fields the router renders as a chat.completion."""
        try:
            response: ChatResponse = await adm.model.chat(adm.messages, **adm.body.params())
        except TrustplaneError as exc:
            await self._append(
                self._payload(adm, stage="request", action="error", worst=adm.decision, outcome=exc.code)
            )
            raise
        released, guard = await self._run(self.engine.filter_text, adm.principal, response.content, adm.grant)
        action, worst = self._final(adm, guard)
        finish = "content_filter" if guard.stopped else response.finish_reason
        try:
            # Revoked while the upstream was answering? Status lists and expiry are checked here, admin
            # revocation inside the transaction that logs the release, so the two cannot race.
            await self.identity.ensure_current(adm.principal)
            entry = await self._append(
                self._payload(
                    adm,
                    stage="request",
                    action=action,
                    worst=worst,
                    output=released,
                    upstream=response.content,
                    redactions=guard.stats.redactions,
                    outcome="content_filter" if guard.stopped else "completed",
                ),
                prompt=json.dumps(adm.messages, ensure_ascii=False),
                output=released,
                guard=self.identity.revocation_guard(adm.principal),
            )
        except (KeyRevokedError, CredentialRevokedError, TokenExpiredError) as exc:
            await self._append(
                self._payload(
                    adm,
                    stage="output",
                    action="refuse",
                    worst=adm.decision,
                    outcome="revoked" if not isinstance(exc, TokenExpiredError) else exc.code,
                    output="",
                    upstream=response.content,
                )
            )
            raise
        usage = _usage(response.usage.prompt_tokens, response.usage.completion_tokens)
        await self.limiter.spend(adm.principal, usage["total_tokens"])
        return {
            "content": released,
            "finish_reason": finish,
            "usage": usage,
            "extension": self._extension(adm, action, worst, guard, entry),
        }

    # --- streaming ------------------------------------------------------------------------------------------
    async def stream(self, adm: Admission) -> AsyncIterator[StreamEvent]:
        """Answer a streaming request. The prompt-stage decision is logged before this yields anything."""
        await self._append(self._payload(adm, stage="prompt", action=adm.decision.action, worst=adm.decision))
        return self._stream(adm)

    async def _stream(self, adm: Admission) -> AsyncIterator[StreamEvent]:
        guard = self.engine.guard(adm.principal, adm.grant) if self.engine.enabled else None
        upstream: list[str] = []
        released: list[str] = []
        usage: dict[str, int] | None = None
        finish: str | None = None
        done = False
        agen = adm.model.stream(adm.messages, **adm.body.params())
        try:
            try:
                async for piece in agen:
                    await self.identity.ensure_not_revoked(adm.principal)
                    if piece.delta:
                        upstream.append(piece.delta)
                        events = await self._feed(guard, piece.delta)
                        for event in events:
                            if event.kind in ("text", "redacted"):
                                released.append(event.text)
                                yield StreamEvent("delta", event.text)
                    if piece.usage is not None:
                        usage = _usage(piece.usage.prompt_tokens, piece.usage.completion_tokens)
                    if piece.finish_reason is not None:
                        finish = piece.finish_reason
                    if guard is not None and guard.stopped:
                        break
            finally:
                aclose = getattr(agen, "aclose", None)
                if aclose is not None:
                    await aclose()
            tail = guard.finish() if guard is not None else []
        except TrustplaneError as exc:
            done = True
            outcome = "revoked" if exc.code in ("access.credential_revoked", "access.key_revoked") else exc.code
            action = "refuse" if outcome == "revoked" else "error"
            await self._append_quietly(
                self._payload(
                    adm,
                    stage="output",
                    action=action,
                    worst=adm.decision,
                    outcome=outcome,
                    output="".join(released),
                    upstream="".join(upstream),
                    stream=True,
                )
            )
            yield StreamEvent("error", error=exc)
            return
        except BaseException:
            if not done:  # client went away, or the server is shutting down: record it without waiting
                self._append_in_background(
                    self._payload(
                        adm,
                        stage="output",
                        action=adm.decision.action,
                        worst=adm.decision,
                        outcome="cancelled",
                        output="".join(released),
                        upstream="".join(upstream),
                        stream=True,
                    )
                )
            raise
        tail_text = [e.text for e in tail if e.kind in ("text", "redacted")]
        if guard is not None:
            action, worst = self._final(adm, guard)
        else:
            action, worst = adm.decision.action, adm.decision
        output = "".join(released + tail_text)
        stopped = guard is not None and guard.stopped
        try:
            entry = await self._append(
                self._payload(
                    adm,
                    stage="output",
                    action=action,
                    worst=worst,
                    output=output,
                    upstream="".join(upstream),
                    redactions=guard.stats.redactions if guard is not None else 0,
                    outcome="content_filter" if stopped else "completed",
                    stream=True,
                ),
                prompt=json.dumps(adm.messages, ensure_ascii=False),
                output=output,
            )
        except DecisionLogError as exc:
            yield StreamEvent("error", error=exc)  # the held-back tail is never released
            return
        for text in tail_text:
            yield StreamEvent("delta", text)
        usage = usage or _usage(0, 0)
        await self.limiter.spend(adm.principal, usage["total_tokens"])
        yield StreamEvent(
            "finish",
            finish_reason="content_filter" if stopped else (finish or "stop"),
            usage=usage,
            extension=self._extension(adm, action, worst, guard, entry),
        )

    async def _feed(self, guard: StreamGuard | None, delta: str) -> list[GuardEvent]:
        if guard is None:
            return [GuardEvent("text", delta)]
        if self.engine.cheap:
            return guard.feed(delta)
        return await asyncio.to_thread(guard.feed, delta)

    # --- reviews ----------------------------------------------------------------------------------------------
    async def decide_review(self, review_id: str, *, approve: bool, by: str, note: str | None = None) -> Review:
        """Approve or deny a pending review; the decision is logged like any other."""
        review = await asyncio.to_thread(self.reviews.decide, review_id, approve=approve, by=by, note=note)
        info = review.principal
        payload = AccessDecisionPayload(
            decision_id=_new_id(),
            request_id=review.review_id,
            stage="review",
            action="approve" if approve else "deny",
            category=review.category,
            band=review.band if review.band in ("grey", "prohibited") else None,  # type: ignore[arg-type]
            principal_id=review.principal_id,
            method=info.get("method", "admin"),
            assurance=info.get("assurance", "none"),
            policy_sha256=self.engine.policy.sha256,
            taxonomy_sha256=self.engine.taxonomy.sha256,
            classifier=self.engine.classifier_name,
            model=review.model,
            prompt_sha256=review.prompt_hash,
            review_id=review.review_id,
            outcome=f"decided by {by}"[:200],
        )
        await self._append(payload)
        return review

    # --- helpers ---------------------------------------------------------------------------------------------
    async def _run(self, fn: Any, *args: Any) -> Any:
        if self.engine.cheap:
            return fn(*args)
        return await asyncio.to_thread(fn, *args)

    def _final(self, adm: Admission, guard: StreamGuard) -> tuple[str, Decision]:
        """The request's action and the decision that set it: the most severe of prompt and output."""
        if guard.stats.stopped is not None:
            return "refuse", guard.stats.stopped
        decisions = [adm.decision, *guard.stats.decisions]
        worst = most_severe(decisions)
        if worst.action == "allow":  # report the most sensitive content that was allowed
            gated = [d for d in decisions if d.band is not None]
            if gated:
                worst = max(gated, key=lambda d: 0 if d.band == "grey" else 1)
        return worst.action, worst

    def _extension(
        self, adm: Admission, action: str, worst: Decision, guard: StreamGuard | None, entry: AppendResult
    ) -> dict[str, Any]:
        ext: dict[str, Any] = {
            "request_id": adm.request_id,
            "decision": action,
            "category": worst.category,
            "band": worst.band,
            "prompt": {"category": adm.prompt.category, "band": adm.prompt.band},
            "redactions": guard.stats.redactions if guard is not None else 0,
            "log_index": entry.entries[0].index,
            "policy": self.engine.policy.version,
        }
        if guard is not None and guard.stats.stopped is not None and guard.stats.stopped.unlock is not None:
            ext["refusal"] = guard.stats.stopped.unlock.as_json()
        elif worst.unlock is not None and action != "allow":
            ext["refusal"] = worst.unlock.as_json()
        if adm.grant is not None:
            ext["review_id"] = adm.grant.review_id
        return ext

    def _payload(
        self,
        adm: Admission,
        *,
        stage: Literal["request", "prompt", "output"],
        action: str,
        worst: Decision,
        output: str | None = None,
        upstream: str | None = None,
        redactions: int = 0,
        outcome: str | None = None,
        review_id: str | None = None,
        stream: bool | None = None,
    ) -> AccessDecisionPayload:
        prompt = adm.prompt
        return AccessDecisionPayload(
            decision_id=_new_id(),
            request_id=adm.request_id,
            stage=stage,
            action=action,  # type: ignore[arg-type]
            category=worst.category,
            band=worst.band,
            score=round(prompt.score, 6) if worst.category == prompt.category else None,
            prompt_category=prompt.category,
            prompt_band=prompt.band if prompt.category != "benign" else None,
            principal_id=adm.principal.id,
            method=adm.principal.method,
            assurance=adm.principal.assurance_name,
            policy_sha256=self.engine.policy.sha256,
            taxonomy_sha256=self.engine.taxonomy.sha256,
            classifier=self.engine.classifier_name,
            model=adm.model.name,
            prompt_sha256=adm.prompt_hash,
            output_sha256=None if output is None else sha256_text(output),
            upstream_sha256=None if upstream is None else sha256_text(upstream),
            redactions=redactions,
            stream=adm.body.stream if stream is None else stream,
            outcome=outcome,
            review_id=review_id or (adm.grant.review_id if adm.grant else None),
            reasons=list(worst.reasons),
        )

    def _append_sync(
        self,
        payload: AccessDecisionPayload,
        prompt: str | None,
        output: str | None,
        guard: Callable[[Connection], None] | None = None,
    ) -> AppendResult:
        result = self.log.append(DECISION_KIND, payload.model_dump(mode="json", exclude_none=True), guard=guard)
        if self.settings.access_store_text and (prompt is not None or output is not None):
            with self.store.write() as conn:
                conn.execute(
                    texts.insert().values(
                        decision_id=payload.decision_id,
                        created_ms=time.time_ns() // 1_000_000,
                        prompt_text=prompt,
                        output_text=output,
                    )
                )
        return result

    async def _append(
        self,
        payload: AccessDecisionPayload,
        *,
        prompt: str | None = None,
        output: str | None = None,
        guard: Callable[[Connection], None] | None = None,
    ) -> AppendResult:
        """Append the decision; any failure denies the request (503 ``access.log_unavailable``). An error the
        ``guard`` raises (a revoked credential) propagates as it is, with nothing appended."""
        try:
            if self.store.dialect == "sqlite":  # one local transaction: cheaper inline than a thread hand-off
                return self._append_sync(payload, prompt, output, guard)
            return await asyncio.to_thread(self._append_sync, payload, prompt, output, guard)
        except (KeyRevokedError, CredentialRevokedError):
            raise
        except Exception as exc:
            logger.error("access decision %s could not be logged: %s", payload.decision_id, exc)
            raise DecisionLogError(
                "the decision could not be written to the transparency log, so the request is denied",
                hint="the operator should check the database",
            ) from None

    async def _append_quietly(self, payload: AccessDecisionPayload) -> None:
        with contextlib.suppress(DecisionLogError):  # the stream is cut off anyway; the server log says why
            await self._append(payload)

    def _append_in_background(self, payload: AccessDecisionPayload) -> None:
        def run() -> None:
            try:
                self.log.append(DECISION_KIND, payload.model_dump(mode="json", exclude_none=True))
            except Exception as exc:  # pragma: no cover - best effort for a client that went away
                logger.error("access decision %s (cancelled stream) could not be logged: %s", payload.decision_id, exc)

        threading.Thread(target=run, name="access-log-cancelled", daemon=True).start()

    # --- reads for the dashboard -----------------------------------------------------------------------------
    def decisions(self, limit: int = 2000) -> list[dict[str, Any]]:
        """The newest ``access.decision`` entries (index, timestamp, payload), newest first."""
        size = self.log.size()
        if size == 0:
            return []
        entries = self.log.entries(start=size - 1, limit=limit, kind=DECISION_KIND, descending=True)
        return [{"index": e.index, "timestamp": e.timestamp, **e.payload} for e in entries]

    def stored_text(self, decision_id: str) -> dict[str, Any] | None:
        with self.store.read() as conn:
            row = conn.execute(select(texts).where(texts.c.decision_id == decision_id)).first()
        return None if row is None else {"prompt_text": row.prompt_text, "output_text": row.output_text}
