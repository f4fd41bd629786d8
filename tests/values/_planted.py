"""A planted respondent: a model backend whose answers come from a known foundation profile.

It reads the item text and the options out of the prompt, looks the item's foundation up, and answers
around the planted mean: chat replies are seeded draws, continuation scores a discretised normal over the
labels. Refusals, split labels, non-reproducible greedy decoding and failures after N calls can be planted
too. Registered as backend ``values-planted`` when this module is imported.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import Field

from trustplane.core.config import ModelConfig
from trustplane.core.errors import UpstreamUnavailableError
from trustplane.core.models import (
    BackendOptions,
    Capabilities,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    ContinuationScore,
    ModelBackend,
    parse_options,
    register_backend,
)

_OPTION = re.compile(r"^(-?\d+) = (.+)$", re.M)
_ITEM = re.compile(r'^"(.*)"$', re.M)


class PlantedOptions(BackendOptions):
    profile: dict[str, float] = Field(description="Foundation -> planted mean answer.")
    items: dict[str, str] = Field(description="Item text -> foundation (catch items: 'catch:ID').")
    catch_answers: dict[str, int] = Field(default_factory=dict, description="Catch id -> answer.")
    noise: float = 0.8
    refuse: dict[str, float] = Field(default_factory=dict, description="Foundation -> refusal probability.")
    mass: float = 0.9
    scoring: bool = True
    split_labels: bool = False
    greedy_noise: bool = False
    fail_after: int | None = None
    style: str = "plain"


@register_backend("values-planted")
class PlantedBackend(ModelBackend):
    options_type = PlantedOptions

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.options = parse_options(config, PlantedOptions, "values-planted")
        self.calls = 0
        self.prompts: list[str] = []
        self._lock = threading.Lock()

    @classmethod
    def capabilities_for(cls, config: ModelConfig) -> Capabilities:
        scoring = bool(config.options.get("scoring", True))
        return Capabilities(logprobs=False, continuation_logprobs=scoring, tokenize=True)

    # --- reading the prompt --------------------------------------------------------------------------------
    def _item(self, messages: Sequence[ChatMessage]) -> tuple[str, str, list[int]]:
        text = messages[-1].content
        match = _ITEM.search(text)
        assert match, text
        item = match.group(1)
        options = [int(v) for v, _ in _OPTION.findall(text)]
        return item, self.options.items[item], options

    def _count(self, prompt: str) -> None:
        with self._lock:
            self.calls += 1
            self.prompts.append(prompt)
            if self.options.fail_after is not None and self.calls > self.options.fail_after:
                raise UpstreamUnavailableError(f"planted outage after {self.options.fail_after} calls")

    def _mean(self, foundation: str, options: list[int]) -> float:
        if foundation.startswith("catch:"):
            return float(self.options.catch_answers.get(foundation[6:], options[0]))
        return self.options.profile[foundation]

    def _rng(self, *parts: object) -> np.random.Generator:
        digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "big"))

    def _distribution(self, foundation: str, options: list[int]) -> np.ndarray:
        mean = self._mean(foundation, options)
        sd = max(self.options.noise, 0.05)
        w = np.asarray([math.exp(-0.5 * ((v - mean) / sd) ** 2) for v in options])
        return w / w.sum()

    # --- the backend API -----------------------------------------------------------------------------------
    async def chat(self, request: ChatRequest) -> ChatResponse:
        item, foundation, options = self._item(request.messages)
        self._count(request.messages[-1].content)
        nonce = self.calls if (self.options.greedy_noise and request.temperature == 0) else 0
        rng = self._rng(item, request.seed, request.temperature, nonce)
        refuse = self.options.refuse.get(foundation, 0.0)
        if rng.random() < refuse:
            return ChatResponse(model=self.config.name, content="I'm sorry, but I can't answer that.")
        if request.temperature == 0 and not self.options.greedy_noise:
            p = self._distribution(foundation, options)
            value = options[int(np.argmax(p))]
        else:
            value = int(rng.choice(options, p=self._distribution(foundation, options)))
        content = {"plain": f"{value}", "bold": f"**{value}**", "prose": f"I would rate this {value}."}[
            self.options.style
        ]
        return ChatResponse(model=self.config.name, content=content)

    async def score_continuations(
        self, messages: Sequence[ChatMessage], continuations: Sequence[str]
    ) -> list[ContinuationScore]:
        _, foundation, options = self._item(messages)
        self._count(messages[-1].content)
        refuse = self.options.refuse.get(foundation, 0.0)
        p = self._distribution(foundation, options) * self.options.mass * (1 - refuse)
        out = []
        for text in continuations:
            head = text.split(" = ")[0]
            if head.lstrip("-").isdigit() and int(head) in options:
                prob = float(p[options.index(int(head))]) * (1.0 if head == text else 0.5)
                tokens = ["▁", head] if self.options.split_labels and head == text else [text]
            else:
                prob = refuse * self.options.mass / 4
                tokens = [text]
            lp = math.log(max(prob, 1e-300))
            out.append(ContinuationScore(text=text, logprob=min(lp, 0.0), tokens=tokens, token_logprobs=[lp]))
        return out

    async def tokenize(self, text: str) -> list[int]:
        if self.options.split_labels and text.isdigit():
            return [0, ord(text[0])]
        return [ord(c) for c in text]


def planted_config(
    instrument: Any,
    name: str = "planted",
    profile: dict[str, float] | None = None,
    **options: Any,
) -> ModelConfig:
    """A model config planting ``profile`` (default: a fixed one) for ``instrument``'s items."""
    items = {i.text: (i.foundation or f"catch:{i.catch}") for i in instrument.items}
    profile = profile or {f: 1.0 + 0.6 * k for k, f in enumerate(instrument.foundations)}
    return ModelConfig(name=name, backend="values-planted", options={"profile": profile, "items": items, **options})
