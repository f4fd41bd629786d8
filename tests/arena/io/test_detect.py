"""Format detection, explicit formats, missing files, unwritable destinations."""

from __future__ import annotations

from pathlib import Path

import pytest

from trustplane.arena import BattleTable
from trustplane.arena.io import (
    EXTENSIONS,
    FORMATS,
    BattleExportError,
    BattleFileNotFoundError,
    BattleImportError,
    UnknownFormatError,
    detect_format,
    read_battles,
    write_battles,
)
from trustplane.core.errors import InvalidInputError, NotFoundError

TABLE = BattleTable.from_columns(["x", "y"], ["y", "z"], ["a", "tie"])


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("b.csv", "csv"), ("b.CSV", "csv"), ("b.jsonl", "jsonl"), ("b.ndjson", "jsonl"), ("b.parquet", "parquet"),
     ("b.pq", "parquet"), ("clean_battle_20240814.json", "fastchat")],
)  # fmt: skip
def test_detection_by_extension(tmp_path: Path, name: str, fmt: str) -> None:
    assert detect_format(tmp_path / name) == fmt  # the file need not exist
    write_battles(TABLE, tmp_path / name)
    assert detect_format(tmp_path / name) == fmt
    assert read_battles(tmp_path / name).outcome.tolist() == ["a", "tie"]


def test_csv_header_decides_between_ours_and_arena_hp(tmp_path: Path) -> None:
    write_battles(TABLE, tmp_path / "ours.csv")
    write_battles(TABLE, tmp_path / "hp.csv", format="arena-hp")
    assert detect_format(tmp_path / "ours.csv") == "csv"
    assert detect_format(tmp_path / "hp.csv") == "arena-hp"
    assert read_battles(tmp_path / "hp.csv").outcome.tolist() == ["a", "tie"]


def test_explicit_format_wins_over_the_extension(tmp_path: Path) -> None:
    write_battles(TABLE, tmp_path / "battles.txt", format="jsonl")
    assert (tmp_path / "battles.txt").read_text().startswith('{"model_a":"x"')
    assert read_battles(tmp_path / "battles.txt", format="JSONL").model_a.tolist() == ["x", "y"]
    write_battles(TABLE, tmp_path / "hp.csv", format="arena-hp")
    with pytest.raises(BattleImportError, match="missing column") as err:
        read_battles(tmp_path / "hp.csv", format="csv")  # the header says otherwise, the caller wins
    assert err.value.extra["field"] == "outcome" and "arena-hp" in (err.value.hint or "")


def test_unknown_extension_and_unknown_format_list_the_formats(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("x")
    with pytest.raises(UnknownFormatError) as err:
        read_battles(tmp_path / "b.txt")
    assert err.value.code == "arena.unknown_format" and err.value.extra["formats"] == list(FORMATS)
    assert ".jsonl" in err.value.message
    with pytest.raises(UnknownFormatError, match="'xlsx'"):
        read_battles(tmp_path / "b.txt", format="xlsx")
    with pytest.raises(UnknownFormatError):
        write_battles(TABLE, tmp_path / "b.xlsx")
    assert not (tmp_path / "b.xlsx").exists()
    assert isinstance(err.value, InvalidInputError)


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(BattleFileNotFoundError) as err:
        read_battles(tmp_path / "nope.csv")
    assert isinstance(err.value, NotFoundError) and err.value.code == "arena.import_not_found"
    assert err.value.extra["file"] == "nope.csv" and str(tmp_path) not in err.value.message
    with pytest.raises(BattleFileNotFoundError, match="directory"):
        read_battles(tmp_path, format="csv")


def test_export_to_a_missing_directory_or_a_directory(tmp_path: Path) -> None:
    with pytest.raises(BattleExportError, match="does not exist"):
        write_battles(TABLE, tmp_path / "no" / "b.csv")
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(BattleExportError, match="directory"):
        write_battles(TABLE, tmp_path / "d.csv")


def test_every_extension_maps_to_a_format() -> None:
    assert set(EXTENSIONS.values()) <= set(FORMATS)
