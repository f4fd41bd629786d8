"""The OpenAI chat-completions wire format: request parsing (strict) and response and SSE chunk shapes."""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trustplane.access._errors import (
    InvalidRequestError,
    MalformedRequestError,
    RequestTooLargeError,
    UnsupportedFieldError,
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPart(_Model):
    type: Literal["text"]
    text: str


class WireMessage(_Model):
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[TextPart] | None = Field(description="Text, or a list of text parts.")
    name: str | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content)


class StreamOptions(_Model):
    include_usage: bool = False


class ChatCompletionBody(_Model):
    """The fields of ``POST /v1/chat/completions`` the gateway implements; any other field is refused."""

    model: str | None = Field(None, min_length=1, description="Model name; unset: the server's default model.")
    messages: list[WireMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    seed: int | None = Field(None, ge=0)
    stop: str | list[str] | None = None
    user: str | None = Field(None, max_length=256)
    n: int | None = Field(None, ge=1, le=1, description="Only one choice is supported.")
    presence_penalty: float | None = Field(None, ge=0.0, le=0.0, description="Only 0 is supported.")
    frequency_penalty: float | None = Field(None, ge=0.0, le=0.0, description="Only 0 is supported.")
    logprobs: bool | None = Field(None, description="Only false is supported.")

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, value: bool | None) -> bool | None:
        if value:
            raise ValueError("logprobs are not supported by the gateway")
        return value

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        items = [value] if isinstance(value, str) else value or []
        if len(items) > 4 or any(not s for s in items):
            raise ValueError("stop takes up to 4 non-empty strings")
        return value

    def params(self) -> dict[str, Any]:
        """Sampling parameters for :meth:`trustplane.core.models.Model.chat`."""
        out: dict[str, Any] = {}
        limit = self.max_completion_tokens or self.max_tokens
        if limit is not None:
            out["max_tokens"] = limit
        if self.temperature is not None:
            out["temperature"] = self.temperature
        if self.top_p is not None:
            out["top_p"] = self.top_p
        if self.seed is not None:
            out["seed"] = self.seed
        if self.stop is not None:
            out["stop"] = self.stop
        return out

    def conversation(self) -> list[tuple[str, str]]:
        return [(m.role, m.text()) for m in self.messages]


KNOWN_FIELDS = frozenset(ChatCompletionBody.model_fields)


def parse_body(raw: bytes, *, max_bytes: int) -> ChatCompletionBody:
    """Parse and validate a request body; each problem is a specific 400 (413 when too large)."""
    if len(raw) > max_bytes:
        raise RequestTooLargeError(
            f"the request body is {len(raw)} bytes; the limit is {max_bytes}",
            hint="send a shorter conversation (TRUSTPLANE_ACCESS_MAX_REQUEST_BYTES)",
            limit=max_bytes,
        )
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise MalformedRequestError(f"the request body is not valid JSON{where}: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedRequestError(f"the request body must be a JSON object, not {type(data).__name__}")
    unknown = sorted(set(data) - KNOWN_FIELDS)
    if unknown:
        raise UnsupportedFieldError(
            f"unsupported request field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
            hint=f"the gateway implements: {', '.join(sorted(KNOWN_FIELDS))}",
            fields=unknown,
        )
    try:
        return ChatCompletionBody.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InvalidRequestError(f"invalid request at {loc}: {err['msg']}{more}", param=loc) from None


# --- responses -----------------------------------------------------------------------------------------------
def completion(
    *,
    completion_id: str,
    created: int,
    model: str,
    content: str,
    finish_reason: str,
    usage: dict[str, int],
    extension: dict[str, Any],
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": usage,
        "system_fingerprint": None,
        "trustplane": extension,
    }


def chunk(
    *,
    completion_id: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    extension: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }
    if extension is not None:
        out["trustplane"] = extension
    return out


def usage_chunk(*, completion_id: str, created: int, model: str, usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [],
        "usage": usage,
    }


def sse(data: dict[str, Any] | str) -> bytes:
    body = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"data: {body}\n\n".encode()


def now_s() -> int:
    return int(time.time())
