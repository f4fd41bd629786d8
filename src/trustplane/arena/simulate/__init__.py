"""Simulations of the illusions an arena leaderboard must defend against, and of the safeguards.

Public API:

* The battle generator: :class:`TrueRatings` (known ratings per prompt category, providers, Davidson ties),
  :func:`generate_battles` (categories from a mix, pairs by per-model sampling rates, logged sampling
  probabilities; vectorised and seeded), :func:`play_battles` (outcomes of a fixed schedule) and
  :class:`SimulatedBattles` (integer columns; ``table()`` gives a :class:`~trustplane.arena.BattleTable`).
* :func:`simulate_best_of_n` / :func:`plot_best_of_n`: selective disclosure of the best of N private variants,
  against ``SE · E[max of N N(0,1)]``; all-published mean, best-of-N correction, fresh-vote provisional period.
* :func:`simulate_sampling` / :func:`plot_sampling`: unequal sampling rates between providers; inverse-propensity
  weighting with the logged probabilities, and the per-provider sampling-share report (:func:`provider_shares`).
* :func:`simulate_deprecation` / :func:`plot_deprecation`: silent deprecation under a shifting prompt mix and
  the rank flips it causes; deprecated models kept in the fit and battles stratified by category.
* Results are frozen dataclasses with the numbers, the seed and the parameters (``as_dict()`` for JSON); each
  carries :class:`Illusion` rows: the illusion's size without and with its safeguard, with Monte Carlo errors.
* :class:`SimulationInputError` (``arena.simulate.invalid``) for parameters that cannot be simulated.

See ``docs/arena-simulate.md``.
"""

from __future__ import annotations

from trustplane.arena.simulate._battles import (
    ELO_PER_NAT,
    OUTCOME_LABELS,
    SimulatedBattles,
    TrueRatings,
    generate_battles,
    play_battles,
)
from trustplane.arena.simulate._best_of_n import BestOfNResult, BestOfNSetup, plot_best_of_n, simulate_best_of_n
from trustplane.arena.simulate._common import Illusion
from trustplane.arena.simulate._deprecation import (
    DeprecationFit,
    DeprecationResult,
    DeprecationSetup,
    plot_deprecation,
    simulate_deprecation,
)
from trustplane.arena.simulate._errors import SimulationInputError
from trustplane.arena.simulate._sampling import (
    ProviderShare,
    SamplingResult,
    SamplingSetup,
    SamplingSummary,
    plot_sampling,
    provider_shares,
    simulate_sampling,
)

__all__ = [
    "ELO_PER_NAT",
    "OUTCOME_LABELS",
    "BestOfNResult",
    "BestOfNSetup",
    "DeprecationFit",
    "DeprecationResult",
    "DeprecationSetup",
    "Illusion",
    "ProviderShare",
    "SamplingResult",
    "SamplingSetup",
    "SamplingSummary",
    "SimulatedBattles",
    "SimulationInputError",
    "TrueRatings",
    "generate_battles",
    "play_battles",
    "plot_best_of_n",
    "plot_deprecation",
    "plot_sampling",
    "provider_shares",
    "simulate_best_of_n",
    "simulate_deprecation",
    "simulate_sampling",
]
