"""The heterogeneous data game: ML providers competing for heterogeneous data sources.

K sources (weights w_k, parameters θ_k, covariances Σ_k) pick among N providers' models θ̂_n by PROX
(lowest loss wins, ties split) or PROP (logit, temperature t). See ``docs/markets-hdg.md``.

- :class:`HeterogeneousDataGame`, :func:`random_game`: the game, losses, utilities, best responses.
- :class:`GridEquilibriumSolver`: exact pure equilibria of the grid game, symmetric (multisets).
- :class:`EpsilonCertifier`: certified ε for a profile over continuous strategies.
- :func:`critical_temperature`, :func:`max_heterogeneous_temperature`, proportional splits, the sweep.
"""

from trustplane.markets.hdg._certify import EpsilonCertificate, EpsilonCertifier, certify_profile
from trustplane.markets.hdg._errors import MarketInputError, SearchTooLargeError
from trustplane.markets.hdg._game import HeterogeneousDataGame, random_game
from trustplane.markets.hdg._grid import GridEquilibria, GridEquilibriumSolver, n_multisets, simplex_grid
from trustplane.markets.hdg._sweep import SweepResult, plot_sweep, run_sweep
from trustplane.markets.hdg._theory import (
    CriticalTemperature,
    critical_temperature,
    homogeneous_gain,
    max_heterogeneous_temperature,
    proportional_counts,
    proportional_split_condition,
    split_profile,
)

__all__ = [
    "CriticalTemperature",
    "EpsilonCertificate",
    "EpsilonCertifier",
    "GridEquilibria",
    "GridEquilibriumSolver",
    "HeterogeneousDataGame",
    "MarketInputError",
    "SearchTooLargeError",
    "SweepResult",
    "certify_profile",
    "critical_temperature",
    "homogeneous_gain",
    "max_heterogeneous_temperature",
    "n_multisets",
    "plot_sweep",
    "proportional_counts",
    "proportional_split_condition",
    "random_game",
    "run_sweep",
    "simplex_grid",
    "split_profile",
]
