"""Finding the installed capabilities' modules, for the surfaces (CLI, server) to mount."""

from __future__ import annotations

import importlib
from types import ModuleType

CAPABILITIES = ("access", "arena", "provenance", "values", "privacy", "unlearning", "markets", "confidential", "impact")


def capability_modules(submodule: str) -> list[tuple[str, ModuleType]]:
    """``trustplane.<cap>.<submodule>`` for every capability that has one, in a fixed order.

    A capability or submodule that does not exist is skipped; an import error *inside* one is not
    hidden.
    """
    found = []
    for cap in CAPABILITIES:
        name = f"trustplane.{cap}.{submodule}"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name in (name, f"trustplane.{cap}"):
                continue
            raise
        found.append((cap, module))
    return found
