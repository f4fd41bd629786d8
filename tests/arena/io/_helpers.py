"""Random battle tables for property tests, and table equality up to "an all-missing column is no column"."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import strategies as st

from trustplane.arena import OPTIONAL_COLUMNS, OUTCOMES, BattleTable

# Any unicode text except surrogates; commas, quotes, line breaks and the empty string included.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
NAMES = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12)
FINITE = st.floats(allow_nan=False, allow_infinity=False)
PROB = st.floats(min_value=0.0, max_value=1.0, exclude_min=True)


@st.composite
def tables(draw: st.DrawFn, max_rows: int = 12, *, style: bool = True) -> BattleTable:
    """A random valid table: unicode names, missing optional values, style features."""
    n = draw(st.integers(0, max_rows))
    names = draw(st.lists(NAMES, min_size=2, max_size=6, unique=True))
    a_idx = draw(st.lists(st.integers(0, len(names) - 1), min_size=n, max_size=n))
    shift = draw(st.lists(st.integers(1, len(names) - 1), min_size=n, max_size=n))
    model_a = [names[i] for i in a_idx]
    model_b = [names[(i + s) % len(names)] for i, s in zip(a_idx, shift, strict=True)]
    outcome = draw(st.lists(st.sampled_from(OUTCOMES), min_size=n, max_size=n))
    present = draw(st.sets(st.sampled_from(list(OPTIONAL_COLUMNS))))
    columns: dict[str, Any] = {}
    for name in sorted(present):
        if OPTIONAL_COLUMNS[name] == "float":
            values = PROB if name == "sampling_prob" else FINITE
            columns[name] = draw(st.lists(st.one_of(st.just(math.nan), values), min_size=n, max_size=n))
        else:
            columns[name] = draw(st.lists(st.one_of(st.none(), TEXT), min_size=n, max_size=n))
    features: dict[str, list[float]] = {}
    if style:
        for name in draw(st.sets(NAMES, max_size=3)):
            features[name] = draw(st.lists(st.one_of(st.just(math.nan), FINITE), min_size=n, max_size=n))
    return BattleTable.from_columns(model_a, model_b, outcome, style=features, **columns)


def _known(values: np.ndarray, kind: str) -> bool:
    if kind == "float":
        return bool((~np.isnan(np.asarray(values, dtype=np.float64))).any())
    return any(v is not None for v in values)


def normalised(table: BattleTable) -> dict[str, Any]:
    """A plain-data view of a table in which all-missing optional and style columns are left out."""
    out: dict[str, Any] = {
        "model_a": list(table.model_a),
        "model_b": list(table.model_b),
        "outcome": list(table.outcome),
    }
    for name, values in table.columns.items():
        kind = OPTIONAL_COLUMNS[name]
        if _known(values, kind):
            out[name] = [float(v) for v in values] if kind == "float" else list(values)
    for name, values in table.style.items():
        if _known(values, "float"):
            out["style." + name] = [float(v) for v in values]
    return out


def assert_same_table(actual: BattleTable, expected: BattleTable) -> None:
    """Equal columns, values and missing values (NaN equals NaN; -0.0 equals 0.0)."""
    got, want = normalised(actual), normalised(expected)
    assert sorted(got) == sorted(want)
    for key, values in want.items():
        if (key in OPTIONAL_COLUMNS and OPTIONAL_COLUMNS[key] == "float") or key.startswith("style."):
            np.testing.assert_array_equal(np.asarray(got[key]), np.asarray(values), err_msg=key)
        else:
            assert got[key] == values, key
    for name, values in actual.columns.items():
        assert len(values) == len(actual)
        if OPTIONAL_COLUMNS[name] == "str":
            assert all(v is None or isinstance(v, str) for v in values)
    assert all(isinstance(v, str) for v in actual.model_a)
