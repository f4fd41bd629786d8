"""JSON text for whole columns at once: each row's object is assembled by Arrow string kernels, not json.dumps.

Numbers use Arrow's shortest round-trip formatting (valid JSON that reads back to the same float64); each
distinct text value is encoded once, by the same C encoder as ``json.dumps(..., ensure_ascii=False)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped,unused-ignore]

encode_text: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]


def join(*parts: Any) -> Any:
    """Element-wise concatenation of Arrow string arrays and str scalars (null where any part is null)."""
    return pc.binary_join_element_wise(*parts, "")


def encode(arr: Any) -> Any:
    """The JSON text of each value of an Arrow string or float column; null stays null."""
    if pa.types.is_floating(arr.type):
        text = pc.cast(arr, pa.string())
        return pc.if_else(pc.equal(text, "-0"), "-0.0", text)  # JSON readers take -0 for the integer 0
    enc = arr.dictionary_encode()
    encoded = pa.array([encode_text(v) for v in enc.dictionary.to_pylist()], type=pa.string())
    return pc.take(encoded, enc.indices)


def object_values(members: Sequence[tuple[str, Any]]) -> Any:
    """One JSON object per row from (key, JSON values) members; a null value leaves its key out of that row;
    a row with no members is null."""
    body = join(*(pc.fill_null(join("," + encode_text(key) + ":", values), "") for key, values in members))
    return pc.if_else(
        pc.equal(body, ""), pa.scalar(None, pa.string()), join("{", pc.utf8_slice_codeunits(body, 1), "}")
    )


def style_values(style: Mapping[str, Any]) -> Any:
    """The ``style`` object per row (feature name → number), null where every feature is missing."""
    return object_values([(name, encode(arr)) for name, arr in style.items()])


def lines_bytes(members: Sequence[tuple[str, Any]], end: str) -> bytes:
    """UTF-8 text of one JSON object per row, each followed by ``end``."""
    lines = join(object_values(members), end).cast(pa.large_string())
    if len(lines) == 0:
        return b""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
    return bytes(lines.buffers()[2][int(offsets[0]) : int(offsets[-1])])
