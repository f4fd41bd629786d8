"""LLM provenance on the bundled SmolLM2 at tiny size: no substitution passes, substitutes are caught."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from trustplane.core.config import ModelConfig
from trustplane.core.models import Model, bundled_gguf_path
from trustplane.provenance import run_llm_test
from trustplane.provenance._llm_substitutes import perturb_gguf, requantize

llama_cpp = pytest.importorskip("llama_cpp")
pytestmark = [pytest.mark.local_model, pytest.mark.slow]


def _local(name: str, path: Path | None = None) -> Model:
    options: dict[str, object] = {"n_threads": 1}
    if path is not None:
        options["model_path"] = str(path)
    return Model.from_config(ModelConfig(name=name, backend="local", options=options))


class _Hot:
    """The certified model served at a hotter temperature."""

    def __init__(self, model: Model, temperature: float) -> None:
        self.model, self.temperature, self.name = model, temperature, "hot"
        self.capabilities = model.capabilities

    async def chat(self, messages, **params):  # type: ignore[no-untyped-def]
        return await self.model.chat(messages, **{**params, "temperature": self.temperature})


def test_same_model_passes_and_substitutes_fail(tmp_path: Path) -> None:
    reference = _local("smollm2")
    kwargs = {"n_queries": 12, "samples_per_query": 3, "max_tokens": 6, "permutations": 199, "random_state": 0}
    same = asyncio.run(run_llm_test(reference, reference, **kwargs))  # type: ignore[arg-type]
    assert same.decision == "same", same
    hot = asyncio.run(run_llm_test(reference, _Hot(reference, 2.0), **kwargs))  # type: ignore[arg-type]
    assert hot.decision == "substituted" and hot.rank.mean_rank < 0.35
    perturbed = perturb_gguf(bundled_gguf_path(), tmp_path / "perturbed.gguf", fraction=0.5, random_state=0)
    assert perturbed.stat().st_size == bundled_gguf_path().stat().st_size
    broken = asyncio.run(run_llm_test(reference, _local("perturbed", perturbed), **kwargs))  # type: ignore[arg-type]
    assert broken.decision == "substituted", broken


def test_requantize_writes_a_loadable_model(tmp_path: Path) -> None:
    q8 = requantize(bundled_gguf_path(), tmp_path / "q8.gguf", "q8_0")
    assert q8.stat().st_size > bundled_gguf_path().stat().st_size  # 8 bits per weight instead of ~5
    reply = asyncio.run(_local("q8", q8).chat("Say hi.", max_tokens=4, temperature=0))
    assert reply.content
