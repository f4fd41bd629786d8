"""``openai``: any OpenAI-compatible HTTP endpoint (``/v1/chat/completions``), over httpx with retries."""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from pydantic import Field, SecretStr
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from trustplane.core.config import ModelConfig
from trustplane.core.errors import (
    InvalidInputError,
    TrustplaneError,
    UnsupportedOperationError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)

from ._backend import BackendOptions, ModelBackend, parse_options
from ._registry import register_backend
from ._types import Capabilities, ChatChunk, ChatMessage, ChatRequest, ChatResponse, FinishReason, TokenLogprob, Usage

logger = logging.getLogger(__name__)

MAX_TOP_LOGPROBS = 20  # the OpenAI API's limit
_FINISH_REASONS = {"stop", "length", "content_filter", "tool_calls"}
_MAX_RETRY_AFTER = 60.0


class OpenAIOptions(BackendOptions):
    """Options of the ``openai`` backend."""

    base_url: str = Field(
        "https://api.openai.com/v1",
        description="Server root or its /v1 prefix, e.g. http://localhost:8080 or https://api.openai.com/v1.",
    )
    api_key: SecretStr | None = Field(None, description="Bearer token sent as Authorization; unset: none sent.")
    model: str | None = Field(None, description="Upstream model id; unset: the configured model name.")
    timeout: float = Field(60.0, gt=0, description="Seconds allowed for each HTTP attempt (connect: at most 10).")
    max_retries: int = Field(2, ge=0, le=10, description="Retries after the first attempt on connect errors, 429, 5xx.")
    retry_backoff: float = Field(0.5, ge=0, description="First retry delay in seconds; doubles each retry (max 8 s).")
    logprobs: bool = Field(True, description="Whether the upstream supports logprobs/top_logprobs.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers sent with every request.")


class _RetryableStatusError(Exception):
    """A 429/5xx answer, raised inside the retry loop so tenacity retries it."""

    def __init__(self, response: httpx.Response, body: bytes) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.body = body


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, _RetryableStatusError | httpx.ConnectError | httpx.ConnectTimeout)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER)
    except ValueError:
        return None


def _error_message(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:500] or "(empty body)"
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data))
        if isinstance(err, dict) and "message" in err:
            return str(err["message"])[:500]
        if isinstance(err, str):
            return err[:500]
    return text[:500]


def _finish(value: Any) -> FinishReason:
    return value if value in _FINISH_REASONS else "stop"


def _usage(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    return Usage(
        prompt_tokens=int(data.get("prompt_tokens") or 0), completion_tokens=int(data.get("completion_tokens") or 0)
    )


@register_backend("openai")
class OpenAIBackend(ModelBackend):
    """Talks to an OpenAI-compatible server: chat, SSE streaming and (where offered) top logprobs.

    Connect errors, 429 and 5xx answers are retried with exponential backoff (honouring ``Retry-After``);
    other 4xx answers are not. Failures surface as :class:`UpstreamUnavailableError` (unreachable),
    :class:`UpstreamTimeoutError` or :class:`UpstreamError` (the upstream's status and message).
    """

    options_type = OpenAIOptions

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.options = parse_options(config, OpenAIOptions, "openai")
        base = self.options.base_url.rstrip("/")
        self.url = f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"
        self.upstream_model = self.options.model or config.name
        # One client per event loop: an httpx client's connection pool belongs to the loop that opened it.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )

    @classmethod
    def capabilities_for(cls, config: ModelConfig) -> Capabilities:
        """Log-probabilities unless the ``logprobs`` option says the upstream lacks them."""
        return Capabilities(logprobs=bool(config.options.get("logprobs", True)))

    def describe(self) -> dict[str, Any]:
        """Backend, model, upstream URL and upstream model id (never the API key)."""
        return {**super().describe(), "url": self.url, "upstream_model": self.upstream_model}

    # --- HTTP plumbing -------------------------------------------------------------------------------
    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            headers = {"Accept": "application/json", **self.options.headers}
            if self.options.api_key is not None:
                headers["Authorization"] = f"Bearer {self.options.api_key.get_secret_value()}"
            timeout = httpx.Timeout(self.options.timeout, connect=min(self.options.timeout, 10.0))
            client = httpx.AsyncClient(headers=headers, timeout=timeout)
            self._clients[loop] = client
        return client

    async def aclose(self) -> None:
        """Close the HTTP client of the running event loop."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _RetryableStatusError):
            after = _retry_after(exc.response)
            if after is not None:
                return after
        if self.options.retry_backoff <= 0:
            return 0.0
        backoff = wait_exponential_jitter(
            multiplier=self.options.retry_backoff, max=8.0, jitter=self.options.retry_backoff
        )
        return float(backoff(state))

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        logger.info(
            "retrying %s (model %s) after attempt %d: %s",
            self.url,
            self.config.name,
            state.attempt_number,
            exc,
        )

    def _map(self, exc: BaseException) -> TrustplaneError:
        """Turn an httpx failure or a final retryable status into a trustplane error."""
        if isinstance(exc, TrustplaneError):
            return exc
        if isinstance(exc, _RetryableStatusError):
            return self._status_error(exc.response, exc.body)
        if isinstance(exc, httpx.TimeoutException):
            return UpstreamTimeoutError(
                f"upstream {self.url} timed out after {self.options.timeout:g} s ({type(exc).__name__})",
                hint="raise the model's timeout option, or check the upstream's load",
                model=self.config.name,
                url=self.url,
            )
        if isinstance(exc, httpx.TransportError):
            return UpstreamUnavailableError(
                f"upstream {self.url} is unreachable: {exc or type(exc).__name__}",
                hint="check that the server is running and base_url is right",
                model=self.config.name,
                url=self.url,
            )
        return UpstreamError(f"upstream {self.url} failed: {type(exc).__name__}: {exc}", model=self.config.name)

    def _status_error(self, response: httpx.Response, body: bytes) -> UpstreamError:
        message = _error_message(body)
        return UpstreamError(
            f"upstream {self.url} returned {response.status_code}: {message}",
            hint="check the model's api_key and model options" if response.status_code in (401, 403, 404) else None,
            model=self.config.name,
            url=self.url,
            upstream_status=response.status_code,
        )

    @asynccontextmanager
    async def _post(self, body: dict[str, Any], *, stream: bool) -> AsyncIterator[httpx.Response]:
        """POST ``body`` with retries; yields a 2xx response (body unread when ``stream``)."""
        client = self._client()
        retrying = AsyncRetrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self.options.max_retries + 1),
            wait=self._wait,
            before_sleep=self._log_retry,
            reraise=True,
        )
        response: httpx.Response | None = None
        try:
            async for attempt in retrying:
                with attempt:
                    request = client.build_request("POST", self.url, json=body)
                    response = await client.send(request, stream=True)
                    if response.status_code == 429 or response.status_code >= 500:
                        data = await response.aread()
                        await response.aclose()
                        raise _RetryableStatusError(response, data)
                    if response.status_code >= 400:
                        data = await response.aread()
                        await response.aclose()
                        raise self._status_error(response, data)
                    if not stream:
                        await response.aread()
        except Exception as exc:
            raise self._map(exc) from exc
        assert response is not None
        try:
            yield response
        except httpx.HTTPError as exc:  # failures while reading a streamed body
            raise self._map(exc) from exc
        finally:
            await response.aclose()

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.upstream_model,
            "messages": [m.model_dump() for m in request.messages],
            "temperature": request.temperature,
            "top_p": request.top_p,
            "stream": stream,
        }
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stop:
            body["stop"] = request.stop
        return body

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            raise UpstreamError(
                f"upstream {self.url} answered {response.status_code} with a body that is not JSON",
                model=self.config.name,
                url=self.url,
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
            if isinstance(data, dict) and "error" in data:
                raise UpstreamError(
                    f"upstream {self.url} returned an error: {_error_message(response.content)}",
                    model=self.config.name,
                    url=self.url,
                )
            raise UpstreamError(f"upstream {self.url} answered without choices", model=self.config.name, url=self.url)
        return data

    # --- operations ----------------------------------------------------------------------------------
    async def chat(self, request: ChatRequest) -> ChatResponse:
        """POST a non-streaming chat completion."""
        async with self._post(self._body(request, stream=False), stream=False) as response:
            data = self._json(response)
        choice = data["choices"][0]
        message = choice.get("message") or {}
        return ChatResponse(
            model=self.config.name,
            content=message.get("content") or "",
            finish_reason=_finish(choice.get("finish_reason")),
            usage=_usage(data.get("usage")) or Usage(),
            seed=request.seed,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """POST a streaming chat completion and relay its server-sent events."""
        finish: FinishReason | None = None
        usage: Usage | None = None
        async with self._post(self._body(request, stream=True), stream=True) as response:
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue  # blank separators, comments (": keep-alive"), event names
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                try:
                    event = json.loads(payload)
                except ValueError:
                    raise UpstreamError(
                        f"upstream {self.url} sent a malformed stream event", model=self.config.name, url=self.url
                    ) from None
                if not isinstance(event, dict):
                    continue
                if "error" in event:
                    raise UpstreamError(
                        f"upstream {self.url} failed mid-stream: {_error_message(payload.encode())}",
                        model=self.config.name,
                        url=self.url,
                    )
                usage = _usage(event.get("usage")) or usage
                for choice in event.get("choices") or []:
                    if choice.get("index", 0) != 0:
                        continue
                    delta = (choice.get("delta") or {}).get("content")
                    if delta:
                        yield ChatChunk(delta=delta)
                    if choice.get("finish_reason"):
                        finish = _finish(choice["finish_reason"])
        yield ChatChunk(finish_reason=finish or "stop", usage=usage)

    async def next_token_logprobs(self, messages: Sequence[ChatMessage], top_k: int = 5) -> list[TokenLogprob]:
        """Ask for one token with ``logprobs: true, top_logprobs: top_k``."""
        if not self.options.logprobs:
            return await super().next_token_logprobs(messages, top_k)
        if top_k > MAX_TOP_LOGPROBS:
            raise InvalidInputError(f"top_k must be at most {MAX_TOP_LOGPROBS} for OpenAI-compatible upstreams")
        body = {
            "model": self.upstream_model,
            "messages": [m.model_dump() for m in messages],
            "max_tokens": 1,
            "temperature": 0,
            "logprobs": True,
            "top_logprobs": top_k,
            "stream": False,
        }
        async with self._post(body, stream=False) as response:
            data = self._json(response)
        content = ((data["choices"][0].get("logprobs") or {}).get("content")) or []
        if not content or not content[0].get("top_logprobs"):
            raise UnsupportedOperationError(
                f"upstream {self.url} did not return log-probabilities for model {self.upstream_model!r}",
                hint="set the model's option logprobs: false if this upstream never returns them",
                model=self.config.name,
            )
        out = [
            TokenLogprob(token=str(t["token"]), logprob=min(float(t["logprob"]), 0.0))
            for t in content[0]["top_logprobs"]
        ]
        return sorted(out, key=lambda t: t.logprob, reverse=True)[:top_k]
