"""Simplex grids, multiset enumeration and the exact pure-equilibrium finder on a grid game."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from math import comb
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from trustplane.markets.hdg._errors import MarketInputError, SearchTooLargeError
from trustplane.markets.hdg._game import FloatArray, HeterogeneousDataGame

IntArray = NDArray[np.int64]

# Rough cost model: vectorised numpy evaluates about this many (profile, deviation, source)
# triples per second on one core; only used to refuse searches that cannot finish in time.
_UNITS_PER_SECOND = 1.5e8
_CHUNK_ROWS = 50_000


def simplex_grid(n_sources: int, resolution: int) -> FloatArray:
    """All mixtures q with entries in {0, 1/r, …, 1} summing to 1, shape ``(C(r+K-1, K-1), K)``.

    Rows are in lexicographic order, descending in the first coordinate (so q = e_1 comes first).
    """
    if n_sources < 1:
        raise MarketInputError("n_sources must be positive")
    if not isinstance(resolution, int | np.integer) or resolution < 1:
        raise MarketInputError(f"resolution must be a positive integer, got {resolution!r}")
    return _compositions(int(resolution), int(n_sources)).astype(np.float64) / float(resolution)


@lru_cache(maxsize=64)
def _compositions_cached(n: int, s: int) -> IntArray:
    if s == 1:
        return np.array([[n]], dtype=np.int64)
    parts = []
    for first in range(n, -1, -1):
        rest = _compositions_cached(n - first, s - 1)
        parts.append(np.hstack([np.full((rest.shape[0], 1), first, dtype=np.int64), rest]))
    out = np.vstack(parts)
    out.setflags(write=False)
    return out


def _compositions(n: int, s: int) -> IntArray:
    return _compositions_cached(n, s)


def n_multisets(n_providers: int, n_strategies: int) -> int:
    """Number of symmetric profiles: multisets of size N from S strategies, C(N+S−1, S−1)."""
    return comb(n_providers + n_strategies - 1, n_strategies - 1)


def iter_count_vectors(n: int, s: int, max_rows: int = _CHUNK_ROWS) -> Iterator[IntArray]:
    """Every count vector c ∈ ℕ^s with Σc = n, in chunks of at most about ``max_rows`` rows."""
    if comb(n + s - 1, s - 1) <= max_rows or s == 1:
        yield _compositions(n, s)
        return
    for first in range(n, -1, -1):
        for chunk in iter_count_vectors(n - first, s - 1, max_rows):
            yield np.hstack([np.full((chunk.shape[0], 1), first, dtype=np.int64), chunk])


def _masked_min(counts: IntArray, losses: FloatArray) -> FloatArray:
    """Per profile and source, the least loss among strategies with a positive count: (M, K)."""
    big = np.where(counts[:, :, None] > 0, losses[None, :, :], np.inf)
    out: FloatArray = big.min(axis=1)
    return out


def deviation_table(game: HeterogeneousDataGame, losses: FloatArray, others: IntArray) -> FloatArray:
    """Utility of moving to each grid strategy, given the others' counts: (M, S).

    ``losses`` is the (S, K) loss table of the grid strategies, ``others`` an (M, S) count array.
    """
    w = game.weights
    m = _masked_min(others, losses)  # (M, K)
    if game.rule == "prop":
        t = float(game.temperature or 1.0)
        # log Σ_s o_s exp(-L_sk/t), stabilised by the smallest loss present.
        scaled = np.exp(
            np.minimum(-(losses[None, :, :] - m[:, None, :]) / t, 0.0)
        )  # (M, S, K), entries ≤ 1 where o_s > 0
        z = np.einsum("ms,msk->mk", others.astype(np.float64), np.where(others[:, :, None] > 0, scaled, 0.0))
        log_z = np.log(z) - m / t  # (M, K)
        arg = log_z[:, None, :] + losses[None, :, :] / t
        share = 1.0 / (1.0 + np.exp(np.minimum(arg, 700.0)))
    else:
        tol = game._tie_tol
        at_min = losses[None, :, :] <= m[:, None, :] + tol  # (M, S, K)
        cnt = np.einsum("ms,msk->mk", others.astype(np.float64), at_min.astype(np.float64))
        strict = losses[None, :, :] < m[:, None, :] - tol
        tie = np.abs(losses[None, :, :] - m[:, None, :]) <= tol
        share = strict + tie / (cnt[:, None, :] + 1.0)
    out: FloatArray = share @ w
    return out


def pne_mask(
    game: HeterogeneousDataGame, losses: FloatArray, counts: IntArray, tol: float = 1e-12
) -> NDArray[np.bool_]:
    """Which symmetric profiles (rows of ``counts``, (M, S)) are pure Nash equilibria of the grid game.

    By symmetry a provider's payoff only depends on its strategy and the multiset of the others, so
    it suffices to check one provider per distinct strategy in use: its best deviation payoff
    against the others must not exceed what it gets.
    """
    ok = np.ones(counts.shape[0], dtype=bool)
    for s in range(counts.shape[1]):
        rows = np.flatnonzero(ok & (counts[:, s] > 0))
        if rows.size == 0:
            continue
        others = counts[rows].copy()
        others[:, s] -= 1
        dev = deviation_table(game, losses, others)
        ok[rows] = dev.max(axis=1) <= dev[:, s] + tol
    return ok


@dataclass(frozen=True)
class GridEquilibria:
    """Pure Nash equilibria of the grid game.

    Attributes:
        mixtures: the grid of mixtures q, shape ``(S, K)``.
        strategies: the strategies θ̄(q), shape ``(S, D)``.
        equilibria: one count vector per equilibrium (how many providers use each strategy), ``(E, S)``.
        utilities: utility of a provider using each strategy in each equilibrium (NaN where unused), ``(E, S)``.
        n_profiles: how many profiles were checked.
        method: ``"symmetric"`` (multisets) or ``"full"`` (ordered profiles).
        resolution: grid resolution r.
        elapsed_s: wall time of the search.
    """

    mixtures: FloatArray
    strategies: FloatArray
    equilibria: IntArray
    utilities: FloatArray
    n_profiles: int
    method: str
    resolution: int
    elapsed_s: float

    @property
    def n_equilibria(self) -> int:
        return int(self.equilibria.shape[0])

    def heterogeneous(self) -> NDArray[np.bool_]:
        """Which equilibria use at least two distinct points (distinct grid mixtures may coincide in θ)."""
        out = np.zeros(self.n_equilibria, dtype=bool)
        for i, c in enumerate(self.equilibria):
            pts = self.strategies[c > 0]
            out[i] = bool(np.ptp(pts, axis=0).max() > 1e-9) if pts.shape[0] > 1 else False
        return out

    def profiles(self) -> list[FloatArray]:
        """Each equilibrium as an (N, D) array of provider positions."""
        return [np.repeat(self.strategies, c, axis=0) for c in self.equilibria]


class GridEquilibriumSolver:
    """Exact enumeration of the pure Nash equilibria of the game restricted to a grid on the curve θ̄(q).

    Args:
        resolution: simplex grid resolution r; the grid has S = C(r+K−1, K−1) strategies.
        method: ``"symmetric"`` counts profiles as multisets (C(N+S−1, S−1) of them); ``"full"``
            enumerates all S^N ordered profiles (for cross-checks on tiny games).
        max_seconds: refuse (``SearchTooLargeError``) searches estimated to take longer.
        tol: payoff tolerance of the equilibrium check.
        mixtures: an explicit (S, K) strategy grid of mixtures, overriding ``resolution``.
    """

    def __init__(
        self,
        resolution: int = 20,
        method: Literal["symmetric", "full"] = "symmetric",
        max_seconds: float = 60.0,
        tol: float = 1e-12,
        mixtures: FloatArray | None = None,
    ) -> None:
        self.resolution = resolution
        self.method = method
        self.max_seconds = max_seconds
        self.tol = tol
        self.mixtures = mixtures

    def _grid(self, game: HeterogeneousDataGame) -> FloatArray:
        if self.mixtures is not None:
            q = np.asarray(self.mixtures, dtype=np.float64)
            if q.ndim != 2 or q.shape[1] != game.n_sources:
                raise MarketInputError(f"mixtures must have shape (S, {game.n_sources}), got {q.shape}")
            if np.any(q < 0) or np.any(np.abs(q.sum(axis=1) - 1.0) > 1e-9):
                raise MarketInputError("each mixture must lie on the simplex")
            return q
        return simplex_grid(game.n_sources, self.resolution)

    def estimate_seconds(self, game: HeterogeneousDataGame) -> float:
        """Predicted wall time of :meth:`solve`, from the number of profiles and the cost model."""
        s = self._grid(game).shape[0]
        n = game.n_providers
        profiles = n_multisets(n, s) if self.method == "symmetric" else s**n
        per_profile = (min(n, s) if self.method == "symmetric" else n) * s * s * game.n_sources
        return float(profiles * per_profile / _UNITS_PER_SECOND)

    def solve(self, game: HeterogeneousDataGame) -> GridEquilibriumSolver:
        """Enumerate; sets ``result_`` (a :class:`GridEquilibria`) and returns self."""
        if self.method not in ("symmetric", "full"):
            raise MarketInputError(f"method must be 'symmetric' or 'full', got {self.method!r}")
        if not self.max_seconds > 0:
            raise MarketInputError("max_seconds must be positive")
        q = self._grid(game)
        s = q.shape[0]
        n = game.n_providers
        est = self.estimate_seconds(game)
        if est > self.max_seconds:
            if self.method == "full":
                raise SearchTooLargeError(
                    f"the full search over {s}^{n} = {s**n:.3g} ordered profiles would take about {est:.3g} s,"
                    f" more than the {self.max_seconds:g} s allowed",
                    hint="use the symmetric solver (method='symmetric'), which counts profiles as multisets",
                    estimate_s=est,
                )
            raise SearchTooLargeError(
                f"the symmetric search over C({n}+{s}-1, {s}-1) = {n_multisets(n, s):.3g} profiles would take about"
                f" {est:.3g} s, more than the {self.max_seconds:g} s allowed",
                hint="lower the grid resolution, raise max_seconds, or certify candidate profiles with EpsilonCertifier",
                estimate_s=est,
            )
        pts = game.weighted_optimum(q)
        losses = game.losses(pts)
        t0 = time.perf_counter()
        found: list[IntArray] = []
        checked = 0
        if self.method == "symmetric":
            for chunk in iter_count_vectors(n, s):
                checked += chunk.shape[0]
                found.append(chunk[pne_mask(game, losses, chunk, self.tol)])
        else:
            found.append(self._full(game, losses, s, n))
            checked = s**n
        eq = np.vstack(found) if found else np.zeros((0, s), dtype=np.int64)
        utils = np.full(eq.shape, np.nan)
        for i, c in enumerate(eq):
            for j in np.flatnonzero(c):
                others = c.copy()
                others[j] -= 1
                utils[i, j] = deviation_table(game, losses, others[None, :])[0, j]
        self.result_ = GridEquilibria(
            mixtures=q,
            strategies=pts,
            equilibria=eq,
            utilities=utils,
            n_profiles=checked,
            method=self.method,
            resolution=int(self.resolution),
            elapsed_s=time.perf_counter() - t0,
        )
        return self

    def _full(self, game: HeterogeneousDataGame, losses: FloatArray, s: int, n: int) -> IntArray:
        """Ordered profiles: check every provider's deviations; return equilibria as count vectors."""
        seen: set[tuple[int, ...]] = set()
        out: list[IntArray] = []
        idx = np.indices((s,) * n).reshape(n, -1).T  # (S^N, N)
        for start in range(0, idx.shape[0], _CHUNK_ROWS):
            prof = idx[start : start + _CHUNK_ROWS]
            ok = np.ones(prof.shape[0], dtype=bool)
            for p in range(n):
                rows = np.flatnonzero(ok)
                others = np.zeros((rows.size, s), dtype=np.int64)
                for j in range(n):
                    if j != p:
                        np.add.at(others, (np.arange(rows.size), prof[rows, j]), 1)
                dev = deviation_table(game, losses, others)
                own = dev[np.arange(rows.size), prof[rows, p]]
                ok[rows] = dev.max(axis=1) <= own + self.tol
            for row in prof[ok]:
                c = np.bincount(row, minlength=s)
                key = tuple(int(v) for v in c)
                if key not in seen:
                    seen.add(key)
                    out.append(c.astype(np.int64))
        return np.array(out, dtype=np.int64).reshape(-1, s)
