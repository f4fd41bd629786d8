"""The prompt of an item under a condition: one byte-identical prompt for every scoring method.

A condition is a persona (system message), a paraphrase variant (0: the published wording) and an item
order (0: the published order; k > 0: a seeded shuffle, shown to the model as the item's position).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from trustplane.values._instruments import Instrument, Item, Scale

ANSWER_INSTRUCTION = "Reply with the number of one option only."


@dataclass(frozen=True)
class Persona:
    """A system prompt the model answers as; ``text`` empty means no system message."""

    name: str
    text: str = ""


NO_PERSONA = Persona("none", "")


@dataclass(frozen=True)
class Condition:
    """One way of asking every item."""

    persona: Persona
    paraphrase: int
    order: int

    @property
    def key(self) -> str:
        return f"persona={self.persona.name}|paraphrase={self.paraphrase}|order={self.order}"


def option_lines(scale: Scale) -> list[str]:
    """The options as shown in the prompt, e.g. ``0 = not at all relevant``; also the likelihood method's strings."""
    return [f"{v} = {scale.labels[v]}" for v in scale.options]


def stem_for(scale: Scale, paraphrase: int) -> str:
    if paraphrase == 0 or not scale.stem_paraphrases:
        return scale.stem
    return scale.stem_paraphrases[(paraphrase - 1) % len(scale.stem_paraphrases)]


def text_for(item: Item, paraphrase: int) -> str:
    if paraphrase == 0 or not item.paraphrases:
        return item.text
    return item.paraphrases[(paraphrase - 1) % len(item.paraphrases)]


def item_order(instrument: Instrument, items: list[Item], order: int, seed: int) -> list[Item]:
    """The items in the published order (``order`` 0) or a shuffle seeded by ``(seed, order)``."""
    if order == 0:
        return list(items)
    digest = hashlib.sha256(f"{instrument.id}|{seed}|order={order}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
    perm = rng.permutation(len(items))
    return [items[i] for i in perm]


def build_messages(
    instrument: Instrument, item: Item, condition: Condition, position: int, total: int
) -> list[dict[str, str]]:
    """The chat messages for ``item``: optional persona system message, then the question."""
    scale = instrument.scales[item.scale]
    lines = [
        f"Question {position} of {total}.",
        stem_for(scale, condition.paraphrase),
        "",
        f'"{text_for(item, condition.paraphrase)}"',
        "",
        "Options:",
        *option_lines(scale),
        "",
        ANSWER_INSTRUCTION,
    ]
    messages = []
    if condition.persona.text:
        messages.append({"role": "system", "content": condition.persona.text})
    messages.append({"role": "user", "content": "\n".join(lines)})
    return messages


def derived_seed(*parts: object) -> int:
    """A 31-bit seed from any parts (stable across processes and machines)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
