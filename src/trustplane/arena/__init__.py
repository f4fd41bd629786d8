"""The arena: pairwise battles between models and the ratings computed from them.

Public API so far: the rating engine (:mod:`trustplane.arena.ratings`, re-exported here) and
:class:`BattleTable`, the columnar battles that importers, exporters, the store and the engine share.
"""

from __future__ import annotations

from trustplane.arena._table import OPTIONAL_COLUMNS, OUTCOMES, BattleTable
from trustplane.arena.ratings import (
    BattleCounts,
    BradleyTerry,
    DisconnectedGraphError,
    InvalidBattleError,
    NoFiniteMLEError,
    NotFittedError,
    RankIntervals,
    Ratings,
    RatingsError,
    StyleControlledBT,
    StyleRatings,
    UnknownModelError,
    best_of_n_correction,
    best_of_n_inflation,
    expected_max_normal,
)

__all__ = [
    "OPTIONAL_COLUMNS",
    "OUTCOMES",
    "BattleCounts",
    "BattleTable",
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
