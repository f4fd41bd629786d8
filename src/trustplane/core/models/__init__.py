"""Model backends behind one protocol: chat, streaming and next-token log-probabilities.

Two layers. A :class:`ModelBackend` is the thin part a backend author writes (``chat``, ``stream``,
``next_token_logprobs``); backends register by name with :func:`register_backend` or through the
``trustplane.backends`` entry-point group. A :class:`Model` wraps a backend with what every backend
shares: input validation, deadlines, error mapping and audit logging. :func:`get_model` resolves a
configured model name to a :class:`Model`, once per process.

Built-in backends: ``openai`` (any OpenAI-compatible HTTP endpoint), ``local`` (the bundled
SmolLM2-135M-Instruct through llama.cpp) and ``scripted`` (deterministic replies, for tests).

Example::

    from trustplane.core.config import load_settings
    from trustplane.core.models import get_model

    model = get_model(load_settings())          # the default model
    reply = await model.chat("Say hello.", temperature=0)
    async for chunk in model.stream("Count to three."):
        print(chunk.delta, end="")
"""

from __future__ import annotations

from ._backend import BackendOptions, ModelBackend, parse_options
from ._local import LocalBackend, LocalOptions, bundled_gguf_path
from ._model import MessagesLike, Model, RequestLike, clear_model_cache, get_model, list_models
from ._openai import OpenAIBackend, OpenAIOptions
from ._registry import ENTRY_POINT_GROUP, backend_names, get_backend_class, load_entry_points, register_backend
from ._scripted import ScriptedBackend, ScriptedOptions
from ._types import (
    Capabilities,
    ChatChunk,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    ContinuationScore,
    FinishReason,
    ModelInfo,
    Role,
    TokenLogprob,
    Usage,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "BackendOptions",
    "Capabilities",
    "ChatChunk",
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "ContinuationScore",
    "FinishReason",
    "LocalBackend",
    "LocalOptions",
    "MessagesLike",
    "Model",
    "ModelBackend",
    "ModelInfo",
    "OpenAIBackend",
    "OpenAIOptions",
    "RequestLike",
    "Role",
    "ScriptedBackend",
    "ScriptedOptions",
    "TokenLogprob",
    "Usage",
    "backend_names",
    "bundled_gguf_path",
    "clear_model_cache",
    "get_backend_class",
    "get_model",
    "list_models",
    "load_entry_points",
    "parse_options",
    "register_backend",
]
