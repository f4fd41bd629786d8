"""The canonical-JSON fast path writes exactly the bytes of the RFC 8785 implementation."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from trustplane.core.errors import MalformedEntryError
from trustplane.core.log import canonical
from trustplane.core.log._entries import _plain

SAFE = 2**53 - 1
# Strings over the whole code space, control characters, quotes, backslashes and astral planes included.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12) | st.sampled_from(
    ["", '"', "\\", "\x00\x1f\x7f", "\u2028\u2029", "é😀𝄞", "\b\f\n\r\t", "</script>"]
)
KEYS = st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=8)
SCALARS = st.none() | st.booleans() | st.integers(-SAFE, SAFE) | TEXT
PLAIN = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=30,
)


@given(PLAIN)
def test_plain_values_match_rfc8785(value: Any) -> None:
    assert _plain(value)
    assert canonical(value) == rfc8785.dumps(value)


@given(st.dictionaries(TEXT, SCALARS, max_size=6))
def test_any_keys_match_rfc8785(value: dict[str, Any]) -> None:
    """Non-ASCII keys (whose UTF-16 order can differ from code-point order) take the general path."""
    assert canonical(value) == rfc8785.dumps(value)


@given(st.recursive(SCALARS | st.floats(allow_nan=False, allow_infinity=False), lambda i: st.lists(i, max_size=4)))
def test_floats_take_the_general_path(value: Any) -> None:
    assert canonical(value) == rfc8785.dumps(value)


def test_astral_keys_sort_by_utf16_code_units() -> None:
    value = {"\U0001f600": 1, "\ufb01": 2}  # code-point order and UTF-16 order disagree
    assert not _plain(value)
    assert canonical(value) == rfc8785.dumps(value) == '{"\U0001f600":1,"\ufb01":2}'.encode()


@pytest.mark.parametrize(
    "value",
    [{"big": 2**53}, {"x": [float("nan")]}, {"s": "lone \ud800 surrogate"}, {"o": object()}, {1: "non-string key"}],
)
def test_what_rfc8785_refuses_is_refused(value: Any) -> None:
    with pytest.raises(MalformedEntryError, match="canonicalisable"):
        canonical(value)


def test_subclasses_are_not_plain() -> None:
    class Tag(str):
        pass

    assert not _plain({"t": Tag("x")}) and not _plain({"n": 1.0}) and _plain({"n": 1})
