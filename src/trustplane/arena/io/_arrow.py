"""The vectorised core every format shares: Arrow columns to a validated :class:`BattleTable`, and back.

Reading: each format turns its file into Arrow columns named like the table (``model_a``, ``model_b``,
``outcome``, the optional columns, ``style.<name>``) and hands them to :func:`build_table` with a
:class:`Checker` that knows how to turn a table index into the file's row number. Every check is one Arrow
kernel over a whole column; each check keeps only its first offending index, and the earliest of all (by row,
then by field order) is raised. Nothing is built unless every check passes.

Writing: :func:`export_columns` checks that the table can be written and read back unchanged (text where text
belongs, finite numbers) and returns Arrow arrays, missing values as nulls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped,unused-ignore]
from numpy.typing import NDArray

from trustplane.arena._table import OPTIONAL_COLUMNS, OUTCOMES, BattleTable
from trustplane.arena.io._errors import BattleExportError, BattleImportError, ImportRowError

REQUIRED: tuple[str, ...] = ("model_a", "model_b", "outcome")
STRING_FIELDS: tuple[str, ...] = tuple(n for n, t in OPTIONAL_COLUMNS.items() if t == "str")
FLOAT_FIELDS: tuple[str, ...] = tuple(n for n, t in OPTIONAL_COLUMNS.items() if t == "float")
STYLE_PREFIX = "style."

#: Maps a 0-based index into the Arrow columns to the file's 1-based row and any extra location fields.
Locate = Callable[[int], tuple[int, dict[str, Any]]]


def plain_rows(index: int) -> tuple[int, dict[str, Any]]:
    """Row numbers that are table positions plus one (Parquet, FastChat arrays)."""
    return index + 1, {}


def field_order(name: str, style_names: list[str] | None = None) -> float:
    """Where a field sits in a row, so that of two problems in one row the leftmost is reported."""
    if name in REQUIRED:
        return float(REQUIRED.index(name))
    if name in OPTIONAL_COLUMNS:
        return 3.0 + list(OPTIONAL_COLUMNS).index(name)
    if name.startswith(STYLE_PREFIX) and style_names is not None and name[len(STYLE_PREFIX) :] in style_names:
        return 100.0 + style_names.index(name[len(STYLE_PREFIX) :])
    return 1000.0


@dataclass(frozen=True)
class Issue:
    """One problem found: the 0-based index in the columns, the field's order within a row, and what is wrong."""

    index: int
    order: float
    field: str | None
    message: str
    hint: str | None = None


class Checker:
    """Collects the first problem of every check and raises the earliest one as :class:`ImportRowError`."""

    def __init__(self, file: str, fmt: str, locate: Locate, names: Mapping[str, str] | None = None) -> None:
        self.file = file
        self.fmt = fmt
        self.locate = locate
        self.names = dict(names or {})
        self.issues: list[Issue] = []

    def name(self, field: str) -> str:
        """The field as the file calls it."""
        return self.names.get(field, field)

    def add(self, index: int, order: float, field: str | None, message: str, hint: str | None = None) -> None:
        self.issues.append(Issue(index, order, field, message, hint))

    def flag(
        self, mask: Any, order: float, field: str, message: Callable[[int], str], hint: str | None = None
    ) -> int | None:
        """Record the first index where the boolean Arrow ``mask`` is true (nulls count as false)."""
        index = first_true(mask)
        if index is not None:
            self.add(index, order, self.name(field), message(index), hint)
        return index

    def error(self, issue: Issue) -> ImportRowError:
        row, extra = self.locate(issue.index)
        return ImportRowError(
            issue.message, file=self.file, format=self.fmt, row=row, field=issue.field, hint=issue.hint, **extra
        )

    def earliest(self) -> Issue | None:
        return min(self.issues, key=lambda i: (i.index, i.order), default=None)

    def raise_first(self) -> None:
        issue = self.earliest()
        if issue is not None:
            raise self.error(issue)

    def file_error(self, message: str, *, field: str | None = None, hint: str | None = None) -> BattleImportError:
        extra: dict[str, Any] = {"file": self.file, "format": self.fmt}
        if field is not None:
            extra["field"] = field
        return BattleImportError(f"{self.file}: {message}; nothing was imported", hint=hint, **extra)


def constant(message: str) -> Callable[[int], str]:
    """A message that does not depend on the offending value."""
    return lambda _index: message


def first_true(mask: Any) -> int | None:
    """Index of the first true value of a boolean Arrow array (nulls count as false), or None."""
    if len(mask) == 0:
        return None
    found = pc.index(pc.fill_null(mask, False), True).as_py()
    return None if found is None or found < 0 else int(found)


def _is_text(t: Any) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def text_column(col: Any, field: str, checker: Checker, *, allow_integers: bool = False) -> Any:
    """``col`` as an Arrow string column; dictionaries are decoded and (optionally) integers printed."""
    t = col.type
    if pa.types.is_dictionary(t) and _is_text(t.value_type):
        return col.cast(t.value_type)
    if _is_text(t):
        return col
    if pa.types.is_null(t):
        return col.cast(pa.string())
    if allow_integers and pa.types.is_integer(t):
        return col.cast(pa.string())
    raise checker.file_error(
        f"column {checker.name(field)!r} holds {t}, not text", field=checker.name(field), hint="store it as strings"
    )


def _first_unparsable(col: Any) -> int:
    """Index of the first string that Arrow cannot read as a float64 (the cast of the whole column failed)."""
    lo, hi = 0, len(col)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            pc.cast(col.slice(lo, mid - lo), pa.float64())
            lo = mid
        except pa.ArrowInvalid:
            hi = mid
    return lo


def number_column(col: Any, field: str, order: float, checker: Checker) -> Any:
    """``col`` as float64 (missing values null); the result stops before the first value that is not a number.

    Text is parsed (an empty cell is missing), integers and floats are widened, Arrow timestamps become Unix
    seconds; values must be finite.
    """
    t = col.type
    if pa.types.is_null(t) or pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        out = col.cast(pa.float64())
    elif pa.types.is_timestamp(t):
        out = pc.divide(col.cast(pa.timestamp("us", tz=t.tz)).cast(pa.int64()).cast(pa.float64()), 1e6)
    elif pa.types.is_dictionary(t) or _is_text(t):
        text = text_column(col, field, checker)
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, type=text.type), text)
        try:
            out = pc.cast(text, pa.float64())
        except pa.ArrowInvalid:
            bad = _first_unparsable(text)
            value = text[bad].as_py()
            checker.add(bad, order, checker.name(field), f"{value!r} is not a number", hint="write a decimal number")
            out = pc.cast(text.slice(0, bad), pa.float64())
    else:
        raise checker.file_error(
            f"column {checker.name(field)!r} holds {t}, not numbers", field=checker.name(field), hint="store numbers"
        )
    checker.flag(
        pc.and_(pc.is_valid(out), pc.invert(pc.is_finite(out))),
        order,
        field,
        lambda i: f"{out[i].as_py()} is not a finite number",
        hint="leave the value empty if it is unknown",
    )
    return out


def _mostly_distinct(chunk: Any) -> bool:
    """Whether a sample of the chunk's values is mostly distinct (ids, texts), so encoding would not share much."""
    sample = chunk.slice(0, 4096)
    return len(sample) >= 64 and pc.count_distinct(sample).as_py() > len(sample) // 2


def to_objects(col: Any) -> NDArray[np.object_]:
    """An Arrow string column as a NumPy object array (None for nulls).

    Low-cardinality columns (model names, outcomes, judges) share one str object per distinct value; mostly
    distinct columns (ids, prompts) are converted directly, which is faster there.
    """
    parts: list[NDArray[np.object_]] = []
    for chunk in col.chunks if isinstance(col, pa.ChunkedArray) else [col]:
        if not pa.types.is_dictionary(chunk.type) and _mostly_distinct(chunk):
            parts.append(np.asarray(chunk.to_numpy(zero_copy_only=False), dtype=object))
            continue
        enc = chunk if pa.types.is_dictionary(chunk.type) else chunk.dictionary_encode()
        values = np.empty(len(enc.dictionary) + 1, dtype=object)
        values[:-1] = enc.dictionary.to_numpy(zero_copy_only=False)
        values[-1] = None
        index = pc.fill_null(enc.indices, len(enc.dictionary)).to_numpy(zero_copy_only=False)
        parts.append(values[index])
    if not parts:
        return np.empty(0, dtype=object)
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def to_floats(col: Any) -> NDArray[np.float64]:
    """A float64 Arrow column as a NumPy array (NaN for nulls), copied."""
    if len(col) == 0:
        return np.empty(0, dtype=np.float64)
    return np.array(pc.fill_null(col, np.nan).to_numpy(zero_copy_only=False), dtype=np.float64)


def build_table(cols: Mapping[str, Any], checker: Checker, *, outcome_checked: bool = False) -> BattleTable:
    """Validate Arrow columns named like the table and build it, or raise the earliest problem.

    ``cols`` holds ``model_a``, ``model_b``, ``outcome``, optional columns and ``style.<name>`` columns.
    ``outcome_checked``: the format has already flagged every row whose outcome it could not derive (those rows
    are null in ``outcome``). Optional and style columns whose values are all missing are left out.
    """
    style_names = [k[len(STYLE_PREFIX) :] for k in cols if k.startswith(STYLE_PREFIX)]
    text: dict[str, Any] = {}
    for name in REQUIRED:
        col = text_column(cols[name], name, checker)
        text[name] = col
        if name == "outcome" and outcome_checked:
            continue
        checker.flag(
            pc.or_kleene(pc.is_null(col), pc.equal(col, "")),
            field_order(name),
            name,
            constant(f"{checker.name(name)} is missing"),
        )
    if not outcome_checked:
        outcome = text["outcome"]
        checker.flag(
            pc.and_(pc.not_equal(outcome, ""), pc.invert(pc.is_in(outcome, value_set=pa.array(OUTCOMES)))),
            field_order("outcome"),
            "outcome",
            lambda i: f"unknown outcome {outcome[i].as_py()!r}",
            hint=f"use one of {', '.join(OUTCOMES)}",
        )
    a, b = text["model_a"], text["model_b"]
    checker.flag(
        pc.and_(pc.equal(a, b), pc.not_equal(a, "")),
        field_order("model_b") + 0.5,
        "model_b",
        lambda i: f"model {a[i].as_py()!r} battles itself",
        hint="a battle needs two different models",
    )
    numbers: dict[str, Any] = {}
    strings: dict[str, Any] = {}
    for name, col in cols.items():
        if name in REQUIRED:
            continue
        order = field_order(name, style_names)
        if name in FLOAT_FIELDS or name.startswith(STYLE_PREFIX):
            numbers[name] = number_column(col, name, order, checker)
        elif name in STRING_FIELDS:
            strings[name] = text_column(col, name, checker, allow_integers=True)
        else:  # the formats only hand over known names
            raise checker.file_error(f"unknown column {checker.name(name)!r}", field=checker.name(name))
    if "sampling_prob" in numbers:
        p = numbers["sampling_prob"]
        checker.flag(
            pc.or_(pc.less_equal(p, 0.0), pc.greater(p, 1.0)),
            field_order("sampling_prob"),
            "sampling_prob",
            lambda i: f"sampling probability {p[i].as_py()} is outside (0, 1]",
            hint="a logged sampling probability p satisfies 0 < p <= 1",
        )
    checker.raise_first()

    columns: dict[str, NDArray[Any]] = {}
    style: dict[str, NDArray[np.float64]] = {}
    for name in OPTIONAL_COLUMNS:
        if name in strings and strings[name].null_count < len(strings[name]):
            columns[name] = to_objects(strings[name])
        elif name in numbers and numbers[name].null_count < len(numbers[name]):
            columns[name] = to_floats(numbers[name])
    for name in style_names:
        col = numbers[STYLE_PREFIX + name]
        if col.null_count < len(col):
            style[name] = to_floats(col)
    return BattleTable(
        to_objects(text["model_a"]), to_objects(text["model_b"]), to_objects(text["outcome"]), columns, style
    )


# --- writing ------------------------------------------------------------------------------------------------
def _export_error(message: str, *, file: str, fmt: str, row: int | None = None, field: str | None = None,
                  hint: str | None = None) -> BattleExportError:  # fmt: skip
    extra: dict[str, Any] = {"file": file, "format": fmt}
    where = ""
    if row is not None:
        extra["row"] = row
        where = f", row {row}"
    if field is not None:
        extra["field"] = field
        where += f", field {field!r}"
    return BattleExportError(f"cannot write {file}{where}: {message}; nothing was written", hint=hint, **extra)


def _text_array(values: NDArray[Any], field: str, *, required: bool, file: str, fmt: str) -> Any:
    try:
        arr = pa.array(values, type=pa.string(), from_pandas=False)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        bad = next(i for i, v in enumerate(values.tolist()) if v is not None and not isinstance(v, str))
        raise _export_error(
            f"{values[bad]!r} is not text", file=file, fmt=fmt, row=bad + 1, field=field, hint="store text as str"
        ) from None
    if required:
        bad_at = first_true(pc.or_kleene(pc.is_null(arr), pc.equal(arr, "")))
        if bad_at is not None:
            raise _export_error("the model name is missing", file=file, fmt=fmt, row=bad_at + 1, field=field)
    return arr


def _float_array(values: NDArray[Any], field: str, *, file: str, fmt: str) -> Any:
    x = np.asarray(values, dtype=np.float64)
    bad = np.flatnonzero(np.isinf(x))
    if bad.size:
        raise _export_error(
            f"{x[bad[0]]} is not a finite number",
            file=file,
            fmt=fmt,
            row=int(bad[0]) + 1,
            field=field,
            hint="use NaN for an unknown value",
        )
    return pa.array(x, type=pa.float64(), mask=np.isnan(x))


def export_columns(table: BattleTable, *, file: str, fmt: str, style_field: Callable[[str], str]) -> dict[str, Any]:
    """The table as Arrow arrays in the canonical column order, checked to read back unchanged.

    Order: ``model_a``, ``model_b``, ``outcome``, the optional columns in :data:`OPTIONAL_COLUMNS` order, then the
    style features sorted by name under ``style_field(name)``.
    """
    if not isinstance(table, BattleTable):
        raise _export_error(f"expected a BattleTable, got {type(table).__name__}", file=file, fmt=fmt)
    out: dict[str, Any] = {
        "model_a": _text_array(table.model_a, "model_a", required=True, file=file, fmt=fmt),
        "model_b": _text_array(table.model_b, "model_b", required=True, file=file, fmt=fmt),
        "outcome": pa.array(table.outcome, type=pa.string()),
    }
    for name, kind in OPTIONAL_COLUMNS.items():
        values = table.columns.get(name)
        if values is None:
            continue
        if kind == "float":
            out[name] = _float_array(np.asarray(values), name, file=file, fmt=fmt)
        else:
            out[name] = _text_array(np.asarray(values, dtype=object), name, required=False, file=file, fmt=fmt)
    for name in sorted(table.style):
        if not isinstance(name, str) or not name:
            raise _export_error(f"style feature name {name!r} is not a non-empty string", file=file, fmt=fmt)
        out[style_field(name)] = _float_array(np.asarray(table.style[name]), style_field(name), file=file, fmt=fmt)
    return out
