"""The arena's integrity policy and the leaderboard's fit parameters: frozen, recorded with every snapshot."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from trustplane.arena._errors import ArenaInputError

DAY_MS = 86_400_000


@dataclass(frozen=True)
class ArenaPolicy:
    """Rules that keep the leaderboard honest. Every snapshot records the policy it was computed under.

    Attributes:
        max_private_variants: most unpublished (private) variants a provider may hold at once.
        publish_after_votes: a private variant is published once this many votes involve it ...
        publish_after_ms: ... or this long after its registration, whichever comes first.
        selection_window_ms: best-of-N correction: N counts the provider's variants registered in this window
            before the variant's publication (the variant itself included).
        provisional_votes: a published variant is "provisional" until this many votes arrive after publication.
        uniform_floor: share of the sampling probability spread uniformly over all pairs (the rest targets
            uncertainty), so every pair has probability at least ``uniform_floor / #pairs``.
        deprecation_min_votes: a variant may be deprecated only with at least this many votes in every prompt
            category that is ...
        category_min_share: ... at least this share of all votes (the stratified deprecation rule).
    """

    max_private_variants: int = 3
    publish_after_votes: int = 1000
    publish_after_ms: int = 30 * DAY_MS
    selection_window_ms: int = 60 * DAY_MS
    provisional_votes: int = 300
    uniform_floor: float = 0.25
    deprecation_min_votes: int = 50
    category_min_share: float = 0.05

    def __post_init__(self) -> None:
        positive = ("publish_after_votes", "publish_after_ms", "selection_window_ms")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ArenaInputError(f"policy {name} must be at least 1, not {getattr(self, name)!r}")
        for name in ("max_private_variants", "provisional_votes", "deprecation_min_votes"):
            if int(getattr(self, name)) < 0:
                raise ArenaInputError(f"policy {name} must not be negative, not {getattr(self, name)!r}")
        if not 0 < self.uniform_floor <= 1:
            raise ArenaInputError(f"policy uniform_floor must lie in (0, 1], not {self.uniform_floor!r}")
        if not 0 <= self.category_min_share <= 1:
            raise ArenaInputError(f"policy category_min_share must lie in [0, 1], not {self.category_min_share!r}")

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ArenaPolicy:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ArenaInputError(f"unknown policy fields: {', '.join(unknown)}")
        return cls(**data)


TIES = ("half", "davidson", "rao_kupper")
CI_METHODS = ("sandwich", "bootstrap")


@dataclass(frozen=True)
class FitParams:
    """How the leaderboard is fitted (all recorded in the snapshot, so that it can be rebuilt exactly).

    Attributes:
        ties: tie model of :class:`~trustplane.arena.ratings.BradleyTerry` (``half``, ``davidson``, ``rao_kupper``).
        ci: ``sandwich`` or ``bootstrap``.
        n_bootstrap: bootstrap rounds (``ci="bootstrap"``).
        seed: seed of the bootstrap.
        confidence: level of the intervals.
        anchor: a variant fixed at ``anchor_rating`` (default: ratings centred at 1000).
        anchor_rating: the anchor's rating.
        ipw: weight each battle by 1 / its logged sampling probability.
    """

    ties: str = "half"
    ci: str = "sandwich"
    n_bootstrap: int = 100
    seed: int = 0
    confidence: float = 0.95
    anchor: str | None = None
    anchor_rating: float = 1000.0
    ipw: bool = True

    def __post_init__(self) -> None:
        if self.ties not in TIES:
            raise ArenaInputError(f"ties must be one of {', '.join(TIES)}, not {self.ties!r}")
        if self.ci not in CI_METHODS:
            raise ArenaInputError(f"ci must be one of {', '.join(CI_METHODS)}, not {self.ci!r}")
        if not 2 <= self.n_bootstrap <= 100_000:
            raise ArenaInputError(f"n_bootstrap must lie in 2..100000, not {self.n_bootstrap!r}")
        if not 0 < self.confidence < 1:
            raise ArenaInputError(f"confidence must lie in (0, 1), not {self.confidence!r}")
        if self.seed < 0:
            raise ArenaInputError(f"seed must not be negative, not {self.seed!r}")

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FitParams:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ArenaInputError(f"unknown fit parameters: {', '.join(unknown)}")
        return cls(**data)
