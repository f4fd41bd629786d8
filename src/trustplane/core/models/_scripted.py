"""``scripted``: a deterministic backend for tests and demos. No model, no network."""

from __future__ import annotations

import asyncio
import itertools
import math
import re
import threading
import zlib
from collections.abc import AsyncIterator, Sequence
from typing import Literal

from pydantic import Field, model_validator

from trustplane.core.config import ModelConfig
from trustplane.core.errors import UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError

from ._backend import BackendOptions, ModelBackend, parse_options
from ._registry import register_backend
from ._types import (
    Capabilities,
    ChatChunk,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    ContinuationScore,
    FinishReason,
    TokenLogprob,
    Usage,
)

_PIECE = re.compile(r"\S+\s*|\s+")


class ScriptedOptions(BackendOptions):
    """Options of the ``scripted`` backend."""

    replies: list[str] | None = Field(None, description="Replies given in turn, cycling when exhausted.")
    echo: bool = Field(False, description="Reply with the last user message instead of ``replies``.")
    logprobs: dict[str, float] | None = Field(
        None, description="Next-token log-probabilities to report (token -> logprob); unset: unsupported."
    )
    continuation_logprobs: dict[str, float] | None = Field(
        None,
        description="Continuation -> log-probability for score_continuations; continuations not listed get "
        "-5 per word minus a stable fraction from their hash. Unset: scoring unsupported.",
    )
    fail_with: Literal["unavailable", "timeout", "error"] | None = Field(
        None, description="Simulate an upstream failure on every request."
    )
    delay: float = Field(0.0, ge=0.0, description="Seconds to wait before each streamed word.")

    @model_validator(mode="after")
    def _has_a_script(self) -> ScriptedOptions:
        if self.echo == (self.replies is not None):
            raise ValueError("set exactly one of 'replies' (a list of strings) or 'echo: true'")
        if self.replies is not None and not self.replies:
            raise ValueError("'replies' must hold at least one string")
        if self.logprobs is not None:
            if any(v > 0 for v in self.logprobs.values()):
                raise ValueError("'logprobs' values are log-probabilities and must be <= 0")
            if sum(math.exp(v) for v in self.logprobs.values()) > 1 + 1e-9:
                raise ValueError("'logprobs' probabilities sum to more than 1")
        if self.continuation_logprobs is not None and any(v > 0 for v in self.continuation_logprobs.values()):
            raise ValueError("'continuation_logprobs' values are log-probabilities and must be <= 0")
        return self


def _words(text: str) -> list[str]:
    return _PIECE.findall(text)


@register_backend("scripted")
class ScriptedBackend(ModelBackend):
    """Answers from a script: fixed replies in turn, or an echo of the last user message.

    Tokens are whitespace-separated words; streams yield one word (with its trailing space) per chunk.
    """

    options_type = ScriptedOptions

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.options = parse_options(config, ScriptedOptions, "scripted")
        self._turns = itertools.count()
        self._lock = threading.Lock()

    @classmethod
    def capabilities_for(cls, config: ModelConfig) -> Capabilities:
        """Log-probabilities are available when the ``logprobs`` option is set, scoring with
        ``continuation_logprobs``; the word tokenizer always."""
        return Capabilities(
            logprobs=bool(config.options.get("logprobs")),
            continuation_logprobs=config.options.get("continuation_logprobs") is not None,
            tokenize=True,
        )

    def _fail(self) -> None:
        where = f"scripted model {self.config.name!r}"
        if self.options.fail_with == "unavailable":
            raise UpstreamUnavailableError(f"{where} is unreachable (simulated)", model=self.config.name)
        if self.options.fail_with == "timeout":
            raise UpstreamTimeoutError(f"{where} timed out (simulated)", model=self.config.name)
        if self.options.fail_with == "error":
            raise UpstreamError(f"{where} returned 500: simulated failure", model=self.config.name, upstream_status=500)

    def _reply(self, request: ChatRequest) -> tuple[list[str], FinishReason]:
        if self.options.echo:
            text = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        else:
            assert self.options.replies is not None
            with self._lock:
                turn = next(self._turns)
            text = self.options.replies[turn % len(self.options.replies)]
        finish: FinishReason = "stop"
        if request.stop:
            cut = min((i for i in (text.find(s) for s in request.stop) if i >= 0), default=-1)
            if cut >= 0:
                text = text[:cut]
        pieces = _words(text)
        if request.max_tokens is not None and len(pieces) > request.max_tokens:
            pieces = pieces[: request.max_tokens]
            finish = "length"
        return pieces, finish

    @staticmethod
    def _usage(messages: Sequence[ChatMessage], pieces: list[str]) -> Usage:
        prompt = sum(len(m.content.split()) for m in messages)
        return Usage(prompt_tokens=prompt, completion_tokens=sum(1 for p in pieces if p.strip()))

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """The next scripted reply."""
        self._fail()
        pieces, finish = self._reply(request)
        if self.options.delay:
            await asyncio.sleep(self.options.delay * len(pieces))
        return ChatResponse(
            model=self.config.name,
            content="".join(pieces),
            finish_reason=finish,
            usage=self._usage(request.messages, pieces),
            seed=request.seed,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """The next scripted reply, word by word."""
        self._fail()
        pieces, finish = self._reply(request)
        for piece in pieces:
            if self.options.delay:
                await asyncio.sleep(self.options.delay)
            yield ChatChunk(delta=piece)
        yield ChatChunk(finish_reason=finish, usage=self._usage(request.messages, pieces))

    async def score_continuations(
        self, messages: Sequence[ChatMessage], continuations: Sequence[str]
    ) -> list[ContinuationScore]:
        """The configured ``continuation_logprobs``; unlisted continuations get a stable made-up score."""
        table = self.options.continuation_logprobs
        if table is None:
            return await super().score_continuations(messages, continuations)
        self._fail()
        out = []
        for text in continuations:
            words = _words(text)
            if text in table:
                total = table[text]
                per = [total / len(words)] * len(words)
            else:
                per = [-5.0 - (zlib.crc32(w.encode("utf-8")) % 1000) / 1000 for w in words]
                total = sum(per)
            out.append(ContinuationScore(text=text, logprob=min(total, 0.0), tokens=words, token_logprobs=per))
        return out

    async def tokenize(self, text: str) -> list[int]:
        """Whitespace words (with trailing space), each as its CRC-32."""
        return [zlib.crc32(w.encode("utf-8")) for w in _words(text)]

    async def next_token_logprobs(self, messages: Sequence[ChatMessage], top_k: int = 5) -> list[TokenLogprob]:
        """The configured ``logprobs``, most likely first."""
        if not self.options.logprobs:
            return await super().next_token_logprobs(messages, top_k)
        self._fail()
        ranked = sorted(self.options.logprobs.items(), key=lambda kv: kv[1], reverse=True)[:top_k]
        return [TokenLogprob(token=token, logprob=lp) for token, lp in ranked]
