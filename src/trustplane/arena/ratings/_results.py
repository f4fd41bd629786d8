"""Frozen result types of the rating engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class RankIntervals:
    """Simultaneous rank intervals: with probability ≈ ``confidence`` every model's rank lies in its interval.

    ``lower[m] = 1 + #{k significantly above m}`` and ``upper[m] = M − #{k significantly below m}``, where
    "significantly" means the simultaneous interval for ``rating_k − rating_m`` over all pairs excludes 0.
    ``critical_value`` is the multiplier applied to each difference's standard error (max-type bootstrap
    quantile, or the Bonferroni normal quantile for the sandwich).
    """

    lower: NDArray[np.int64]
    upper: NDArray[np.int64]
    method: str
    critical_value: float


@dataclass(frozen=True)
class Ratings:
    """Fitted Elo-scale ratings, with intervals when requested.

    Arrays are aligned with ``models``. ``lower``/``upper`` are per-model ``confidence`` intervals (not
    simultaneous); ``ranks`` holds simultaneous rank intervals.
    """

    models: tuple[str, ...]
    rating: NDArray[np.float64]
    rank: NDArray[np.int64]
    anchor: str | None
    ties: str
    tie_param: float | None
    n_battles: int
    n_pairs: int
    log_likelihood: float
    n_iter: int
    converged: bool
    ci_method: str | None = None
    confidence: float = 0.95
    se: NDArray[np.float64] | None = None
    lower: NDArray[np.float64] | None = None
    upper: NDArray[np.float64] | None = None
    ranks: RankIntervals | None = None
    bootstrap: NDArray[np.float64] | None = None
    bootstrap_failed: int = 0

    def as_dict(self) -> dict[str, float]:
        """Model → rating."""
        return {m: float(r) for m, r in zip(self.models, self.rating, strict=True)}

    def table(self) -> list[dict[str, Any]]:
        """One row per model, best first: name, rating, rank and the intervals that were computed."""
        rows: list[dict[str, Any]] = []
        for k in np.argsort(-self.rating, kind="stable"):
            row: dict[str, Any] = {"model": self.models[k], "rating": float(self.rating[k]), "rank": int(self.rank[k])}
            if self.lower is not None and self.upper is not None and self.se is not None:
                row |= {"se": float(self.se[k]), "lower": float(self.lower[k]), "upper": float(self.upper[k])}
            if self.ranks is not None:
                row |= {"rank_lower": int(self.ranks.lower[k]), "rank_upper": int(self.ranks.upper[k])}
            rows.append(row)
        return rows


@dataclass(frozen=True)
class StyleRatings:
    """Style-controlled ratings: model ratings net of the style features, and the style coefficients.

    ``style_coef`` is on the Elo scale: the rating-point advantage per unit of each feature difference.
    """

    models: tuple[str, ...]
    rating: NDArray[np.float64]
    se: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    style_names: tuple[str, ...]
    style_coef: NDArray[np.float64]
    style_se: NDArray[np.float64]
    anchor: str | None
    n_battles: int
    log_likelihood: float
    n_iter: int
    converged: bool
    confidence: float = 0.95

    def as_dict(self) -> dict[str, float]:
        """Model → style-controlled rating."""
        return {m: float(r) for m, r in zip(self.models, self.rating, strict=True)}

    def coefficients(self) -> dict[str, float]:
        """Style feature → coefficient (Elo points per unit)."""
        return {n: float(c) for n, c in zip(self.style_names, self.style_coef, strict=True)}
