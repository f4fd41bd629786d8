"""Format names, detection, and the two entry points."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from trustplane.arena._table import BattleTable
from trustplane.arena.io._arena_hp import read_arena_hp, write_arena_hp
from trustplane.arena.io._csv import read_csv, read_header, write_csv
from trustplane.arena.io._errors import UnknownFormatError
from trustplane.arena.io._fastchat import read_fastchat, write_fastchat
from trustplane.arena.io._files import input_file
from trustplane.arena.io._jsonl import read_jsonl, write_jsonl
from trustplane.arena.io._parquet import read_parquet, write_parquet

#: The battle file formats, by name, with a one-line description.
FORMATS: dict[str, str] = {
    "csv": "trustplane's columns as CSV (model_a, model_b, outcome, optional columns, style.<feature>)",
    "jsonl": "trustplane's columns as JSON Lines, one battle object per line, style features in a 'style' object",
    "parquet": "trustplane's columns as Parquet",
    "fastchat": "FastChat's clean_battle JSON: an array of objects with model_a, model_b, winner, conv_metadata, ...",
    "arena-hp": "the arena-human-preference CSV: id, model_a, model_b, prompt, response_a, response_b, one-hot winner",
}

#: File extension → format; a ``.csv`` file is ``arena-hp`` when its header has ``winner_model_a``.
EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "fastchat",
}

_READERS: dict[str, Callable[[Path], BattleTable]] = {
    "csv": read_csv,
    "jsonl": read_jsonl,
    "parquet": read_parquet,
    "fastchat": read_fastchat,
    "arena-hp": read_arena_hp,
}
_WRITERS: dict[str, Callable[[BattleTable, str | os.PathLike[str]], None]] = {
    "csv": write_csv,
    "jsonl": write_jsonl,
    "parquet": write_parquet,
    "fastchat": write_fastchat,
    "arena-hp": write_arena_hp,
}


def _unknown(message: str, file: str | None = None) -> UnknownFormatError:
    extra = {"file": file} if file else {}
    return UnknownFormatError(message, hint=f"pass format= one of {', '.join(FORMATS)}", formats=list(FORMATS), **extra)


def _named(format: str) -> str:
    if not isinstance(format, str) or format.lower() not in FORMATS:
        raise _unknown(f"unknown battle file format {format!r}; known formats: {', '.join(FORMATS)}")
    return format.lower()


def _by_extension(path: str | os.PathLike[str]) -> str:
    p = Path(path)
    fmt = EXTENSIONS.get(p.suffix.lower())
    if fmt is None:
        known = ", ".join(f"{ext} ({name})" for ext, name in EXTENSIONS.items())
        raise _unknown(
            f"cannot tell the format of {p.name!r} from its extension {p.suffix or '(none)'!r}; known: {known}",
            file=p.name,
        )
    return fmt


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format of ``path``: by extension (``.csv``, ``.jsonl``/``.ndjson``, ``.parquet``/``.pq``, ``.json`` →
    ``fastchat``); an existing ``.csv`` file whose header has ``winner_model_a`` is ``arena-hp``.

    Raises :class:`UnknownFormatError` for any other extension.
    """
    fmt = _by_extension(path)
    p = Path(path)
    if fmt == "csv" and p.is_file() and "winner_model_a" in read_header(p, fmt):
        return "arena-hp"
    return fmt


def read_battles(path: str | os.PathLike[str], format: str | None = None) -> BattleTable:
    """Read a battle file into a :class:`BattleTable`, all or nothing.

    ``format`` is one of :data:`FORMATS`; by default it is detected from the path (:func:`detect_format`).
    Raises :class:`BattleFileNotFoundError` when the file does not exist, :class:`UnknownFormatError` for an unknown
    format, :class:`BattleImportError` for a file that cannot be read as a whole and :class:`ImportRowError` (with
    the 1-based ``row`` and the ``field``) for the first malformed row. No partial table is ever returned.
    """
    fmt = _named(format) if format is not None else None
    p = input_file(path, fmt)
    fmt = fmt or detect_format(p)
    return _READERS[fmt](p)


def write_battles(table: BattleTable, path: str | os.PathLike[str], format: str | None = None) -> None:
    """Write ``table`` to ``path``; ``format`` is one of :data:`FORMATS`, by default taken from the extension
    (``.csv`` is trustplane's CSV; pass ``format="arena-hp"`` for that schema).

    The file is written next to ``path`` under a temporary name and renamed into place, so a failure leaves any
    existing file untouched. Raises :class:`BattleExportError` for values that would not read back unchanged
    (a missing model name, non-text in a text column, an infinite number) and :class:`UnknownFormatError`.
    The same table always gives the same bytes.
    """
    fmt = _named(format) if format is not None else _by_extension(path)
    _WRITERS[fmt](table, path)
