"""The risk-classifier protocol, its result type and the registry classifiers plug into by name."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from trustplane.core.errors import EX_UNAVAILABLE, InvalidInputError, TrustplaneError

Band = Literal["grey", "prohibited"]
BENIGN = "benign"


class UnknownClassifierError(InvalidInputError):
    code = "access.unknown_classifier"
    title = "Unknown classifier"


class ClassifierError(TrustplaneError):
    code = "access.classifier_failed"
    title = "Classifier failed"
    status = 502
    exit_code = EX_UNAVAILABLE


@dataclass(frozen=True)
class Classification:
    """What a classifier says about one text.

    ``category`` is a taxonomy domain (``biological``, ``chemical``, ...) or :data:`BENIGN`; ``band`` is
    ``"grey"`` or ``"prohibited"`` for a gated domain and ``None`` for benign text. ``score`` is the
    classifier's probability for (category, band); ``scores`` maps every ``"<domain>/<band>"`` (and
    ``"benign"``) it scored to its probability, for audit and calibration.
    """

    category: str
    band: Band | None
    score: float
    scores: Mapping[str, float] = field(default_factory=dict)

    @property
    def gated(self) -> bool:
        return self.category != BENIGN and self.band is not None

    @property
    def label(self) -> str:
        """``"<domain>/<band>"`` for gated text, ``"benign"`` otherwise."""
        return f"{self.category}/{self.band}" if self.gated else BENIGN


@runtime_checkable
class RiskClassifier(Protocol):
    """Assigns texts (prompts or outputs) to a risk category and band. Batched and synchronous."""

    name: str

    def classify(self, texts: Sequence[str]) -> list[Classification]: ...


DEFAULT_CLASSIFIER = "minilm"
"""The classifier used when none is named: MiniLM embeddings plus the shipped head."""


async def aclassify(classifier: RiskClassifier, texts: Sequence[str]) -> list[Classification]:
    """Classify from async code: the classifier's own ``aclassify`` when it has one (``guard``), else its
    ``classify`` on a worker thread so the event loop is not blocked (``minilm``, ``keyword``)."""
    native = getattr(classifier, "aclassify", None)
    if native is not None:
        result: list[Classification] = await native(texts)
        return result
    return await asyncio.to_thread(classifier.classify, list(texts))


ClassifierFactory = Callable[..., RiskClassifier]
_REGISTRY: dict[str, ClassifierFactory] = {}
F = TypeVar("F", bound=ClassifierFactory)


def register_classifier(name: str) -> Callable[[F], F]:
    """Register a classifier factory (a class or function taking keyword options) under ``name``."""

    def deco(factory: F) -> F:
        _REGISTRY[name] = factory
        return factory

    return deco


def available_classifiers() -> list[str]:
    for ep in entry_points(group="trustplane.classifiers"):
        _REGISTRY.setdefault(ep.name, ep.load())
    return sorted(_REGISTRY)


def get_classifier(name: str, **options: Any) -> RiskClassifier:
    """Build the classifier registered as ``name`` with its options."""
    names = available_classifiers()
    if name not in _REGISTRY:
        raise UnknownClassifierError(f"unknown classifier {name!r}", hint=f"available: {', '.join(names)}")
    return _REGISTRY[name](**options)


@register_classifier("keyword")
class KeywordClassifier:
    """Deterministic regular-expression classifier, for tests and as a transparent fallback.

    ``rules`` maps ``"<domain>/<band>"`` to a list of case-insensitive patterns. The most severe band that
    matches wins (prohibited over grey); ties go to the first domain in ``rules`` order.
    """

    name = "keyword"

    def __init__(self, rules: Mapping[str, Sequence[str]]) -> None:
        self._rules: list[tuple[str, Band, re.Pattern[str]]] = []
        for key, patterns in rules.items():
            domain, _, band = key.partition("/")
            if band not in ("grey", "prohibited") or not domain:
                raise InvalidInputError(f"keyword rule {key!r} must look like '<domain>/grey' or '<domain>/prohibited'")
            for p in patterns:
                try:
                    self._rules.append((domain, band, re.compile(p, re.IGNORECASE)))  # type: ignore[arg-type]
                except re.error as exc:
                    raise InvalidInputError(f"keyword rule {key!r}: bad pattern {p!r}: {exc}") from None

    def classify(self, texts: Sequence[str]) -> list[Classification]:
        out = []
        for text in texts:
            hits = [(d, b) for d, b, rx in self._rules if rx.search(text)]
            if not hits:
                out.append(Classification(BENIGN, None, 1.0, {BENIGN: 1.0}))
                continue
            prohibited = [h for h in hits if h[1] == "prohibited"]
            domain, band = (prohibited or hits)[0]
            scores = {f"{d}/{b}": 1.0 for d, b in hits}
            out.append(Classification(domain, band, 1.0, scores))
        return out
