"""Battle files in and out: trustplane's own CSV, JSON Lines and Parquet, FastChat's ``clean_battle`` JSON and the
arena-human-preference CSV. See ``docs/arena-io.md``.

- :func:`read_battles`, :func:`write_battles`: a :class:`~trustplane.arena.BattleTable` from and to a file, all
  or nothing, with the row number of the first malformed row.
- :data:`FORMATS` (name → description), :func:`detect_format`.
- :data:`FASTCHAT_STYLE_FEATURES`: the style features derived from FastChat's ``conv_metadata``.
- Errors: :class:`ImportRowError` and :class:`BattleImportError` (``arena.invalid_import``),
  :class:`BattleFileNotFoundError` (``arena.import_not_found``), :class:`UnknownFormatError`
  (``arena.unknown_format``), :class:`BattleExportError` (``arena.invalid_export``).
"""

from trustplane.arena.io._errors import (
    BattleExportError,
    BattleFileNotFoundError,
    BattleImportError,
    ImportRowError,
    UnknownFormatError,
)
from trustplane.arena.io._fastchat import FASTCHAT_STYLE_FEATURES
from trustplane.arena.io._formats import EXTENSIONS, FORMATS, detect_format, read_battles, write_battles

__all__ = [
    "EXTENSIONS",
    "FASTCHAT_STYLE_FEATURES",
    "FORMATS",
    "BattleExportError",
    "BattleFileNotFoundError",
    "BattleImportError",
    "ImportRowError",
    "UnknownFormatError",
    "detect_format",
    "read_battles",
    "write_battles",
]
