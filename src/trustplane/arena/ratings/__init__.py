"""The arena's rating engine: Bradley–Terry on aggregated pair counts, fitted by Newton's method.

Public API:

* :class:`BradleyTerry`: ratings on the Elo scale with an anchor; ties as half wins, Davidson or Rao–Kupper;
  sandwich or vectorised-bootstrap intervals and simultaneous rank intervals; inverse-propensity weights;
  O(1) :meth:`~BradleyTerry.add_battle` and warm-started :meth:`~BradleyTerry.refit`.
* :class:`StyleControlledBT`: contextual BT with style-feature coefficients.
* :class:`BattleCounts`: the aggregated counts (sufficient statistics).
* :class:`Ratings`, :class:`StyleRatings`, :class:`RankIntervals`: frozen results.
* :func:`best_of_n_correction`, :func:`best_of_n_inflation`, :func:`expected_max_normal`: selection effects
  of publishing the best of N private variants.
* Errors (all :class:`~trustplane.core.errors.InvalidInputError`): :class:`RatingsError`,
  :class:`InvalidBattleError`, :class:`UnknownModelError`, :class:`NotFittedError`,
  :class:`DisconnectedGraphError` (``arena.disconnected``), :class:`NoFiniteMLEError` (``arena.no_finite_mle``).

See ``docs/arena-ratings.md``.
"""

from __future__ import annotations

from trustplane.arena.ratings._counts import BattleCounts
from trustplane.arena.ratings._errors import (
    DisconnectedGraphError,
    InvalidBattleError,
    NoFiniteMLEError,
    NotFittedError,
    RatingsError,
    UnknownModelError,
)
from trustplane.arena.ratings._estimator import BradleyTerry
from trustplane.arena.ratings._results import RankIntervals, Ratings, StyleRatings
from trustplane.arena.ratings._selection import best_of_n_correction, best_of_n_inflation, expected_max_normal
from trustplane.arena.ratings._style import StyleControlledBT

__all__ = [
    "BattleCounts",
    "BradleyTerry",
    "DisconnectedGraphError",
    "InvalidBattleError",
    "NoFiniteMLEError",
    "NotFittedError",
    "RankIntervals",
    "Ratings",
    "RatingsError",
    "StyleControlledBT",
    "StyleRatings",
    "UnknownModelError",
    "best_of_n_correction",
    "best_of_n_inflation",
    "expected_max_normal",
]
