"""HTTP surface of the access gateway: the OpenAI-compatible ``/v1`` API, admin endpoints, dashboard page.

``/v1/chat/completions`` (with SSE streaming) and ``/v1/models`` speak OpenAI's wire format and error
envelope, so the official ``openai`` client works unchanged. ``/access/...`` holds the admin API
(keys, revocations, the review queue, dry runs; bearer ``TRUSTPLANE_ADMIN_TOKEN``) and problem+json
errors. ``/ui/access`` is the review queue and decisions dashboard.
"""

from __future__ import annotations

import asyncio
import hmac
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from trustplane.access._audit import DECISION_KIND, summarise
from trustplane.access._errors import (
    AccessConfigError,
    AdminForbiddenError,
    AdminRequiredError,
    RequestTooLargeError,
)
from trustplane.access._gateway import Gateway, StreamEvent
from trustplane.access._keys import MAX_KEY_LIFETIME_S
from trustplane.access._policy import validate_policy
from trustplane.access._principal import ASSURANCE_LEVELS, ATTRIBUTE_PATTERN, Principal
from trustplane.access._ratelimit import parse_limits
from trustplane.access._wire import ChatCompletionBody, chunk, completion, now_s, parse_body, sse, usage_chunk
from trustplane.core.errors import InvalidInputError, TrustplaneError, to_openai_error
from trustplane.core.models import list_models

_GATEWAY_LOCK = threading.Lock()


def _build(app: Any) -> Gateway:
    state = app.state
    gateway: Gateway = Gateway(state.settings, state.store, state.log)
    state.access_gateway = gateway
    return gateway


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build the gateway when the server starts, so a bad taxonomy, policy or setting stops it there."""
    if getattr(app.state, "settings", None) is not None and getattr(app.state, "access_gateway", None) is None:
        _build(app)
    yield


router = APIRouter(lifespan=_lifespan)


async def gateway_of(request: Request) -> Gateway:
    """The app's gateway (built at startup; built here when the app runs without its lifespan)."""
    gateway: Gateway | None = getattr(request.app.state, "access_gateway", None)
    if gateway is None:
        with _GATEWAY_LOCK:
            gateway = getattr(request.app.state, "access_gateway", None) or _build(request.app)
    return gateway


GatewayDep = Annotated[Gateway, Depends(gateway_of)]


def _check_admin(gateway: Gateway, authorization: str | None) -> None:
    token = gateway.settings.admin_token
    if token is None:
        raise AdminForbiddenError(
            "admin endpoints are disabled on this server", hint="set TRUSTPLANE_ADMIN_TOKEN, or use the CLI"
        )
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not value:
        raise AdminRequiredError(
            "this endpoint needs the admin bearer token", hint="send Authorization: Bearer <token>"
        )
    if not hmac.compare_digest(value.strip().encode(), token.get_secret_value().encode()):
        raise AdminForbiddenError("the admin token is wrong")


async def require_admin(gateway: GatewayDep, authorization: Annotated[str | None, Header()] = None) -> Gateway:
    _check_admin(gateway, authorization)
    return gateway


AdminGateway = Annotated[Gateway, Depends(require_admin)]


# --- /v1: the OpenAI-compatible API -----------------------------------------------------------------------------
def v1_error(err: TrustplaneError) -> JSONResponse:
    """The OpenAI error envelope, with trustplane's machine-readable details (refusal, review id) added."""
    body = to_openai_error(err)
    details = {k: v for k, v in err.extra.items() if v is not None}
    if details:
        body["error"]["trustplane"] = details
    if isinstance(details.get("param"), str):
        body["error"]["param"] = details["param"]
    headers = {}
    if "retry_after" in details:
        headers["retry-after"] = str(details["retry_after"])
    return JSONResponse(body, status_code=err.status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLargeError(
            f"the request body is {declared} bytes; the limit is {limit}",
            hint="send a shorter conversation (TRUSTPLANE_ACCESS_MAX_REQUEST_BYTES)",
            limit=limit,
        )
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise RequestTooLargeError(
                f"the request body exceeds the limit of {limit} bytes",
                hint="send a shorter conversation (TRUSTPLANE_ACCESS_MAX_REQUEST_BYTES)",
                limit=limit,
            )
        parts.append(part)
    return b"".join(parts)


def inline_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its ``$defs`` references inlined, to embed in the OpenAPI document."""
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    inlined: dict[str, Any] = resolve(schema)
    return inlined


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed JSON, an invalid or unsupported field (OpenAI error envelope)"},
    401: {"description": "Missing, invalid, expired, forged or wrong-audience credentials"},
    403: {"description": "Refused by policy (with the credential that would unlock it), revoked, or escalated"},
    404: {"description": "Unknown model"},
    413: {"description": "Request too large"},
    429: {"description": "Rate limit or token budget exceeded (Retry-After)"},
    502: {"description": "The upstream model failed"},
    503: {"description": "The classifier, the decision log or a status list is unavailable (fails closed)"},
}


@router.post(
    "/v1/chat/completions",
    tags=["v1"],
    summary="Chat completion (OpenAI-compatible, streaming with SSE)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": ChatCompletionBody.model_json_schema(ref_template="#/x/{model}")}
            },
        }
    },
    responses=_ERRORS,
)
async def chat_completions(
    request: Request,
    gateway: GatewayDep,
    authorization: Annotated[str | None, Header()] = None,
    trustplane_credential: Annotated[list[str] | None, Header()] = None,
    trustplane_review: Annotated[str | None, Header()] = None,
) -> Response:
    try:
        raw = await _read_body(request, gateway.settings.access_max_request_bytes)
        credentials = [c.strip() for value in trustplane_credential or [] for c in value.split(",") if c.strip()]
        principal = await gateway.authenticate(authorization, credentials)
        body = parse_body(raw, max_bytes=gateway.settings.access_max_request_bytes)
        admission = await gateway.admit(principal, body, review_id=(trustplane_review or "").strip() or None)
        created = now_s()
        completion_id = f"chatcmpl-{admission.request_id}"
        if not body.stream:
            result = await gateway.complete(admission)
            return JSONResponse(
                completion(
                    completion_id=completion_id,
                    created=created,
                    model=admission.model.name,
                    content=result["content"],
                    finish_reason=result["finish_reason"],
                    usage=result["usage"],
                    extension=result["extension"],
                ),
                headers={"x-request-id": admission.request_id},
            )
        events = await gateway.stream(admission)
    except TrustplaneError as err:
        return v1_error(err)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    model_name = admission.model.name

    async def sse_body() -> AsyncIterator[bytes]:
        yield sse(
            chunk(
                completion_id=completion_id,
                created=created,
                model=model_name,
                delta={"role": "assistant", "content": ""},
            )
        )
        event: StreamEvent
        async for event in events:
            if event.kind == "delta":
                yield sse(
                    chunk(completion_id=completion_id, created=created, model=model_name, delta={"content": event.text})
                )
            elif event.kind == "error" and event.error is not None:
                envelope = to_openai_error(event.error)
                envelope["error"]["trustplane"] = {k: v for k, v in event.error.extra.items() if v is not None}
                yield sse(envelope)
                return
            elif event.kind == "finish":
                yield sse(
                    chunk(
                        completion_id=completion_id,
                        created=created,
                        model=model_name,
                        delta={},
                        finish_reason=event.finish_reason,
                        extension=event.extension,
                    )
                )
                if include_usage and event.usage is not None:
                    yield sse(
                        usage_chunk(completion_id=completion_id, created=created, model=model_name, usage=event.usage)
                    )
        yield sse("[DONE]")

    return StreamingResponse(
        sse_body(),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no", "x-request-id": admission.request_id},
    )


def _model_object(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "trustplane"}


class ModelObject(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]


@router.get("/v1/models", tags=["v1"], summary="Models served (OpenAI-compatible)", response_model=ModelList)
async def models(
    gateway: GatewayDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Any:
    try:
        await gateway.authenticate(authorization)
    except TrustplaneError as err:
        return v1_error(err)
    return {"object": "list", "data": [_model_object(m.name) for m in list_models(gateway.settings)]}


@router.get("/v1/models/{model_id}", tags=["v1"], summary="One model (OpenAI-compatible)", response_model=ModelObject)
async def model(
    model_id: str,
    gateway: GatewayDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Any:
    try:
        await gateway.authenticate(authorization)
        gateway.settings.model(model_id)
    except TrustplaneError as err:
        return v1_error(err)
    return _model_object(model_id)


# --- /access: identity, admin, dry runs ------------------------------------------------------------------------
class WhoAmI(BaseModel):
    principal: dict[str, Any]
    limits: dict[str, Any]


@router.get("/access/whoami", tags=["access"], summary="The caller as the gateway sees it", response_model=WhoAmI)
async def whoami(
    gateway: GatewayDep,
    authorization: Annotated[str | None, Header()] = None,
    trustplane_credential: Annotated[list[str] | None, Header()] = None,
) -> dict[str, Any]:
    credentials = [c.strip() for value in trustplane_credential or [] for c in value.split(",") if c.strip()]
    principal = await gateway.authenticate(authorization, credentials)
    return {"principal": principal.public(), "limits": await gateway.limiter.remaining(principal)}


class KeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    tier: str = Field("default", min_length=1, max_length=64)
    subject: str | None = Field(None, max_length=500, description="Who holds it (binds VC-JWTs presented with it).")
    assurance: Literal["none", "low", "substantial", "high"] = "none"
    attributes: list[str] = Field(default_factory=list, max_length=50)
    rate_limit: str | None = Field(None, max_length=200, description="Overrides the tier's, e.g. '10/second'.")
    token_budget: str | None = Field(None, max_length=200, description="Overrides the tier's, e.g. '5000/day'.")
    expires_in_s: float | None = Field(None, gt=0, le=MAX_KEY_LIFETIME_S, allow_inf_nan=False)


class ReasonIn(BaseModel):
    reason: str | None = Field(None, max_length=500)


class RevocationIn(BaseModel):
    kind: Literal["subject", "credential"]
    value: str = Field(min_length=1, max_length=500)
    reason: str | None = Field(None, max_length=500)


class NoteIn(BaseModel):
    note: str | None = Field(None, max_length=2000)
    by: str = Field("admin", min_length=1, max_length=200)


class PolicyIn(BaseModel):
    policy: str = Field(min_length=1, max_length=1_000_000, description="Cedar policy text.")


class IdentityIn(BaseModel):
    assurance: Literal["none", "low", "substantial", "high"] = "none"
    attributes: list[str] = Field(default_factory=list, max_length=50)
    tier: str = "default"


class CheckIn(BaseModel):
    prompt: str = Field(min_length=1, max_length=200_000)
    output: str | None = Field(None, max_length=1_000_000)
    identity: IdentityIn = Field(default_factory=IdentityIn)


def _limit_validator(gateway: Gateway, body: KeyIn) -> None:
    """Bad tiers and limits in a request are the caller's mistake (422), not a server setting's."""
    try:
        if body.rate_limit is None or body.token_budget is None:
            gateway.limiter.check_tier(body.tier)
        if body.rate_limit is not None:
            parse_limits(body.rate_limit, "rate_limit")
        if body.token_budget is not None:
            parse_limits(body.token_budget, "token_budget")
    except AccessConfigError as exc:
        raise InvalidInputError(exc.message, hint=exc.hint) from None


@router.post("/access/keys", tags=["access"], summary="Create an API key (shown once)", status_code=201)
async def create_key(body: KeyIn, gateway: AdminGateway) -> dict[str, Any]:
    _limit_validator(gateway, body)
    created = await asyncio.to_thread(
        gateway.keys.create,
        body.name,
        tier=body.tier,
        subject=body.subject,
        assurance=body.assurance,
        attributes=body.attributes,
        rate_limit=body.rate_limit,
        token_budget=body.token_budget,
        expires_in_s=body.expires_in_s,
    )
    return created.as_json()


@router.get("/access/keys", tags=["access"], summary="List API keys (never their secrets)")
async def list_keys(gateway: AdminGateway) -> list[dict[str, Any]]:
    return [k.as_json() for k in await asyncio.to_thread(gateway.keys.list)]


@router.post("/access/keys/{key_id}/revoke", tags=["access"], summary="Revoke an API key")
async def revoke_key(key_id: str, body: ReasonIn, gateway: AdminGateway) -> dict[str, Any]:
    return (await asyncio.to_thread(gateway.keys.revoke, key_id, body.reason)).as_json()


@router.post("/access/revocations", tags=["access"], summary="Revoke a subject or a credential", status_code=201)
async def revoke(body: RevocationIn, gateway: AdminGateway) -> dict[str, Any]:
    return (await asyncio.to_thread(gateway.revocations.revoke, body.kind, body.value, body.reason)).as_json()


@router.get("/access/revocations", tags=["access"], summary="Admin revocations")
async def revocations(gateway: AdminGateway) -> list[dict[str, Any]]:
    return [r.as_json() for r in await asyncio.to_thread(gateway.revocations.list)]


@router.get("/access/reviews", tags=["access"], summary="The human review queue")
async def list_reviews(
    gateway: AdminGateway,
    status: Literal["pending", "approved", "denied", "used", "expired"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    return [r.as_json() for r in await asyncio.to_thread(gateway.reviews.list, status, limit)]


@router.get("/access/reviews/{review_id}", tags=["access"], summary="One review")
async def get_review(review_id: str, gateway: AdminGateway) -> dict[str, Any]:
    return (await asyncio.to_thread(gateway.reviews.get, review_id)).as_json()


@router.post("/access/reviews/{review_id}/approve", tags=["access"], summary="Approve an escalated request")
async def approve_review(review_id: str, body: NoteIn, gateway: AdminGateway) -> dict[str, Any]:
    return (await gateway.decide_review(review_id, approve=True, by=body.by, note=body.note)).as_json()


@router.post("/access/reviews/{review_id}/deny", tags=["access"], summary="Deny an escalated request")
async def deny_review(review_id: str, body: NoteIn, gateway: AdminGateway) -> dict[str, Any]:
    return (await gateway.decide_review(review_id, approve=False, by=body.by, note=body.note)).as_json()


@router.get("/access/taxonomy", tags=["access"], summary="The risk taxonomy in force")
async def taxonomy(gateway: GatewayDep) -> dict[str, Any]:
    return gateway.engine.taxonomy.as_json()


@router.get("/access/policy", tags=["access"], summary="The Cedar policy in force")
async def policy(gateway: GatewayDep) -> dict[str, Any]:
    engine = gateway.engine.policy
    return {"source": engine.source, "sha256": engine.sha256, "version": engine.version, "policy": engine.text}


@router.post("/access/policy/validate", tags=["access"], summary="Validate a Cedar policy against the schema")
async def validate(body: PolicyIn) -> dict[str, Any]:
    validate_policy(body.policy, source="request")
    return {"valid": True}


@router.post("/access/check", tags=["access"], summary="Dry-run the policy on a prompt for an identity")
async def check(body: CheckIn, gateway: AdminGateway) -> dict[str, Any]:
    bad = [a for a in body.identity.attributes if not ATTRIBUTE_PATTERN.match(a)]
    if bad:
        raise InvalidInputError(f"attributes {bad} must look like 'name' or 'name:value'")
    principal = Principal(
        id="dry-run",
        method="dry_run",
        subject="dry-run",
        issuer="trustplane",
        assurance=ASSURANCE_LEVELS.index(body.identity.assurance),
        attributes=frozenset(body.identity.attributes),
        tier=body.identity.tier,
    )
    return await asyncio.to_thread(gateway.engine.check, principal, [("user", body.prompt)], body.output)


class DecisionsOut(BaseModel):
    decisions: list[dict[str, Any]]
    summary: list[dict[str, Any]]


@router.get("/access/decisions", tags=["access"], summary="Recent access decisions (from the log)")
async def decisions(gateway: GatewayDep, limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> DecisionsOut:
    rows = await asyncio.to_thread(gateway.decisions, limit)
    return DecisionsOut(decisions=rows, summary=summarise(rows))


# --- dashboard ----------------------------------------------------------------------------------------------
@router.get("/ui/access", include_in_schema=False)
async def access_page(request: Request, gateway: GatewayDep) -> Response:
    pending = await asyncio.to_thread(gateway.reviews.list, "pending", 200)
    recent = await asyncio.to_thread(gateway.reviews.list, None, 50)
    rows = await asyncio.to_thread(gateway.decisions, 2000)
    summary = summarise(rows)
    categories = sorted({r["category"] for r in summary})
    actions = ["allow", "redact", "escalate", "refuse", "approve", "deny", "error"]
    days = sorted({r["day"] for r in summary}, reverse=True)
    grid: dict[str, dict[str, dict[str, int]]] = {d: {c: dict.fromkeys(actions, 0) for c in categories} for d in days}
    for r in summary:
        grid[r["day"]][r["category"]][r["action"]] = r["count"]
    return request.app.state.render_page(  # type: ignore[no-any-return]
        request,
        "access_page.html",
        {
            "pending": pending,
            "recent": [r for r in recent if r.status != "pending"][:20],
            "decisions": rows[:50],
            "days": days,
            "categories": categories,
            "actions": actions,
            "grid": grid,
            "total": len(rows),
            "kind": DECISION_KIND,
            "policy": gateway.engine.policy.version,
            "taxonomy": gateway.engine.taxonomy.name,
            "classifier": gateway.engine.classifier_name,
            "admin_enabled": gateway.settings.admin_token is not None,
        },
        active="access",
    )
