"""Thresholds and structured profiles: t̲ for homogeneous PROP equilibria, proportional PROX splits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit

from trustplane.markets.hdg._errors import MarketInputError
from trustplane.markets.hdg._game import FloatArray, HeterogeneousDataGame
from trustplane.markets.hdg._grid import deviation_table, simplex_grid


def _curve_losses(game: HeterogeneousDataGame, resolution: int) -> FloatArray:
    q = simplex_grid(game.n_sources, resolution)
    return game.losses(game.weighted_optimum(q))


def homogeneous_gain(game: HeterogeneousDataGame, temperatures: ArrayLike, resolution: int = 4000) -> FloatArray:
    """Best gain of a deviation from the homogeneous PROP profile at θ̄(w), for each temperature.

    All N providers sit at θ̄(w) and get 1/N; a deviator at x gets Σ_k w_k σ(−(ℓ_k(x) − ℓ_k(θ̄(w)))/t
    − log(N − 1)). The deviation is searched on a simplex grid of mixtures (every best response lies on
    the curve θ̄(q)); a value ≤ 0 means no profitable deviation on that grid.
    """
    t = np.atleast_1d(np.asarray(temperatures, dtype=np.float64))
    if np.any(t <= 0):
        raise MarketInputError("temperatures must be positive")
    n = game.n_providers
    if n < 2:
        raise MarketInputError("a homogeneous equilibrium needs at least two providers")
    ell = _curve_losses(game, resolution)
    ell0 = game.optimum_losses()
    diff = ell - ell0[None, :]  # (P, K)
    share = expit(-(diff[None, :, :] / t[:, None, None]) - np.log(n - 1.0))  # (T, P, K)
    out: FloatArray = (share @ game.weights).max(axis=1) - 1.0 / n
    return out


@dataclass(frozen=True)
class CriticalTemperature:
    """t̲: the smallest temperature at which the homogeneous profile at θ̄(w) is a PNE (PROP).

    Attributes:
        t_lower: t̲ (found by bisection on the equilibrium condition, relative precision ``rtol``).
        ell_max: ℓ_max = max_k ℓ_k(θ̄(w)).
        ratio: t̲ / (2 ℓ_max).
        resolution: grid resolution of the deviation search.
    """

    t_lower: float
    ell_max: float
    ratio: float
    resolution: int


def critical_temperature(
    game: HeterogeneousDataGame, resolution: int = 4000, rtol: float = 1e-9, tol: float = 1e-12
) -> CriticalTemperature:
    """Find t̲ by bisection on ``homogeneous_gain(t) ≤ tol`` (the rule of ``game`` is ignored: PROP)."""
    lmax = game.ell_max()
    if lmax <= 0:
        return CriticalTemperature(0.0, 0.0, 0.0, resolution)
    ell = _curve_losses(game, resolution)

    def ok(t: float) -> bool:
        return bool(_gain_from(game, ell, t) <= tol)

    hi = 2.0 * lmax
    while not ok(hi):
        hi *= 2.0
        if hi > 1e12 * lmax:
            raise MarketInputError("no temperature makes the homogeneous profile an equilibrium")
    lo = hi / 2.0
    while ok(lo):
        lo /= 2.0
        if lo < 1e-12 * lmax:
            return CriticalTemperature(0.0, lmax, 0.0, resolution)
    while hi - lo > rtol * hi:
        mid = 0.5 * (lo + hi)
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return CriticalTemperature(hi, lmax, hi / (2.0 * lmax), resolution)


def _gain_from(game: HeterogeneousDataGame, ell: FloatArray, t: float) -> float:
    diff = ell - game.optimum_losses()[None, :]
    share = expit(-diff / t - np.log(game.n_providers - 1.0))
    return float((share @ game.weights).max() - 1.0 / game.n_providers)


# --- PROX: proportional splits -----------------------------------------------------------------
def proportional_counts(weights: ArrayLike, n_providers: int) -> NDArray[np.int64]:
    """Counts n_k ≥ 1 with Σ n_k = N, proportional to the weights (largest remainder after one each)."""
    w = np.asarray(weights, dtype=np.float64)
    k = w.shape[0]
    if n_providers < k:
        raise MarketInputError(f"a proportional split needs N ≥ K ({n_providers} < {k})")
    raw = w * n_providers
    n = np.maximum(np.floor(raw).astype(np.int64), 1)
    while n.sum() > n_providers:
        j = int(np.argmax(np.where(n > 1, n - raw, -np.inf)))
        n[j] -= 1
    while n.sum() < n_providers:
        n[int(np.argmax(raw - n))] += 1
    return n


def proportional_split_condition(weights: ArrayLike, counts: ArrayLike) -> bool:
    """The sufficient condition under which n_k providers at each θ_k form a PROX equilibrium.

    With every n_k ≥ 1: for all j ≠ k, w_k / (n_k + 1) ≤ w_j / n_j when n_j ≥ 2, and
    w_k / n_k ≤ w_j when n_j = 1. It holds in particular when N·w_k are integers and n_k = N·w_k.
    """
    w = np.asarray(weights, dtype=np.float64)
    n = np.asarray(counts, dtype=np.int64)
    if w.shape != n.shape:
        raise MarketInputError("weights and counts must have the same shape")
    if np.any(n < 1):
        return False
    tol = 1e-12
    for j in range(w.size):
        for k in range(w.size):
            if j == k:
                continue
            lhs = w[k] / (n[k] + 1) if n[j] >= 2 else w[k] / n[k]
            if lhs > w[j] / n[j] + tol:
                return False
    return True


def split_profile(game: HeterogeneousDataGame, counts: ArrayLike) -> FloatArray:
    """The profile with ``counts[k]`` providers at θ_k, shape ``(N, D)``."""
    n = np.asarray(counts, dtype=np.int64)
    if n.shape != (game.n_sources,) or int(n.sum()) != game.n_providers or np.any(n < 0):
        raise MarketInputError(f"counts must be {game.n_sources} non-negative integers summing to N={game.n_providers}")
    return np.repeat(game.thetas, n, axis=0)


# --- PROP: heterogeneous equilibria on a grid --------------------------------------------------
def max_heterogeneous_temperature(
    game: HeterogeneousDataGame,
    temperatures: ArrayLike,
    resolution: int = 20,
    epsilon: float = 1e-3,
    dense_resolution: int = 2000,
    max_candidates: int = 20,
) -> float:
    """Largest temperature in ``temperatures`` at which the grid game has a two-cluster heterogeneous PNE.

    Candidates: n_a providers at grid strategy a and N − n_a at b ≠ a (1 ≤ n_a < N), on the simplex
    grid of the given resolution, that are exact PNE of the grid game; a candidate counts only if no
    deviation on a dense grid of the curve (``dense_resolution``) gains more than ``epsilon`` times
    the spread of deviation utilities (a relative ε, since payoffs flatten as t grows), which
    discards equilibria that only exist because the grid is coarse. Returns 0.0 if none is found.
    """
    q = simplex_grid(game.n_sources, resolution)
    pts = game.weighted_optimum(q)
    losses = game.losses(pts)
    s = q.shape[0]
    n = game.n_providers
    rows = []
    for a in range(s):
        for b in range(a + 1, s):
            if np.linalg.norm(pts[a] - pts[b]) <= 1e-9:
                continue
            for na in range(1, n):
                c = np.zeros(s, dtype=np.int64)
                c[a], c[b] = na, n - na
                rows.append(c)
    if not rows:
        return 0.0
    counts = np.array(rows)
    from trustplane.markets.hdg._grid import pne_mask

    dense = game.weighted_optimum(simplex_grid(game.n_sources, dense_resolution))
    for t in sorted(np.asarray(temperatures, dtype=np.float64).tolist(), reverse=True):
        g = game.with_(rule="prop", temperature=t)
        cands = counts[pne_mask(g, losses, counts, tol=1e-12)]
        for c in cands[:max_candidates]:
            prof = np.repeat(pts, c, axis=0)
            u = g.utilities(prof)
            gain = -np.inf
            for j in np.flatnonzero(c):
                i = int(np.argmax(np.repeat(np.arange(s), c) == j))
                others = np.delete(prof, i, axis=0)
                dev = g.deviation_utilities(dense, others)
                gain = max(gain, float(dev.max() - u[i]) / max(float(np.ptp(dev)), 1e-300))
            if gain <= epsilon:
                return float(t)
    return 0.0


__all__ = [
    "CriticalTemperature",
    "critical_temperature",
    "deviation_table",
    "homogeneous_gain",
    "max_heterogeneous_temperature",
    "proportional_counts",
    "proportional_split_condition",
    "split_profile",
]
