"""Resolving a generator named on the command line: the demo VAE (trained once, cached) or ``module:attr``."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch

from trustplane.core.config import Settings
from trustplane.provenance._demo import VAE, TrainConfig, make_shapes, train_vae
from trustplane.provenance._errors import ProvenanceInputError
from trustplane.provenance._substitutes import prune_weights, quantize_weights

DEMO = "demo"
DEMO_SUBSTITUTES = ("int8", "int4", "prune25", "prune50", "finetune1", "finetune5")


def demo_vae(settings: Settings, seed: int = 0) -> VAE:
    """The demo VAE trained with ``seed`` on 8000 generated shapes, cached under ``<home>/provenance/demo``."""
    path = Path(settings.home) / "provenance" / "demo" / f"vae-seed{seed}.pt"
    config = TrainConfig()
    if path.is_file():
        vae = VAE(config.latent_dim, config.width)
        vae.load_state_dict(torch.load(path, weights_only=True))
        return vae.eval()
    vae = train_vae(make_shapes(8000, random_state=seed), config, random_state=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(vae.state_dict(), tmp)
    tmp.replace(path)
    return vae


def resolve_generator(settings: Settings, spec: str, *, seed: int = 0, substitute: str | None = None) -> Any:
    """``demo`` (optionally as one of :data:`DEMO_SUBSTITUTES`) or ``module:attr`` (object or zero-argument factory)."""
    if spec == DEMO:
        vae = demo_vae(settings, seed)
        if substitute is None:
            return vae.decoder
        if substitute == "int8":
            return quantize_weights(vae.decoder, 8)
        if substitute == "int4":
            return quantize_weights(vae.decoder, 4)
        if substitute in ("prune25", "prune50"):
            return prune_weights(vae.decoder, int(substitute[5:]) / 100)
        if substitute in ("finetune1", "finetune5"):
            data = make_shapes(8000, random_state=seed)
            return train_vae(
                data, TrainConfig(), init=vae, epochs=int(substitute[8:]), learning_rate=5e-4, random_state=seed + 7
            ).decoder
        raise ProvenanceInputError(
            f"unknown demo substitute {substitute!r}", hint=f"one of {', '.join(DEMO_SUBSTITUTES)}"
        )
    if substitute is not None:
        raise ProvenanceInputError("--substitute applies to the demo generator only")
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ProvenanceInputError(
            f"generator {spec!r} is neither 'demo' nor 'module:attribute'",
            hint="e.g. --generator mypkg.models:load_generator",
        )
    try:
        obj: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ProvenanceInputError(f"cannot load generator {spec}: {exc}") from None
    if not isinstance(obj, torch.nn.Module) and callable(obj) and not hasattr(obj, "latent_dim"):
        obj = obj()
    if not callable(obj):
        raise ProvenanceInputError(f"generator {spec} is not callable")
    return obj
