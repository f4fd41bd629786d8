"""CSV in trustplane's own columns, plus the CSV plumbing the arena-hp format shares.

Columns: ``model_a``, ``model_b``, ``outcome``, any optional :data:`OPTIONAL_COLUMNS`, and ``style.<name>`` per style
feature. Every text value is quoted when written; an unquoted empty cell is a missing value, a quoted empty cell
(``""``) is the empty string. Reading is Arrow's multithreaded CSV parser with every column read as text and
then checked and converted column by column; the Python ``csv`` module only runs after a failure, to find the
row and line of a structural error (a row with the wrong number of fields, invalid UTF-8).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
import pyarrow.csv as pacsv  # type: ignore[import-untyped,unused-ignore]

from trustplane.arena._table import OPTIONAL_COLUMNS, BattleTable
from trustplane.arena.io._arrow import REQUIRED, STYLE_PREFIX, Checker, build_table, export_columns
from trustplane.arena.io._errors import BattleImportError, ImportRowError
from trustplane.arena.io._files import atomic_output

_FIELD_LIMIT = 2**31 - 1
_BLOCK_SIZE = 1 << 24


def _lift_field_limit() -> None:
    """Let the csv module read fields as long as Arrow does (prompts and responses can exceed its 128 KiB default).

    The limit is process-wide; it is only ever raised, never lowered again, so concurrent readers can't race.
    """
    if csv.field_size_limit() < _FIELD_LIMIT:
        csv.field_size_limit(_FIELD_LIMIT)


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, fields) of every non-blank record, header included; invalid UTF-8 kept escaped."""
    _lift_field_limit()
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
        reader = csv.reader(fh, strict=False)
        start = 1
        for fields in reader:
            if fields:
                yield start, fields
            start = reader.line_num + 1


def read_header(path: Path, fmt: str) -> list[str]:
    """The header row's names; a file without one is a :class:`BattleImportError`."""
    try:
        for _, fields in _records(path):
            return fields
    except csv.Error as exc:
        raise BattleImportError(
            f"{path.name}: the header row cannot be parsed ({exc}); nothing was imported", file=path.name, format=fmt
        ) from None
    raise BattleImportError(
        f"{path.name}: the file is empty (no header row); nothing was imported",
        hint="the first line must name the columns",
        file=path.name,
        format=fmt,
    )


class CsvRows:
    """Maps an index into the parsed rows to the 1-based data row and the physical line it starts on."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, index: int) -> tuple[int, dict[str, Any]]:
        for k, (line, _) in enumerate(_records(self.path)):
            if k == index + 1:  # record 0 is the header
                return index + 1, {"line": line}
        return index + 1, {}


def _structural_error(path: Path, fmt: str, n_fields: int, arrow_message: str) -> BattleImportError:
    """After Arrow failed to parse: the first row with the wrong number of fields or invalid UTF-8."""
    try:
        for k, (line, fields) in enumerate(_records(path)):
            bad_utf8 = next((f for f in fields if any("\udc80" <= ch <= "\udcff" for ch in f)), None)
            if bad_utf8 is not None:
                return ImportRowError(
                    "the row is not valid UTF-8 text",
                    file=path.name,
                    format=fmt,
                    row=k,
                    field=None,
                    line=line,
                    hint="save the file as UTF-8",
                )
            if k and len(fields) != n_fields:
                return ImportRowError(
                    f"expected {n_fields} fields as in the header, found {len(fields)}",
                    file=path.name,
                    format=fmt,
                    row=k,
                    field=None,
                    line=line,
                    hint="quote values that contain commas, quotes or line breaks",
                )
    except csv.Error as exc:
        return BattleImportError(f"{path.name}: {exc}; nothing was imported", file=path.name, format=fmt)
    return BattleImportError(
        f"{path.name}: cannot parse the CSV ({arrow_message}); nothing was imported", file=path.name, format=fmt
    )


def read_text_columns(path: Path, fmt: str, header: list[str], include: list[str]) -> Any:
    """Arrow table of the ``include`` columns, every one as text (unquoted empty cells are nulls)."""
    options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in include},
        include_columns=include,
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    try:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=_BLOCK_SIZE),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=options,
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise _structural_error(path, fmt, len(header), str(exc)) from None


def check_header(path: Path, fmt: str, header: list[str]) -> None:
    """Column names must be unique."""
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise BattleImportError(
                f"{path.name}: column {name!r} appears twice; nothing was imported",
                file=path.name,
                format=fmt,
                field=name,
            )
        seen.add(name)


def _known_columns(header: list[str]) -> tuple[list[str], list[str]]:
    known, unknown = [], []
    for name in header:
        if name in REQUIRED or name in OPTIONAL_COLUMNS or (name.startswith(STYLE_PREFIX) and len(name) > 6):
            known.append(name)
        else:
            unknown.append(name)
    return known, unknown


def read_csv(path: Path) -> BattleTable:
    """Read trustplane's own CSV columns."""
    fmt = "csv"
    header = read_header(path, fmt)
    check_header(path, fmt, header)
    missing = [n for n in REQUIRED if n not in header]
    if missing:
        hint = "use one row per battle with columns model_a, model_b, outcome"
        if "winner_model_a" in header:
            hint = "this looks like an arena-hp file: read it with format='arena-hp'"
        raise BattleImportError(
            f"{path.name}: missing column(s) {', '.join(map(repr, missing))}; nothing was imported",
            hint=hint,
            file=path.name,
            format=fmt,
            field=missing[0],
        )
    _, unknown = _known_columns(header)
    if unknown:
        raise BattleImportError(
            f"{path.name}: unknown column(s) {', '.join(map(repr, unknown))}; nothing was imported",
            hint=f"known: model_a, model_b, outcome, {', '.join(OPTIONAL_COLUMNS)} and style.<feature>",
            file=path.name,
            format=fmt,
            field=unknown[0],
        )
    data = read_text_columns(path, fmt, header, header)
    checker = Checker(path.name, fmt, CsvRows(path))
    return build_table({name: data.column(name) for name in header}, checker)


def write_arrow_csv(columns: dict[str, Any], tmp: Path) -> None:
    """Write Arrow arrays as CSV: text quoted, missing values as unquoted empty cells, ``\\n`` line ends."""
    pacsv.write_csv(pa.table(columns), tmp, write_options=pacsv.WriteOptions(quoting_style="needed"))


def write_csv(table: BattleTable, path: str | os.PathLike[str]) -> None:
    """Write trustplane's own CSV columns."""
    name = Path(path).name
    columns = export_columns(table, file=name, fmt="csv", style_field=lambda s: STYLE_PREFIX + s)
    with atomic_output(path, "csv") as tmp:
        write_arrow_csv(columns, tmp)
