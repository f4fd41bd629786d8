"""Substitute GGUF models for the LLM provenance demo, made from the certified GGUF file.

- :func:`requantize`: the same weights re-quantised by llama.cpp (``llama_model_quantize`` with
  ``allow_requantize``), e.g. to Q8_0 (INT8) or Q4_0 / Q2_K (other INT4 / lower-bit schemes);
- :func:`perturb_gguf`: a copy whose Q4_1 weights move one quantisation step up or down with
  probability ``fraction`` each (the "lightly perturbed copy"), everything else byte-identical.

Files are written once into a cache folder and reused.
"""

from __future__ import annotations

import ctypes
import os
import shutil
from pathlib import Path

import numpy as np

from trustplane.core.errors import MissingDependencyError
from trustplane.provenance._errors import ProvenanceInputError

QUANT_TYPES = {
    "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
    "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0",
    "q2_k": "LLAMA_FTYPE_MOSTLY_Q2_K",
    "q4_1": "LLAMA_FTYPE_MOSTLY_Q4_1",
    "q5_1": "LLAMA_FTYPE_MOSTLY_Q5_1",
    "q3_k_m": "LLAMA_FTYPE_MOSTLY_Q3_K_M",
}
_Q4_1_BLOCK = 20  # fp16 scale, fp16 minimum, 16 bytes of 32 nibbles


def requantize(source: Path, target: Path, quant: str, *, n_threads: int = 2) -> Path:
    """Re-quantise ``source`` to ``quant`` (one of :data:`QUANT_TYPES`) at ``target``; skipped if it exists."""
    if target.is_file():
        return target
    if quant not in QUANT_TYPES:
        raise ProvenanceInputError(f"unknown quantisation {quant!r}", hint=f"one of {', '.join(sorted(QUANT_TYPES))}")
    try:
        import llama_cpp
    except ImportError:
        raise MissingDependencyError(
            "re-quantising needs llama-cpp-python", hint="pip install 'trustplane[local]'"
        ) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANT_TYPES[quant])
    params.allow_requantize = True
    params.nthread = n_threads
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    rc = llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), ctypes.byref(params))
    if rc != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise ProvenanceInputError(f"llama.cpp could not quantise {source.name} to {quant} (code {rc})")
    os.replace(tmp, target)
    return target


def perturb_gguf(source: Path, target: Path, *, fraction: float = 0.05, random_state: int = 0) -> Path:
    """Copy ``source`` to ``target`` with each Q4_1 weight moved one step (up or down) with probability ``fraction``."""
    if target.is_file():
        return target
    if not 0.0 < fraction <= 1.0:
        raise ProvenanceInputError(f"fraction must lie in (0, 1], got {fraction}")
    try:
        from gguf import GGUFReader
    except ImportError:
        raise MissingDependencyError(
            "perturbing GGUF weights needs gguf", hint="pip install 'trustplane[ml]'"
        ) from None
    reader = GGUFReader(str(source))
    spans = [(int(t.data_offset), int(t.n_bytes)) for t in reader.tensors if t.tensor_type.name == "Q4_1"]
    del reader
    if not spans:
        raise ProvenanceInputError(f"{source.name} has no Q4_1 tensors to perturb")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, tmp)
    rng = np.random.default_rng(random_state)
    data = np.memmap(tmp, dtype=np.uint8, mode="r+")
    for offset, n_bytes in spans:
        blocks = data[offset : offset + n_bytes].reshape(-1, _Q4_1_BLOCK)
        packed = blocks[:, 4:].copy()
        low = (packed & 0x0F).astype(np.int16)
        high = (packed >> 4).astype(np.int16)
        for nib in (low, high):
            hit = rng.random(nib.shape) < fraction
            step = rng.choice(np.array([-1, 1], dtype=np.int16), size=nib.shape)
            nib[hit] = np.clip(nib[hit] + step[hit], 0, 15)
        blocks[:, 4:] = (low | (high << 4)).astype(np.uint8)
    data.flush()
    del data
    os.replace(tmp, target)
    return target
