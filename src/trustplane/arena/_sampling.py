"""Active pair sampling: draw the pair whose rating difference is most uncertain, with a uniform floor.

For active variants ``1..m`` and every unordered pair ``{i, j}``::

    P(i, j) = (1 - γ) · u_ij / Σ u  +  γ / #pairs

where ``u_ij`` is the variance of the estimated rating difference ``r_i − r_j`` (from the sandwich covariance of
the current fit) and ``γ`` is the policy's uniform floor, so every pair keeps probability ≥ γ / #pairs. Until a
finite fit exists (too few battles, a disconnected graph, a variant that never lost), the variance is replaced
by its count proxy ``1/(n_i + 1) + 1/(n_j + 1)`` (``n``: votes involving the variant), which favours the
variants with the least data. The exact probability of the drawn pair is logged with the battle, so fits can
weight by its inverse (IPW).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from trustplane.arena._errors import ArenaInputError, NoPairError


@dataclass(frozen=True)
class PairDistribution:
    """The sampling distribution over unordered pairs of active variants.

    ``pairs[k] = (i, j)`` indexes ``variants`` with ``i < j``; ``prob[k]`` is its probability (they sum to 1);
    ``uncertainty[k]`` the variance proxy it was computed from; ``source`` says which (``fit`` or ``counts``).
    """

    variants: tuple[str, ...]
    pairs: tuple[tuple[int, int], ...]
    prob: NDArray[np.float64]
    uncertainty: NDArray[np.float64]
    floor: float
    source: str

    def probability(self, a: str, b: str) -> float:
        """P({a, b})."""
        i, j = sorted((self.variants.index(a), self.variants.index(b)))
        return float(self.prob[self.pairs.index((i, j))])

    def draw(self, rng: np.random.Generator) -> tuple[str, str, float]:
        """One pair, in random order (A/B sides are a fair coin), and its probability."""
        k = int(rng.choice(len(self.pairs), p=self.prob))
        i, j = self.pairs[k]
        a, b = (self.variants[i], self.variants[j]) if rng.random() < 0.5 else (self.variants[j], self.variants[i])
        return a, b, float(self.prob[k])

    def as_json(self) -> list[dict[str, object]]:
        return [
            {
                "variant_a": self.variants[i],
                "variant_b": self.variants[j],
                "probability": float(p),
                "uncertainty": float(u),
            }
            for (i, j), p, u in zip(self.pairs, self.prob, self.uncertainty, strict=True)
        ]


def pair_distribution(
    variants: Sequence[str],
    *,
    votes: Mapping[str, int],
    floor: float,
    covariance: NDArray[np.float64] | None = None,
    fitted: Sequence[str] | None = None,
) -> PairDistribution:
    """Sampling probabilities over the pairs of ``variants``.

    Args:
        variants: the active variants (registered, sampleable, not deprecated), in a fixed order.
        votes: votes per variant (for the count proxy).
        floor: the uniform share γ in (0, 1].
        covariance: covariance of the fitted ratings (Elo²), aligned with ``fitted``; used only when every active
            variant is among ``fitted``.
        fitted: the variants of the fit.
    """
    names = tuple(variants)
    m = len(names)
    if m < 2:
        raise NoPairError(
            f"{m} variant(s) can be sampled; a battle needs two",
            hint="register variants with a configured model (trustplane arena register)",
            active=list(names),
        )
    if len(set(names)) != m:
        raise ArenaInputError("variants must be distinct")
    if not 0 < floor <= 1:
        raise ArenaInputError(f"the uniform floor must lie in (0, 1], not {floor!r}")
    iu, ju = np.triu_indices(m, 1)
    source = "counts"
    unc: NDArray[np.float64] | None = None
    if covariance is not None and fitted is not None and set(names) <= set(fitted):
        pos = np.array([list(fitted).index(v) for v in names])
        cov = np.asarray(covariance, dtype=np.float64)[np.ix_(pos, pos)]
        var = np.diag(cov)[iu] + np.diag(cov)[ju] - 2 * cov[iu, ju]
        if np.all(np.isfinite(var)) and np.all(var >= 0) and float(var.sum()) > 0:
            unc, source = var, "fit"
    if unc is None:
        n = np.array([float(votes.get(v, 0)) for v in names])
        unc = 1.0 / (n[iu] + 1.0) + 1.0 / (n[ju] + 1.0)
    n_pairs = len(iu)
    prob = (1.0 - floor) * unc / unc.sum() + floor / n_pairs
    prob = prob / prob.sum()
    pairs = tuple((int(i), int(j)) for i, j in zip(iu, ju, strict=True))
    return PairDistribution(names, pairs, prob, np.asarray(unc, dtype=np.float64), floor, source)
