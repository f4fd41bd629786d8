"""A small, deterministic container for a certificate: a JSON header followed by raw little-endian arrays."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np

from trustplane.provenance._errors import CertificateIntegrityError

MAGIC = b"TPCERT1\n"


def pack(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """Header (sorted JSON: ``meta`` and each array's name, dtype, shape, offset) then the array bytes."""
    index = []
    chunks = []
    offset = 0
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        raw = arr.tobytes()
        index.append({"name": name, "dtype": arr.dtype.str, "shape": list(arr.shape), "offset": offset})
        chunks.append(raw)
        offset += len(raw)
    header = json.dumps({"meta": meta, "arrays": index}, sort_keys=True, separators=(",", ":")).encode()
    return MAGIC + struct.pack("<Q", len(header)) + header + b"".join(chunks)


def unpack(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 8:
        raise CertificateIntegrityError("not a trustplane certificate (bad header)")
    (n,) = struct.unpack("<Q", data[len(MAGIC) : len(MAGIC) + 8])
    start = len(MAGIC) + 8
    try:
        header = json.loads(data[start : start + n])
        body = memoryview(data)[start + n :]
        arrays = {}
        for item in header["arrays"]:
            dtype = np.dtype(item["dtype"])
            count = int(np.prod(item["shape"])) if item["shape"] else 1
            end = item["offset"] + count * dtype.itemsize
            if end > len(body):
                raise ValueError(f"array {item['name']} runs past the end")
            arrays[item["name"]] = np.frombuffer(body[item["offset"] : end], dtype=dtype).reshape(item["shape"]).copy()
    except (ValueError, KeyError, TypeError) as exc:
        raise CertificateIntegrityError(f"malformed certificate: {exc}") from None
    return header["meta"], arrays
