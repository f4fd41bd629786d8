"""Exports that would not read back unchanged fail before anything is written; existing files stay untouched."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from trustplane.arena import BattleTable
from trustplane.arena.io import FORMATS, BattleExportError, read_battles, write_battles

SUFFIX = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet", "fastchat": ".json", "arena-hp": ".csv"}
GOOD = BattleTable.from_columns(["x", "y"], ["y", "z"], ["a", "b"])
BAD = [
    (BattleTable.from_columns(["x", None], ["y", "z"], ["a", "b"]), 2, "model_a", "model name is missing"),
    (BattleTable.from_columns(["x", "y"], ["y", ""], ["a", "b"]), 2, "model_b", "model name is missing"),
    (BattleTable.from_columns(["x", 3], ["y", "z"], ["a", "b"]), 2, "model_a", "not text"),
    (BattleTable.from_columns(["x", "y"], ["y", "z"], ["a", "b"], judge=["u", 7]), 2, "judge", "not text"),
    (BattleTable.from_columns(["x", "y"], ["y", "z"], ["a", "b"], timestamp=[1.0, math.inf]), 2, "timestamp", "finite"),
    (
        BattleTable.from_columns(["x", "y"], ["y", "z"], ["a", "b"], style={"len": [-math.inf, 0.0]}),
        1,
        "style.len",
        "finite",
    ),
]


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize(("table", "row", "field", "match"), BAD)
def test_unwritable_values_fail_and_leave_the_old_file(
    tmp_path: Path, fmt: str, table: BattleTable, row: int, field: str, match: str
) -> None:
    path = tmp_path / f"battles{SUFFIX[fmt]}"
    write_battles(GOOD, path, format=fmt)
    before = path.read_bytes()
    with pytest.raises(BattleExportError, match=match) as err:
        write_battles(table, path, format=fmt)
    assert err.value.code == "arena.invalid_export" and err.value.extra["row"] == row
    assert err.value.extra["field"] == field and err.value.extra["file"] == path.name
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_failure_while_writing_removes_the_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import trustplane.arena.io._csv as csv_module

    def boom(columns: object, tmp: Path) -> None:
        tmp.write_text("partial")
        raise OSError("disk full")

    monkeypatch.setattr(csv_module, "write_arrow_csv", boom)
    with pytest.raises(OSError, match="disk full"):
        write_battles(GOOD, tmp_path / "b.csv")
    assert list(tmp_path.iterdir()) == []


def test_not_a_table(tmp_path: Path) -> None:
    with pytest.raises(BattleExportError, match="BattleTable"):
        write_battles({"model_a": ["x"]}, tmp_path / "b.csv")  # type: ignore[arg-type]


def test_bom_and_crlf_csv(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfmodel_a,model_b,outcome,timestamp\r\nx,y,a,1.5\r\ny,z,tie,\r\n")
    table = read_battles(path)
    assert table.model_a.tolist() == ["x", "y"] and table.outcome.tolist() == ["a", "tie"]
    np.testing.assert_array_equal(table.columns["timestamp"], [1.5, np.nan])
