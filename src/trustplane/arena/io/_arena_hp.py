"""The arena-human-preference CSV schema (``id, model_a, model_b, prompt, response_a, response_b, winner_model_a,
winner_model_b, winner_tie``), read and written.

The winner is one-hot: exactly one of the three winner columns is 1. ``prompt``/``response_*`` cells may be
JSON-encoded lists of turns (``["first turn", "second turn"]``, ``null`` for a turn that failed); the turns are
joined with a blank line. Cells that are not such a list are taken verbatim. Written cells are always one-turn
JSON lists, so that text which happens to look like a JSON list survives a round trip.

Extensions (other readers ignore extra columns): a ``winner_tie_bothbad`` column, 1 where a tie was "both bad"
(``winner_tie`` is 1 there too), written only when the table has such battles; every other optional column
(``timestamp``, ``sampling_prob``, ``judge``, ``language``, ...) and ``style.<name>`` columns, under trustplane's
names. On reading, other columns are ignored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped,unused-ignore]

from trustplane.arena._table import OPTIONAL_COLUMNS, OUTCOMES, BattleTable
from trustplane.arena.io._arrow import (
    STYLE_PREFIX,
    Checker,
    build_table,
    constant,
    export_columns,
    field_order,
    number_column,
)
from trustplane.arena.io._csv import CsvRows, check_header, read_header, read_text_columns, write_arrow_csv
from trustplane.arena.io._errors import BattleImportError
from trustplane.arena.io._files import atomic_output

FMT = "arena-hp"
WINNERS: tuple[str, ...] = ("winner_model_a", "winner_model_b", "winner_tie")
BOTHBAD = "winner_tie_bothbad"
REQUIRED_HP: tuple[str, ...] = ("model_a", "model_b", *WINNERS)
TEXT_HP: tuple[str, ...] = ("prompt", "response_a", "response_b")
#: Optional table columns stored under their own names in an arena-hp file.
EXTENSION_COLUMNS: tuple[str, ...] = tuple(n for n in OPTIONAL_COLUMNS if n not in ("battle_id", *TEXT_HP))
#: The file's name for a table field, where it differs.
FILE_NAMES: dict[str, str] = {"battle_id": "id", "outcome": "winner"}


def decode_turns(cell: str | None) -> str | None:
    """A prompt/response cell as text: a JSON list of turns joined by a blank line (null turns dropped; all null
    or no turns → missing), anything else verbatim."""
    if cell is None:
        return None
    if cell.startswith("["):
        try:
            turns = json.loads(cell)
        except ValueError:
            return cell
        if isinstance(turns, list) and all(t is None or isinstance(t, str) for t in turns):
            kept = [t for t in turns if t is not None]
            return "\n\n".join(kept) if kept else None
    return cell


def _decode_column(col: Any) -> Any:
    return pa.array([decode_turns(v) for v in col.to_pylist()], type=pa.string())


def _not_binary(x: Any) -> Callable[[int], str]:
    return lambda i: f"{x[i].as_py():g} is not 0 or 1"


def read_arena_hp(path: Path) -> BattleTable:
    """Read an arena-human-preference CSV."""
    header = read_header(path, FMT)
    check_header(path, FMT, header)
    missing = [n for n in REQUIRED_HP if n not in header]
    if missing:
        raise BattleImportError(
            f"{path.name}: missing column(s) {', '.join(map(repr, missing))}; nothing was imported",
            hint="an arena-hp file has columns id, model_a, model_b, prompt, response_a, response_b, "
            "winner_model_a, winner_model_b, winner_tie",
            file=path.name,
            format=FMT,
            field=missing[0],
        )
    optional = [n for n in ("id", *TEXT_HP, BOTHBAD, *EXTENSION_COLUMNS) if n in header]
    styles = [n for n in header if n.startswith(STYLE_PREFIX) and len(n) > len(STYLE_PREFIX)]
    include = [n for n in header if n in REQUIRED_HP or n in optional or n in styles]
    data = read_text_columns(path, FMT, header, include)
    checker = Checker(path.name, FMT, CsvRows(path), FILE_NAMES)
    n = data.num_rows

    order = field_order("outcome")
    flags = {}
    for name in (*WINNERS, *([BOTHBAD] if BOTHBAD in header else [])):
        x = number_column(data.column(name), name, order, checker)
        if name != BOTHBAD:
            checker.flag(pc.is_null(x), order, name, constant(f"{name} is missing"), hint="write 0 or 1")
        checker.flag(
            pc.and_(pc.not_equal(x, 0.0), pc.not_equal(x, 1.0)),
            order,
            name,
            _not_binary(x),
            hint="the winner columns are one-hot: 0 or 1",
        )
        flags[name] = pc.fill_null(pc.equal(x, 1.0), False)
    outcome = pa.nulls(n, type=pa.string())
    if not checker.issues:
        ones = pc.add(
            pc.add(flags["winner_model_a"].cast(pa.int8()), flags["winner_model_b"].cast(pa.int8())),
            flags["winner_tie"].cast(pa.int8()),
        )
        checker.flag(
            pc.not_equal(ones, 1),
            order,
            "winner",
            lambda i: (
                "one-hot winner has "
                + ("no 1" if ones[i].as_py() == 0 else f"{ones[i].as_py()} ones")
                + " among winner_model_a, winner_model_b, winner_tie"
            ),
            hint="exactly one of winner_model_a, winner_model_b, winner_tie must be 1",
        )
        if BOTHBAD in flags:
            checker.flag(
                pc.and_(flags[BOTHBAD], pc.invert(flags["winner_tie"])),
                order,
                BOTHBAD,
                lambda i: "winner_tie_bothbad is 1 but winner_tie is not",
                hint="a 'both bad' battle is a tie: set winner_tie to 1 as well",
            )
        bothbad = flags.get(BOTHBAD, pa.array(np.zeros(n, dtype=bool)))
        code = np.full(n, OUTCOMES.index("tie"), dtype=np.int8)
        code[np.asarray(bothbad.to_numpy(zero_copy_only=False), dtype=bool)] = OUTCOMES.index("both_bad")
        code[np.asarray(flags["winner_model_b"].to_numpy(zero_copy_only=False), dtype=bool)] = OUTCOMES.index("b")
        code[np.asarray(flags["winner_model_a"].to_numpy(zero_copy_only=False), dtype=bool)] = OUTCOMES.index("a")
        outcome = pa.DictionaryArray.from_arrays(pa.array(code), pa.array(OUTCOMES, type=pa.string()))

    cols: dict[str, Any] = {"model_a": data.column("model_a"), "model_b": data.column("model_b"), "outcome": outcome}
    if "id" in header:
        cols["battle_id"] = data.column("id")
    for name in TEXT_HP:
        if name in header:
            cols[name] = _decode_column(data.column(name))
    for name in (*EXTENSION_COLUMNS, *styles):
        if name in header:
            cols[name] = data.column(name)
    return build_table(cols, checker, outcome_checked=True)


def _encode_turns(col: Any) -> Any:
    return pa.array([None if v is None else json.dumps([v], ensure_ascii=False) for v in col.to_pylist()], pa.string())


def write_arena_hp(table: BattleTable, path: str | os.PathLike[str]) -> None:
    """Write the arena-human-preference CSV schema (plus the documented extension columns)."""
    name = Path(path).name
    cols = export_columns(table, file=name, fmt=FMT, style_field=lambda s: STYLE_PREFIX + s)
    n = len(table)
    outcome = table.outcome
    out: dict[str, Any] = {"id": cols.get("battle_id", pa.nulls(n, pa.string()))}
    out["model_a"], out["model_b"] = cols["model_a"], cols["model_b"]
    for text in TEXT_HP:
        out[text] = _encode_turns(cols[text]) if text in cols else pa.nulls(n, pa.string())
    out["winner_model_a"] = pa.array((outcome == "a").astype(np.int64))
    out["winner_model_b"] = pa.array((outcome == "b").astype(np.int64))
    both_bad = outcome == "both_bad"
    out["winner_tie"] = pa.array(((outcome == "tie") | both_bad).astype(np.int64))
    if both_bad.any():
        out[BOTHBAD] = pa.array(both_bad.astype(np.int64))
    for key, values in cols.items():
        if key in EXTENSION_COLUMNS or key.startswith(STYLE_PREFIX):
            out[key] = values
    with atomic_output(path, FMT) as tmp:
        write_arrow_csv(out, tmp)
