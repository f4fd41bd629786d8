"""The scripted backend, and the Model wrapper's validation, deadlines, error mapping and audit log."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import pytest

from trustplane.core.config import Settings
from trustplane.core.errors import (
    InvalidInputError,
    UnsupportedOperationError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from trustplane.core.models import ChatMessage, ChatRequest, ChatResponse, Model, ModelBackend, get_model

pytestmark = pytest.mark.anyio
MakeSettings = Callable[..., Settings]


def scripted(make_settings: MakeSettings, **options: object) -> Model:
    return get_model(make_settings(("bot", "scripted", options)))


async def test_replies_cycle(make_settings: MakeSettings) -> None:
    model = scripted(make_settings, replies=["first answer", "second"])
    got = [(await model.chat("hi")).content for _ in range(3)]
    assert got == ["first answer", "second", "first answer"]
    response = await model.chat("one two three")
    assert response.model == "bot"
    assert response.finish_reason == "stop"
    assert response.usage.prompt_tokens == 3 and response.usage.completion_tokens == 1
    assert response.usage.total_tokens == 4


async def test_echo_repeats_last_user_message(make_settings: MakeSettings) -> None:
    model = scripted(make_settings, echo=True)
    request = ChatRequest(
        messages=[
            ChatMessage(role="system", content="be brief"),
            ChatMessage(role="user", content="ping pong"),
            ChatMessage(role="assistant", content="..."),
        ]
    )
    assert (await model.chat(request)).content == "ping pong"
    # dicts are accepted as messages, and keyword parameters set request fields
    response = await model.chat([{"role": "user", "content": "a b c d"}], max_tokens=2, seed=5)
    assert response.content == "a b " and response.finish_reason == "length" and response.seed == 5


async def test_stream_word_by_word(make_settings: MakeSettings) -> None:
    text = "The quick  brown fox\njumps."
    model = scripted(make_settings, replies=[text])
    chunks = [c async for c in model.stream("go")]
    deltas = [c.delta for c in chunks if c.delta]
    assert deltas == ["The ", "quick  ", "brown ", "fox\n", "jumps."]
    assert "".join(deltas) == text
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage is not None
    assert all(c.finish_reason is None for c in chunks[:-1])


async def test_stop_sequences(make_settings: MakeSettings) -> None:
    model = scripted(make_settings, replies=["one, two, three"])
    assert (await model.chat("x", stop=",")).content == "one"
    assert (await model.chat("x", stop=["three", "two"])).content == "one, "


async def test_logprobs(make_settings: MakeSettings) -> None:
    model = scripted(make_settings, echo=True, logprobs={"4": -0.2, "four": -2.5, "5": -4.0})
    assert model.capabilities.logprobs
    top = await model.next_token_logprobs("2+2=", top_k=2)
    assert [t.token for t in top] == ["4", "four"]
    assert top[0].logprob == pytest.approx(-0.2) and top[0].prob == pytest.approx(math.exp(-0.2))
    assert sum(t.prob for t in await model.next_token_logprobs("2+2=", top_k=10)) <= 1.0


async def test_score_continuations_and_tokenize(make_settings: MakeSettings) -> None:
    model = scripted(make_settings, echo=True, continuation_logprobs={"4": -0.5, "four ok": -3.0})
    assert model.capabilities.continuation_logprobs and model.capabilities.tokenize
    scores = await model.score_continuations("2+2=", ["4", "four ok", "five"])
    assert [s.text for s in scores] == ["4", "four ok", "five"]
    assert scores[0].logprob == pytest.approx(-0.5) and scores[0].prob == pytest.approx(math.exp(-0.5))
    assert scores[1].tokens == ["four ", "ok"] and sum(scores[1].token_logprobs) == pytest.approx(-3.0)
    assert -6.0 <= scores[2].logprob <= -5.0  # unlisted: stable made-up score
    assert scores == await model.score_continuations("2+2=", ["4", "four ok", "five"])
    assert await model.tokenize("a b a") == [
        (await model.tokenize("a "))[0],
        (await model.tokenize("b "))[0],
        (await model.tokenize("a"))[0],
    ]
    with pytest.raises(InvalidInputError):
        await model.score_continuations("2+2=", [])
    with pytest.raises(InvalidInputError):
        await model.score_continuations("2+2=", "4")  # type: ignore[arg-type]


async def test_scoring_unsupported_without_table(make_settings: MakeSettings) -> None:
    model = scripted(make_settings, echo=True)
    assert not model.capabilities.continuation_logprobs
    with pytest.raises(UnsupportedOperationError):
        await model.score_continuations("hi", ["a"])


async def test_logprobs_unsupported_by_default(make_settings: MakeSettings) -> None:
    model = scripted(make_settings, echo=True)
    assert not model.capabilities.logprobs
    with pytest.raises(UnsupportedOperationError):
        await model.next_token_logprobs("hi")


@pytest.mark.parametrize(
    ("fail_with", "error"),
    [("unavailable", UpstreamUnavailableError), ("timeout", UpstreamTimeoutError), ("error", UpstreamError)],
)
async def test_simulated_failures(make_settings: MakeSettings, fail_with: str, error: type[Exception]) -> None:
    model = scripted(make_settings, echo=True, fail_with=fail_with, logprobs={"a": -1.0})
    with pytest.raises(error):
        await model.chat("hi")
    with pytest.raises(error):
        _ = [c async for c in model.stream("hi")]
    with pytest.raises(error):
        await model.next_token_logprobs("hi")


async def test_deadline_maps_to_timeout(make_settings: MakeSettings) -> None:
    model = scripted(make_settings, replies=["slow reply here"], delay=0.2, request_timeout=0.05)
    with pytest.raises(UpstreamTimeoutError, match=r"0\.05 s"):
        await model.chat("hi")
    with pytest.raises(UpstreamTimeoutError):
        _ = [c async for c in model.stream("hi")]


async def test_stream_deadline_is_per_chunk(make_settings: MakeSettings) -> None:
    # 5 words x 0.03 s exceeds the 0.1 s deadline overall, but no single chunk does
    model = scripted(make_settings, replies=["a b c d e"], delay=0.03, request_timeout=0.1)
    chunks = [c async for c in model.stream("hi")]
    assert "".join(c.delta for c in chunks) == "a b c d e"


@pytest.mark.parametrize(
    "request_args",
    [
        ([],),
        ("hi", {"temperature": 3.0}),
        ("hi", {"max_tokens": 0}),
        ([{"role": "wizard", "content": "x"}],),
        ([{"role": "user"}],),
        ("hi", {"stop": [""]}),
    ],
)
async def test_invalid_input(make_settings: MakeSettings, request_args: tuple[object, ...]) -> None:
    model = scripted(make_settings, echo=True)
    params = request_args[1] if len(request_args) > 1 else {}
    with pytest.raises(InvalidInputError):
        await model.chat(request_args[0], **params)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        _ = [c async for c in model.stream(request_args[0], **params)]  # type: ignore[arg-type]


async def test_invalid_logprob_requests(make_settings: MakeSettings) -> None:
    model = scripted(make_settings, echo=True, logprobs={"a": -1.0})
    with pytest.raises(InvalidInputError):
        await model.next_token_logprobs([])
    with pytest.raises(InvalidInputError):
        await model.next_token_logprobs("hi", top_k=0)


async def test_audit_log_has_numbers_not_content(make_settings: MakeSettings, caplog: pytest.LogCaptureFixture) -> None:
    model = scripted(make_settings, replies=["SECRET-REPLY words"])
    caplog.set_level(logging.INFO, logger="trustplane.core.models")
    await model.chat("SECRET-PROMPT text")
    _ = [c async for c in model.stream("SECRET-PROMPT text")]
    records = [r for r in caplog.records if hasattr(r, "trustplane_audit")]
    assert [r.trustplane_audit["operation"] for r in records] == ["chat", "stream"]  # type: ignore[attr-defined]
    for record in records:
        audit = record.trustplane_audit  # type: ignore[attr-defined]
        assert audit["model"] == "bot" and audit["backend"] == "scripted" and audit["outcome"] == "ok"
        assert audit["latency_ms"] >= 0 and audit["completion_tokens"] == 2 and audit["prompt_tokens"] == 2
    assert "SECRET" not in caplog.text


async def test_audit_log_records_failures(make_settings: MakeSettings, caplog: pytest.LogCaptureFixture) -> None:
    model = scripted(make_settings, echo=True, fail_with="unavailable")
    caplog.set_level(logging.INFO, logger="trustplane.core.models")
    with pytest.raises(UpstreamUnavailableError):
        await model.chat("hi")
    (record,) = [r for r in caplog.records if hasattr(r, "trustplane_audit")]
    assert record.levelno == logging.WARNING
    assert record.trustplane_audit["error_code"] == "upstream.unavailable"  # type: ignore[attr-defined]


async def test_early_stream_exit_is_logged_as_cancelled(
    make_settings: MakeSettings, caplog: pytest.LogCaptureFixture
) -> None:
    model = scripted(make_settings, replies=["a b c d"])
    caplog.set_level(logging.INFO, logger="trustplane.core.models")
    stream = model.stream("hi")
    async for _ in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    (record,) = [r for r in caplog.records if hasattr(r, "trustplane_audit")]
    assert record.trustplane_audit["outcome"] == "cancelled"  # type: ignore[attr-defined]


async def test_unexpected_backend_errors_are_mapped() -> None:
    class Buggy(ModelBackend):
        async def chat(self, request: ChatRequest) -> ChatResponse:
            raise KeyError("boom")

    from trustplane.core.config import ModelConfig

    model = Model(ModelConfig(name="buggy", backend="buggy"), Buggy(ModelConfig(name="buggy", backend="buggy")))
    with pytest.raises(UpstreamError, match="KeyError") as info:
        await model.chat("hi")
    assert isinstance(info.value.__cause__, KeyError)


def test_invalid_scripted_options(make_settings: MakeSettings) -> None:
    from trustplane.core.errors import ConfigError

    for options in (
        {"replies": []},
        {"echo": True, "replies": ["x"]},
        {"echo": True, "logprobs": {"a": 0.5}},
        {"echo": True, "logprobs": {"a": -0.1, "b": -0.2}},
        {"echo": True, "fail_with": "sometimes"},
    ):
        with pytest.raises(ConfigError):
            scripted(make_settings, **options)
