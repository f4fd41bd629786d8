"""The heterogeneous data game: sources, providers, losses, market shares and best responses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, logsumexp

from trustplane.markets.hdg._errors import MarketInputError

FloatArray = NDArray[np.float64]
Rule = Literal["prox", "prop"]

WEIGHT_TOL = 1e-9


def _as_float(name: str, value: ArrayLike, ndim: int) -> FloatArray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MarketInputError(f"{name} must be numeric: {exc}") from None
    if arr.ndim != ndim:
        raise MarketInputError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise MarketInputError(f"{name} must be finite")
    return arr


@dataclass(frozen=True, eq=False)
class HeterogeneousDataGame:
    """K data sources and N providers competing for them.

    Args:
        weights: source weights ``w`` (shape ``(K,)``), non-negative, summing to 1 (tolerance 1e-9).
        thetas: the sources' true parameters ``θ_k`` (shape ``(K, D)``).
        covariances: the sources' covariances ``Σ_k`` (shape ``(K, D, D)``), symmetric positive-definite.
        n_providers: number of providers ``N`` (at least 1).
        rule: ``"prox"`` (each source goes to its lowest-loss providers, ties split equally) or
            ``"prop"`` (logit choice ``P ∝ exp(-ℓ/t)``).
        temperature: the PROP temperature ``t > 0`` (ignored under PROX, where it must be ``None``
            or non-negative).
    """

    weights: FloatArray
    thetas: FloatArray
    covariances: FloatArray
    n_providers: int = 2
    rule: Rule = "prox"
    temperature: float | None = None
    _tie_tol: float = field(init=False, repr=False, default=0.0)

    def __post_init__(self) -> None:
        w = _as_float("weights", self.weights, 1)
        th = _as_float("thetas", self.thetas, 2)
        cov = _as_float("covariances", self.covariances, 3)
        k = w.shape[0]
        if k < 1:
            raise MarketInputError("there must be at least one source")
        if th.shape[0] != k or cov.shape[0] != k:
            raise MarketInputError(
                f"shapes do not match: {k} weights, {th.shape[0]} thetas, {cov.shape[0]} covariances",
                hint="give one theta row and one D×D covariance per source",
            )
        d = th.shape[1]
        if d < 1 or cov.shape[1:] != (d, d):
            raise MarketInputError(f"covariances must have shape (K, {d}, {d}), got {cov.shape}")
        if np.any(w < 0):
            raise MarketInputError("weights must be non-negative")
        if abs(float(w.sum()) - 1.0) > WEIGHT_TOL:
            raise MarketInputError(
                f"weights must sum to 1 (tolerance {WEIGHT_TOL:g}), they sum to {float(w.sum())!r}",
                hint="normalise the weights: w / w.sum()",
            )
        for i in range(k):
            s = cov[i]
            if not np.allclose(s, s.T, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(s).max()))):
                raise MarketInputError(f"covariance {i} is not symmetric")
            if float(np.linalg.eigvalsh(s).min()) <= 0.0:
                raise MarketInputError(
                    f"covariance {i} is not positive-definite", hint="add a multiple of the identity"
                )
        if not isinstance(self.n_providers, int | np.integer) or int(self.n_providers) < 1:
            raise MarketInputError(f"n_providers must be a positive integer, got {self.n_providers!r}")
        if self.rule not in ("prox", "prop"):
            raise MarketInputError(f"rule must be 'prox' or 'prop', got {self.rule!r}")
        t = self.temperature
        if t is not None and (not np.isfinite(t) or t < 0):
            raise MarketInputError(f"temperature must be non-negative and finite, got {t!r}")
        if self.rule == "prop" and (t is None or t <= 0):
            raise MarketInputError("the PROP rule needs a positive temperature", hint="pass temperature=1.0")
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "thetas", th)
        object.__setattr__(self, "covariances", 0.5 * (cov + np.transpose(cov, (0, 2, 1))))
        object.__setattr__(self, "n_providers", int(self.n_providers))
        object.__setattr__(self, "temperature", None if t is None else float(t))
        scale = max(1.0, float(self.losses(th).max()))
        object.__setattr__(self, "_tie_tol", 1e-13 * scale)

    # --- shape -------------------------------------------------------------------------------
    @property
    def n_sources(self) -> int:
        return int(self.weights.shape[0])

    @property
    def dim(self) -> int:
        return int(self.thetas.shape[1])

    def with_(self, **changes: Any) -> HeterogeneousDataGame:
        """A copy with some fields changed (validated again)."""
        fields: dict[str, Any] = {
            "weights": self.weights,
            "thetas": self.thetas,
            "covariances": self.covariances,
            "n_providers": self.n_providers,
            "rule": self.rule,
            "temperature": self.temperature,
        }
        fields.update(changes)
        return HeterogeneousDataGame(**fields)

    # --- the curve of candidate strategies ---------------------------------------------------
    def weighted_optimum(self, q: ArrayLike) -> FloatArray:
        """θ̄(q) = (Σ_k q_k Σ_k)⁻¹ Σ_k q_k Σ_k θ_k for one mixture ``q`` (shape ``(K,)``) or many (``(P, K)``)."""
        qa = np.asarray(q, dtype=np.float64)
        single = qa.ndim == 1
        qa = np.atleast_2d(qa)
        if qa.shape[1] != self.n_sources:
            raise MarketInputError(f"q must have {self.n_sources} entries, got shape {qa.shape}")
        if np.any(qa < -1e-12) or np.any(qa.sum(axis=1) <= 0):
            raise MarketInputError("q must be non-negative and not all zero")
        a = np.einsum("pk,kij->pij", qa, self.covariances)
        b = np.einsum("pk,kij,kj->pi", qa, self.covariances, self.thetas)
        x: FloatArray = np.linalg.solve(a, b[..., None])[..., 0]
        return x[0] if single else x

    # --- losses and shares -------------------------------------------------------------------
    def losses(self, points: ArrayLike) -> FloatArray:
        """ℓ(x, k) = (x − θ_k)ᵀ Σ_k (x − θ_k) for points of shape ``(P, D)``; returns ``(P, K)``."""
        x = np.atleast_2d(np.asarray(points, dtype=np.float64))
        if x.shape[1] != self.dim:
            raise MarketInputError(f"points must have {self.dim} coordinates, got shape {x.shape}")
        diff = x[:, None, :] - self.thetas[None, :, :]
        out: FloatArray = np.einsum("pki,kij,pkj->pk", diff, self.covariances, diff)
        return np.maximum(out, 0.0)

    def optimum_losses(self) -> FloatArray:
        """Loss of the weighted optimum θ̄(w) on each source."""
        out: FloatArray = self.losses(self.weighted_optimum(self.weights)[None, :])[0]
        return out

    def ell_max(self) -> float:
        """ℓ_max: the largest loss of the weighted optimum θ̄(w) on any source."""
        return float(self.optimum_losses().max())

    def _check_profile(self, profile: ArrayLike, n: int | None = None) -> FloatArray:
        x = np.atleast_2d(np.asarray(profile, dtype=np.float64))
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise MarketInputError(f"a profile must have shape (N, {self.dim}), got {np.shape(profile)}")
        if n is not None and x.shape[0] != n:
            raise MarketInputError(f"a profile must have {n} rows (one per provider), got {x.shape[0]}")
        if not np.all(np.isfinite(x)):
            raise MarketInputError("profile must be finite")
        return x

    def shares_from_losses(self, own: FloatArray, others: FloatArray) -> FloatArray:
        """Market share of candidates with losses ``own`` (``(P, K)``) against fixed ``others`` (``(M, K)``).

        Returns ``(P, K)``: the probability that source k picks the candidate.
        """
        if self.rule == "prop":
            t = float(self.temperature or 1.0)
            if others.shape[0] == 0:
                return np.ones_like(own)
            log_z = logsumexp(-others / t, axis=0)  # (K,)
            share: FloatArray = expit(-(log_z[None, :] + own / t))
            return share
        if others.shape[0] == 0:
            return np.ones_like(own)
        m = others.min(axis=0)
        cnt = (others <= m[None, :] + self._tie_tol).sum(axis=0)
        strict = own < m[None, :] - self._tie_tol
        tie = np.abs(own - m[None, :]) <= self._tie_tol
        res: FloatArray = strict.astype(np.float64) + tie / (cnt[None, :] + 1.0)
        return res

    def utilities(self, profile: ArrayLike) -> FloatArray:
        """Utility u_n = Σ_k w_k P_{n,k} of each provider in a profile (shape ``(N, D)``)."""
        x = self._check_profile(profile, self.n_providers)
        ell = self.losses(x)
        if self.rule == "prop":
            t = float(self.temperature or 1.0)
            logits = -ell / t
            p = np.exp(logits - logsumexp(logits, axis=0, keepdims=True))
        else:
            m = ell.min(axis=0)
            win = ell <= m[None, :] + self._tie_tol
            p = win / win.sum(axis=0, keepdims=True)
        out: FloatArray = p @ self.weights
        return out

    def deviation_utilities(self, points: ArrayLike, others: ArrayLike) -> FloatArray:
        """Utility of a provider moving to each of ``points`` (``(P, D)``) while ``others`` (``(N-1, D)``) stay."""
        x = np.atleast_2d(np.asarray(points, dtype=np.float64))
        o = np.asarray(others, dtype=np.float64).reshape(-1, self.dim)
        share = self.shares_from_losses(self.losses(x), self.losses(o) if o.shape[0] else np.zeros((0, self.n_sources)))
        out: FloatArray = share @ self.weights
        return out

    def best_response(self, others: ArrayLike, resolution: int = 200) -> tuple[FloatArray, FloatArray, float]:
        """Best response searched over the simplex grid of mixtures q (every best response lies on θ̄(q)).

        Returns ``(q, θ̄(q), utility)``; exact on the grid, not over the continuous curve.
        """
        from trustplane.markets.hdg._grid import simplex_grid

        q = simplex_grid(self.n_sources, resolution)
        pts = self.weighted_optimum(q)
        u = self.deviation_utilities(pts, others)
        i = int(np.argmax(u))
        return q[i], pts[i], float(u[i])


def random_game(
    n_sources: int = 2,
    dim: int = 2,
    n_providers: int = 2,
    *,
    rule: Rule = "prox",
    temperature: float | None = None,
    random_state: int | np.random.Generator | None = None,
    weights: ArrayLike | None = None,
) -> HeterogeneousDataGame:
    """A random instance: w ~ Dirichlet(1), θ_k ~ N(0, I_D), Σ_k = AAᵀ/D + 0.1·I with A standard normal."""
    rng = np.random.default_rng(random_state)
    if n_sources < 1 or dim < 1:
        raise MarketInputError("n_sources and dim must be positive")
    w = rng.dirichlet(np.ones(n_sources)) if weights is None else np.asarray(weights, dtype=np.float64)
    th = rng.standard_normal((n_sources, dim))
    a = rng.standard_normal((n_sources, dim, dim))
    cov = np.einsum("kij,klj->kil", a, a) / dim + 0.1 * np.eye(dim)[None]
    return HeterogeneousDataGame(w, th, cov, n_providers=n_providers, rule=rule, temperature=temperature)
