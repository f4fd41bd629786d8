"""FastChat's ``clean_battle`` JSON: a JSON array of battle objects, read and written.

Mapping (FastChat key → table column): ``model_a``/``model_b`` → same; ``winner`` (``model_a``, ``model_b``,
``tie``, ``tie (bothbad)``) → ``outcome`` (``a``, ``b``, ``tie``, ``both_bad``); ``question_id`` → ``battle_id``;
``tstamp`` → ``timestamp``; ``judge``, ``language`` and any other optional column → same name; the user turns
of ``conversation_a`` (else of ``conversation_b``) → ``prompt``; the assistant turns of ``conversation_a`` /
``conversation_b`` → ``response_a``/``response_b`` (turns joined by a blank line); ``conv_metadata`` → the
style features of FastChat's style control (:data:`FASTCHAT_STYLE_FEATURES`). ``turn`` and ``anony`` are
type-checked but not kept; other keys are ignored.

Style features, as FastChat's ``preprocess_for_style`` builds them before it standardises: for each element pair
(``sum_assistant_a_tokens``/``_b``, ``header_count_a``/``_b``, ``list_count_a``/``_b``, ``bold_count_a``/``_b``; a
count is an integer or an object of integer counts that is summed) the feature is (a − b) / (a + b + 1).

Reading decodes the array with ``json.loads`` and checks it one key at a time (:func:`fast_columns`); anything
unusual sends it through the object-by-object reader (:func:`reference_columns`), which defines the rules and
finds the first bad object. Writing produces one compact object per line inside the array and adds, as
extensions FastChat ignores, the optional columns FastChat has no key for (``provider_a``, ``provider_b``,
``sampling_prob``, ``category``, ...) under their own names, and ``style`` (an object of the style features,
since the raw counts behind them are not part of a table).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped,unused-ignore]

from trustplane.arena._table import OPTIONAL_COLUMNS, OUTCOMES, BattleTable
from trustplane.arena.io._arrow import STYLE_PREFIX, Checker, build_table, export_columns, plain_rows
from trustplane.arena.io._errors import BattleImportError
from trustplane.arena.io._files import atomic_output
from trustplane.arena.io._jsonl import WRITE_CHUNK, check_style, columns_from_records, is_number, json_type
from trustplane.arena.io._jsontext import encode, encode_text, join, lines_bytes, style_values

FMT = "fastchat"
WINNERS: dict[str, str] = {"model_a": "a", "model_b": "b", "tie": "tie", "tie (bothbad)": "both_bad"}
LABELS: dict[str, str] = {v: k for k, v in WINNERS.items()}
#: Style feature name → the ``conv_metadata`` keys of model A and model B it is computed from.
FASTCHAT_STYLE_FEATURES: dict[str, tuple[str, str]] = {
    "length": ("sum_assistant_a_tokens", "sum_assistant_b_tokens"),
    "header_count": ("header_count_a", "header_count_b"),
    "list_count": ("list_count_a", "list_count_b"),
    "bold_count": ("bold_count_a", "bold_count_b"),
}
#: The file's key for a table field, in messages.
FILE_NAMES: dict[str, str] = {
    "outcome": "winner",
    "battle_id": "question_id",
    "timestamp": "tstamp",
    "prompt": "conversation_a",
    "response_a": "conversation_a",
    "response_b": "conversation_b",
}
_MAPPED = ("battle_id", "timestamp", "prompt", "response_a", "response_b")
#: Table columns kept under their own name: FastChat's ``judge`` and ``language``, extensions for the others.
SAME_NAME: tuple[str, ...] = tuple(n for n in OPTIONAL_COLUMNS if n not in _MAPPED)
_TEXT_KEYS: tuple[str, ...] = tuple(n for n in SAME_NAME if OPTIONAL_COLUMNS[n] == "str")
#: File key → table column, for number columns.
_NUMBER_KEYS: dict[str, str] = {"tstamp": "timestamp", **{n: n for n in SAME_NAME if OPTIONAL_COLUMNS[n] == "float"}}


class _RecordError(Exception):
    def __init__(self, field: str | None, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.field, self.message, self.hint = field, message, hint


def _count(meta: dict[str, Any], key: str) -> int:
    value = meta[key]
    parts = list(value.values()) if isinstance(value, dict) else [value]
    for part in parts:
        if not isinstance(part, int) or isinstance(part, bool) or part < 0:
            raise _RecordError(
                f"conv_metadata.{key}",
                f"expected a count (a non-negative integer or an object of them), found {json_type(part)} {part!r}",
            )
    return sum(parts)


def style_from_metadata(meta: Any) -> dict[str, float]:
    """FastChat's per-battle style features from ``conv_metadata`` (features whose counts are absent are left out)."""
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise _RecordError("conv_metadata", f"expected an object, found {json_type(meta)}")
    out: dict[str, float] = {}
    for feature, (key_a, key_b) in FASTCHAT_STYLE_FEATURES.items():
        has_a, has_b = meta.get(key_a) is not None, meta.get(key_b) is not None
        if has_a != has_b:
            missing = key_b if has_a else key_a
            raise _RecordError(f"conv_metadata.{missing}", "missing (its counterpart is present)")
        if has_a:
            a, b = _count(meta, key_a), _count(meta, key_b)
            out[feature] = (a - b) / (a + b + 1)
    return out


def _turns(conv: Any, key: str) -> tuple[list[str], list[str]]:
    """(user contents, assistant contents) of a FastChat conversation."""
    if conv is None:
        return [], []
    if not isinstance(conv, list):
        raise _RecordError(key, f"expected an array of turns, found {json_type(conv)}")
    user: list[str] = []
    assistant: list[str] = []
    for i, turn in enumerate(conv):
        if not isinstance(turn, dict) or not isinstance(turn.get("role"), str):
            raise _RecordError(f"{key}[{i}]", 'expected a turn object with a "role" string')
        content = turn.get("content")
        if isinstance(content, list) and content and isinstance(content[0], str):
            content = content[0]  # multimodal turns: [text, images]
        if content is None:
            continue
        if not isinstance(content, str):
            raise _RecordError(f"{key}[{i}].content", f"expected text, found {json_type(content)}")
        if turn["role"] == "user":
            user.append(content)
        elif turn["role"] == "assistant":
            assistant.append(content)
    return user, assistant


def _joined(parts: list[str]) -> str | None:
    return "\n\n".join(parts) if parts else None


def _record(obj: Any) -> dict[str, Any]:
    """One FastChat object as a table record (raises :class:`_RecordError`)."""
    if not isinstance(obj, dict):
        raise _RecordError(None, f"expected a battle object, found {json_type(obj)}")
    rec: dict[str, Any] = {}
    for key in ("model_a", "model_b"):
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise _RecordError(key, f"expected text, found {json_type(value)} {value!r}")
        rec[key] = value
    winner = obj.get("winner")
    if winner is None:
        raise _RecordError("winner", "missing", hint=f"use one of {', '.join(map(repr, WINNERS))}")
    if not isinstance(winner, str):
        raise _RecordError("winner", f"expected text, found {json_type(winner)} {winner!r}")
    if winner not in WINNERS:
        raise _RecordError(
            "winner", f"unknown winner label {winner!r}", hint=f"use one of {', '.join(map(repr, WINNERS))}"
        )
    rec["outcome"] = WINNERS[winner]
    for key in _TEXT_KEYS:
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise _RecordError(key, f"expected text, found {json_type(value)} {value!r}")
        rec[key] = value
    qid = obj.get("question_id")
    if qid is not None and not (isinstance(qid, str) or (isinstance(qid, int) and not isinstance(qid, bool))):
        raise _RecordError("question_id", f"expected text, found {json_type(qid)} {qid!r}")
    rec["battle_id"] = None if qid is None else str(qid)
    for key, target in _NUMBER_KEYS.items():
        value = obj.get(key)
        if value is not None and not is_number(value):
            raise _RecordError(key, f"expected a number, found {json_type(value)} {value!r}")
        rec[target] = value
    turn = obj.get("turn")
    if turn is not None and (not isinstance(turn, int) or isinstance(turn, bool)):
        raise _RecordError("turn", f"expected an integer, found {json_type(turn)} {turn!r}")
    anony = obj.get("anony")
    if anony is not None and not isinstance(anony, bool):
        raise _RecordError("anony", f"expected true or false, found {json_type(anony)} {anony!r}")
    user_a, asst_a = _turns(obj.get("conversation_a"), "conversation_a")
    user_b, asst_b = _turns(obj.get("conversation_b"), "conversation_b")
    rec["prompt"] = _joined(user_a or user_b)
    rec["response_a"], rec["response_b"] = _joined(asst_a), _joined(asst_b)
    style: dict[str, Any] = style_from_metadata(obj.get("conv_metadata"))
    extra = obj.get("style")
    problem = check_style(extra)
    if problem:
        raise _RecordError(*problem)
    for key, value in (extra or {}).items():
        if key in style:
            raise _RecordError(f"style.{key}", "given both by conv_metadata and by style")
        style[key] = value
    rec["style"] = style
    return rec


def read_fastchat(path: Path) -> BattleTable:
    """Read a FastChat ``clean_battle`` JSON array."""
    try:
        data = json.loads(path.read_bytes())
    except UnicodeDecodeError:
        raise BattleImportError(
            f"{path.name}: not UTF-8 text; nothing was imported", file=path.name, format=FMT
        ) from None
    except json.JSONDecodeError as exc:
        raise BattleImportError(
            f"{path.name}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); nothing was imported",
            hint="FastChat's clean_battle files are one JSON array of battle objects",
            file=path.name,
            format=FMT,
        ) from None
    if not isinstance(data, list):
        raise BattleImportError(
            f"{path.name}: expected a JSON array of battle objects, found {json_type(data)}; nothing was imported",
            hint="FastChat's clean_battle files are one JSON array of battle objects",
            file=path.name,
            format=FMT,
        )
    checker = Checker(path.name, FMT, plain_rows, FILE_NAMES)
    try:
        cols = fast_columns(data)
    except _Fallback:
        cols = reference_columns(data, checker)
    return build_table(cols, checker)


def reference_columns(data: list[Any], checker: Checker) -> dict[str, Any]:
    """Object by object: the columns up to the first object with a problem, which is added to ``checker``."""
    records: list[dict[str, Any]] = []
    for obj in data:
        try:
            records.append(_record(obj))
        except _RecordError as p:
            checker.add(len(records), -1.0, p.field, p.message, p.hint)
            break
    return columns_from_records(records)


class _Fallback(Exception):  # noqa: N818 - control flow, never escapes this module
    """Something :func:`fast_columns` does not handle; the object-by-object reader decides."""


def _infer(values: list[Any]) -> Any:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
        raise _Fallback from None


def _key(data: list[dict[str, Any]], key: str) -> list[Any]:
    return [o.get(key) for o in data]


def _text(data: list[dict[str, Any]], key: str, *, integers: bool = False) -> Any:
    arr = _infer(_key(data, key))
    if pa.types.is_null(arr.type) or pa.types.is_string(arr.type) or (integers and pa.types.is_integer(arr.type)):
        return arr.cast(pa.string())
    raise _Fallback


def _number(values: list[Any]) -> Any:
    if any(type(v) is bool for v in values):  # Arrow would read true as 1.0 after a float
        raise _Fallback
    arr = _infer(values)
    if pa.types.is_null(arr.type) or pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        return arr.cast(pa.float64(), safe=False)
    raise _Fallback


def _counts(values: list[Any]) -> Any:
    """Counts (integers, or objects of integers that are summed) as float64, null where absent."""
    arr = _infer(values)
    if pa.types.is_null(arr.type) or pa.types.is_integer(arr.type):
        counts = arr.cast(pa.float64())
    elif pa.types.is_struct(arr.type):
        counts = pa.array(np.zeros(len(arr)))
        for i in range(arr.type.num_fields):
            child = pc.struct_field(arr, [i])
            if not pa.types.is_integer(child.type) or pc.any(pc.and_(arr.is_valid(), child.is_null())).as_py():
                raise _Fallback
            counts = pc.add(counts, pc.fill_null(child, 0).cast(pa.float64()))
        counts = pc.if_else(arr.is_valid(), counts, pa.scalar(None, pa.float64()))
    else:
        raise _Fallback
    if pc.any(pc.less(counts, 0.0)).as_py():
        raise _Fallback
    return counts


def fast_columns(data: list[Any]) -> dict[str, Any]:
    """The columns of a well-formed file, one key at a time (Arrow infers and checks the JSON types).

    Raises :class:`_Fallback` at anything unusual; the object-by-object reader then finds the problem.
    """
    if not all(type(o) is dict for o in data):
        raise _Fallback
    winner = _infer(_key(data, "winner"))
    if len(data) and (
        not pa.types.is_string(winner.type)
        or winner.null_count
        or not pc.all(pc.is_in(winner, value_set=pa.array(list(WINNERS)))).as_py()
    ):
        raise _Fallback
    outcome = pa.DictionaryArray.from_arrays(
        pc.index_in(winner.cast(pa.string()), value_set=pa.array(list(WINNERS))), pa.array(list(WINNERS.values()))
    )
    cols: dict[str, Any] = {"model_a": _text(data, "model_a"), "model_b": _text(data, "model_b"), "outcome": outcome}
    for key in ("turn", "anony"):
        arr = _infer(_key(data, key))
        expected = pa.types.is_integer if key == "turn" else pa.types.is_boolean
        if not (pa.types.is_null(arr.type) or expected(arr.type)):
            raise _Fallback
    cols["battle_id"] = _text(data, "question_id", integers=True)
    for key, target in _NUMBER_KEYS.items():
        cols[target] = _number(_key(data, key))
    for key in _TEXT_KEYS:
        cols[key] = _text(data, key)
    if any("conversation_a" in o or "conversation_b" in o for o in data):
        prompt, resp_a, resp_b = [], [], []
        try:
            for o in data:
                user_a, asst_a = _turns(o.get("conversation_a"), "conversation_a")
                user_b, asst_b = _turns(o.get("conversation_b"), "conversation_b")
                prompt.append(_joined(user_a or user_b))
                resp_a.append(_joined(asst_a))
                resp_b.append(_joined(asst_b))
        except _RecordError:
            raise _Fallback from None
        cols["prompt"] = pa.array(prompt, type=pa.string())
        cols["response_a"], cols["response_b"] = pa.array(resp_a, pa.string()), pa.array(resp_b, pa.string())
    style: dict[str, Any] = {}
    metas = _key(data, "conv_metadata")
    if any(m is not None for m in metas):
        if not all(m is None or type(m) is dict for m in metas):
            raise _Fallback
        for feature, (key_a, key_b) in FASTCHAT_STYLE_FEATURES.items():
            a = _counts([None if m is None else m.get(key_a) for m in metas])
            b = _counts([None if m is None else m.get(key_b) for m in metas])
            if not pc.all(pc.equal(a.is_null(), b.is_null())).as_py():
                raise _Fallback
            if a.null_count < len(a):
                style[feature] = pc.divide(pc.subtract(a, b), pc.add(pc.add(a, b), 1.0))
    extras = _key(data, "style")
    if any(type(v) is bool for d in extras if type(d) is dict for v in d.values()):
        raise _Fallback
    extra = _infer(extras)
    if pa.types.is_struct(extra.type):
        for i in range(extra.type.num_fields):
            name = extra.type.field(i).name
            if not name or name in style:
                raise _Fallback
            style[name] = _number(pc.struct_field(extra, [i]).to_pylist())
    elif not pa.types.is_null(extra.type):
        raise _Fallback
    for name in sorted(style):
        cols[STYLE_PREFIX + name] = style[name]
    return cols


def _turn(role: str, content: Any) -> Any:
    return join('{"role":"' + role + '","content":', encode(content), "}")


def _conversation(prompt: Any, response: Any) -> Any:
    """``[user turn, assistant turn]`` JSON per row, either turn left out when missing; null when both are."""
    user, assistant = _turn("user", prompt), _turn("assistant", response)
    return join("[", pc.coalesce(join(user, ",", assistant), user, assistant), "]")


def _members(cols: dict[str, Any], n: int) -> list[tuple[str, Any]]:
    """(FastChat key, JSON values) in the order they are written."""
    missing = pa.nulls(n, pa.string())
    labels = pa.array([encode_text(LABELS[o]) for o in OUTCOMES], type=pa.string())
    members: list[tuple[str, Any]] = [
        ("question_id", encode(cols["battle_id"]) if "battle_id" in cols else missing),
        ("model_a", encode(cols["model_a"])),
        ("model_b", encode(cols["model_b"])),
        ("winner", pc.take(labels, pc.index_in(cols["outcome"], value_set=pa.array(OUTCOMES)))),
    ]
    for column in OPTIONAL_COLUMNS:
        if column == "prompt":
            prompt = cols.get("prompt", missing)
            members.append(("conversation_a", _conversation(prompt, cols.get("response_a", missing))))
            members.append(("conversation_b", _conversation(prompt, cols.get("response_b", missing))))
        elif column == "timestamp" and column in cols:
            members.append(("tstamp", encode(cols[column])))
        elif column in SAME_NAME and column in cols:
            members.append((column, encode(cols[column])))
    style = {k[len(STYLE_PREFIX) :]: v for k, v in cols.items() if k.startswith(STYLE_PREFIX)}
    if style:
        members.append(("style", style_values(style)))
    return members


def write_fastchat(table: BattleTable, path: str | os.PathLike[str]) -> None:
    """Write a FastChat ``clean_battle`` JSON array (one battle object per line inside the array)."""
    name = Path(path).name
    cols = export_columns(table, file=name, fmt=FMT, style_field=lambda s: STYLE_PREFIX + s)
    n = len(table)
    with atomic_output(path, FMT) as tmp, tmp.open("wb") as fh:
        if n == 0:
            fh.write(b"[]\n")
            return
        fh.write(b"[\n")
        for start in range(0, n, WRITE_CHUNK):
            stop = min(start + WRITE_CHUNK, n)
            block = lines_bytes(
                _members({k: v.slice(start, stop - start) for k, v in cols.items()}, stop - start), ",\n"
            )
            fh.write(block[:-2] + b"\n]\n" if stop == n else block)
