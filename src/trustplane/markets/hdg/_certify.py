"""Certified ε-equilibria for continuous strategies.

For a profile, ε = max_n (sup_x u_n(x; others) − u_n). The supremum over all of R^D is attained on
the curve θ̄(q) (every critical point of a PROP deviation utility, and every minimiser of the max of
convex losses that decides PROX regions, is a matrix-weighted optimum θ̄(q)), so it is searched there:

- PROX: exactly, by checking the finitely many regions. For each set A of sources, the deviator can
  strictly win all of A iff v_A = min_x max_{k∈A} (ℓ_k(x) − m_k) < 0, where m_k is the best loss
  the others offer source k. v_A is a convex problem; its dual max_{q ∈ Δ(A)} Σ q_k (ℓ_k(θ̄(q)) − m_k)
  gives a lower bound and θ̄(q*) an upper bound. When v_A = 0 the closed region is the single point
  θ̄(q*) (the losses are strictly convex), whose utility, ties included, is evaluated directly.
- PROP: the deviation utility f(q) is smooth; a lower bound comes from evaluating points, an upper
  bound from a Lipschitz bound on f along the curve. For K = 2 this is branch and bound on
  q = (λ, 1−λ) with interval-local Lipschitz constants; for K ≥ 3 a simplex grid plus a global one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize

from trustplane.markets.hdg._errors import MarketInputError
from trustplane.markets.hdg._game import FloatArray, HeterogeneousDataGame
from trustplane.markets.hdg._grid import simplex_grid


@dataclass(frozen=True)
class EpsilonCertificate:
    """How far a profile is from a pure Nash equilibrium over continuous strategies.

    Attributes:
        epsilon: certified upper bound on ε = max_n (sup deviation utility − u_n).
        epsilon_lower: a lower bound on ε, attained by an explicit deviation (``best_deviation``).
        utilities: each provider's utility in the profile.
        best_deviation: the most profitable deviation point found, and ``deviator`` who makes it.
        deviator: index of the provider with the largest gain.
        method: ``"prox-exact"``, ``"prop-branch-and-bound"`` or ``"prop-grid-lipschitz"``.
        evaluations: number of utility evaluations spent.
    """

    epsilon: float
    epsilon_lower: float
    utilities: FloatArray
    best_deviation: FloatArray
    deviator: int
    method: str
    evaluations: int

    def is_equilibrium(self, tol: float = 1e-9) -> bool:
        """Certified ε-equilibrium with ε ≤ tol."""
        return self.epsilon <= tol


class EpsilonCertifier:
    """Certify how close a profile is to a pure Nash equilibrium of the continuous game.

    Args:
        target: stop refining once the PROP upper bound is within ``target`` of the lower bound.
        max_evaluations: budget of utility evaluations per provider (PROP).
        resolution: PROP grid resolution for K ≥ 3, and the initial grid for K = 2.
        stop_when_refuted: stop refining (PROP, K = 2) once an explicit deviation gains more than
            ``10·target``: the profile is then proved not to be an equilibrium and ``epsilon`` is only
            a looser upper bound.
    """

    def __init__(
        self,
        target: float = 1e-6,
        max_evaluations: int = 2_000_000,
        resolution: int = 256,
        stop_when_refuted: bool = True,
    ) -> None:
        self.target = target
        self.stop_when_refuted = stop_when_refuted
        self.max_evaluations = max_evaluations
        self.resolution = resolution

    def certify(self, game: HeterogeneousDataGame, profile: ArrayLike) -> EpsilonCertificate:
        """Certificate for ``profile`` (shape ``(N, D)``)."""
        if not self.target > 0:
            raise MarketInputError("target must be positive")
        x = game._check_profile(profile, game.n_providers)
        u = game.utilities(x)
        best_gain_hi, best_gain_lo = -np.inf, -np.inf
        best_point = x[0]
        deviator = 0
        evals = 0
        done: dict[bytes, tuple[float, float, FloatArray, int]] = {}
        method = ""
        for n in range(game.n_providers):
            others = np.delete(x, n, axis=0)
            key = np.round(x[n], 12).tobytes()
            if key not in done:
                if game.rule == "prox":
                    hi, lo, pt, ev = _prox_sup(game, others)
                    method = "prox-exact"
                elif game.n_sources == 2:
                    stop = float(u[n]) + 10 * self.target if self.stop_when_refuted else np.inf
                    hi, lo, pt, ev = _prop_sup_bnb(
                        game, others, self.target, self.max_evaluations, self.resolution, stop
                    )
                    method = "prop-branch-and-bound"
                else:
                    hi, lo, pt, ev = _prop_sup_grid(game, others, self.resolution)
                    method = "prop-grid-lipschitz"
                done[key] = (hi, lo, pt, ev)
                evals += ev
            hi, lo, pt, _ = done[key]
            if hi - u[n] > best_gain_hi:
                best_gain_hi = hi - u[n]
            if lo - u[n] > best_gain_lo:
                best_gain_lo, best_point, deviator = lo - u[n], pt, n
        return EpsilonCertificate(
            epsilon=float(best_gain_hi),
            epsilon_lower=float(best_gain_lo),
            utilities=u,
            best_deviation=np.asarray(best_point, dtype=np.float64),
            deviator=int(deviator),
            method=method,
            evaluations=int(evals),
        )


def certify_profile(game: HeterogeneousDataGame, profile: ArrayLike, **kwargs: float) -> EpsilonCertificate:
    """Shorthand for ``EpsilonCertifier(**kwargs).certify(game, profile)``."""
    return EpsilonCertifier(**kwargs).certify(game, profile)  # type: ignore[arg-type]


# --- PROX: exact supremum over regions ---------------------------------------------------------
def _minimax(
    game: HeterogeneousDataGame, subset: tuple[int, ...], m: FloatArray
) -> tuple[float, float, FloatArray, FloatArray]:
    """(dual lower bound, primal upper bound, point, dual q) for v_A = min_x max_{k∈A} (ℓ_k(x) − m_k)."""
    k = game.n_sources
    if len(subset) == 1:
        j = subset[0]
        return -float(m[j]), -float(m[j]), game.thetas[j].copy(), np.eye(k)[j]
    idx = np.array(subset)

    def full(qa: FloatArray) -> FloatArray:
        q = np.zeros(k)
        q[idx] = np.maximum(qa, 0.0)
        out: FloatArray = q / q.sum()
        return out

    def neg_dual(qa: FloatArray) -> tuple[float, FloatArray]:
        q = full(qa)
        ell = game.losses(game.weighted_optimum(q)[None, :])[0][idx] - m[idx]
        # Envelope theorem: ∂/∂q_k of min_x Σ q_k ℓ_k(x) is ℓ_k(θ̄(q)).
        return -float(q[idx] @ ell), -ell

    best: tuple[float, float, FloatArray, FloatArray] | None = None
    starts = [np.full(len(subset), 1.0 / len(subset))]
    for q0 in starts:
        res = minimize(
            neg_dual,
            q0,
            jac=True,
            method="SLSQP",
            bounds=[(0.0, 1.0)] * len(subset),
            constraints=[{"type": "eq", "fun": lambda qa: qa.sum() - 1.0, "jac": lambda qa: np.ones_like(qa)}],
            options={"ftol": 1e-15, "maxiter": 500},
        )
        q = full(np.asarray(res.x))
        pt = game.weighted_optimum(q)
        ell = game.losses(pt[None, :])[0][idx] - m[idx]
        lower = float(q[idx] @ ell)
        upper = float(ell.max())
        if best is None or upper < best[1]:
            best = (lower, upper, pt, q)
    assert best is not None
    return best


def _prox_sup(game: HeterogeneousDataGame, others: FloatArray) -> tuple[float, float, FloatArray, int]:
    """Exact sup of a PROX deviation utility (up to the tie tolerance); returns (sup, sup, point, evals)."""
    k = game.n_sources
    w = game.weights
    if others.shape[0] == 0:
        return 1.0, 1.0, game.weighted_optimum(w), 1
    m = game.losses(others).min(axis=0)
    tol = game._tie_tol
    cands = np.vstack([others, game.thetas])
    vals = game.deviation_utilities(cands, others)
    i = int(np.argmax(vals))
    best, best_pt = float(vals[i]), cands[i]
    evals = cands.shape[0]
    subsets = [s for r in range(1, k + 1) for s in itertools.combinations(range(k), r)]
    subsets.sort(key=lambda s: -float(w[list(s)].sum()))
    for s in subsets:
        if float(w[list(s)].sum()) <= best + 1e-15:
            break  # no later region can beat the best value found
        lower, upper, pt, q = _minimax(game, s, m)
        evals += 1
        if lower > tol:
            continue  # A cannot be won, even with ties
        if upper < -tol:
            val = float(w[list(s)].sum())  # strictly winning all of A is possible
        else:
            # v_A = 0: the closed region is the single point θ̄(q*). Sources with positive dual weight
            # are active there (tied); sources outside A are counted by the supersets of A.
            # The region's point is found to about sqrt(tie tolerance); snap it to a provider's position
            # or a source optimum when it is that close (the usual reason v_A = 0).
            dist = np.linalg.norm(cands - pt[None, :], axis=1)
            near = int(np.argmin(dist))
            if dist[near] <= 1e-4 * (1.0 + float(np.linalg.norm(cands[near]))):
                pt = cands[near]
            ell = game.losses(pt[None, :])[0]
            cnt = (game.losses(others) <= m[None, :] + tol).sum(axis=0)
            val = 0.0
            for j in s:
                strict = q[j] <= 1e-9 and ell[j] < m[j] - 1e3 * tol
                val += float(w[j]) * (1.0 if strict else 1.0 / (cnt[j] + 1.0))
        if val > best:
            best, best_pt = val, pt
    return best, best, best_pt, evals


# --- PROP: Lipschitz bounds along the curve ----------------------------------------------------
def _spectral(game: HeterogeneousDataGame) -> tuple[FloatArray, FloatArray]:
    eig = np.linalg.eigvalsh(game.covariances)
    lo: FloatArray = np.asarray(eig[:, 0], dtype=np.float64)
    hi: FloatArray = np.asarray(eig[:, -1], dtype=np.float64)
    return lo, hi


def _prop_sup_bnb(
    game: HeterogeneousDataGame, others: FloatArray, target: float, budget: int, resolution: int, stop: float
) -> tuple[float, float, FloatArray, int]:
    """K = 2: branch and bound on λ ∈ [0, 1], q = (λ, 1 − λ)."""
    t = float(game.temperature or 1.0)
    w = game.weights
    s1, s2 = game.covariances[0], game.covariances[1]
    _, lmax = _spectral(game)
    # ‖Σ_i (θ_i − θ_k)‖, the vectors whose convex combination A(λ)(x − θ_k) is.
    spread = np.array(
        [
            [np.linalg.norm(game.covariances[i] @ (game.thetas[i] - game.thetas[kk])) for i in range(2)]
            for kk in range(2)
        ]
    ).max(axis=1)

    def f(lam: FloatArray) -> tuple[FloatArray, FloatArray]:
        q = np.stack([lam, 1.0 - lam], axis=1)
        pts = game.weighted_optimum(q)
        return game.deviation_utilities(pts, others), pts

    def lmin_a(lam: FloatArray) -> FloatArray:
        a = lam[:, None, None] * s1[None] + (1.0 - lam)[:, None, None] * s2[None]
        out: FloatArray = np.linalg.eigvalsh(a)[:, 0]
        return out

    def lipschitz(a: FloatArray, b: FloatArray) -> FloatArray:
        # λ_min(A(λ)) is concave in λ, so its minimum over [a, b] is at an endpoint.
        c = 1.0 / np.minimum(lmin_a(a), lmin_a(b))
        r = c[:, None] * spread[None, :]  # bound on ‖x − θ_k‖, (M, 2)
        dx = c * (lmax[0] * r[:, 0] + lmax[1] * r[:, 1])  # bound on ‖dx/dλ‖
        out: FloatArray = (w[None, :] * 2.0 * lmax[None, :] * r).sum(axis=1) * dx / (4.0 * t)
        return out

    grid = np.linspace(0.0, 1.0, resolution + 1)
    fv, pts = f(grid)
    evals = grid.size
    i = int(np.argmax(fv))
    best, best_pt = float(fv[i]), pts[i]
    a, b, fa, fb = grid[:-1], grid[1:], fv[:-1], fv[1:]
    upper_final = best
    while a.size:
        ub = np.maximum(fa, fb) + lipschitz(a, b) * (b - a) / 2.0
        keep = ub > best + target
        upper_final = max(upper_final, float(ub[~keep].max()) if (~keep).any() else best)
        a, b, fa, fb = a[keep], b[keep], fa[keep], fb[keep]
        if a.size == 0:
            break
        if evals + a.size > budget or best > stop:
            upper_final = max(upper_final, float(ub[keep].max()))
            break
        mid = 0.5 * (a + b)
        fm, pm = f(mid)
        evals += mid.size
        j = int(np.argmax(fm))
        if fm[j] > best:
            best, best_pt = float(fm[j]), pm[j]
        a, b, fa, fb = (
            np.concatenate([a, mid]),
            np.concatenate([mid, b]),
            np.concatenate([fa, fm]),
            np.concatenate([fm, fb]),
        )
    return max(upper_final, best), best, best_pt, evals


def _prop_sup_grid(
    game: HeterogeneousDataGame, others: FloatArray, resolution: int
) -> tuple[float, float, FloatArray, int]:
    """K ≥ 3: simplex grid of resolution r plus a global Lipschitz bound (‖q − g‖₁ < K/r)."""
    t = float(game.temperature or 1.0)
    lmin, lmax = _spectral(game)
    c = 1.0 / float(lmin.min())
    k = game.n_sources
    spread = max(
        float(np.linalg.norm(game.covariances[i] @ (game.thetas[i] - game.thetas[j])))
        for i in range(k)
        for j in range(k)
    )
    r = c * spread  # ‖x − θ_k‖ on the curve
    # |∂f/∂q_j| ≤ Σ_k w_k/(4t)·2λmax_k r · ‖A⁻¹ Σ_j (θ_j − x)‖ ≤ (max λmax) r / (2t) · c λmax_j r
    grad = float(lmax.max()) * r / (2.0 * t) * c * float(lmax.max()) * r
    q = simplex_grid(k, resolution)
    pts = game.weighted_optimum(q)
    fv = game.deviation_utilities(pts, others)
    i = int(np.argmax(fv))
    return float(fv[i]) + grad * k / resolution, float(fv[i]), pts[i], int(q.shape[0])
