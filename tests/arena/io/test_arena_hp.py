"""The arena-human-preference CSV: one-hot winners, JSON-encoded turns, extension columns."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.arena.io._helpers import assert_same_table
from trustplane.arena import BattleTable
from trustplane.arena.io import read_battles, write_battles

HEADER = [
    "id",
    "model_a",
    "model_b",
    "prompt",
    "response_a",
    "response_b",
    "winner_model_a",
    "winner_model_b",
    "winner_tie",
]


def _write(path: Path, rows: list[list[object]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_kaggle_style_file_reads_to_the_expected_table(tmp_path: Path) -> None:
    rows = [
        [
            30192,
            "gpt-4-1106-preview",
            "gpt-4-0613",
            json.dumps(["Is it morally right?"]),
            json.dumps(["It depends."]),
            json.dumps(["No."]),
            1,
            0,
            0,
        ],
        [
            53567,
            "koala-13b",
            "gpt-4-0613",
            json.dumps(["What is the difference", "and why?"]),
            json.dumps(["A", "B"]),
            json.dumps([None]),
            0,
            1,
            0,
        ],
        [
            65089,
            "gpt-3.5-turbo-0613",
            "mistral-medium",
            json.dumps(['explain\nfunction, "calling"']),
            json.dumps(["Sure – “quotes” ünïcode"]),
            json.dumps(["", None]),
            0,
            0,
            1,
        ],
        [96401, "llama-2-13b-chat", "mistral-7b-instruct", "plain text, not a list", "[not json", "[1, 2]", 0, 0, 1],
    ]
    path = _write(tmp_path / "train.csv", rows)
    table = read_battles(path)
    expected = BattleTable.from_columns(
        ["gpt-4-1106-preview", "koala-13b", "gpt-3.5-turbo-0613", "llama-2-13b-chat"],
        ["gpt-4-0613", "gpt-4-0613", "mistral-medium", "mistral-7b-instruct"],
        ["a", "b", "tie", "tie"],
        battle_id=["30192", "53567", "65089", "96401"],
        prompt=[
            "Is it morally right?",
            "What is the difference\n\nand why?",
            'explain\nfunction, "calling"',
            "plain text, not a list",
        ],
        response_a=["It depends.", "A\n\nB", "Sure – “quotes” ünïcode", "[not json"],
        response_b=["No.", None, "", "[1, 2]"],
    )
    assert_same_table(table, expected)


def test_both_bad_is_written_as_a_tie_plus_an_extension_flag(tmp_path: Path) -> None:
    table = BattleTable.from_columns(["x", "y"], ["y", "x"], ["both_bad", "tie"], prompt=['["looks like json"]', None])
    write_battles(table, tmp_path / "hp.csv", format="arena-hp")
    with (tmp_path / "hp.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["winner_model_a"], r["winner_model_b"], r["winner_tie"], r["winner_tie_bothbad"]) for r in rows] == [
        ("0", "0", "1", "1"),
        ("0", "0", "1", "0"),
    ]
    assert json.loads(rows[0]["prompt"]) == ['["looks like json"]']  # always a JSON list, so this survives
    assert_same_table(read_battles(tmp_path / "hp.csv"), table)


def test_no_both_bad_means_only_the_standard_winner_columns(tmp_path: Path) -> None:
    table = BattleTable.from_columns(["x"], ["y"], ["b"], battle_id=["7"], judge=["u"])
    write_battles(table, tmp_path / "hp.csv", format="arena-hp")
    header = (tmp_path / "hp.csv").read_text().splitlines()[0].replace('"', "").split(",")
    assert header == [*HEADER, "judge"]


def test_unknown_extra_columns_are_ignored_and_floats_for_one_hot_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.csv", [[1, "m1", "m2", "", "", "", "1.0", "0.0", "0", "whatever"]], [*HEADER, "notes"])
    table = read_battles(path)
    assert table.outcome.tolist() == ["a"] and "prompt" not in table.columns
