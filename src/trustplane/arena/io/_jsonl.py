"""JSON Lines in trustplane's own fields: one battle object per line.

``{"model_a": ..., "model_b": ..., "outcome": ..., <optional columns>, "style": {"<feature>": <number>}}``; a missing
value is an absent key or ``null``. Blank lines are skipped; row numbers are physical line numbers.

Reading is Arrow's JSON reader with an explicit schema, then the shared column checks. Anything the fast path
does not expect (a JSON syntax error, a value of the wrong JSON type, an unknown key, a ``style`` that is not an
object of numbers) sends the file through the reference path: ``json.loads`` line by line, which stops at the
first such line and still reports an earlier row if an earlier row has a bad value.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped,unused-ignore]
import pyarrow.json as pajson  # type: ignore[import-untyped,unused-ignore]

from trustplane.arena._table import OPTIONAL_COLUMNS, BattleTable
from trustplane.arena.io._arrow import FLOAT_FIELDS, REQUIRED, STYLE_PREFIX, Checker, build_table, export_columns
from trustplane.arena.io._files import atomic_output
from trustplane.arena.io._jsontext import encode, lines_bytes, style_values

FMT = "jsonl"
_BLOCK_SIZE = 1 << 24
WRITE_CHUNK = 1 << 18
SCHEMA = pa.schema(
    [(n, pa.string()) for n in REQUIRED]
    + [(n, pa.float64() if t == "float" else pa.string()) for n, t in OPTIONAL_COLUMNS.items()]
)
KNOWN_FIELDS: tuple[str, ...] = (*REQUIRED, *OPTIONAL_COLUMNS, "style")


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "an array"
    return "an object"


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_style(style: Any, field: str = "style") -> tuple[str, str] | None:
    """A ``style`` object must map non-empty names to numbers or null."""
    if style is None:
        return None
    if not isinstance(style, dict):
        return field, f"expected an object of style features, found {json_type(style)}"
    for key, value in style.items():
        if not key:
            return field, "a style feature has an empty name"
        if value is not None and not is_number(value):
            return f"{field}.{key}", f"expected a number, found {json_type(value)}"
    return None


def check_record(obj: Any) -> tuple[str | None, str] | None:
    """The first JSON-type problem of one line's object (field, message), or None."""
    if not isinstance(obj, dict):
        return None, f"expected a JSON object, found {json_type(obj)}"
    for key in obj:
        if key not in KNOWN_FIELDS:
            return key, "unknown field"
    for key in KNOWN_FIELDS:
        value = obj.get(key)
        if value is None:
            continue
        if key == "style":
            problem = check_style(value)
            if problem:
                return problem
        elif key in FLOAT_FIELDS:
            if not is_number(value):
                return key, f"expected a number, found {json_type(value)} {value!r}"
        elif not isinstance(value, str):
            return key, f"expected text, found {json_type(value)} {value!r}"
    return None


def as_float(value: Any) -> float | None:
    """A checked JSON number as a float; integers too large for a float become ±inf (and fail the finite check)."""
    if value is None:
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def columns_from_records(records: Sequence[Mapping[str, Any]], style_key: str = "style") -> dict[str, Any]:
    """Arrow columns (named like the table) from checked records."""
    cols: dict[str, Any] = {}
    for name in REQUIRED:
        cols[name] = pa.array([r.get(name) for r in records], type=pa.string())
    for name, kind in OPTIONAL_COLUMNS.items():
        values = [r.get(name) for r in records]
        if any(v is not None for v in values):
            if kind == "float":
                cols[name] = pa.array([as_float(v) for v in values], type=pa.float64(), from_pandas=False)
            else:
                cols[name] = pa.array(values, type=pa.string())
    names = sorted({k for r in records for k in (r.get(style_key) or {})})
    for name in names:
        cols[STYLE_PREFIX + name] = pa.array(
            [as_float((r.get(style_key) or {}).get(name)) for r in records], type=pa.float64(), from_pandas=False
        )
    return cols


class JsonlRows:
    """Maps an index into the parsed objects to the physical line number (blank lines are skipped)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, index: int) -> tuple[int, dict[str, Any]]:
        k = -1
        with self.path.open("rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if raw.strip():
                    k += 1
                    if k == index:
                        return lineno, {}
        return index + 1, {}


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if raw.strip():
                yield lineno, raw


def _read_reference(path: Path) -> BattleTable:
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    problem: tuple[str | None, str] | None = None
    for lineno, raw in _lines(path):
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            what = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
            pos = f" at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
            problem = (None, f"not valid JSON ({what}{pos})")
        else:
            problem = check_record(obj)
        lines.append(lineno)
        if problem is not None:
            break
        records.append(obj)
    checker = Checker(path.name, FMT, lambda i: (lines[i], {}))
    if problem is not None:
        checker.add(len(records), -1.0, problem[0], problem[1], hint="one JSON object per line, see docs/arena-io.md")
    return build_table(columns_from_records(records), checker)


def _numeric_or_null(t: Any) -> bool:
    return bool(pa.types.is_null(t) or pa.types.is_integer(t) or pa.types.is_floating(t))


def read_jsonl(path: Path) -> BattleTable:
    """Read trustplane's own JSON Lines."""
    try:
        data = pajson.read_json(
            path,
            read_options=pajson.ReadOptions(block_size=_BLOCK_SIZE),
            parse_options=pajson.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="infer"),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return _read_reference(path)
    if set(data.column_names) - set(KNOWN_FIELDS):
        return _read_reference(path)
    cols: dict[str, Any] = {name: data.column(name) for name in (*REQUIRED, *OPTIONAL_COLUMNS)}
    if "style" in data.column_names:
        style = data.column("style")
        if not pa.types.is_struct(style.type) or not all(
            _numeric_or_null(style.type.field(i).type) and style.type.field(i).name
            for i in range(style.type.num_fields)
        ):
            return _read_reference(path)
        for i in sorted(range(style.type.num_fields), key=lambda i: str(style.type.field(i).name)):
            cols[STYLE_PREFIX + style.type.field(i).name] = pc.struct_field(style, [i])
    return build_table(cols, Checker(path.name, FMT, JsonlRows(path)))


# --- writing ------------------------------------------------------------------------------------------------
def jsonl_block(cols: Mapping[str, Any], style: Mapping[str, Any]) -> bytes:
    """UTF-8 JSON Lines (newline-terminated) for Arrow columns and style-feature columns (name → column)."""
    members = [(name, encode(arr)) for name, arr in cols.items()]
    if style:
        members.append(("style", style_values(style)))
    return lines_bytes(members, "\n")


def write_jsonl(table: BattleTable, path: str | os.PathLike[str]) -> None:
    """Write trustplane's own JSON Lines (keys in canonical order, missing values left out)."""
    name = Path(path).name
    cols = export_columns(table, file=name, fmt=FMT, style_field=lambda s: STYLE_PREFIX + s)
    plain = {k: v for k, v in cols.items() if not k.startswith(STYLE_PREFIX)}
    style = {k[len(STYLE_PREFIX) :]: v for k, v in cols.items() if k.startswith(STYLE_PREFIX)}
    with atomic_output(path, FMT) as tmp, tmp.open("wb") as fh:
        for start in range(0, len(table), WRITE_CHUNK):
            stop = min(start + WRITE_CHUNK, len(table))
            fh.write(
                jsonl_block(
                    {k: v.slice(start, stop - start) for k, v in plain.items()},
                    {k: v.slice(start, stop - start) for k, v in style.items()},
                )
            )
