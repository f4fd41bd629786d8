"""The OpenAI-compatible API through the official ``openai`` http: answers, streams, and every bad input
gets the right exception class, the OpenAI error envelope, and never reaches the upstream model."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import openai
import pytest
from fastapi.testclient import TestClient

from tests.access._helpers import CALLS, Identities
from tests.access.conftest import ADMIN_HEADERS, BENIGN_TEXT, GREY_TEXT

MESSAGES = [{"role": "user", "content": "Tell me about cats."}]


def client_for(http: TestClient, key: str, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url="http://testserver/v1", api_key=key, http_client=http, max_retries=0, **options)


def test_models_and_a_completion(http: TestClient, make_key: Callable[..., str]) -> None:
    ai = client_for(http, make_key())
    assert [m.id for m in ai.models.list()] == ["echo", "benign", "grey", "broken"]
    assert ai.models.retrieve("grey").id == "grey"
    with pytest.raises(openai.NotFoundError):
        ai.models.retrieve("nope")
    reply = ai.chat.completions.create(model="benign", messages=MESSAGES)
    assert reply.choices[0].message.content == BENIGN_TEXT
    assert reply.choices[0].finish_reason == "stop" and reply.object == "chat.completion"
    assert reply.usage is not None and reply.usage.total_tokens > 0
    ext = reply.model_extra["trustplane"]  # type: ignore[index]
    assert ext["decision"] == "allow" and ext["category"] == "benign" and isinstance(ext["log_index"], int)


def test_streaming_with_the_official_client(http: TestClient, make_key: Callable[..., str]) -> None:
    ai = client_for(http, make_key())
    stream = ai.chat.completions.create(
        model="benign", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    pieces, finishes, usage, roles = [], [], None, []
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.role:
                roles.append(choice.delta.role)
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finishes.append((choice.finish_reason, chunk.model_extra.get("trustplane")))  # type: ignore[union-attr]
    assert "".join(pieces) == BENIGN_TEXT and roles == ["assistant"]
    assert len(pieces) > 3  # really streamed, not one blob
    assert finishes[0][0] == "stop" and finishes[0][1]["decision"] == "allow"
    assert usage is not None and usage.completion_tokens > 0


def test_grey_output_is_redacted_for_an_anonymous_key_and_kept_for_a_researcher(
    http: TestClient, make_key: Callable[..., str]
) -> None:
    anon = client_for(http, make_key("anon"))
    reply = anon.chat.completions.create(model="grey", messages=MESSAGES)
    text = reply.choices[0].message.content or ""
    assert "[redacted: biological/grey]" in text and "function" not in text.lower()
    assert text.startswith("Here is some context")  # benign text far from it is kept
    assert reply.model_extra["trustplane"]["decision"] == "redact"  # type: ignore[index]
    researcher = client_for(http, make_key("lab", assurance="substantial", attributes=["affiliation"]))
    kept = researcher.chat.completions.create(model="grey", messages=MESSAGES)
    assert kept.choices[0].message.content == GREY_TEXT
    ext = kept.model_extra["trustplane"]  # type: ignore[index]
    assert (ext["decision"], ext["category"], ext["band"]) == ("allow", "biological", "grey")


def test_refusal_carries_the_unlocking_credential(http: TestClient, make_key: Callable[..., str]) -> None:
    before = CALLS["grey"]
    anon = client_for(http, make_key())
    with pytest.raises(openai.PermissionDeniedError) as info:
        anon.chat.completions.create(model="grey", messages=[{"role": "user", "content": "Explain gain of function."}])
    body = info.value.body
    assert isinstance(body, dict) and body["code"] == "access.refused" and body["type"] == "permission_error"
    refusal = body["trustplane"]["refusal"]
    assert refusal["category"] == "biological" and refusal["min_assurance"] == "substantial"
    assert refusal["missing"] == {"assurance": True, "attributes": ["affiliation"]}
    assert {c["form"] for c in refusal["credentials"]} == {"oidc4ida", "refeds", "vc-jwt"}
    assert CALLS["grey"] == before  # refused before the upstream


def test_a_split_request_is_seen_whole(http: TestClient, make_key: Callable[..., str]) -> None:
    anon = client_for(http, make_key())
    split = [{"role": "user", "content": "Explain gain of"}, {"role": "user", "content": "function research."}]
    with pytest.raises(openai.PermissionDeniedError):
        anon.chat.completions.create(model="echo", messages=split)


def test_oidc_identity_through_the_client(http: TestClient, identities: Identities) -> None:
    token = identities.verified("alice", level="substantial", affiliation="Institute X")
    ai = client_for(http, token)
    reply = ai.chat.completions.create(
        model="grey", messages=[{"role": "user", "content": "Explain gain of function."}]
    )
    assert reply.choices[0].message.content == GREY_TEXT
    who = http.get("/access/whoami", headers={"authorization": f"Bearer {token}"}).json()
    assert who["principal"]["assurance"] == "substantial" and "affiliation" in who["principal"]["attributes"]


def _upstream_calls() -> int:
    return sum(CALLS.values())


@pytest.mark.parametrize(
    ("make_request", "exception", "status", "code"),
    [
        (
            lambda ai, t: ai.chat.completions.create(model="nope", messages=MESSAGES),
            openai.NotFoundError,
            404,
            "model.not_found",
        ),
        (
            lambda ai, t: ai.chat.completions.create(model="benign", messages=[]),
            openai.BadRequestError,
            400,
            "access.invalid_request",
        ),
        (
            lambda ai, t: ai.chat.completions.create(
                model="benign", messages=MESSAGES, tools=[{"type": "function", "function": {"name": "f"}}]
            ),
            openai.BadRequestError,
            400,
            "access.unsupported_field",
        ),
        (
            lambda ai, t: ai.chat.completions.create(model="benign", messages=MESSAGES, n=2),
            openai.BadRequestError,
            400,
            "access.invalid_request",
        ),
        (
            lambda ai, t: ai.chat.completions.create(
                model="benign", messages=[{"role": "user", "content": "x" * 5000}]
            ),
            openai.APIStatusError,
            413,
            "access.request_too_large",
        ),
        (
            lambda ai, t: ai.chat.completions.create(model="broken", messages=MESSAGES),
            openai.InternalServerError,
            502,
            "upstream.error",
        ),
    ],
)
def test_bad_requests_get_specific_errors(
    http: TestClient,
    make_key: Callable[..., str],
    make_request: Any,
    exception: type[openai.APIStatusError],
    status: int,
    code: str,
) -> None:
    ai = client_for(http, make_key())
    before = _upstream_calls()
    with pytest.raises(exception) as info:
        make_request(ai, None)
    assert info.value.status_code == status
    body = info.value.body
    assert isinstance(body, dict) and body["code"] == code and set(body) >= {"message", "type", "code"}
    if code != "upstream.error":
        assert _upstream_calls() == before


def test_malformed_json_and_wrong_content(http: TestClient, make_key: Callable[..., str]) -> None:
    headers = {"authorization": f"Bearer {make_key()}", "content-type": "application/json"}
    before = _upstream_calls()
    for raw, code in [
        (b"{not json", "access.malformed_json"),
        (b"[1, 2]", "access.malformed_json"),
        (b"\xff\xfe", "access.malformed_json"),
        (
            json.dumps({"model": "benign", "messages": [{"role": "robot", "content": "x"}]}).encode(),
            "access.invalid_request",
        ),
        (json.dumps({"model": "benign", "messages": MESSAGES, "temperature": 9}).encode(), "access.invalid_request"),
    ]:
        response = http.post("/v1/chat/completions", content=raw, headers=headers)
        assert response.status_code == 400, raw
        error = response.json()["error"]
        assert error["code"] == code and error["type"] == "invalid_request_error"
    assert _upstream_calls() == before


@pytest.mark.parametrize(
    ("token_of", "exception", "code"),
    [
        (lambda ids, key: ids.oidc(exp_in=-300), openai.AuthenticationError, "access.token_expired"),
        (lambda ids, key: ids.oidc(signer=ids.forger), openai.AuthenticationError, "access.token_invalid"),
        (lambda ids, key: ids.oidc(aud="another-service"), openai.AuthenticationError, "access.token_wrong_audience"),
        (lambda ids, key: "tp_0000_wrong", openai.AuthenticationError, "access.key_invalid"),
        (lambda ids, key: "", openai.AuthenticationError, "access.credentials_missing"),
    ],
)
def test_bad_credentials(
    http: TestClient, identities: Identities, make_key: Callable[..., str], token_of: Any, exception: type, code: str
) -> None:
    token = token_of(identities, make_key())
    before = _upstream_calls()
    ai = client_for(http, token or "placeholder")
    if not token:
        ai = openai.OpenAI(
            base_url="http://testserver/v1",
            api_key="unused",
            http_client=http,
            max_retries=0,
            default_headers={"authorization": ""},
        )
    with pytest.raises(exception) as info:
        ai.chat.completions.create(model="benign", messages=MESSAGES)
    assert info.value.body["code"] == code  # type: ignore[index]
    assert _upstream_calls() == before


def test_revoked_credentials(http: TestClient, identities: Identities, make_key: Callable[..., str]) -> None:
    key = make_key()
    key_id = key.split("_")[1]
    ai = client_for(http, key)
    ai.chat.completions.create(model="benign", messages=MESSAGES)
    assert http.post(f"/access/keys/{key_id}/revoke", json={"reason": "test"}, headers=ADMIN_HEADERS).status_code == 200
    before = _upstream_calls()
    with pytest.raises(openai.AuthenticationError) as info:
        ai.chat.completions.create(model="benign", messages=MESSAGES)
    assert info.value.body["code"] == "access.key_revoked"  # type: ignore[index]
    token = identities.oidc("mallory", jti="jwt-77")
    assert (
        http.post(
            "/access/revocations", json={"kind": "credential", "value": "jwt-77"}, headers=ADMIN_HEADERS
        ).status_code
        == 201
    )
    with pytest.raises(openai.PermissionDeniedError) as revoked:
        client_for(http, token).chat.completions.create(model="benign", messages=MESSAGES)
    assert revoked.value.body["code"] == "access.credential_revoked"  # type: ignore[index]
    assert _upstream_calls() == before


def test_unknown_policy_field_is_a_specific_error(http: TestClient) -> None:
    bad = 'permit (principal, action, resource) when { principal.clearance == "secret" };'
    response = http.post("/access/policy/validate", json={"policy": bad})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "access.unknown_policy_field" and problem["field"] == "clearance" and problem["line"] == 1
    assert http.post("/access/policy/validate", json={"policy": "permit (principal, action, resource);"}).json() == {
        "valid": True
    }


def test_rate_limit_gives_429_with_retry_after(http: TestClient, make_key: Callable[..., str]) -> None:
    ai = client_for(http, make_key(tier="tight"))
    ai.chat.completions.create(model="benign", messages=MESSAGES)
    ai.chat.completions.create(model="benign", messages=MESSAGES)
    before = _upstream_calls()
    with pytest.raises(openai.RateLimitError) as info:
        ai.chat.completions.create(model="benign", messages=MESSAGES)
    assert info.value.body["code"] == "access.rate_limited"  # type: ignore[index]
    assert int(info.value.response.headers["retry-after"]) >= 1
    assert _upstream_calls() == before
    other = client_for(http, make_key(tier="tight"))  # limits are per key
    other.chat.completions.create(model="benign", messages=MESSAGES)


def test_token_budget_is_spent_and_enforced(http: TestClient, make_key: Callable[..., str]) -> None:
    ai = client_for(http, make_key(token_budget="60/day"))
    reply = ai.chat.completions.create(model="benign", messages=MESSAGES)
    assert reply.usage is not None and reply.usage.total_tokens == 42
    long = [{"role": "user", "content": "word " * 20}]
    ai.chat.completions.create(model="echo", messages=long)  # 40 more: one request may overshoot the budget
    with pytest.raises(openai.RateLimitError) as info:
        ai.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
    assert info.value.body["code"] == "access.budget_exhausted"  # type: ignore[index]
    who = http.get("/access/whoami", headers={"authorization": f"Bearer {ai.api_key}"}).json()
    assert who["limits"]["tokens"] == {"60 per 1 day": 0}


def test_admin_endpoints_need_the_admin_token(http: TestClient, make_key: Callable[..., str]) -> None:
    assert http.get("/access/keys").status_code == 401
    wrong = http.get("/access/keys", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 403 and wrong.json()["code"] == "access.admin_forbidden"
    key = make_key()
    assert http.get("/access/keys", headers={"authorization": f"Bearer {key}"}).status_code == 403
    listed = http.get("/access/keys", headers=ADMIN_HEADERS).json()
    assert listed and all("api_key" not in k and "secret_hash" not in k for k in listed)
    bad_tier = http.post("/access/keys", json={"name": "x", "tier": "platinum"}, headers=ADMIN_HEADERS)
    assert bad_tier.status_code == 422 and "tier 'platinum'" in bad_tier.json()["detail"]


def test_streaming_errors_before_the_first_byte_are_plain_errors(
    http: TestClient, make_key: Callable[..., str]
) -> None:
    ai = client_for(http, make_key())
    with pytest.raises(openai.PermissionDeniedError):
        ai.chat.completions.create(
            model="grey", messages=[{"role": "user", "content": "gain of function"}], stream=True
        )
    with pytest.raises(openai.NotFoundError):
        ai.chat.completions.create(model="nope", messages=MESSAGES, stream=True)


def test_raw_sse_wire_format(http: TestClient, make_key: Callable[..., str]) -> None:
    headers = {"authorization": f"Bearer {make_key()}"}
    body = {"model": "benign", "messages": MESSAGES, "stream": True}
    with http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    first = json.loads(lines[0][6:])
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    last = json.loads(lines[-2][6:])
    assert last["choices"][0]["finish_reason"] == "stop" and last["choices"][0]["delta"] == {}
