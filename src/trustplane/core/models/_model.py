"""The policy layer: :class:`Model` wraps a backend with validation, deadlines, error mapping and audit logs."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any

from pydantic import ValidationError

from trustplane.core.config import ModelConfig, Settings, load_settings
from trustplane.core.errors import (
    InvalidInputError,
    TrustplaneError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)

from ._backend import DEFAULT_REQUEST_TIMEOUT, BackendOptions, ModelBackend
from ._registry import get_backend_class
from ._types import (
    Capabilities,
    ChatChunk,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    ContinuationScore,
    ModelInfo,
    TokenLogprob,
    Usage,
)

logger = logging.getLogger(__name__)

MessagesLike = str | Sequence[ChatMessage | Mapping[str, Any]]
"""A single user message as text, or a list of messages (objects or ``{"role", "content"}`` dicts)."""

RequestLike = ChatRequest | MessagesLike
"""Anything :meth:`Model.chat` accepts as its request."""


def _invalid(exc: ValidationError, what: str) -> InvalidInputError:
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or what
        problems.append(f"{loc}: {err['msg']}")
    return InvalidInputError(f"invalid {what}: " + "; ".join(problems))


def _messages(messages: MessagesLike) -> list[ChatMessage]:
    if isinstance(messages, str):
        return [ChatMessage(role="user", content=messages)]
    try:
        return [m if isinstance(m, ChatMessage) else ChatMessage.model_validate(m) for m in messages]
    except ValidationError as exc:
        raise _invalid(exc, "message") from None
    except TypeError as exc:
        raise InvalidInputError(f"invalid messages: {exc}") from None


def _request(request: RequestLike, params: Mapping[str, Any]) -> ChatRequest:
    if isinstance(request, ChatRequest):
        if not params:
            return request
        data: dict[str, Any] = {**request.model_dump(exclude_unset=True), **params}
    else:
        data = {"messages": _messages(request), **params}
    try:
        req = ChatRequest.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc, "chat request") from None
    if not req.messages:
        raise InvalidInputError("a chat request needs at least one message")
    return req


def _deadline(seconds: float | None) -> AbstractAsyncContextManager[Any]:
    return asyncio.timeout(seconds) if seconds is not None else nullcontext()


class Model:
    """A configured model: a backend plus the policy every backend shares.

    The wrapper validates input (:class:`~trustplane.core.errors.InvalidInputError`), enforces the
    ``request_timeout`` option, maps unexpected failures to upstream errors and writes one audit record
    per call to the ``trustplane.core.models`` logger (model, operation, latency, token counts; never
    message content). Obtain instances with :func:`get_model`, which caches them per process.
    """

    def __init__(self, config: ModelConfig, backend: ModelBackend) -> None:
        self.config = config
        self.backend = backend

    @classmethod
    def from_config(cls, config: ModelConfig) -> Model:
        """Build an uncached model from ``config`` via the backend registry."""
        return cls(config, get_backend_class(config.backend)(config))

    # --- facts -----------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The configured model name."""
        return self.config.name

    @property
    def backend_name(self) -> str:
        """The registered name of the backend serving this model."""
        return self.backend.name or self.config.backend

    @property
    def capabilities(self) -> Capabilities:
        """What this model can do."""
        return self.backend.capabilities

    @property
    def request_timeout(self) -> float | None:
        """Deadline of one request (streams: of each chunk) in seconds; None when disabled."""
        options = getattr(self.backend, "options", None)
        if isinstance(options, BackendOptions):
            return options.request_timeout
        raw = self.config.options.get("request_timeout", DEFAULT_REQUEST_TIMEOUT)
        return None if raw is None else float(raw)

    def __repr__(self) -> str:
        return f"Model(name={self.name!r}, backend={self.backend_name!r})"

    # --- operations ------------------------------------------------------------------------------
    async def chat(self, request: RequestLike, **params: Any) -> ChatResponse:
        """Complete a chat request.

        Args:
            request: a :class:`ChatRequest`, a list of messages, or a user message as text.
            **params: request fields to set or override (``max_tokens``, ``temperature``, ``seed``, ...).
        """
        req = _request(request, params)
        start = time.perf_counter()
        try:
            async with _deadline(self.request_timeout):
                response = await self.backend.chat(req)
        except Exception as exc:
            err = self._map_error(exc)
            self._audit("chat", start, error=err)
            raise err from exc
        self._audit("chat", start, usage=response.usage, finish_reason=response.finish_reason)
        return response

    async def stream(self, request: RequestLike, **params: Any) -> AsyncIterator[ChatChunk]:
        """Complete a chat request piece by piece; the last chunk carries ``finish_reason``.

        Concatenating the ``delta`` of every chunk gives the answer. The deadline applies to each chunk.
        """
        req = _request(request, params)
        start = time.perf_counter()
        first_token: float | None = None
        chunks = 0
        usage: Usage | None = None
        finish: str | None = None
        error: TrustplaneError | None = None
        agen = self.backend.stream(req)
        try:
            while True:
                try:
                    async with _deadline(self.request_timeout):
                        chunk = await anext(agen)
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    error = self._map_error(exc)
                    raise error from exc
                if chunk.delta:
                    chunks += 1
                    if first_token is None:
                        first_token = time.perf_counter()
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.finish_reason is not None:
                    finish = chunk.finish_reason
                yield chunk
                if finish is not None:
                    break
            if finish is None:  # the backend ended without saying why: close the stream properly
                finish = "stop"
                yield ChatChunk(finish_reason="stop")
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None:
                await aclose()
            ttft = None if first_token is None else (first_token - start) * 1000
            outcome = "cancelled" if error is None and finish is None else None
            self._audit(
                "stream",
                start,
                usage=usage,
                finish_reason=finish,
                error=error,
                chunks=chunks,
                ttft_ms=ttft,
                outcome=outcome,
            )

    async def next_token_logprobs(self, messages: MessagesLike, top_k: int = 5) -> list[TokenLogprob]:
        """The ``top_k`` most likely first tokens of the assistant's reply to ``messages``, most likely first.

        Raises:
            UnsupportedOperationError: the backend cannot give log-probabilities.
        """
        msgs = _messages(messages)
        if not msgs:
            raise InvalidInputError("next-token log-probabilities need at least one message")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise InvalidInputError(f"top_k must be a positive integer, got {top_k!r}")
        start = time.perf_counter()
        try:
            async with _deadline(self.request_timeout):
                result = await self.backend.next_token_logprobs(msgs, top_k)
        except Exception as exc:
            err = self._map_error(exc)
            self._audit("logprobs", start, error=err)
            raise err from exc
        result = sorted(result, key=lambda t: t.logprob, reverse=True)[:top_k]
        self._audit("logprobs", start, top_k=top_k)
        return result

    async def score_continuations(
        self, messages: MessagesLike, continuations: Sequence[str]
    ) -> list[ContinuationScore]:
        """Log-probability of each continuation as the start of the assistant's reply to ``messages``.

        The chat prompt is rendered exactly as for :meth:`chat`, with the assistant turn opened; each
        continuation is scored token by token after it. Results are in the order of ``continuations``.

        Raises:
            UnsupportedOperationError: the backend cannot score continuations.
        """
        msgs = _messages(messages)
        if not msgs:
            raise InvalidInputError("scoring continuations needs at least one message")
        if isinstance(continuations, str) or not all(isinstance(c, str) for c in continuations):
            raise InvalidInputError("continuations must be a sequence of strings")
        if not continuations or any(c == "" for c in continuations):
            raise InvalidInputError("give at least one continuation, none of them empty")
        start = time.perf_counter()
        try:
            async with _deadline(self.request_timeout):
                result = await self.backend.score_continuations(msgs, list(continuations))
        except Exception as exc:
            err = self._map_error(exc)
            self._audit("score", start, error=err)
            raise err from exc
        self._audit("score", start, continuations=len(continuations))
        return result

    async def tokenize(self, text: str) -> list[int]:
        """The model's token ids for ``text`` (no special tokens added).

        Raises:
            UnsupportedOperationError: the backend gives no access to its tokenizer.
        """
        if not isinstance(text, str):
            raise InvalidInputError("tokenize takes a string")
        try:
            return await self.backend.tokenize(text)
        except Exception as exc:
            raise self._map_error(exc) from exc

    async def warm(self) -> None:
        """Load the model now rather than on the first request."""
        start = time.perf_counter()
        try:
            await self.backend.warm()
        except Exception as exc:
            err = self._map_error(exc)
            self._audit("warm", start, error=err)
            raise err from exc
        self._audit("warm", start)

    async def aclose(self) -> None:
        """Release the backend's resources (connections); the model stays usable."""
        await self.backend.aclose()

    # --- policy ----------------------------------------------------------------------------------
    def _map_error(self, exc: BaseException) -> TrustplaneError:
        if isinstance(exc, TrustplaneError):
            return exc
        if isinstance(exc, TimeoutError):
            limit = self.request_timeout
            within = f"within {limit:g} s" if limit is not None else "in time"
            return UpstreamTimeoutError(
                f"model {self.name!r} did not answer {within}",
                hint="raise the model's request_timeout option, or ask for fewer tokens",
                model=self.name,
            )
        if isinstance(exc, ConnectionError):
            return UpstreamUnavailableError(f"model {self.name!r} is unreachable: {exc}", model=self.name)
        logger.exception("model %s (backend %s) failed unexpectedly", self.name, self.backend_name)
        return UpstreamError(f"model {self.name!r} failed: {type(exc).__name__}: {exc}", model=self.name)

    def _audit(
        self,
        operation: str,
        start: float,
        *,
        usage: Usage | None = None,
        error: TrustplaneError | None = None,
        outcome: str | None = None,
        **fields: Any,
    ) -> None:
        record: dict[str, Any] = {
            "model": self.name,
            "backend": self.backend_name,
            "operation": operation,
            "outcome": outcome or ("error" if error is not None else "ok"),
            "latency_ms": round((time.perf_counter() - start) * 1000, 1),
        }
        if usage is not None:
            record["prompt_tokens"] = usage.prompt_tokens
            record["completion_tokens"] = usage.completion_tokens
        if error is not None:
            record["error_code"] = error.code
        record.update({k: (round(v, 1) if isinstance(v, float) else v) for k, v in fields.items() if v is not None})
        text = " ".join(f"{k}={v}" for k, v in record.items())
        logger.log(
            logging.WARNING if error is not None else logging.INFO,
            "model call %s",
            text,
            extra={"trustplane_audit": record},
        )


# --- per-process cache -------------------------------------------------------------------------------
_cache_lock = threading.Lock()
_cache: dict[tuple[str, str, str], Model] = {}


def _cache_key(config: ModelConfig) -> tuple[str, str, str]:
    return config.name, config.backend, json.dumps(config.options, sort_keys=True, default=str)


def get_model(settings: Settings | None = None, name: str | None = None) -> Model:
    """The model called ``name`` (default: ``settings.default_model``), built once per process.

    Args:
        settings: where models are configured; None loads them from the environment.
        name: a configured model name.

    Raises:
        ModelNotFoundError: no model has that name.
        ConfigError: its backend is unknown or its options are invalid.
    """
    settings = settings if settings is not None else load_settings()
    config = settings.model(name)
    key = _cache_key(config)
    with _cache_lock:
        model = _cache.get(key)
        if model is None:
            model = Model.from_config(config)
            _cache[key] = model
        return model


def clear_model_cache() -> None:
    """Forget the models :func:`get_model` built (their loaded weights stay cached by their backend)."""
    with _cache_lock:
        _cache.clear()


def list_models(settings: Settings | None = None) -> list[ModelInfo]:
    """One row per configured model: name, backend, capabilities; loads nothing."""
    settings = settings if settings is not None else load_settings()
    rows = []
    for config in settings.models:
        default = config.name == settings.default_model
        try:
            caps = get_backend_class(config.backend).capabilities_for(config)
        except TrustplaneError as exc:
            rows.append(ModelInfo(name=config.name, backend=config.backend, default=default, error=exc.message))
            continue
        rows.append(ModelInfo(name=config.name, backend=config.backend, default=default, capabilities=caps))
    return rows
