"""torch is an optional dependency (the ``ml`` extra): import it here, with an error that names the install."""

from __future__ import annotations

from typing import Any

from trustplane.core.errors import MissingDependencyError


def require_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise MissingDependencyError(
            "image provenance needs torch", hint="pip install 'trustplane[ml]' (torch==2.13.0)"
        ) from None
    return torch
