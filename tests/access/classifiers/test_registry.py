"""The classifier registry and protocol: names, errors, the async helper, third-party registration."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from trustplane.access.classifiers import (
    BENIGN,
    DEFAULT_CLASSIFIER,
    Classification,
    GuardClassifier,
    KeywordClassifier,
    MiniLMClassifier,
    RiskClassifier,
    UnknownClassifierError,
    aclassify,
    available_classifiers,
    get_classifier,
    register_classifier,
)
from trustplane.core.errors import InvalidInputError, to_problem


def test_builtin_classifiers_are_registered() -> None:
    names = available_classifiers()
    assert {"keyword", "minilm", "guard"} <= set(names)
    assert DEFAULT_CLASSIFIER == "minilm"


def test_unknown_classifier_names_the_available_ones() -> None:
    with pytest.raises(UnknownClassifierError) as info:
        get_classifier("no-such-classifier")
    assert info.value.code == "access.unknown_classifier"
    assert info.value.hint is not None and "minilm" in info.value.hint and "keyword" in info.value.hint
    assert to_problem(info.value)["status"] == 422


def test_third_party_registration_and_protocol() -> None:
    @register_classifier("test-constant")
    class Constant:
        name = "test-constant"

        def __init__(self, label: str = "chemical/grey") -> None:
            self.category, _, band = label.partition("/")
            self.band = band

        def classify(self, texts: Sequence[str]) -> list[Classification]:
            return [Classification(self.category, self.band, 0.7, {f"{self.category}/{self.band}": 0.7})] * len(texts)  # type: ignore[arg-type]

    clf = get_classifier("test-constant", label="cyber_offence/prohibited")
    assert isinstance(clf, RiskClassifier)
    [c] = clf.classify(["anything"])
    assert (c.category, c.band, c.gated, c.label) == ("cyber_offence", "prohibited", True, "cyber_offence/prohibited")


def test_classification_label_and_gated() -> None:
    assert Classification(BENIGN, None, 0.9).label == BENIGN
    assert not Classification(BENIGN, None, 0.9).gated
    assert Classification("biological", "grey", 0.6).label == "biological/grey"


def test_aclassify_runs_sync_classifiers_off_the_loop_and_async_ones_natively() -> None:
    kw = KeywordClassifier({"chemical/prohibited": ["sarin"]})

    class Native:
        name = "native"
        calls = 0

        def classify(self, texts: Sequence[str]) -> list[Classification]:  # pragma: no cover - must not be used
            raise AssertionError("the async path should be used")

        async def aclassify(self, texts: Sequence[str]) -> list[Classification]:
            Native.calls += 1
            return [Classification(BENIGN, None, 1.0)] * len(texts)

    async def main() -> tuple[list[Classification], list[Classification]]:
        return await aclassify(kw, ["make sarin", "bake bread"]), await aclassify(Native(), ["x", "y"])

    sync_out, native_out = asyncio.run(main())
    assert [c.label for c in sync_out] == ["chemical/prohibited", BENIGN]
    assert len(native_out) == 2 and Native.calls == 1


def test_constructor_errors_are_domain_errors() -> None:
    with pytest.raises(InvalidInputError, match="exactly one of"):
        GuardClassifier()
    with pytest.raises(InvalidInputError, match="<domain>/grey"):
        KeywordClassifier({"chemical": ["x"]})
    assert MiniLMClassifier.name == "minilm"
