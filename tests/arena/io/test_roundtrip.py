"""Every format reads back exactly what it wrote, byte-identically on rewrite."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from tests.arena.io._helpers import assert_same_table, normalised, tables
from trustplane.arena import BattleTable
from trustplane.arena.io import FORMATS, read_battles, write_battles

CASES = [
    ("csv", "b.csv"),
    ("jsonl", "b.jsonl"),
    ("parquet", "b.parquet"),
    ("fastchat", "b.json"),
    ("arena-hp", "b.csv"),
]


@pytest.mark.parametrize(("fmt", "name"), CASES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=tables())
def test_round_trip(fmt: str, name: str, table: BattleTable) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        write_battles(table, path, format=fmt)
        back = read_battles(path)  # detection included: .csv with a one-hot header reads as arena-hp
        assert_same_table(back, table)
        first = path.read_bytes()
        write_battles(back, path, format=fmt)
        second = path.read_bytes()
        if len(normalised(table)) == 3 + len(table.columns) + len(table.style):  # no all-missing column to drop
            assert second == first
        write_battles(read_battles(path, format=fmt), path, format=fmt)
        assert path.read_bytes() == second
        assert sorted(p.name for p in Path(tmp).iterdir()) == [name]  # no temporary file left behind


def test_all_formats_covered() -> None:
    assert sorted(f for f, _ in CASES) == sorted(FORMATS)


@pytest.mark.parametrize(("fmt", "name"), CASES)
def test_empty_table_round_trips(tmp_path: Path, fmt: str, name: str) -> None:
    empty = BattleTable.from_columns([], [], [])
    write_battles(empty, tmp_path / name, format=fmt)
    back = read_battles(tmp_path / name, format=fmt)
    assert len(back) == 0 and not back.columns and not back.style


@pytest.mark.parametrize(("fmt", "name"), CASES)
def test_same_seed_same_bytes(tmp_path: Path, fmt: str, name: str) -> None:
    def make(seed: int) -> BattleTable:
        rng = np.random.default_rng(seed)
        n = 500
        models = np.array([f"m{i}" for i in range(7)], dtype=object)
        a = rng.integers(0, 7, n)
        b = (a + rng.integers(1, 7, n)) % 7
        return BattleTable.from_columns(
            models[a],
            models[b],
            np.array(["a", "b", "tie", "both_bad"], dtype=object)[rng.integers(0, 4, n)],
            timestamp=1.7e9 + rng.random(n) * 1e6,
            sampling_prob=rng.uniform(0.01, 1.0, n),
            judge=[f"user{i}" for i in rng.integers(0, 50, n)],
            style={"length": rng.normal(size=n)},
        )

    write_battles(make(1), tmp_path / ("1" + name), format=fmt)
    write_battles(make(1), tmp_path / ("2" + name), format=fmt)
    write_battles(make(2), tmp_path / ("3" + name), format=fmt)
    assert (tmp_path / ("1" + name)).read_bytes() == (tmp_path / ("2" + name)).read_bytes()
    assert (tmp_path / ("1" + name)).read_bytes() != (tmp_path / ("3" + name)).read_bytes()
    assert_same_table(read_battles(tmp_path / ("1" + name), format=fmt), make(1))


def test_large_chunked_jsonl_round_trip(tmp_path: Path) -> None:
    """More rows than one write chunk and one read block: order and values survive."""
    n = 300_000
    rng = np.random.default_rng(0)
    models = np.array(["alpha", "beta", "gamma", "δelta"], dtype=object)
    a = rng.integers(0, 4, n)
    b = (a + rng.integers(1, 4, n)) % 4
    table = BattleTable.from_columns(
        models[a],
        models[b],
        np.array(["a", "b", "tie", "both_bad"], dtype=object)[rng.integers(0, 4, n)],
        battle_id=[f"id{i}" for i in range(n)],
        timestamp=np.where(rng.random(n) < 0.1, np.nan, rng.random(n) * 1e9),
    )
    write_battles(table, tmp_path / "big.jsonl")
    assert_same_table(read_battles(tmp_path / "big.jsonl"), table)
