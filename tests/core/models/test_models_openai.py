"""The openai backend against a mocked OpenAI-compatible upstream (respx); no network."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from trustplane.core.config import Settings
from trustplane.core.errors import (
    InvalidInputError,
    UnsupportedOperationError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    to_problem,
)
from trustplane.core.models import Model, get_model

pytestmark = pytest.mark.anyio
MakeSettings = Callable[..., Settings]
BASE = "http://upstream.test"
URL = f"{BASE}/v1/chat/completions"


def completion(content: str, finish: str = "stop", **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "upstream-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        **extra,
    }


def sse(*events: dict[str, Any] | str) -> httpx.Response:
    lines = [": keep-alive\n\n"]
    for event in events:
        lines.append(f"data: {event if isinstance(event, str) else json.dumps(event)}\n\n")
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content="".join(lines).encode())


def delta(text: str | None = None, finish: str | None = None) -> dict[str, Any]:
    d = {} if text is None else {"content": text}
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


@pytest.fixture
def make_model(make_settings: MakeSettings) -> Callable[..., Model]:
    def make(**options: Any) -> Model:
        opts = {"base_url": BASE, "api_key": "sk-test-secret", "model": "upstream-model", "retry_backoff": 0, **options}
        return get_model(make_settings(("gpt", "openai", opts)))

    return make


async def test_chat_success(respx_mock: respx.MockRouter, make_model: Callable[..., Model]) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200, json=completion("Hello there.")))
    model = make_model()
    response = await model.chat("Hi", temperature=0, max_tokens=5, seed=3, stop="\n")
    assert response.content == "Hello there." and response.model == "gpt" and response.finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (7, 3)
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer sk-test-secret"
    body = json.loads(request.content)
    assert body["model"] == "upstream-model" and body["stream"] is False
    assert body["messages"] == [{"role": "user", "content": "Hi"}]
    assert (body["temperature"], body["max_tokens"], body["seed"], body["stop"]) == (0, 5, 3, ["\n"])


async def test_base_url_with_v1_and_default_model_id(respx_mock: respx.MockRouter, make_settings: MakeSettings) -> None:
    route = respx_mock.post("http://other.test/api/v1/chat/completions").mock(
        return_value=httpx.Response(200, json=completion("ok"))
    )
    model = get_model(make_settings(("my-model", "openai", {"base_url": "http://other.test/api/v1/"})))
    assert (await model.chat("x")).content == "ok"
    request = route.calls.last.request
    assert json.loads(request.content)["model"] == "my-model"
    assert "authorization" not in request.headers


async def test_streaming(respx_mock: respx.MockRouter, make_model: Callable[..., Model]) -> None:
    route = respx_mock.post(URL).mock(
        return_value=sse(
            delta(""),
            delta("Hel"),
            delta("lo"),
            delta(" world"),
            delta(None, "length"),
            {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 3}},
            "[DONE]",
        )
    )
    chunks = [c async for c in make_model().stream("Hi")]
    assert [c.delta for c in chunks if c.delta] == ["Hel", "lo", " world"]
    assert chunks[-1].finish_reason == "length"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    assert json.loads(route.calls.last.request.content)["stream"] is True


async def test_stream_error_event(respx_mock: respx.MockRouter, make_model: Callable[..., Model]) -> None:
    respx_mock.post(URL).mock(return_value=sse(delta("a"), {"error": {"message": "overloaded mid-way"}}))
    with pytest.raises(UpstreamError, match="overloaded mid-way"):
        _ = [c async for c in make_model().stream("Hi")]


async def test_retries_503_then_succeeds(respx_mock: respx.MockRouter, make_model: Callable[..., Model]) -> None:
    route = respx_mock.post(URL).mock(
        side_effect=[
            httpx.Response(503, json={"error": {"message": "busy"}}),
            httpx.Response(502, text="bad gateway"),
            httpx.Response(200, json=completion("finally")),
        ]
    )
    assert (await make_model(max_retries=2).chat("Hi")).content == "finally"
    assert route.call_count == 3


async def test_retries_429_honouring_retry_after(
    respx_mock: respx.MockRouter, make_model: Callable[..., Model]
) -> None:
    route = respx_mock.post(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"retry-after": "0"}, json={"error": {"message": "slow down"}}),
            sse(delta("ok"), delta(None, "stop"), "[DONE]"),
        ]
    )
    chunks = [c async for c in make_model().stream("Hi")]
    assert "".join(c.delta for c in chunks) == "ok" and route.call_count == 2


async def test_gives_up_after_max_retries(respx_mock: respx.MockRouter, make_model: Callable[..., Model]) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(500, json={"error": {"message": "kaput"}}))
    with pytest.raises(UpstreamError) as info:
        await make_model(max_retries=1).chat("Hi")
    assert route.call_count == 2
    assert info.value.extra["upstream_status"] == 500
    assert "500" in info.value.message and "kaput" in info.value.message


async def test_no_retry_on_400(respx_mock: respx.MockRouter, make_model: Callable[..., Model]) -> None:
    route = respx_mock.post(URL).mock(
        return_value=httpx.Response(400, json={"error": {"message": "max_tokens is too large", "type": "invalid"}})
    )
    with pytest.raises(UpstreamError) as info:
        await make_model(max_retries=3).chat("Hi")
    assert route.call_count == 1
    err = info.value
    assert err.extra["upstream_status"] == 400 and "max_tokens is too large" in err.message and URL in err.message
    problem = to_problem(err)
    assert problem["code"] == "upstream.error" and problem["upstream_status"] == 400
    assert "sk-test-secret" not in json.dumps(problem)


async def test_no_retry_on_401_in_stream(respx_mock: respx.MockRouter, make_model: Callable[..., Model]) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(401, text="invalid api key"))
    with pytest.raises(UpstreamError, match="401: invalid api key") as info:
        _ = [c async for c in make_model().stream("Hi")]
    assert route.call_count == 1 and info.value.hint is not None


async def test_connection_refused(respx_mock: respx.MockRouter, make_model: Callable[..., Model]) -> None:
    route = respx_mock.post(URL).mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(UpstreamUnavailableError) as info:
        await make_model(max_retries=2).chat("Hi")
    assert URL in info.value.message and "refused" in info.value.message
    assert route.call_count == 3  # connect errors are retried


async def test_timeout(respx_mock: respx.MockRouter, make_model: Callable[..., Model]) -> None:
    route = respx_mock.post(URL).mock(side_effect=httpx.ReadTimeout("read timed out"))
    with pytest.raises(UpstreamTimeoutError) as info:
        await make_model(timeout=1.5).chat("Hi")
    assert URL in info.value.message and "1.5 s" in info.value.message
    assert route.call_count == 1  # a read timeout may have reached the model: not retried


async def test_malformed_answers(respx_mock: respx.MockRouter, make_model: Callable[..., Model]) -> None:
    respx_mock.post(URL).mock(
        side_effect=[httpx.Response(200, text="<html>"), httpx.Response(200, json={"choices": []})]
    )
    model = make_model()
    with pytest.raises(UpstreamError, match="not JSON"):
        await model.chat("Hi")
    with pytest.raises(UpstreamError, match="without choices"):
        await model.chat("Hi")


async def test_next_token_logprobs(respx_mock: respx.MockRouter, make_model: Callable[..., Model]) -> None:
    top = [
        {"token": "4", "logprob": -0.1, "bytes": [52]},
        {"token": " 4", "logprob": -3.2, "bytes": [32, 52]},
        {"token": "four", "logprob": -4.0, "bytes": None},
    ]
    answer = completion("4", finish="length")
    answer["choices"][0]["logprobs"] = {"content": [{"token": "4", "logprob": -0.1, "top_logprobs": top[::-1]}]}
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200, json=answer))
    result = await make_model().next_token_logprobs("2+2=", top_k=3)
    assert [t.token for t in result] == ["4", " 4", "four"]
    assert all(t.token_id is None for t in result)
    assert sum(t.prob for t in result) <= 1.0
    body = json.loads(route.calls.last.request.content)
    assert (body["logprobs"], body["top_logprobs"], body["max_tokens"]) == (True, 3, 1)


async def test_next_token_logprobs_unsupported(respx_mock: respx.MockRouter, make_model: Callable[..., Model]) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(200, json=completion("4")))
    with pytest.raises(UnsupportedOperationError):
        await make_model().next_token_logprobs("2+2=")
    with pytest.raises(UnsupportedOperationError):
        await make_model(logprobs=False).next_token_logprobs("2+2=")
    with pytest.raises(InvalidInputError):
        await make_model().next_token_logprobs("2+2=", top_k=21)


async def test_real_closed_port_is_unavailable(make_settings: MakeSettings) -> None:
    """A real connection to a local port nobody listens on (no mock, no network beyond loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    model = get_model(make_settings(("dead", "openai", {"base_url": url, "max_retries": 1, "retry_backoff": 0})))
    try:
        with pytest.raises(UpstreamUnavailableError, match=f"127.0.0.1:{port}/v1/chat/completions"):
            await model.chat("Hi")
    finally:
        await model.aclose()
