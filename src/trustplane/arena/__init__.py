"""The arena: pairwise battles between models and the ratings computed from them.

Only the rating engine lives here so far (:mod:`trustplane.arena.ratings`); its public names are re-exported.
"""

from __future__ import annotations

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
)

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
]
