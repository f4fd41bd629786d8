"""Reading a rating out of free text: what models really write, not only the number asked for.

:func:`parse_answer` returns a status and, when answered, the option chosen:

- ``answered``: one option of the scale, from an explicit marker ("Answer: 4", "I'd rate it 4",
  ``\\boxed{4}``, ``{"answer": 4}``), a leading number ("3: Very wrong", "**4**", "4/5"), the only
  number left once scale restatements ("on a scale of 0 to 5", "out of 5") and item references are set
  aside, a number word ("Four."), or a label ("Strongly agree");
- ``invalid``: a number that is not an option: out of range ("6", "-1", "45"), or not whole ("3.5");
- ``refused``: refusal language ("As an AI, I don't have personal opinions") and no answer;
- ``unparseable``: nothing to read (empty, prose, unfinished reasoning) or an ambiguous answer ("3-4",
  "3 or 4", several different numbers).

Reasoning blocks (``<think>…</think>`` and similar) are removed first; an unclosed block means the answer
never came. An explicit answer wins over refusal language; a number wins over a contradicting label
(the reason says so).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Status = Literal["answered", "refused", "unparseable", "invalid"]
STATUSES: tuple[Status, ...] = ("answered", "refused", "unparseable", "invalid")


@dataclass(frozen=True)
class ParsedAnswer:
    """The outcome of reading one reply."""

    status: Status
    value: int | None
    reason: str
    raw_number: float | None = None

    def as_json(self) -> dict[str, object]:
        return {"status": self.status, "value": self.value, "reason": self.reason, "raw_number": self.raw_number}


_THINK_TAGS = ("think", "thinking", "thought", "reasoning", "reflection", "scratchpad", "analysis")
_THINK_BLOCK = re.compile(r"<\s*(" + "|".join(_THINK_TAGS) + r")\s*>.*?<\s*/\s*\1\s*>", re.S | re.I)
_THINK_OPEN = re.compile(r"<\s*(" + "|".join(_THINK_TAGS) + r")\s*>", re.I)
_THINK_CLOSE = re.compile(r"<\s*/\s*(" + "|".join(_THINK_TAGS) + r")\s*>", re.I)
_CHANNEL = re.compile(r"<\|channel\|>\s*analysis.*?<\|end\|>", re.S | re.I)
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\ufe0f\u20e3"), None)

_NUMBER_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_WORD_ALT = "|".join(_NUMBER_WORDS)
_NUM = r"[-]?\d+(?:\.\d+)?"

# Phrases that introduce the answer itself. Every match is a candidate; the last one wins.
_MARKER = (
    r"(?:final\s+answer|answer|rating|score|response|choice|selection|option|value|verdict)"
    r"(?:\s+(?:is|would\s+be|will\s+be|of|=))?"
    r"|(?:i\s+(?:would|'d|will|'ll|shall)?\s*(?:rate|say|choose|select|pick|give|go\s+with|answer|put|respond(?:\s+with)?)"
    r"(?:\s+(?:it|this|that|the\s+(?:item|statement|consideration|behaviou?r)))?(?:\s+(?:a|an|as|at|with))?)"
    r"|(?:i\s+(?:rate|choose|select|pick|give)(?:\s+(?:it|this|that))?(?:\s+(?:a|an|as|at))?)"
    r"|(?:my\s+(?:answer|rating|score|response|choice|pick)(?:\s+(?:is|would\s+be|will\s+be))?)"
    r"|(?:rated?\s+(?:it\s+|this\s+)?(?:as|at)?)"
)
_MARKED = re.compile(
    r"(?<![a-z])(?:"
    + _MARKER
    + r")\s*[\"'*]?\s*(?:[:=–—]|-(?!\d))?\s*[\"'(\[]?\s*("
    + _NUM
    + r"|"
    + _WORD_ALT
    + r")(?![\w])",
    re.I,
)
_TAGGED = re.compile(r"<\s*(?:answer|rating|score)\s*>\s*(" + _NUM + r"|" + _WORD_ALT + r")\s*<\s*/", re.I)
_BOXED = re.compile(r"\\boxed\s*\{\s*(" + _NUM + r")\s*\}")
_WORD_OUT_OF = re.compile(r"\b(" + _WORD_ALT + r")\s+out\s+of\s+(\w+)", re.I)
_RANGE_AFTER = re.compile(r"^\s*(?:-|–|—|to|or|and|/|,|~)\s*(?:" + _NUM + r"|" + _WORD_ALT + r")\b", re.I)

_REFUSAL = re.compile(
    r"\b(?:"
    r"i\s*(?:can't|can’t|cannot|can\s+not|won't|won’t|will\s+not|am\s+unable|'m\s+unable|’m\s+unable|am\s+not\s+able"
    r"|'m\s+not\s+able|must\s+decline|have\s+to\s+decline|decline|refuse|prefer\s+not|'d\s+rather\s+not|would\s+rather\s+not"
    r"|do\s+not\s+(?:have|hold|form|feel\s+comfortable)|don't\s+(?:have|hold|form|feel\s+comfortable)"
    r"|don’t\s+(?:have|hold|form|feel\s+comfortable)|am\s+not\s+comfortable|'m\s+not\s+comfortable"
    r"|am\s+not\s+in\s+a\s+position|'m\s+not\s+in\s+a\s+position)"
    r"|as\s+an?\s+(?:ai|artificial\s+intelligence|language\s+model|llm|assistant)"
    r"|i'?\s*'?m\s+(?:just\s+)?an?\s+(?:ai|language\s+model|assistant)"
    r"|i\s+am\s+(?:just\s+)?an?\s+(?:ai|language\s+model|assistant)"
    r"|(?:i'm|i\s+am|i’m)\s+sorry|i\s+apologi[sz]e|my\s+apologies"
    r"|not\s+(?:appropriate|able)\s+for\s+me|it(?:'s|\s+is)\s+not\s+(?:my\s+place|appropriate\s+for\s+me)"
    r"|no\s+personal\s+(?:opinions?|views?|beliefs?|preferences?)"
    r"|(?:can't|cannot|won't)\s+(?:provide|give|offer|share)\s+(?:a\s+)?(?:personal\s+)?(?:rating|opinion|answer|score)"
    r")",
    re.I,
)
# Numbers that are not answers: restated scales, denominators, item references, list markers in prose.
_SCALE_SPANS = [
    re.compile(
        r"(?:scale|range)\s*(?:of|from|between|is|:)?\s*(-?\d+)\s*(?:\([^)]*\)\s*)?(?:-|–|—|to|and|through)\s*(-?\d+)",
        re.I,
    ),
    re.compile(r"\bfrom\s+(-?\d+)\s*(?:\([^)]*\)\s*)?(?:-|–|—|to)\s*(-?\d+)", re.I),
    re.compile(r"\bbetween\s+(-?\d+)\s*(?:\([^)]*\)\s*)?and\s*(-?\d+)", re.I),
    re.compile(r"\(\s*(-?\d+)\s*(?:-|–|—|to)\s*(-?\d+)\s*\)"),
    re.compile(r"\b(-?\d+)\s*(?:-|–|—|to)\s*(-?\d+)[\s-]*(?:point\s+)?scale\b", re.I),
]
_DENOMINATOR = re.compile(r"(?:\bout\s+of|/)\s*(\d+)\b", re.I)
_ITEM_REF = re.compile(r"\b(?:item|question|statement|q|no\.|number|#)\s*#?\s*(\d+)\b", re.I)
_NUMBER = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?)(?![\w])|(?<=[a-z])(-?\d+)\b", re.I)
_LEADING = re.compile(
    r"^(?:[\s\"'`(\[{>#*_~.:]|-\s)*(?:(?:option|choice|answer|rating|score)\s*[:#]?\s*)?[\"'(\[]?\s*(-?\d+(?:\.\d+)?)(?![\w])",
    re.I,
)


def _strip_reasoning(text: str) -> tuple[str, bool]:
    """Remove reasoning blocks; the flag says an opened block was never closed."""
    text = _CHANNEL.sub(" ", text)
    text = _THINK_BLOCK.sub(" ", text)
    close = list(_THINK_CLOSE.finditer(text))
    if close:  # a closing tag without its opening tag: everything before it was reasoning
        text = text[close[-1].end() :]
    opened = _THINK_OPEN.search(text)
    if opened:
        return text[: opened.start()], True
    return text, False


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    text = text.replace("\u2212", "-").replace("\u2013", "–").replace("\u2014", "—")
    text = re.sub(r"```[a-zA-Z]*", " ", text)
    text = re.sub(r"\*\*|__|`", "", text)
    text = re.sub(r"(?<![\w])\*(?=\S)|(?<=\S)\*(?![\w])", "", text)
    text = re.sub(r"\$+", "", text)
    text = re.sub(r"\\(?:text|mathbf|textbf)\{([^}]*)\}", r"\1", text)
    return text.strip()


def _to_number(token: str) -> float:
    token = token.strip().lower()
    if token in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[token])
    return float(token)


def _judge(number: float, lo: int, hi: int, how: str) -> ParsedAnswer:
    if number != int(number):
        return ParsedAnswer("invalid", None, f"{how}: {number:g} is not a whole option", number)
    if not lo <= number <= hi:
        return ParsedAnswer("invalid", None, f"{how}: {number:g} is outside {lo}..{hi}", number)
    return ParsedAnswer("answered", int(number), how, number)


def _definitions(text: str, labels: Mapping[int, str] | None) -> list[tuple[int, int]]:
    """Spans of restated option definitions ("0 = not at all relevant"), when at least two are restated."""
    if not labels:
        return []
    spans: list[tuple[int, int]] = []
    for value, label in labels.items():
        phrase = re.escape(label.lower().strip()).replace(r"\ ", r"\s+")
        pattern = r"(?<![\w.-])" + str(value) + r"\s*(?:=|:|is|means|-|–|for|\()\s*[\"'(]?\s*" + phrase
        spans.extend(m.span() for m in re.finditer(pattern, text, re.I))
    return spans if len(spans) >= 2 else []


def _masked_spans(text: str, lo: int, hi: int, labels: Mapping[int, str] | None = None) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = _definitions(text, labels)
    for pattern in _SCALE_SPANS:
        spans.extend(m.span() for m in pattern.finditer(text))
    for m in _DENOMINATOR.finditer(text):
        spans.append(m.span(1))
    spans.extend(m.span() for m in _ITEM_REF.finditer(text))
    return spans


def _candidates(text: str, lo: int, hi: int, labels: Mapping[int, str] | None) -> list[tuple[int, float]]:
    spans = _masked_spans(text, lo, hi, labels)
    out = []
    for m in _NUMBER.finditer(text):
        token = m.group(1) or m.group(2)
        start = m.start(1) if m.group(1) else m.start(2)
        if any(a <= start < b for a, b in spans):
            continue
        out.append((start, float(token)))
    return out


def _label_values(text: str, labels: Mapping[int, str]) -> list[int]:
    """Options whose full label occurs in ``text`` (longest labels first; overlaps count once)."""
    lowered = text.lower()
    taken: list[tuple[int, int]] = []
    found = []
    for value, label in sorted(labels.items(), key=lambda kv: -len(kv[1])):
        phrase = re.escape(label.lower().strip()).replace(r"\ ", r"\s+")
        for m in re.finditer(r"(?<![a-z])" + phrase + r"(?![a-z])", lowered):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            taken.append(m.span())
            found.append(value)
    return found


def parse_answer(text: str | None, low: int, high: int, labels: Mapping[int, str] | None = None) -> ParsedAnswer:
    """Read one rating on the integer scale ``low..high`` out of a model's reply (see the module docs)."""
    if text is None or not text.strip():
        return ParsedAnswer("unparseable", None, "empty reply")
    body, unfinished = _strip_reasoning(text)
    body = _normalise(body)
    body = _WORD_OUT_OF.sub(lambda m: f"{_NUMBER_WORDS[m.group(1).lower()]} out of {m.group(2)}", body)
    if not body:
        reason = "reasoning never finished: no answer after it" if unfinished else "only reasoning, no answer"
        return ParsedAnswer("unparseable", None, reason)

    # 1. explicit answers: tags, \boxed{}, "Answer: 4", "I'd rate it 4" (the last one wins)
    explicit = [(m.start(1), m.group(1), m.end(1)) for m in _TAGGED.finditer(body)]
    explicit += [(m.start(1), m.group(1), m.end(1)) for m in _BOXED.finditer(body)]
    if not explicit:
        explicit = [(m.start(1), m.group(1), m.end(1)) for m in _MARKED.finditer(body)]
        explicit = [e for e in explicit if not _is_masked(body, e[0], low, high, labels)]
    if explicit:
        _, token, end = max(explicit)
        problem = _after_number(body[end:], high)
        if problem is not None:
            return problem
        return _judge(_to_number(token), low, high, "explicit answer")

    candidates = _candidates(body, low, high, labels)
    distinct = sorted({v for _, v in candidates})

    # 2. a leading number: "3: Very wrong", "4.", "(2) slightly", "4/5"
    lead = _LEADING.match(body)
    if lead and candidates and not _is_masked(body, lead.start(1), low, high, labels):
        problem = _after_number(body[lead.end() :], high)
        if problem is not None:
            return problem
        number = float(lead.group(1))
        result = _judge(number, low, high, "leading number")
        return _with_label_check(result, body, labels)

    # 3. the only number left
    if len(distinct) == 1:
        return _with_label_check(_judge(distinct[0], low, high, "single number"), body, labels)
    if len(distinct) > 1:
        listed = ", ".join(f"{v:g}" for v in distinct)
        return ParsedAnswer("unparseable", None, f"ambiguous: several numbers ({listed})")

    # 4. a number word standing alone ("Four.")
    alone = re.fullmatch(r"[\s\"'(\[]*(" + _WORD_ALT + r")[\s\"'.!)\]]*", body, re.I)
    if alone:
        return _judge(_to_number(alone.group(1)), low, high, "number word")

    # 5. a label ("Strongly agree", "Very relevant")
    if labels:
        values = sorted(set(_label_values(body, labels)))
        if len(values) == 1:
            return ParsedAnswer("answered", values[0], "label", float(values[0]))
        if len(values) > 1:
            return ParsedAnswer("unparseable", None, "ambiguous: several scale labels")

    # 6. refusal language
    if _REFUSAL.search(body):
        return ParsedAnswer("refused", None, "refusal")
    if unfinished:
        return ParsedAnswer("unparseable", None, "reasoning never finished: no answer after it")
    return ParsedAnswer("unparseable", None, "no rating found")


def _after_number(rest: str, high: int) -> ParsedAnswer | None:
    """What follows an answer may spoil it: a range ("3-4", "3 or 4") or another scale ("7/10")."""
    denominator = _DENOMINATOR.match(rest.lstrip())
    if denominator is not None:
        m = int(denominator.group(1))
        if m == high:
            return None
        if m > high:
            return ParsedAnswer("invalid", None, f"answered on another scale (out of {m})")
        return ParsedAnswer("unparseable", None, f"ambiguous: a fraction over {m}")
    if _RANGE_AFTER.match(rest):
        return ParsedAnswer("unparseable", None, "ambiguous: a range or alternatives")
    return None


def _is_masked(text: str, position: int, low: int, high: int, labels: Mapping[int, str] | None) -> bool:
    return any(a <= position < b for a, b in _masked_spans(text, low, high, labels))


def _with_label_check(result: ParsedAnswer, body: str, labels: Mapping[int, str] | None) -> ParsedAnswer:
    if result.status != "answered" or not labels:
        return result
    named = set(_label_values(body, labels))
    if named and result.value not in named:
        other = ", ".join(str(v) for v in sorted(named))
        return ParsedAnswer(
            "answered", result.value, f"{result.reason} (the label named says {other})", result.raw_number
        )
    return result
