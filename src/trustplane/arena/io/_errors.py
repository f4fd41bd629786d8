"""Errors of battle import and export, each with a stable code.

Row-level problems name the file (its name only, never a directory), the 1-based ``row`` and the ``field``;
nothing is returned when one is raised.
"""

from __future__ import annotations

from typing import Any

from trustplane.core.errors import InvalidInputError, NotFoundError


class UnknownFormatError(InvalidInputError):
    """A format name that is not one of :data:`~trustplane.arena.io.FORMATS`, or a path whose format can't be told.

    ``extra["formats"]`` lists the known formats.
    """

    code = "arena.unknown_format"
    title = "Unknown battle file format"


class BattleFileNotFoundError(NotFoundError):
    """The battle file to read does not exist (or is not a file)."""

    code = "arena.import_not_found"
    title = "Battle file not found"


class BattleImportError(InvalidInputError):
    """A battle file that cannot be read as a whole: unparsable, missing or unknown columns, wrong column types.

    ``extra``: ``file`` (the file name), ``format`` and, where one column is at fault, ``field``.
    """

    code = "arena.invalid_import"
    title = "Invalid battle file"


class ImportRowError(BattleImportError):
    """One malformed row; nothing was imported.

    ``extra``: ``file``, ``format``, ``row`` (1-based: the data row of a CSV not counting the header or blank
    lines, the line of a JSONL file, the row of a Parquet file, the position in a FastChat JSON array),
    ``field`` (as the file names it) and, for CSV files, ``line`` (the physical line the row starts on).
    """

    def __init__(
        self,
        what: str,
        *,
        file: str,
        format: str,
        row: int,
        field: str | None,
        hint: str | None = None,
        **extra: Any,
    ) -> None:
        where = f"row {row}" if "line" not in extra else f"row {row} (line {extra['line']})"
        at = f", field {field!r}" if field else ""
        super().__init__(
            f"{file}, {where}{at}: {what}; nothing was imported",
            hint=hint,
            file=file,
            format=format,
            row=row,
            field=field,
            **extra,
        )
        self.row = row
        self.field = field
        self.file = file


class BattleExportError(InvalidInputError):
    """A table that cannot be written faithfully, or a destination that cannot be written; no file was changed.

    ``extra``: ``file``, ``format`` and, for a value at fault, ``row`` (1-based) and ``field``.
    """

    code = "arena.invalid_export"
    title = "Battles cannot be exported"
