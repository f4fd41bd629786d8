"""The thin backend layer: what a model backend must implement, and how it reads its options."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trustplane.core.config import ModelConfig
from trustplane.core.errors import ConfigError, UnsupportedOperationError

from ._types import Capabilities, ChatChunk, ChatMessage, ChatRequest, ChatResponse, ContinuationScore, TokenLogprob

DEFAULT_REQUEST_TIMEOUT = 300.0
"""Seconds the :class:`~trustplane.core.models.Model` wrapper allows one request (or one stream chunk)."""

OptionsT = TypeVar("OptionsT", bound="BackendOptions")


class BackendOptions(BaseModel):
    """Options every backend accepts. Backends subclass this to declare their own (unknown keys are refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_timeout: float | None = Field(
        DEFAULT_REQUEST_TIMEOUT,
        gt=0,
        description="Deadline in seconds for one request, enforced by the Model wrapper; for streams, per chunk. "
        "None disables it.",
    )


def parse_options(config: ModelConfig, options_type: type[OptionsT], backend: str) -> OptionsT:
    """Validate ``config.options`` against ``options_type``; any problem becomes one :class:`ConfigError`."""
    try:
        return options_type.model_validate(config.options)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "options"
            problems.append(f"{loc}: {err['msg']}")
        known = ", ".join(sorted(options_type.model_fields))
        raise ConfigError(
            f"invalid options for model {config.name!r} (backend {backend}): " + "; ".join(problems),
            hint=f"options the {backend} backend accepts: {known}",
            model=config.name,
        ) from None


class ModelBackend(ABC):
    """A model backend: turns :class:`ChatRequest` into text.

    Subclasses are registered with :func:`~trustplane.core.models.register_backend` and built with the
    model's :class:`~trustplane.core.config.ModelConfig`. Construction must be cheap (no model loading, no
    network); heavy work belongs in :meth:`warm` or the first request. Backends raise
    :class:`~trustplane.core.errors.TrustplaneError` subclasses for failures they understand; the
    :class:`~trustplane.core.models.Model` wrapper maps anything else.
    """

    name: ClassVar[str] = ""
    """Registered name, set by :func:`~trustplane.core.models.register_backend`."""

    options_type: ClassVar[type[BackendOptions]] = BackendOptions
    """Pydantic model of the backend's options."""

    default_capabilities: ClassVar[Capabilities] = Capabilities()
    """Capabilities of the backend when its options do not change them."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config

    @classmethod
    def capabilities_for(cls, config: ModelConfig) -> Capabilities:
        """What a model with ``config`` can do, without building the backend."""
        return cls.default_capabilities

    @property
    def capabilities(self) -> Capabilities:
        """What this backend instance can do."""
        return type(self).capabilities_for(self.config)

    @abstractmethod
    async def chat(self, request: ChatRequest) -> ChatResponse:
        """Complete ``request`` and return the whole answer."""

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Complete ``request`` piece by piece. The default yields :meth:`chat`'s answer as one chunk."""
        response = await self.chat(request)
        if response.content:
            yield ChatChunk(delta=response.content)
        yield ChatChunk(finish_reason=response.finish_reason, usage=response.usage)

    async def next_token_logprobs(self, messages: Sequence[ChatMessage], top_k: int = 5) -> list[TokenLogprob]:
        """The ``top_k`` most likely first tokens of the assistant's reply, most likely first."""
        raise UnsupportedOperationError(
            f"backend {self.name or type(self).__name__} does not give token log-probabilities",
            hint="use a model served by the local backend, or an OpenAI-compatible upstream with logprobs",
            model=self.config.name,
        )

    async def score_continuations(
        self, messages: Sequence[ChatMessage], continuations: Sequence[str]
    ) -> list[ContinuationScore]:
        """Log-probability of each continuation as the start of the assistant's reply to ``messages``."""
        raise UnsupportedOperationError(
            f"backend {self.name or type(self).__name__} cannot score continuations",
            hint="use a model served by the local backend",
            model=self.config.name,
        )

    async def tokenize(self, text: str) -> list[int]:
        """The model's token ids for ``text`` (no special tokens added)."""
        raise UnsupportedOperationError(
            f"backend {self.name or type(self).__name__} gives no access to its tokenizer",
            hint="use a model served by the local backend",
            model=self.config.name,
        )

    async def warm(self) -> None:
        """Do the expensive one-off setup now (load weights, open connections). Default: nothing."""
        return None

    async def aclose(self) -> None:
        """Release resources held by this backend. Default: nothing."""
        return None

    def describe(self) -> dict[str, Any]:
        """Non-secret facts about the backend for logs and listings."""
        return {"backend": self.name, "model": self.config.name}
