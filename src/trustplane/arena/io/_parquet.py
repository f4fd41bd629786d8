"""Parquet in trustplane's own columns (as the CSV: ``model_a``, ``model_b``, ``outcome``, optional columns,
``style.<name>``), read with Arrow and checked column by column.

Text columns may be stored as strings or dictionaries of strings (integer ``battle_id`` and the like are printed);
number columns as any integer or float type, or as text that parses as numbers; a ``timestamp`` stored as an Arrow
timestamp becomes Unix seconds. Written with zstd compression; missing values are nulls.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]

from trustplane.arena._table import OPTIONAL_COLUMNS, BattleTable
from trustplane.arena.io._arrow import REQUIRED, STYLE_PREFIX, Checker, build_table, export_columns, plain_rows
from trustplane.arena.io._errors import BattleImportError
from trustplane.arena.io._files import atomic_output

FMT = "parquet"


def read_parquet(path: Path) -> BattleTable:
    """Read trustplane's own Parquet columns."""
    try:
        data = pq.read_table(path)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise BattleImportError(
            f"{path.name}: not a readable Parquet file ({exc}); nothing was imported", file=path.name, format=FMT
        ) from None
    names = list(data.column_names)
    for name in names:
        if names.count(name) > 1:
            raise BattleImportError(
                f"{path.name}: column {name!r} appears twice; nothing was imported", file=path.name, format=FMT
            )
    missing = [n for n in REQUIRED if n not in names]
    unknown = [
        n
        for n in names
        if n not in REQUIRED and n not in OPTIONAL_COLUMNS and not (n.startswith(STYLE_PREFIX) and len(n) > 6)
    ]
    if missing or unknown:
        what = "missing" if missing else "unknown"
        bad = missing or unknown
        raise BattleImportError(
            f"{path.name}: {what} column(s) {', '.join(map(repr, bad))}; nothing was imported",
            hint=f"columns: model_a, model_b, outcome, optionally {', '.join(OPTIONAL_COLUMNS)} and style.<feature>",
            file=path.name,
            format=FMT,
            field=bad[0],
        )
    return build_table({n: data.column(n) for n in names}, Checker(path.name, FMT, plain_rows))


def write_parquet(table: BattleTable, path: str | os.PathLike[str]) -> None:
    """Write trustplane's own Parquet columns."""
    name = Path(path).name
    columns = export_columns(table, file=name, fmt=FMT, style_field=lambda s: STYLE_PREFIX + s)
    with atomic_output(path, FMT) as tmp:
        pq.write_table(pa.table(columns), tmp, compression="zstd")
