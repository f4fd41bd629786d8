"""BattleTable: validation, records round trip, concatenation and the rating engine's arguments."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustplane.arena import OUTCOMES, BattleTable, BradleyTerry, InvalidBattleError

names = st.sampled_from(["gpt-x", "llama", "モデル", 'm,"q"', "z"])


@st.composite
def records(draw: st.DrawFn) -> list[dict[str, object]]:
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        a, b = draw(st.lists(names, min_size=2, max_size=2, unique=True))
        row: dict[str, object] = {"model_a": a, "model_b": b, "outcome": draw(st.sampled_from(OUTCOMES))}
        if draw(st.booleans()):
            row["sampling_prob"] = draw(st.floats(0.01, 1.0))
        if draw(st.booleans()):
            row["judge"] = draw(st.text(max_size=5))
        if draw(st.booleans()):
            row["style"] = {"length": draw(st.floats(-3, 3))}
        rows.append(row)
    return rows


@given(records())
@settings(max_examples=60, deadline=None)
def test_records_round_trip(rows: list[dict[str, object]]) -> None:
    table = BattleTable.from_records(rows)
    assert len(table) == len(rows)
    assert list(table.records()) == rows


def test_validation_names_the_row() -> None:
    with pytest.raises(InvalidBattleError, match="row 1"):
        BattleTable.from_columns(["a", "a"], ["b", "c"], ["a", "win"])
    with pytest.raises(InvalidBattleError, match="battles itself at row 0"):
        BattleTable.from_columns(["a"], ["a"], ["tie"])
    with pytest.raises(InvalidBattleError, match="outside"):
        BattleTable.from_columns(["a"], ["b"], ["tie"], sampling_prob=[1.5])
    with pytest.raises(InvalidBattleError, match="unknown battle column"):
        BattleTable.from_columns(["a"], ["b"], ["tie"], colour=["red"])
    with pytest.raises(InvalidBattleError, match="same length"):
        BattleTable.from_columns(["a"], ["b", "c"], ["tie"])
    with pytest.raises(InvalidBattleError, match="needs 'outcome'"):
        BattleTable.from_records([{"model_a": "a", "model_b": "b"}])


def test_concat_fills_missing_columns_and_take_selects() -> None:
    t1 = BattleTable.from_columns(["a"], ["b"], ["a"], sampling_prob=[0.5])
    t2 = BattleTable.from_columns(["b", "c"], ["c", "a"], ["tie", "b"], judge=["u1", "u2"])
    both = BattleTable.concat([t1, t2])
    assert len(both) == 3 and both.models == ["a", "b", "c"]
    assert np.isnan(both.columns["sampling_prob"][1]) and both.columns["judge"][0] is None
    assert list(both.take(np.array([2])).records()) == [{"model_a": "c", "model_b": "a", "outcome": "b", "judge": "u2"}]
    assert len(BattleTable.concat([])) == 0


def test_fit_arrays_feed_the_engine_with_propensities() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    a = rng.choice(["x", "y", "z"], n)
    b = np.where(a == "x", "y", np.where(a == "y", "z", "x"))
    outcome = rng.choice(["a", "b", "tie"], n, p=[0.5, 0.3, 0.2])
    p = rng.uniform(0.2, 1.0, n)
    table = BattleTable.from_columns(a, b, outcome, sampling_prob=p)
    args = table.fit_arrays()
    assert "sampling_prob" in args
    ours = BradleyTerry(ci=None).fit(**args).result_.as_dict()
    direct = BradleyTerry(ci=None).fit(a, b, outcome, sampling_prob=p).result_.as_dict()
    assert ours == pytest.approx(direct)
    unknown = BattleTable.from_columns(["x"], ["y"], ["a"], sampling_prob=[np.nan])
    assert "sampling_prob" not in unknown.fit_arrays()  # none logged: no weighting
    partial = BattleTable.from_columns(["x", "y"], ["y", "x"], ["a", "b"], sampling_prob=[0.5, np.nan])
    with pytest.raises(InvalidBattleError, match="missing for 1 of 2"):
        partial.fit_arrays()  # some logged, some not: never imputed silently
