"""Errors of the arena simulations, each with a stable code."""

from __future__ import annotations

from trustplane.core.errors import InvalidInputError


class SimulationInputError(InvalidInputError):
    """Simulation parameters that cannot be simulated: bad shapes, negative rates, too few models or battles."""

    code = "arena.simulate.invalid"
    title = "Invalid simulation parameters"
