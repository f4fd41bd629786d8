"""Cheaper substitutes a provider might serve instead of the certified generator.

Each takes a generator module and returns a modified copy; the original is never touched.

- :func:`quantize_weights`: symmetric per-output-channel weight quantisation to ``bits`` (INT8, INT4),
  weights rounded to the integer grid and scaled back (what an integer kernel computes, up to the
  activations, which stay float);
- :func:`prune_weights`: global magnitude pruning of ``amount`` of every layer's weights with
  ``torch.nn.utils.prune.l1_unstructured``;
- the data-, seed-, width- and fine-tuning substitutes are retrainings (see :mod:`._suite`).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import prune

from trustplane.provenance._errors import ProvenanceInputError

_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def quantize_weights(module: nn.Module, bits: int) -> nn.Module:
    """A copy of ``module`` whose Linear/Conv weights are quantised to ``bits``-bit integers per output channel."""
    if not 2 <= bits <= 16:
        raise ProvenanceInputError(f"bits must be between 2 and 16, got {bits}")
    out = copy.deepcopy(module)
    qmax = 2 ** (bits - 1) - 1
    with torch.no_grad():
        for layer in out.modules():
            if isinstance(layer, _LAYERS):
                w = layer.weight
                axis = 1 if isinstance(layer, nn.ConvTranspose2d) else 0
                dims = tuple(d for d in range(w.ndim) if d != axis)
                scale = w.abs().amax(dim=dims, keepdim=True).clamp_min(1e-12) / qmax
                w.copy_(torch.clamp(torch.round(w / scale), -qmax, qmax) * scale)
    return out.eval()


def prune_weights(module: nn.Module, amount: float) -> nn.Module:
    """A copy of ``module`` with the fraction ``amount`` of smallest-magnitude weights of each layer set to zero."""
    if not 0.0 < amount < 1.0:
        raise ProvenanceInputError(f"amount must lie strictly between 0 and 1, got {amount}")
    out = copy.deepcopy(module)
    for layer in out.modules():
        if isinstance(layer, _LAYERS):
            prune.l1_unstructured(layer, name="weight", amount=amount)  # type: ignore[no-untyped-call]
            prune.remove(layer, "weight")  # type: ignore[no-untyped-call]
    return out.eval()
