"""The ``guard`` classifier against a mocked OpenAI-compatible endpoint (respx): parsing, severity, failures."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import respx

from trustplane.access.classifiers import (
    BENIGN,
    DEFAULT_CATEGORIES,
    ClassifierError,
    GuardAnswerError,
    GuardClassifier,
    aclassify,
    get_classifier,
    parse_guard_answer,
)
from trustplane.core.config import ModelConfig, Settings
from trustplane.core.errors import InvalidInputError, to_problem

BASE = "http://guard.test/v1"
URL = f"{BASE}/chat/completions"
CATS = {code: label for code, (label, _) in DEFAULT_CATEGORIES.items()}


def completion(content: str) -> dict[str, object]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "llama-guard",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 3, "total_tokens": 103},
    }


def guard(**options: object) -> GuardClassifier:
    return GuardClassifier(base_url=BASE, api_key="sk-guard", model_id="llama-guard", max_retries=0, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("answer", "label"),
    [
        ("safe", BENIGN),
        ("  Safe \n", BENIGN),
        ("unsafe\nS1", "biological/prohibited"),
        ("unsafe\nS4", "chemical/grey"),
        ("unsafe\nS8, S7", "cyber_offence/prohibited"),  # prohibited outranks grey whatever the order
        ("unsafe\nS2,S4", "biological/grey"),  # same band: the first listed
        ("unsafe S10", "conventional_weapons/grey"),  # codes on the verdict line
        ("UNSAFE\ns5", "nuclear_radiological/prohibited"),
    ],
)
def test_parse_answers(answer: str, label: str) -> None:
    c = parse_guard_answer(answer, CATS)
    assert c.label == label
    assert c.score == 1.0 and c.scores[label] == 1.0


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        ("", "empty answer"),
        ("   \n ", "empty answer"),
        ("I cannot help with that.", "does not start with 'safe' or 'unsafe'"),
        ("maybe\nS1", "does not start"),
        ("unsafe", "without naming a category"),
        ("unsafe\n", "without naming a category"),
        ("unsafe\nS1\nbecause it is about anthrax", "extra lines"),
        ("unsafe\nviolence", "not a category code"),
        ("unsafe\nS99", "does not map: S99"),
        ("safe\nS1", "said 'safe' and then more"),
        ("safe, but borderline", "said 'safe' and then more"),
    ],
)
def test_malformed_answers_raise(answer: str, match: str) -> None:
    with pytest.raises(GuardAnswerError, match=match) as info:
        parse_guard_answer(answer, CATS)
    assert info.value.code == "access.guard_answer_malformed"
    assert to_problem(info.value)["status"] == 502


def test_unmapped_codes_can_be_ignored() -> None:
    llama_guard_3 = {"S9": "conventional_weapons/prohibited"}  # S9: indiscriminate weapons
    assert parse_guard_answer("unsafe\nS1", llama_guard_3, unmapped="ignore").label == BENIGN
    assert (
        parse_guard_answer("unsafe\nS1,S9", llama_guard_3, unmapped="ignore").label == "conventional_weapons/prohibited"
    )
    with pytest.raises(GuardAnswerError, match="S1"):
        parse_guard_answer("unsafe\nS1", llama_guard_3)


@respx.mock
def test_classify_through_the_endpoint() -> None:
    answers = {"how do I culture anthrax at home": "unsafe\nS1", "bake bread": "safe"}

    def reply(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        prompt = body["messages"][0]["content"]
        assert body["model"] == "llama-guard" and body["temperature"] == 0.0
        assert request.headers["authorization"] == "Bearer sk-guard"
        assert "<BEGIN UNSAFE CONTENT CATEGORIES>" in prompt and "S10:" in prompt and "User:" in prompt
        text = next(t for t in answers if t in prompt)
        return httpx.Response(200, json=completion(answers[text]))

    route = respx.post(URL).mock(side_effect=reply)
    out = guard().classify(["how do I culture anthrax at home", "bake bread", "how do I culture anthrax at home"])
    assert [c.label for c in out] == ["biological/prohibited", BENIGN, "biological/prohibited"]
    assert route.call_count == 3


@respx.mock
def test_output_role_and_custom_categories() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(200, json=completion("unsafe\nS9")))
    clf = guard(role="Agent", categories={"S9": ["conventional_weapons/prohibited", "Indiscriminate weapons."]})
    [c] = clf.classify(["an answer"])
    assert c.label == "conventional_weapons/prohibited"
    prompt = json.loads(route.calls[0].request.content)["messages"][0]["content"]
    assert "Agent: an answer" in prompt and "S9: Indiscriminate weapons." in prompt and "S1:" not in prompt


@respx.mock
def test_endpoint_failures_are_classifier_errors() -> None:
    respx.post(URL).mock(return_value=httpx.Response(500, json={"error": {"message": "model crashed"}}))
    with pytest.raises(ClassifierError, match=r"guard model .* failed: .*model crashed") as info:
        guard().classify(["hello"])
    assert info.value.extra["upstream_code"] == "upstream.error"
    respx.post(URL).mock(side_effect=httpx.ConnectError("connection refused"))
    with pytest.raises(ClassifierError, match="failed") as info2:
        guard().classify(["hello"])
    assert info2.value.extra["upstream_code"] == "upstream.unavailable"


@respx.mock
def test_malformed_answer_from_the_endpoint_fails_closed() -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, json=completion("Sure! Here is a poem.")))
    with pytest.raises(GuardAnswerError, match="does not start"):
        guard().classify(["write a poem"])


@respx.mock
def test_async_and_inside_a_running_loop() -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, json=completion("unsafe\nS3")))
    clf = guard(concurrency=2)

    async def main() -> tuple[list[str], list[str]]:
        native = [c.label for c in await aclassify(clf, ["a", "b", "c"])]
        blocking = [c.label for c in clf.classify(["d"])]  # sync call from inside a loop runs on its own loop
        return native, blocking

    native, blocking = asyncio.run(main())
    assert native == ["chemical/prohibited"] * 3 and blocking == ["chemical/prohibited"]


def test_configured_model_by_name(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(
        home=tmp_path,
        models=[ModelConfig(name="guard-scripted", backend="scripted", options={"replies": ["unsafe\nS6", "safe"]})],
        default_model="guard-scripted",
    )
    clf = get_classifier("guard", model="guard-scripted", settings=settings)
    assert [c.label for c in clf.classify(["reactor question", "hello"])] == ["nuclear_radiological/grey", BENIGN]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"model": "x", "base_url": BASE}, "exactly one of"),
        ({"base_url": BASE, "role": "assistant"}, "role must be"),
        ({"base_url": BASE, "unmapped": "skip"}, "unmapped must be"),
        ({"base_url": BASE, "concurrency": 0}, "concurrency"),
        ({"base_url": BASE, "categories": {"X1": "chemical/grey"}}, "must look like S1"),
        ({"base_url": BASE, "categories": {"S1": "benign"}}, "must map to"),
        ({"base_url": BASE, "categories": {}}, "at least one category"),
        ({"base_url": "not a url", "timeout": -1}, "guard endpoint options are invalid"),
    ],
)
def test_bad_options(options: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        GuardClassifier(**options)  # type: ignore[arg-type]
