"""One test per kind of malformed row: the error names the file, the 1-based row and the field, and nothing is
returned. Where a file has several problems, the earliest row (then the leftmost field) is reported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trustplane.arena.io import BattleImportError, ImportRowError, read_battles
from trustplane.core.errors import InvalidInputError, to_cli_line, to_problem


def expect_row(
    path: Path, row: int, field: str | None, match: str, *, fmt: str | None = None, line: int | None = None
) -> ImportRowError:
    result: Any = "not set"
    with pytest.raises(ImportRowError) as err:
        result = read_battles(path, format=fmt)
    assert result == "not set"  # nothing was returned
    e = err.value
    assert isinstance(e, InvalidInputError) and e.code == "arena.invalid_import"
    assert (e.extra["row"], e.extra["field"], e.extra["file"]) == (row, field, path.name), e.message
    assert e.row == row and e.field == field
    assert match in e.message, e.message
    assert "nothing was imported" in e.message and path.name in e.message
    if line is not None:
        assert e.extra["line"] == line
    assert to_problem(e)["row"] == row and "\n" not in to_cli_line(e)
    return e


def csv_file(tmp_path: Path, text: str, name: str = "b.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- trustplane CSV -----------------------------------------------------------------------------------------
HEAD = "model_a,model_b,outcome,timestamp,sampling_prob\n"


def test_csv_missing_field(tmp_path: Path) -> None:
    p = csv_file(tmp_path, HEAD + "x,y,a,1,\ny,z,b,2,\nz,,tie,3,\n")
    expect_row(p, 3, "model_b", "model_b is missing", line=4)


def test_csv_quoted_empty_model_is_missing_too(tmp_path: Path) -> None:
    expect_row(csv_file(tmp_path, HEAD + '"",y,a,,\n'), 1, "model_a", "missing")


def test_csv_unknown_outcome(tmp_path: Path) -> None:
    e = expect_row(csv_file(tmp_path, HEAD + "x,y,a,,\ny,z,model_a,,\n"), 2, "outcome", "unknown outcome 'model_a'")
    assert "both_bad" in (e.hint or "")


def test_csv_model_battles_itself(tmp_path: Path) -> None:
    expect_row(csv_file(tmp_path, HEAD + "x,y,a,,\nx,y,b,,\nq,q,tie,,\n"), 3, "model_b", "'q' battles itself")


def test_csv_non_numeric_timestamp(tmp_path: Path) -> None:
    expect_row(
        csv_file(tmp_path, HEAD + "x,y,a,1.5,\ny,z,b,yesterday,\n"), 2, "timestamp", "'yesterday' is not a number"
    )


def test_csv_non_finite_timestamp(tmp_path: Path) -> None:
    expect_row(csv_file(tmp_path, HEAD + "x,y,a,inf,\n"), 1, "timestamp", "not a finite number")


@pytest.mark.parametrize("p", ["0", "1.5", "-0.2"])
def test_csv_sampling_prob_outside_unit_interval(tmp_path: Path, p: str) -> None:
    expect_row(csv_file(tmp_path, HEAD + f"x,y,a,,1\ny,z,b,,{p}\n"), 2, "sampling_prob", "outside (0, 1]")


def test_csv_wrong_number_of_fields_reports_row_and_physical_line(tmp_path: Path) -> None:
    text = 'model_a,model_b,outcome,prompt\nx,y,a,"two\nlines"\n\ny,z,b,ok\nz,x,tie\n'
    expect_row(csv_file(tmp_path, text), 3, None, "expected 4 fields", line=6)


def test_csv_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes(b"model_a,model_b,outcome\nx,y,a\n\xff\xfe,y,b\n")
    expect_row(path, 2, None, "UTF-8")


def test_csv_earliest_row_then_leftmost_field_wins(tmp_path: Path) -> None:
    text = HEAD + "x,y,a,1,1\ny,z,nope,later,2\nz,z,b,,\n"
    expect_row(csv_file(tmp_path, text), 2, "outcome", "unknown outcome")  # row 2 has outcome, timestamp, prob wrong


def test_csv_file_level_problems(tmp_path: Path) -> None:
    with pytest.raises(BattleImportError, match="unknown column") as err:
        read_battles(csv_file(tmp_path, "model_a,model_b,outcome,winner\nx,y,a,b\n"))
    assert err.value.extra["field"] == "winner" and not isinstance(err.value, ImportRowError)
    with pytest.raises(BattleImportError, match="empty"):
        read_battles(csv_file(tmp_path, ""))
    with pytest.raises(BattleImportError, match="twice"):
        read_battles(csv_file(tmp_path, "model_a,model_b,outcome,judge,judge\n"))


# --- JSON Lines ---------------------------------------------------------------------------------------------
def jsonl(tmp_path: Path, lines: list[Any]) -> Path:
    path = tmp_path / "b.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


OK = {"model_a": "x", "model_b": "y", "outcome": "a"}


def test_jsonl_bad_json_line(tmp_path: Path) -> None:
    expect_row(jsonl(tmp_path, [OK, OK, '{"model_a": "x", "model_b": }', OK]), 3, None, "not valid JSON")


def test_jsonl_missing_field(tmp_path: Path) -> None:
    expect_row(jsonl(tmp_path, [OK, {"model_a": "x", "outcome": "b"}]), 2, "model_b", "model_b is missing")


def test_jsonl_unknown_outcome(tmp_path: Path) -> None:
    expect_row(jsonl(tmp_path, [OK, {**OK, "outcome": "tie (bothbad)"}]), 2, "outcome", "unknown outcome")


def test_jsonl_model_battles_itself(tmp_path: Path) -> None:
    expect_row(jsonl(tmp_path, [OK, OK, {**OK, "model_b": "x"}]), 3, "model_b", "battles itself")


def test_jsonl_non_numeric_timestamp(tmp_path: Path) -> None:
    expect_row(
        jsonl(tmp_path, [{**OK, "timestamp": 1.0}, {**OK, "timestamp": "noon"}]), 2, "timestamp", "expected a number"
    )


def test_jsonl_nan_timestamp(tmp_path: Path) -> None:
    expect_row(
        jsonl(tmp_path, [OK, '{"model_a":"x","model_b":"y","outcome":"a","timestamp":NaN}']), 2, "timestamp", "finite"
    )


def test_jsonl_sampling_prob_outside_unit_interval(tmp_path: Path) -> None:
    expect_row(
        jsonl(tmp_path, [{**OK, "sampling_prob": 0.5}, {**OK, "sampling_prob": 1.01}]), 2, "sampling_prob", "outside"
    )


def test_jsonl_rows_are_physical_lines_even_with_blank_lines(tmp_path: Path) -> None:
    expect_row(jsonl(tmp_path, [OK, "", "   ", OK, {**OK, "outcome": "?"}]), 5, "outcome", "unknown outcome")


def test_jsonl_unknown_field_wrong_types_and_non_objects(tmp_path: Path) -> None:
    expect_row(jsonl(tmp_path, [OK, {**OK, "winner": "a"}]), 2, "winner", "unknown field")
    expect_row(jsonl(tmp_path, [OK, {**OK, "judge": 12}]), 2, "judge", "expected text")
    expect_row(jsonl(tmp_path, [{**OK, "style": {"length": "long"}}]), 1, "style.length", "expected a number")
    expect_row(jsonl(tmp_path, [{**OK, "style": {"length": True}}]), 1, "style.length", "expected a number")
    expect_row(jsonl(tmp_path, [OK, [1, 2]]), 2, None, "expected a JSON object")


def test_jsonl_earliest_problem_wins_across_the_fast_and_reference_paths(tmp_path: Path) -> None:
    # a bad value on line 2 comes before a syntax error on line 4 ...
    expect_row(jsonl(tmp_path, [OK, {**OK, "model_b": "x"}, OK, "{oops"]), 2, "model_b", "battles itself")
    # ... and a syntax error on line 2 before a bad value on line 4
    expect_row(jsonl(tmp_path, [OK, "{oops", OK, {**OK, "model_b": "x"}]), 2, None, "not valid JSON")


# --- Parquet ------------------------------------------------------------------------------------------------
def parquet(tmp_path: Path, **cols: Any) -> Path:
    path = tmp_path / "b.parquet"
    pq.write_table(pa.table(cols), path)
    return path


def test_parquet_missing_field(tmp_path: Path) -> None:
    expect_row(
        parquet(tmp_path, model_a=["x", "y", None], model_b=["y", "z", "x"], outcome=["a"] * 3), 3, "model_a", "missing"
    )


def test_parquet_text_timestamp_and_self_battle(tmp_path: Path) -> None:
    p = parquet(tmp_path, model_a=["x", "y"], model_b=["y", "z"], outcome=["a", "b"], timestamp=["1.5", "soon"])
    expect_row(p, 2, "timestamp", "'soon' is not a number")
    p = parquet(tmp_path, model_a=["x", "y"], model_b=["y", "y"], outcome=["a", "b"])
    expect_row(p, 2, "model_b", "battles itself")


def test_parquet_sampling_prob_and_outcome(tmp_path: Path) -> None:
    p = parquet(tmp_path, model_a=["x", "y"], model_b=["y", "z"], outcome=["a", "b"], sampling_prob=[1.0, 0.0])
    expect_row(p, 2, "sampling_prob", "outside (0, 1]")
    p = parquet(tmp_path, model_a=["x", "y"], model_b=["y", "z"], outcome=["a", "A"])
    expect_row(p, 2, "outcome", "unknown outcome 'A'")


def test_parquet_types_and_columns_are_file_level(tmp_path: Path) -> None:
    with pytest.raises(BattleImportError, match="not text"):
        read_battles(parquet(tmp_path, model_a=[1], model_b=["y"], outcome=["a"]))
    with pytest.raises(BattleImportError, match="unknown column"):
        read_battles(parquet(tmp_path, model_a=["x"], model_b=["y"], outcome=["a"], style=[1.0]))
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(BattleImportError, match="not a readable Parquet file"):
        read_battles(tmp_path / "junk.parquet")


def test_parquet_integer_ids_and_arrow_timestamps_are_converted(tmp_path: Path) -> None:
    ts = pa.array([0, 1_500_000], type=pa.timestamp("ms"))
    p = parquet(tmp_path, model_a=["x", "y"], model_b=["y", "z"], outcome=["a", "b"], battle_id=[7, 8], timestamp=ts)
    table = read_battles(p)
    assert table.column("battle_id").tolist() == ["7", "8"]
    assert table.column("timestamp").tolist() == [0.0, 1500.0]


# --- FastChat -----------------------------------------------------------------------------------------------
FC = {"model_a": "x", "model_b": "y", "winner": "model_a", "turn": 1, "anony": True, "tstamp": 1.0}


def fastchat(tmp_path: Path, objs: Any) -> Path:
    path = tmp_path / "clean_battle.json"
    path.write_text(json.dumps(objs, indent=2))
    return path


def test_fastchat_missing_winner(tmp_path: Path) -> None:
    expect_row(fastchat(tmp_path, [FC, FC, {k: v for k, v in FC.items() if k != "winner"}]), 3, "winner", "missing")


def test_fastchat_unknown_winner_label(tmp_path: Path) -> None:
    e = expect_row(fastchat(tmp_path, [FC, {**FC, "winner": "a"}]), 2, "winner", "unknown winner label 'a'")
    assert "tie (bothbad)" in (e.hint or "")


@pytest.mark.parametrize(
    ("change", "field", "match"),
    [
        ({"model_a": 3}, "model_a", "expected text"),
        ({"turn": "1"}, "turn", "expected an integer"),
        ({"anony": "yes"}, "anony", "expected true or false"),
        ({"tstamp": "noon"}, "tstamp", "expected a number"),
        ({"judge": ["u"]}, "judge", "expected text"),
        ({"question_id": 1.5}, "question_id", "expected text"),
        ({"conversation_a": "hi"}, "conversation_a", "array of turns"),
        ({"conversation_b": [{"role": "user", "content": 5}]}, "conversation_b[0].content", "expected text"),
        (
            {"conv_metadata": {"header_count_a": {"h1": "2"}, "header_count_b": 0}},
            "conv_metadata.header_count_a",
            "count",
        ),
        ({"conv_metadata": {"bold_count_a": 1}}, "conv_metadata.bold_count_b", "missing"),
        ({"conv_metadata": [1]}, "conv_metadata", "expected an object"),
    ],
)
def test_fastchat_wrong_types(tmp_path: Path, change: dict[str, Any], field: str, match: str) -> None:
    expect_row(fastchat(tmp_path, [FC, FC, {**FC, **change}]), 3, field, match)


def test_fastchat_self_battle_missing_model_and_bad_values(tmp_path: Path) -> None:
    expect_row(fastchat(tmp_path, [FC, {**FC, "model_b": "x"}]), 2, "model_b", "battles itself")
    expect_row(fastchat(tmp_path, [{**FC, "model_a": None}]), 1, "model_a", "missing")
    expect_row(fastchat(tmp_path, [FC, {**FC, "sampling_prob": 2}]), 2, "sampling_prob", "outside")
    # the value problem in element 2 is reported before the type problem in element 3
    expect_row(fastchat(tmp_path, [FC, {**FC, "model_b": "x"}, {**FC, "turn": "x"}]), 2, "model_b", "itself")


def test_fastchat_file_level_problems(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('[{"model_a": "x",\n "model_b": }]')
    with pytest.raises(BattleImportError, match="line 2"):
        read_battles(path)
    with pytest.raises(BattleImportError, match="JSON array"):
        read_battles(fastchat(tmp_path, {"model_a": "x"}))
    expect_row(fastchat(tmp_path, [FC, "x"]), 2, None, "expected a battle object")


# --- arena-hp -----------------------------------------------------------------------------------------------
HP = "id,model_a,model_b,prompt,response_a,response_b,winner_model_a,winner_model_b,winner_tie\n"


@pytest.mark.parametrize(
    ("winners", "field", "match"),
    [
        ("0,0,0", "winner", "no 1"),
        ("1,0,1", "winner", "2 ones"),
        ("0,2,0", "winner_model_b", "2 is not 0 or 1"),
        ("0,,1", "winner_model_b", "winner_model_b is missing"),
        ("0,0,yes", "winner_tie", "'yes' is not a number"),
    ],
)
def test_arena_hp_one_hot_winner(tmp_path: Path, winners: str, field: str, match: str) -> None:
    text = HP + '1,x,y,"[""hi""]",,,1,0,0\n' + f"2,y,z,,,,{winners}\n"
    expect_row(csv_file(tmp_path, text, "train.csv"), 2, field, match)


def test_arena_hp_models(tmp_path: Path) -> None:
    expect_row(csv_file(tmp_path, HP + "1,x,x,,,,1,0,0\n", "t.csv"), 1, "model_b", "battles itself")
    expect_row(csv_file(tmp_path, HP + "1,,x,,,,1,0,0\n", "t.csv"), 1, "model_a", "missing")


def test_arena_hp_bothbad_flag_needs_a_tie(tmp_path: Path) -> None:
    text = HP.replace("winner_tie\n", "winner_tie,winner_tie_bothbad\n") + "1,x,y,,,,1,0,0,1\n"
    expect_row(csv_file(tmp_path, text, "t.csv"), 1, "winner_tie_bothbad", "winner_tie is not")


def test_arena_hp_missing_winner_column(tmp_path: Path) -> None:
    with pytest.raises(BattleImportError, match="winner_tie"):
        read_battles(
            csv_file(tmp_path, "id,model_a,model_b,winner_model_a,winner_model_b\n", "t.csv"), format="arena-hp"
        )


def test_csv_long_fields_do_not_hide_the_row(tmp_path: Path) -> None:
    long = "x" * 300_000  # beyond the csv module's default field limit
    text = f'model_a,model_b,outcome,prompt\nx,y,a,"{long}"\ny,z,b\n'
    expect_row(csv_file(tmp_path, text), 2, None, "expected 4 fields", line=3)
    ok = csv_file(tmp_path, f'model_a,model_b,outcome,prompt\nx,y,a,"{long}"\n', "ok.csv")
    assert read_battles(ok).columns["prompt"][0] == long
