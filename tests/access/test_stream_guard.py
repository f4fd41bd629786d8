"""Streaming fails closed: 10,000 adversarial streams, zero leaked characters of gated content.

Each case is an upstream answer built from benign filler and gated phrases (random case), streamed in
random chunks (down to one character, so phrases are split mid-word), with delayed onset and several
categories switching mid-answer, for callers with different entitlements, hold-back windows and check
steps. The ground truth is computed independently on the whole answer: every match of a taxonomy
phrase whose (category, band) the caller may not receive. No released character may fall inside one.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from trustplane.access import ASSURANCE_LEVELS, AccessEngine, Principal, StreamGuard, parse_taxonomy
from trustplane.access.classifiers import get_classifier
from trustplane.core.config import Settings

TAXONOMY_YAML = """\
version: 1
name: stream-test
domains:
  biological:
    description: bio
    grey: {description: g, requires: {assurance: substantial, attributes: [affiliation]}, keywords: [gain of function, viral vector]}
    prohibited: {description: p, requires: {assurance: high, attributes: [affiliation, "authorisation:biological"]}, keywords: [weaponise anthrax]}
  chemical:
    description: chem
    grey: {description: g, requires: {assurance: substantial, attributes: [affiliation]}, keywords: [nerve agent]}
    prohibited: {description: p, requires: {assurance: high, attributes: [affiliation, "authorisation:chemical"]}, keywords: [synthesise sarin]}
  cyber_offence:
    description: cyber
    grey: {description: g, requires: {assurance: low, attributes: [affiliation]}, keywords: [exploit chain]}
    prohibited: {description: p, requires: {assurance: high, attributes: [affiliation, "authorisation:cyber_offence"]}, keywords: [ransomware payload]}
"""
TAXONOMY = parse_taxonomy(TAXONOMY_YAML, source="stream-test")
RULES = TAXONOMY.keyword_rules()
PHRASES = [
    (cat_band.split("/")[0], cat_band.split("/")[1], re.sub(r"\\(.)", r"\1", p))
    for cat_band, patterns in RULES.items()
    for p in patterns
]
COMPILED = [
    (key.split("/")[0], key.split("/")[1], re.compile(p, re.IGNORECASE)) for key, ps in RULES.items() for p in ps
]
FILLER = [
    "the",
    "results",
    "were",
    "reviewed",
    "by",
    "the",
    "committee",
    "and",
    "the",
    "weather",
    "stayed",
    "mild",
    "while",
    "the",
    "team",
    "wrote",
    "their",
    "notes",
    "on",
    "the",
    "garden",
    "project",
    "about",
    "tomatoes",
    "and",
    "bees",
    "in",
    "spring",
    "gain",
    "function",
    "agent",
    "viral",
]
LONGEST = TAXONOMY.longest_keyword


def principal(level: str, *attributes: str) -> Principal:
    return Principal(
        id="p",
        method="oidc",
        subject="s",
        issuer="i",
        assurance=ASSURANCE_LEVELS.index(level),
        attributes=frozenset(attributes),
    )


CALLERS = [
    principal("none"),
    principal("substantial"),
    principal("substantial", "affiliation"),
    principal("high", "affiliation", "authorisation:biological"),
    principal("high", "affiliation", "authorisation:chemical", "authorisation:cyber_offence"),
]


def engine(window: int, step: int) -> AccessEngine:
    settings_ = Settings(
        home="unused", access_classifier="keyword", access_holdback_chars=window, access_check_chars=step
    )
    from trustplane.access import PolicyEngine, default_policy_text

    return AccessEngine(
        settings_,
        taxonomy=TAXONOMY,
        policy=PolicyEngine(default_policy_text(), TAXONOMY),
        classifier=get_classifier("keyword", rules=RULES),
    )


ENGINES = {(w, s): engine(w, s) for w in (LONGEST, LONGEST + 7, LONGEST + 40) for s in (1, 4, 13)}


@dataclass
class Case:
    text: str
    chunks: list[str]
    caller: Principal
    window: int
    step: int
    max_chunk: int


def _casing(rng: random.Random, phrase: str) -> str:
    mode = rng.randrange(3)
    if mode == 0:
        return phrase
    if mode == 1:
        return phrase.upper()
    return "".join(c.upper() if rng.random() < 0.5 else c for c in phrase)


def make_case(rng: random.Random) -> Case:
    parts: list[str] = []
    onset = rng.choice([0, 0, 5, 40, 150, 400])  # delayed onset: benign text before the first gated phrase
    words = 0
    while sum(len(p) + 1 for p in parts) < onset:
        parts.append(rng.choice(FILLER))
        words += 1
    phrase_starts: list[int] = []
    for _ in range(rng.choice([0, 1, 1, 2, 3])):  # category switches mid-answer
        phrase = _casing(rng, rng.choice(PHRASES)[2])
        phrase_starts.append(len(" ".join(parts)) + (1 if parts else 0))
        parts.append(phrase)
        for _ in range(rng.choice([0, 1, 4, 12, 30])):
            parts.append(rng.choice(FILLER))
    text = " ".join(parts) + rng.choice(["", ".", " and then nothing more."])
    max_chunk = rng.choice([1, 2, 3, 8, 20, 64])
    cuts = (
        sorted({rng.randrange(1, len(text)) for _ in range(len(text) // max(1, max_chunk // 2 + 1))})
        if len(text) > 1
        else []
    )
    if rng.random() < 0.5:  # split words: cut inside every gated phrase too
        cuts = sorted(set(cuts) | {s + rng.randrange(1, 6) for s in phrase_starts if s + 6 < len(text)})
    chunks, last = [], 0
    for cut in [*cuts, len(text)]:
        while cut - last > max_chunk:
            chunks.append(text[last : last + max_chunk])
            last += max_chunk
        if cut > last:
            chunks.append(text[last:cut])
            last = cut
    assert "".join(chunks) == text
    window, step = rng.choice(list(ENGINES))
    return Case(text, chunks, rng.choice(CALLERS), window, step, max(len(c) for c in chunks) if chunks else 1)


def forbidden_spans(case: Case, eng: AccessEngine) -> list[tuple[int, int, str]]:
    """Ground truth on the whole answer: spans of content the caller may not receive, with the action."""
    out = []
    for category, band, rx in COMPILED:
        action = eng.policy.decide(case.caller, category, band, "output").action  # type: ignore[arg-type]
        if action != "allow":
            out.extend((m.start(), m.end(), action) for m in rx.finditer(case.text))
    return out


def run(case: Case) -> tuple[int, int, bool]:
    """Stream the case through a guard; returns (leaked characters, released characters, stopped)."""
    eng = ENGINES[(case.window, case.step)]
    guard: StreamGuard = eng.guard(case.caller)
    events = []
    for piece in case.chunks:
        events += guard.feed(piece)
    events += guard.finish()
    spans = forbidden_spans(case, eng)
    released = [(e.offset, e.offset + len(e.text)) for e in events if e.kind == "text"]
    # Released text is the upstream's own text, in order.
    position = 0
    for (start, end), event in zip(released, [e for e in events if e.kind == "text"], strict=True):
        assert start >= position and case.text[start:end] == event.text
        position = end
    leaked = sum(max(0, min(end, b) - max(start, a)) for start, end in released for a, b, _ in spans)
    first_refusal = min((a for a, _, action in spans if action == "refuse"), default=None)
    if first_refusal is not None:
        assert guard.stopped and all(end <= first_refusal for _, end in released)
    if not guard.stopped:
        # Utility: what is far from anything forbidden gets through.
        reach = 2 * case.window + case.step + case.max_chunk
        covered = bytearray(len(case.text))
        for start, end in released:
            covered[start:end] = b"\x01" * (end - start)
        for i in range(len(case.text)):
            if all(i < a - reach or i >= b + reach for a, b, _ in spans):
                assert covered[i], f"benign character {i} far from gated content was withheld"
    return leaked, sum(end - start for start, end in released), guard.stopped


def test_ten_thousand_adversarial_streams_leak_nothing() -> None:
    rng = random.Random(20261129)
    totals = {"cases": 0, "leaked": 0, "released": 0, "stopped": 0, "gated": 0}
    for _ in range(10_000):
        case = make_case(rng)
        leaked, released, stopped = run(case)
        totals["cases"] += 1
        totals["leaked"] += leaked
        totals["released"] += released
        totals["stopped"] += stopped
        totals["gated"] += bool(forbidden_spans(case, ENGINES[(case.window, case.step)]))
    assert totals["cases"] == 10_000
    assert totals["leaked"] == 0, totals
    # The cases really are adversarial, and the guard is not simply silent.
    assert totals["gated"] > 4000 and totals["stopped"] > 500 and totals["released"] > 500_000, totals


def test_the_guard_is_what_prevents_leaks() -> None:
    """The same cases streamed without hold-back (window = check = one chunk) do leak: the test can fail."""
    rng = random.Random(7)
    eng = ENGINES[(LONGEST, 1)]
    leaked = 0
    for _ in range(300):
        case = make_case(rng)
        spans = forbidden_spans(case, eng)
        judge = eng.judge(case.caller)
        offset = 0
        for piece in case.chunks:  # classify each chunk alone and release it if allowed: the naive filter
            if judge(piece).action == "allow":
                leaked += sum(max(0, min(offset + len(piece), b) - max(offset, a)) for a, b, _ in spans)
            offset += len(piece)
    assert leaked > 0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(FILLER + [p for _, _, p in PHRASES] + ["", " ", "gain", " of ", "func"]), max_size=30),
    st.integers(min_value=1, max_value=16),
    st.sampled_from(CALLERS),
)
def test_property_any_chunking_of_any_answer(words: list[str], chunk: int, caller: Principal) -> None:
    text = " ".join(words)
    chunks = [text[i : i + chunk] for i in range(0, len(text), chunk)]
    case = Case(text, chunks, caller, LONGEST, 1, chunk)
    leaked, _, _ = run(case)
    assert leaked == 0


def test_split_phrase_is_caught_after_redaction_context() -> None:
    """A grey phrase split across a redaction boundary: its second half is suppressed too."""
    eng = ENGINES[(LONGEST, 1)]
    guard = eng.guard(principal("none"))
    text = "x" * 40 + " gain of function " + "y" * 80
    events = [e for piece in text for e in guard.feed(piece)] + guard.finish()
    released = "".join(e.text for e in events if e.kind == "text")
    assert "gain" not in released and "function" not in released
    assert [e.text for e in events if e.kind == "redacted"] == ["[redacted: biological/grey]"]
    assert released.startswith("x" * 5) and released.endswith("y" * 5)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(FILLER + [p for _, _, p in PHRASES]), max_size=60),
    st.sampled_from(list(ENGINES)),
    st.sampled_from(CALLERS),
)
def test_whole_answers_are_filtered_like_streams(words: list[str], key: tuple[int, int], caller: Principal) -> None:
    """Non-streamed answers classify every window in one batch; the result equals the incremental guard's."""
    eng = ENGINES[key]
    text = " ".join(words)
    batched, batched_guard = eng.filter_text(caller, text)
    guard = eng.guard(caller)
    size = max(eng.settings.access_check_chars, eng.settings.access_holdback_chars // 4)
    events = []
    for start in range(0, len(text), size):
        events += guard.feed(text[start : start + size])
    events += guard.finish()
    assert batched == "".join(e.text for e in events)
    assert batched_guard.stats.checks == guard.stats.checks and batched_guard.stopped == guard.stopped
