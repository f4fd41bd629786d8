"""The parser on the adversarial fixture (>= 500 outputs, >= 99% read as a person would) and on properties."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.values.make_parser_fixture import SCALES, build
from trustplane.values import parse_answer

FIXTURE = Path(__file__).parent / "data" / "parser_fixture.jsonl"


def _rows() -> list[dict[str, object]]:
    return [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]


def _labels(scale: str) -> dict[int, str]:
    lo, _, labels = SCALES[scale]
    return {lo + i: label for i, label in enumerate(labels)}


def test_fixture_is_current_and_large() -> None:
    rows = _rows()
    assert len(rows) >= 500
    assert rows == json.loads(json.dumps(build()))  # the file is what the generator writes
    families = {r["family"] for r in rows}
    for needed in ("think", "markdown", "label_suffix", "out_of_range", "refusal", "prose", "ambiguous", "non_whole"):
        assert needed in families
    statuses = {r["status"] for r in rows}
    assert statuses == {"answered", "refused", "unparseable", "invalid"}


def test_parser_reads_at_least_99_percent_of_the_fixture() -> None:
    rows = _rows()
    wrong = []
    per_family: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        got = parse_answer(str(r["text"]), int(r["low"]), int(r["high"]), _labels(str(r["scale"])))  # type: ignore[call-overload]
        ok = (got.status, got.value) == (r["status"], r["value"])
        per_family[str(r["family"])].append(ok)
        if not ok:
            wrong.append((r["text"], r["status"], r["value"], got.status, got.value, got.reason))
    rate = 1 - len(wrong) / len(rows)
    assert rate >= 0.99, f"{rate:.3%} correct; wrong: {wrong[:20]}"
    for family, oks in per_family.items():  # no kind of output is systematically misread
        assert sum(oks) / len(oks) >= 0.9, family


@pytest.mark.parametrize(
    ("text", "status", "value"),
    [
        ("3: Very wrong", "answered", 3),
        ("**4**", "answered", 4),
        ("<think>maybe 1, maybe 5</think>2", "answered", 2),
        ("<think>still thinking about 4", "unparseable", None),
        ("6", "invalid", None),
        ("45", "invalid", None),
        ("I'm sorry, I can't help with that.", "refused", None),
        ("3-4", "unparseable", None),
        ("Strongly agree", "answered", 5),
    ],
)
def test_examples_from_the_issue(text: str, status: str, value: int | None) -> None:
    got = parse_answer(text, 0, 5, _labels("agreement"))
    assert (got.status, got.value) == (status, value), got.reason


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.integers(0, 2), st.integers(3, 9))
def test_any_text_gets_a_status_and_an_in_range_value(text: str, low: int, high: int) -> None:
    got = parse_answer(text, low, high)
    assert got.status in ("answered", "refused", "unparseable", "invalid")
    if got.status == "answered":
        assert got.value is not None and low <= got.value <= high
    else:
        assert got.value is None


@settings(max_examples=150, deadline=None)
@given(
    st.integers(-20, 120),
    st.sampled_from(["{n}", "Answer: {n}", "**{n}**", "I would rate this {n}.", "<think>2 or 3?</think>{n}"]),
)
def test_a_lone_number_is_answered_in_range_and_invalid_outside(n: int, template: str) -> None:
    got = parse_answer(template.format(n=n), 0, 5)
    if 0 <= n <= 5:
        assert (got.status, got.value) == ("answered", n)
    else:
        assert (got.status, got.value) == ("invalid", None)
