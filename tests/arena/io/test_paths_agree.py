"""The vectorised JSONL reader and the line-by-line reference reader agree on tables and on errors."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.arena.io._helpers import assert_same_table, tables
from trustplane.arena import BattleTable
from trustplane.arena.io import ImportRowError, read_battles, write_battles
from trustplane.arena.io._jsonl import _read_reference

BAD_LINES = [
    {"model_a": "p", "model_b": "p", "outcome": "a"},
    {"model_a": "p", "outcome": "a"},
    {"model_a": "p", "model_b": "", "outcome": "a"},
    {"model_a": "p", "model_b": "q", "outcome": "A"},
    {"model_a": "p", "model_b": "q", "outcome": "a", "sampling_prob": 0},
    {"model_a": "p", "model_b": "q", "outcome": "a", "sampling_prob": 1.5, "timestamp": 1e308 * 10},
    {"model_a": "p", "model_b": "q", "outcome": "b", "timestamp": 1e400},
    {"model_a": "p", "model_b": "q", "outcome": "b", "timestamp": 10**400},
    {"model_a": "p", "model_b": "q", "outcome": "b", "timestamp": True},
    {"model_a": "p", "model_b": "q", "outcome": "b", "judge": 5},
    {"model_a": "p", "model_b": "q", "outcome": "b", "style": {"k": True}},
    {"model_a": "p", "model_b": "q", "outcome": "b", "extra": None},
]


@settings(max_examples=40, deadline=None)
@given(table=tables(), data=st.data())
def test_fast_and_reference_paths_agree(table: BattleTable, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "b.jsonl"
        write_battles(table, path)
        assert_same_table(_read_reference(path), read_battles(path))
        lines = path.read_text(encoding="utf-8").split("\n")[:-1]  # not splitlines: U+2028 etc. stay inside values
        bad = data.draw(st.sampled_from(BAD_LINES))
        at = data.draw(st.integers(0, len(lines)))
        blank = data.draw(st.integers(0, len(lines)))
        lines.insert(at, json.dumps(bad))
        lines.insert(blank, "  ")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with pytest.raises(ImportRowError) as fast:
            read_battles(path)
        with pytest.raises(ImportRowError) as ref:
            _read_reference(path)
        assert (fast.value.row, fast.value.field, fast.value.message) == (
            ref.value.row,
            ref.value.field,
            ref.value.message,
        )
        assert fast.value.row == at + 1 + (blank <= at)


# --- FastChat: column-at-a-time reader vs object-by-object reader ------------------------------------------
FC_OK = {"model_a": "x", "model_b": "y", "winner": "tie", "turn": 1, "anony": True, "tstamp": 5}
META = {
    "sum_assistant_a_tokens": 10,
    "sum_assistant_b_tokens": 3,
    "header_count_a": {"h1": 1, "h2": 0},
    "header_count_b": {"h1": 0, "h2": 2},
}
FC_UNUSUAL_BUT_VALID = [
    {**FC_OK, "conv_metadata": META},
    {**FC_OK, "conv_metadata": {**META, "header_count_a": 1}},  # int here, object elsewhere
    {**FC_OK, "question_id": 12, "style": {"x": 1}},
    {**FC_OK, "conversation_a": [{"role": "system", "content": "s"}, {"role": "user", "content": ["t", []]}]},
    {**FC_OK, "tstamp": 2**60, "sampling_prob": 1},
    {**FC_OK, "style": {"x": None, "y": 0.5}},
]
FC_BAD = [
    {**FC_OK, "model_b": "x"},
    {k: v for k, v in FC_OK.items() if k != "winner"},
    {**FC_OK, "winner": "bothbad"},
    {**FC_OK, "turn": "1"},
    {**FC_OK, "anony": 1},
    {**FC_OK, "tstamp": True},
    {**FC_OK, "question_id": 1.5},
    {**FC_OK, "conv_metadata": {**META, "header_count_b": {"h1": None}}},
    {**FC_OK, "conv_metadata": {**META, "sum_assistant_a_tokens": -1}},
    {**FC_OK, "conv_metadata": {"sum_assistant_a_tokens": 1}},
    {**FC_OK, "conv_metadata": META, "style": {"length": 0.1}},
    {**FC_OK, "conversation_b": [{"role": "assistant", "content": 3}]},
    {**FC_OK, "sampling_prob": 0},
    {**FC_OK, "style": {"": 1.0}},
    "not an object",
]


def _reference_read(path: Path) -> BattleTable:
    from trustplane.arena.io._arrow import Checker, build_table, plain_rows
    from trustplane.arena.io._fastchat import FILE_NAMES, reference_columns

    checker = Checker(path.name, "fastchat", plain_rows, FILE_NAMES)
    return build_table(reference_columns(json.loads(path.read_bytes()), checker), checker)


@settings(max_examples=40, deadline=None)
@given(table=tables(), data=st.data())
def test_fastchat_readers_agree(table: BattleTable, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "b.json"
        write_battles(table, path)
        assert_same_table(_reference_read(path), read_battles(path))
        objs = json.loads(path.read_text(encoding="utf-8"))
        extra = data.draw(st.lists(st.sampled_from(FC_UNUSUAL_BUT_VALID), max_size=3))
        objs[0:0] = extra
        path.write_text(json.dumps(objs), encoding="utf-8")
        assert_same_table(_reference_read(path), read_battles(path))
        at = data.draw(st.integers(0, len(objs)))
        objs.insert(at, data.draw(st.sampled_from(FC_BAD)))
        path.write_text(json.dumps(objs), encoding="utf-8")
        with pytest.raises(ImportRowError) as fast:
            read_battles(path)
        with pytest.raises(ImportRowError) as ref:
            _reference_read(path)
        assert (fast.value.row, fast.value.field, fast.value.message) == (
            ref.value.row,
            ref.value.field,
            ref.value.message,
        )
        assert fast.value.row == at + 1


def test_fastchat_fast_path_is_taken_for_clean_files(tmp_path: Path) -> None:
    from trustplane.arena.io._fastchat import fast_columns

    objs = [FC_UNUSUAL_BUT_VALID[0], {**FC_OK, "model_a": "y", "model_b": "x", "winner": "model_b"}]
    cols = fast_columns(objs)
    assert cols["outcome"].to_pylist() == ["tie", "b"]
    assert cols["style.length"].to_pylist()[0] == (10 - 3) / 14
