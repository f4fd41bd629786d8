"""Request and response shapes shared by every backend (OpenAI-compatible field names)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

Role = Literal["system", "user", "assistant", "tool", "developer"]
"""Who wrote a message; the OpenAI roles."""

FinishReason = Literal["stop", "length", "content_filter", "tool_calls", "error"]
"""Why generation ended: a natural stop or stop sequence, the token limit, or an upstream reason."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChatMessage(_Frozen):
    """One message of a conversation."""

    role: Role = Field(description="Author of the message: system, user, assistant, tool or developer.")
    content: str = Field(description="Text of the message.")


class ChatRequest(_Frozen):
    """A chat completion request. Unset sampling fields take the backend's defaults."""

    messages: list[ChatMessage] = Field(description="The conversation so far, oldest first.")
    max_tokens: int | None = Field(None, ge=1, description="Most tokens to generate; unset: the backend's limit.")
    temperature: float = Field(
        1.0, ge=0.0, le=2.0, description="Sampling temperature; 0 means greedy decoding (deterministic)."
    )
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    seed: int | None = Field(None, ge=0, description="Seed for sampling; unset: the backend's configured seed.")
    stop: list[str] | None = Field(None, description="Sequences that end generation; not included in the output.")

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_list(cls, value: object) -> object:
        # OpenAI accepts a bare string as well as a list.
        return [value] if isinstance(value, str) else value

    @field_validator("stop")
    @classmethod
    def _stop_not_empty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not s for s in value):
            raise ValueError("stop sequences must be non-empty strings")
        return value or None


class Usage(_Frozen):
    """Token counts of one request."""

    prompt_tokens: int = Field(0, ge=0, description="Tokens in the prompt, chat template included.")
    completion_tokens: int = Field(0, ge=0, description="Tokens generated.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


class ChatResponse(_Frozen):
    """A finished chat completion."""

    model: str = Field(description="Name of the model that answered (the configured name).")
    content: str = Field(description="The generated text.")
    finish_reason: FinishReason = Field("stop", description="Why generation ended.")
    usage: Usage = Field(default_factory=Usage, description="Token counts.")
    seed: int | None = Field(None, description="Seed the backend sampled with, when it knows one.")


class ChatChunk(_Frozen):
    """One piece of a streamed completion. The last chunk carries ``finish_reason`` (and ``usage`` if known)."""

    delta: str = Field("", description="Text added by this chunk.")
    finish_reason: FinishReason | None = Field(None, description="Set on the final chunk only.")
    usage: Usage | None = Field(None, description="Token counts, on the final chunk when the backend knows them.")


class TokenLogprob(_Frozen):
    """A candidate next token with its log-probability (natural log)."""

    token: str = Field(description="Text of the token.")
    token_id: int | None = Field(None, description="Vocabulary id, when the backend exposes one.")
    logprob: float = Field(le=0.0, description="Natural-log probability of the token.")

    @property
    def prob(self) -> float:
        """Probability of the token, ``exp(logprob)``."""
        return math.exp(self.logprob)


class ContinuationScore(_Frozen):
    """How likely the model finds ``text`` as the start of its reply: the sum of its tokens' log-probabilities."""

    text: str = Field(description="The continuation scored.")
    logprob: float = Field(le=0.0, description="Natural-log probability of the whole continuation.")
    tokens: list[str] = Field(description="The continuation's tokens, as the model split it.")
    token_logprobs: list[float] = Field(description="Each token's log-probability given everything before it.")

    @property
    def prob(self) -> float:
        """Probability of the continuation, ``exp(logprob)``."""
        return math.exp(self.logprob)


class Capabilities(_Frozen):
    """What a backend can do."""

    chat: bool = Field(True, description="Non-streaming chat completion.")
    stream: bool = Field(True, description="Streaming chat completion.")
    logprobs: bool = Field(False, description="Next-token log-probabilities.")
    continuation_logprobs: bool = Field(False, description="Log-probabilities of given continuations of a reply.")
    tokenize: bool = Field(False, description="Access to the model's tokenizer.")


class ModelInfo(_Frozen):
    """One configured model, as listed by :func:`list_models`."""

    name: str = Field(description="Name clients use to pick the model.")
    backend: str = Field(description="Backend serving it.")
    default: bool = Field(False, description="Whether it is the default model.")
    capabilities: Capabilities | None = Field(None, description="What it can do; unset when the backend is unknown.")
    error: str | None = Field(None, description="Why the backend cannot be used, if it cannot.")
