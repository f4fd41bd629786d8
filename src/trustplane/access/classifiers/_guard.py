"""``guard``: a Llama-Guard-style classifier that asks a model behind any OpenAI-compatible endpoint.

The model gets the text and a list of categories (``S1``..``S10`` by default: each domain's prohibited and grey
band) and must answer ``safe``, or ``unsafe`` and, on the next line, the violated category codes separated by
commas (``unsafe\\nS1,S3``), which is Llama Guard's output format. Codes map to ``<domain>/<band>`` labels; when
several apply, a prohibited one wins, then the first listed. Anything else is a malformed answer and raises
:class:`GuardAnswerError`, so a caller that denies on classifier errors fails closed.

Requests go through :mod:`trustplane.core.models` (the ``openai`` backend: timeouts and retries), either to a
configured model by name or to an endpoint given by ``base_url``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from trustplane.access.classifiers._base import BENIGN, Classification, ClassifierError, register_classifier
from trustplane.access.classifiers._dataset import parse_label
from trustplane.core.config import ModelConfig, Settings, load_settings
from trustplane.core.errors import InvalidInputError, TrustplaneError
from trustplane.core.models import Model, get_model

T = TypeVar("T")

DEFAULT_CATEGORIES: dict[str, tuple[str, str]] = {
    "S1": (
        "biological/prohibited",
        "Biological weapons: producing, enhancing, acquiring or releasing pathogens or toxins to harm people.",
    ),
    "S2": (
        "biological/grey",
        "Dual-use biology: specialist virology or microbiology detail (pathogenesis, enhancement studies, containment of dangerous pathogens).",
    ),
    "S3": (
        "chemical/prohibited",
        "Chemical weapons and poisons: synthesis, acquisition, weaponisation or delivery of toxic chemicals, or illicit drug synthesis.",
    ),
    "S4": (
        "chemical/grey",
        "Dual-use chemistry: specialist toxicology or chemistry of highly toxic agents (mechanisms, dose-response, precursors).",
    ),
    "S5": (
        "nuclear_radiological/prohibited",
        "Nuclear and radiological weapons: device design, fissile or radioactive material acquisition, diversion or dispersal.",
    ),
    "S6": (
        "nuclear_radiological/grey",
        "Dual-use nuclear science: reactor physics, criticality, enrichment or radiation-source detail.",
    ),
    "S7": (
        "cyber_offence/prohibited",
        "Cyber attacks: malware, intrusion, credential theft or denial of service against systems without authorisation.",
    ),
    "S8": (
        "cyber_offence/grey",
        "Dual-use security: offensive-security technique detail for authorised testing, exploit development or evasion analysis.",
    ),
    "S9": (
        "conventional_weapons/prohibited",
        "Conventional weapons: building explosives or illegal firearms, converting weapons, or planning attacks.",
    ),
    "S10": (
        "conventional_weapons/grey",
        "Dual-use weapons knowledge: firearm mechanics, ballistics, explosives engineering or ordnance disposal detail.",
    ),
}
"""Default guard categories: code → (label, description)."""

PROMPT = """Task: Check if there is unsafe content in the '{role}' message in the conversation below according to our safety policy with the categories listed.

<BEGIN UNSAFE CONTENT CATEGORIES>
{categories}
<END UNSAFE CONTENT CATEGORIES>

<BEGIN CONVERSATION>

{role}: {text}

<END CONVERSATION>

Provide your safety assessment for the {role} message in the above conversation:
- First line must read 'safe' or 'unsafe'.
- If unsafe, a second line must include a comma-separated list of violated categories."""

_CODE = re.compile(r"^S\d+$")
_SEVERITY = {"prohibited": 1, "grey": 0}


class GuardAnswerError(ClassifierError):
    """The guard model's answer was not ``safe`` or ``unsafe`` plus known category codes."""

    code = "access.guard_answer_malformed"
    title = "Malformed guard answer"


def parse_guard_answer(
    answer: str, categories: Mapping[str, str], *, unmapped: Literal["error", "ignore"] = "error"
) -> Classification:
    """Turn a Llama-Guard-style answer into a :class:`Classification`.

    Args:
        answer: the model's reply, e.g. ``"safe"``, ``"unsafe\\nS1,S3"`` or ``"unsafe S2"``.
        categories: category code → ``"<domain>/<band>"``.
        unmapped: codes missing from ``categories`` raise (``"error"``) or are dropped (``"ignore"``; an answer
            left with no known code is benign).

    Raises:
        GuardAnswerError: empty answer, a first line that is neither verdict, ``unsafe`` without codes, a token that
            is not a category code, or (with ``unmapped="error"``) an unknown code.
    """
    shown = answer.strip()[:200]
    lines = [ln.strip() for ln in answer.strip().splitlines() if ln.strip()]
    if not lines:
        raise GuardAnswerError(
            "the guard model gave an empty answer", hint="check that the endpoint serves a guard model"
        )
    verdict, _, rest = lines[0].partition(" ")
    verdict = verdict.strip().rstrip(":,.").lower()
    if verdict == "safe":
        if rest.strip() or len(lines) > 1:
            raise GuardAnswerError(f"the guard model said 'safe' and then more: {shown!r}", answer=shown)
        return Classification(BENIGN, None, 1.0, {BENIGN: 1.0})
    if verdict != "unsafe":
        raise GuardAnswerError(
            f"the guard model's answer does not start with 'safe' or 'unsafe': {shown!r}", answer=shown
        )
    codes_text = rest.strip() or (lines[1] if len(lines) > 1 else "")
    if len(lines) > 2 or (rest.strip() and len(lines) > 1):
        raise GuardAnswerError(f"the guard model's answer has extra lines: {shown!r}", answer=shown)
    tokens = [c.strip().rstrip(".").upper() for c in re.split(r"[,\s]+", codes_text) if c.strip()]
    if not tokens:
        raise GuardAnswerError(f"the guard model said 'unsafe' without naming a category: {shown!r}", answer=shown)
    bad = [t for t in tokens if not _CODE.match(t)]
    if bad:
        raise GuardAnswerError(
            f"the guard model named {bad[0]!r}, which is not a category code: {shown!r}", answer=shown
        )
    unknown = [t for t in tokens if t not in categories]
    if unknown and unmapped == "error":
        raise GuardAnswerError(
            f"the guard model named categories this classifier does not map: {', '.join(unknown)}",
            hint="map them with the classifier's `categories` option, or set unmapped='ignore'",
            answer=shown,
        )
    labels = list(dict.fromkeys(categories[t] for t in tokens if t in categories))
    if not labels:
        return Classification(BENIGN, None, 1.0, {BENIGN: 1.0})
    label = max(labels, key=lambda lab: (_SEVERITY[parse_label(lab)[1] or "grey"], -labels.index(lab)))
    domain, band = parse_label(label)
    return Classification(domain, band, 1.0, {lab: 1.0 for lab in labels})


def _run_sync(coro: Awaitable[T]) -> T:
    """Run ``coro`` to completion from synchronous code, even when called inside a running event loop."""

    async def main() -> T:
        return await coro

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


@register_classifier("guard")
class GuardClassifier:
    """Classify by asking a guard model (Llama Guard or any instruction model) behind an OpenAI-compatible API.

    Args:
        model: name of a model configured in settings (any backend) to ask.
        base_url: instead of ``model``, an OpenAI-compatible endpoint (``http://host:port/v1``) to ask directly.
        api_key: bearer token for ``base_url``.
        model_id: upstream model id sent to ``base_url`` (e.g. ``meta-llama/Llama-Guard-3-1B``).
        settings: where ``model`` is configured (default: loaded from the environment).
        categories: code → ``"<domain>/<band>"`` or ``[label, description]``; default :data:`DEFAULT_CATEGORIES`.
            Only code → label is needed when the guard model has its own built-in categories.
        role: whose message the texts are: ``"User"`` (prompts) or ``"Agent"`` (outputs).
        unmapped: what to do with codes not in ``categories`` (see :func:`parse_guard_answer`).
        concurrency: requests in flight at once.
        timeout: seconds for each request to ``base_url``.
        max_retries: retries on connection errors, 429 and 5xx for ``base_url``.
    """

    name = "guard"

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        model_id: str | None = None,
        settings: Settings | None = None,
        categories: Mapping[str, str | Sequence[str]] | None = None,
        role: Literal["User", "Agent"] = "User",
        unmapped: Literal["error", "ignore"] = "error",
        concurrency: int = 8,
        timeout: float = 30.0,
        max_retries: int = 2,
    ) -> None:
        if (model is None) == (base_url is None):
            raise InvalidInputError(
                "the guard classifier needs exactly one of `model` (a configured model) or `base_url` (an endpoint)"
            )
        if role not in ("User", "Agent"):
            raise InvalidInputError(f"role must be 'User' or 'Agent', got {role!r}")
        if unmapped not in ("error", "ignore"):
            raise InvalidInputError(f"unmapped must be 'error' or 'ignore', got {unmapped!r}")
        if concurrency < 1:
            raise InvalidInputError(f"concurrency must be at least 1, got {concurrency}")
        self.role = role
        self.unmapped: Literal["error", "ignore"] = unmapped
        self.concurrency = concurrency
        self.categories, self.descriptions = self._categories(categories)
        if base_url is not None:
            options: dict[str, Any] = {"base_url": base_url, "timeout": timeout, "max_retries": max_retries}
            if api_key is not None:
                options["api_key"] = api_key
            if model_id is not None:
                options["model"] = model_id
            config = ModelConfig(name=f"guard:{model_id or 'default'}", backend="openai", options=options)
            try:
                self.model: Model = Model.from_config(config)
            except TrustplaneError as exc:
                raise InvalidInputError(f"guard endpoint options are invalid: {exc.message}", hint=exc.hint) from None
        else:
            self.model = get_model(settings if settings is not None else load_settings(), model)

    @staticmethod
    def _categories(
        categories: Mapping[str, str | Sequence[str]] | None,
    ) -> tuple[dict[str, str], dict[str, str]]:
        if categories is None:
            return {c: lab for c, (lab, _) in DEFAULT_CATEGORIES.items()}, {
                c: desc for c, (_, desc) in DEFAULT_CATEGORIES.items()
            }
        labels: dict[str, str] = {}
        descriptions: dict[str, str] = {}
        for code, value in categories.items():
            if not _CODE.match(code):
                raise InvalidInputError(f"guard category code {code!r} must look like S1, S2, ...")
            if isinstance(value, str):
                label, desc = value, ""
            elif len(value) == 2:
                label, desc = str(value[0]), str(value[1])
            else:
                raise InvalidInputError(f"guard category {code}: give a label or [label, description]")
            if parse_label(label)[1] is None:
                raise InvalidInputError(f"guard category {code} must map to '<domain>/<band>', not {label!r}")
            labels[code], descriptions[code] = label, desc
        if not labels:
            raise InvalidInputError("the guard classifier needs at least one category")
        return labels, descriptions

    def prompt(self, text: str) -> str:
        """The message sent to the guard model for ``text``."""
        cats = "\n".join(f"{code}: {self.descriptions[code] or self.categories[code]}" for code in self.categories)
        return PROMPT.format(role=self.role, categories=cats, text=text)

    async def aclassify(self, texts: Sequence[str]) -> list[Classification]:
        """Classify ``texts`` concurrently (``concurrency`` requests at a time), in order."""
        if isinstance(texts, str):
            raise InvalidInputError("classify takes a list of texts, not one string")
        gate = asyncio.Semaphore(self.concurrency)

        async def one(text: str) -> Classification:
            async with gate:
                try:
                    reply = await self.model.chat(self.prompt(text), temperature=0.0, max_tokens=20)
                except TrustplaneError as exc:
                    raise ClassifierError(
                        f"guard model {self.model.name!r} failed: {exc.message}",
                        hint=exc.hint or "check that the guard endpoint is up and reachable",
                        upstream_code=exc.code,
                    ) from exc
            return parse_guard_answer(reply.content, self.categories, unmapped=self.unmapped)

        return list(await asyncio.gather(*(one(t) for t in texts)))

    def classify(self, texts: Sequence[str]) -> list[Classification]:
        """Synchronous :meth:`aclassify` (runs its own event loop; safe to call from inside one)."""
        if isinstance(texts, str):
            raise InvalidInputError("classify takes a list of texts, not one string")
        if not texts:
            return []

        async def run() -> list[Classification]:
            try:
                return await self.aclassify(texts)
            finally:
                await self.model.aclose()

        return _run_sync(run())
