"""Bradley–Terry likelihoods on aggregated pair counts and a batched, damped Newton solver.

Parameters are the natural-log strengths ``theta`` (one per model, the reference model's fixed at 0) and, for the
Davidson and Rao–Kupper tie models, one tie parameter ``eta``. With ``d = theta_i - theta_j`` per pair:

* ``half``: P(i wins) = σ(d); a tie counts as half a win for each side (FastChat), i.e. the pseudo-log-likelihood
  ``½ log σ(d) + ½ log σ(−d)``.
* ``davidson``: P(i) ∝ e^{d/2}, P(j) ∝ e^{−d/2}, P(tie) ∝ e^{η} (ν = e^{η} in Davidson 1970).
* ``rao_kupper``: P(i) = σ(d − η), P(j) = σ(−d − η), P(tie) = the rest (θ_RK = e^{η} > 1, Rao & Kupper 1967).

All three log-likelihoods are jointly concave in (theta, eta). Every function works on a batch of ``B`` problems
that share the pairs but not the counts (the bootstrap), so all replicates are solved together.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

TieModel = Literal["half", "davidson", "rao_kupper"]
TIE_MODELS: tuple[str, ...] = ("half", "davidson", "rao_kupper")

Array = NDArray[np.float64]


# The logistic function and softplus from NumPy's vectorised exp and log: 5–9x faster than scipy's expit and
# np.logaddexp on the pair arrays of a fit, agreeing to within a few ulps (and 1e-14 absolute for softplus).
def expit(x: Array) -> Array:
    with np.errstate(over="ignore"):
        return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def softplus(x: Array) -> Array:
    """log(1 + eˣ), stable for any x."""
    return np.asarray(np.maximum(x, 0.0) + np.log(1.0 + np.exp(-np.abs(x))), dtype=np.float64)


def _log_sigmoid(x: Array) -> Array:
    return -softplus(-x)


def outcome_terms(ties: str, d: Array, eta: Array) -> tuple[Array, Array, Array, Array, Array, Array]:
    """Per-outcome log-probability and its derivatives in (d, eta).

    ``d`` has shape (B, P), ``eta`` shape (B, 1). Each returned array has shape (B, P, 3), the last axis being
    (i wins, j wins, tie): ``log p, ∂d, ∂eta, ∂dd, ∂d∂eta, ∂eta∂eta``.
    """
    if ties == "half":
        s = expit(d)
        la, lb = _log_sigmoid(d), _log_sigmoid(-d)
        logp = np.stack([la, lb, 0.5 * (la + lb)], axis=-1)
        sd = np.stack([1.0 - s, -s, 0.5 - s], axis=-1)
        sdd = np.repeat((-s * (1.0 - s))[..., None], 3, axis=-1)
        zero = np.zeros_like(logp)
        return logp, sd, zero, sdd, zero, zero
    if ties == "davidson":
        log_d = np.logaddexp(np.logaddexp(0.5 * d, -0.5 * d), eta)
        qa, qb, qt = np.exp(0.5 * d - log_d), np.exp(-0.5 * d - log_d), np.exp(eta - log_d)
        dd_ = 0.5 * (qa - qb)
        logp = np.stack([0.5 * d - log_d, -0.5 * d - log_d, eta - log_d], axis=-1)
        sd = np.stack([0.5 - dd_, -0.5 - dd_, -dd_], axis=-1)
        se = np.stack([-qt, -qt, 1.0 - qt], axis=-1)
        sdd = np.repeat((-(0.25 * (qa + qb) - dd_ * dd_))[..., None], 3, axis=-1)
        sde = np.repeat((qt * dd_)[..., None], 3, axis=-1)
        see = np.repeat((-qt * (1.0 - qt))[..., None], 3, axis=-1)
        return logp, sd, se, sdd, sde, see
    if ties == "rao_kupper":
        x1, x2 = d - eta, -d - eta
        la, lb = _log_sigmoid(x1), _log_sigmoid(x2)
        u, v = expit(-x1), expit(-x2)
        s1, s2 = u * (1.0 - u), v * (1.0 - v)
        with np.errstate(divide="ignore", invalid="ignore"):
            em = np.expm1(2.0 * eta)
            f = np.where(eta > 0, np.log(np.where(eta > 0, em, 1.0)), -np.inf)
            f1 = 2.0 + 2.0 / em
            f2 = -4.0 * np.exp(2.0 * eta) / (em * em)
        f = np.broadcast_to(f, d.shape)
        f1 = np.broadcast_to(f1, d.shape)
        f2 = np.broadcast_to(f2, d.shape)
        logp = np.stack([la, lb, f + la + lb], axis=-1)
        sd = np.stack([u, -v, u - v], axis=-1)
        se = np.stack([-u, -v, f1 - u - v], axis=-1)
        sdd = np.stack([-s1, -s2, -s1 - s2], axis=-1)
        sde = np.stack([s1, -s2, s1 - s2], axis=-1)
        see = np.stack([-s1, -s2, f2 - s1 - s2], axis=-1)
        return logp, sd, se, sdd, sde, see
    raise ValueError(f"unknown tie model {ties!r}")


def half_stats(n: Array) -> tuple[Array, Array]:
    """Wins of the first model (ties as halves) and totals, per pair: the "half" model's sufficient statistics."""
    return n[..., 0] + 0.5 * n[..., 2], n.sum(axis=-1)


def log_odds_start(lo: NDArray[np.int64], hi: NDArray[np.int64], n: Array, m: int) -> Array:
    """A starting point for Newton near the MLE, in O(pairs): each model's battle-weighted mean of its pairs'
    smoothed empirical log-odds (ties as halves). Exact for a balanced complete design; on typical arena data
    it saves Newton two or three of its five iterations. Returns ``theta`` (M,), mean zero."""
    wins, tot = n[:, 0] + 0.5 * n[:, 2], n.sum(axis=1)
    logit = np.log((wins + 0.5) / (tot - wins + 0.5))
    num = np.bincount(lo, logit * tot, m) - np.bincount(hi, logit * tot, m)
    den = np.bincount(lo, tot, m) + np.bincount(hi, tot, m)
    theta = np.divide(num, den, out=np.zeros(m), where=den > 0)
    return np.asarray(theta - theta.mean(), dtype=np.float64)


class PairProblem:
    """A batch of BT problems over the same pairs: ``n`` has shape (B, P, 3) (i wins, j wins, tie)."""

    def __init__(self, lo: NDArray[np.int64], hi: NDArray[np.int64], m: int, ref: int, ties: str) -> None:
        self.lo, self.hi, self.m, self.ref, self.ties = lo, hi, m, ref, ties
        self.has_eta = ties != "half"
        self.free = np.delete(np.arange(m), ref)
        self.k = m - 1 + int(self.has_eta)
        # positions of each pair's models among the free parameters (the reference model has none)
        pos = np.full(m, -1, dtype=np.int64)
        pos[self.free] = np.arange(m - 1)
        self._ri, self._rj = pos[lo], pos[hi]
        self._both = np.flatnonzero((self._ri >= 0) & (self._rj >= 0))
        self._pi, self._pj = self._ri[self._both], self._rj[self._both]
        self._diag_i, self._diag_j = np.flatnonzero(self._ri >= 0), np.flatnonzero(self._rj >= 0)

    def split(self, x: Array) -> tuple[Array, Array]:
        """Parameter vectors (B, K) → full ``theta`` (B, M) and ``eta`` (B, 1)."""
        theta = np.zeros((x.shape[0], self.m))
        theta[:, self.free] = x[:, : self.m - 1]
        eta = x[:, self.m - 1 :] if self.has_eta else np.zeros((x.shape[0], 1))
        return theta, eta

    def join(self, theta: Array, eta: Array) -> Array:
        """Inverse of :meth:`split` (``theta`` re-referenced so the reference model sits at 0)."""
        th = (theta - theta[:, [self.ref]])[:, self.free]
        return np.concatenate([th, eta], axis=1) if self.has_eta else th

    def loglik(self, n: Array, x: Array) -> Array:
        """Log-likelihood of each problem (B,)."""
        theta, eta = self.split(x)
        d = theta[:, self.lo] - theta[:, self.hi]
        if self.ties == "half":
            y, tot = n[0], n[1]
            return np.asarray((y * d - tot * softplus(d)).sum(axis=1), dtype=np.float64)
        logp = outcome_terms(self.ties, d, eta)[0]
        with np.errstate(invalid="ignore"):
            ll = np.where(n > 0, n * logp, 0.0).sum(axis=(1, 2))
        return np.where(np.isnan(ll), -np.inf, ll)

    def gradient(self, g_d: Array, g_e: Array) -> Array:
        """Pair-level first derivatives (B, P) and eta derivative (B,) → gradient (B, K)."""
        b = g_d.shape[0]
        off = (np.arange(b) * self.m)[:, None]
        size = b * self.m
        flat = np.bincount((off + self.lo).ravel(), g_d.ravel(), size) - np.bincount(
            (off + self.hi).ravel(), g_d.ravel(), size
        )
        g: Array = flat.reshape(b, self.m)[:, self.free].astype(np.float64)
        if self.has_eta:
            return np.concatenate([g, g_e[:, None]], axis=1)
        return g

    def matrix(self, a_dd: Array, a_de: Array, a_ee: Array) -> Array:
        """Pair-level second-order terms → (B, K, K) matrix in the free parameters (Laplacian structure).

        Pairs are distinct, so each off-diagonal cell is written once; the diagonal sums each model's pairs.
        The reference model's row and column are never formed."""
        b, m, k = a_dd.shape[0], self.m, self.m - 1
        h = np.zeros((b, k, k))
        off = -a_dd[:, self._both]
        h[:, self._pi, self._pj] = off
        h[:, self._pj, self._pi] = off
        base = (np.arange(b) * k)[:, None]
        diag = np.bincount((base + self._ri[self._diag_i]).ravel(), a_dd[:, self._diag_i].ravel(), b * k)
        diag = diag.astype(np.float64, copy=False)  # an empty bincount comes back as integers
        diag += np.bincount((base + self._rj[self._diag_j]).ravel(), a_dd[:, self._diag_j].ravel(), b * k)
        h[:, np.arange(k), np.arange(k)] = diag.reshape(b, k)
        lo, hi = self.lo, self.hi
        if not self.has_eta:
            return h
        offv = (np.arange(b) * m)[:, None]
        cross = np.bincount((offv + lo).ravel(), a_de.ravel(), b * m) - np.bincount(
            (offv + hi).ravel(), a_de.ravel(), b * m
        )
        cross = cross.reshape(b, m)[:, self.free]
        out = np.zeros((b, self.k, self.k))
        out[:, :-1, :-1] = h
        out[:, :-1, -1] = cross
        out[:, -1, :-1] = cross
        out[:, -1, -1] = a_ee
        return out

    def prepare(self, n: Array) -> Array:
        """Counts (B, P, 3) → the form the other methods take: (2, B, P) wins/totals for "half", else as is."""
        return np.stack(half_stats(n)) if self.ties == "half" else n

    def derivatives(
        self, n: Array, x: Array, hessian: bool = True, need_ll: bool = True
    ) -> tuple[Array, Array, Array | None]:
        """Log-likelihood (B,) (zeros unless ``need_ll``), gradient (B, K) and Hessian (B, K, K) (``None`` unless
        ``hessian``), from prepared counts ``n`` (see :meth:`prepare`)."""
        theta, eta = self.split(x)
        d = theta[:, self.lo] - theta[:, self.hi]
        if self.ties == "half":
            y, tot = n[0], n[1]
            s = expit(d)
            ll_h = (y * d - tot * softplus(d)).sum(axis=1) if need_ll else np.zeros(d.shape[0])
            zero_b = np.zeros(d.shape[0])
            g_h = self.gradient(y - tot * s, zero_b)
            return ll_h, g_h, self.hessian(n, x) if hessian else None
        logp, sd, se, *_ = outcome_terms(self.ties, d, eta)
        with np.errstate(invalid="ignore"):
            ll = np.where(n > 0, n * logp, 0.0).sum(axis=(1, 2))
        g = self.gradient((n * sd).sum(-1), (n * se).sum(axis=(1, 2)))
        return ll, g, self.hessian(n, x) if hessian else None

    def hessian(self, n: Array, x: Array) -> Array:
        """Hessian (B, K, K) alone, from prepared counts ``n`` (see :meth:`prepare`)."""
        theta, eta = self.split(x)
        d = theta[:, self.lo] - theta[:, self.hi]
        if self.ties == "half":
            s = expit(d)
            return self.matrix(-n[1] * s * (1.0 - s), d, np.zeros(d.shape[0]))
        _, _, _, sdd, sde, see = outcome_terms(self.ties, d, eta)
        return self.matrix((n * sdd).sum(-1), (n * sde).sum(-1), (n * see).sum(axis=(1, 2)))

    def meat(self, n2: Array, x: Array) -> Array:
        """Sum over battles of score outer products (the sandwich's meat), from squared-weight sums ``n2``
        (raw (B, P, 3) counts, not prepared)."""
        theta, eta = self.split(x)
        d = theta[:, self.lo] - theta[:, self.hi]
        _, sd, se, *_ = outcome_terms(self.ties, d, eta)
        return self.matrix((n2 * sd * sd).sum(-1), (n2 * sd * se).sum(-1), (n2 * se * se).sum(axis=(1, 2)))


def newton(
    prob: PairProblem,
    n: Array,
    x0: Array,
    *,
    tol: float = 1e-10,
    max_iter: int = 100,
    chord: Array | None = None,
    chord_iter: int = 25,
) -> tuple[Array, Array, int, NDArray[np.bool_]]:
    """Maximise the log-likelihood of each of the B problems by damped Newton (Armijo backtracking).

    Converged when ``max|∇ℓ| / total weight <= tol``. With ``chord`` (the inverse of a negative Hessian at a
    nearby point, shared by all problems) the first ``chord_iter`` steps reuse it instead of forming and
    factorising B Hessians: the bootstrap's fast path, linear convergence with rate O(1/√N).

    Returns ``(x, loglik, n_iter, converged)``.
    """
    x = x0.copy()
    scale = np.maximum(n.sum(axis=(1, 2)), 1e-300)
    n = prob.prepare(n)
    ll = prob.loglik(n, x) if chord is None else np.zeros(x.shape[0])
    converged = np.zeros(x.shape[0], dtype=bool)
    it = 0
    for it in range(1, max_iter + 1):
        use_chord = chord is not None and it <= chord_iter
        if chord is not None and it == chord_iter + 1:
            bad = ~np.all(np.isfinite(x), axis=1)
            x[bad] = x0[bad]
        _, g, _ = prob.derivatives(n, x, hessian=False, need_ll=False)
        converged = np.max(np.abs(g), axis=1) / scale <= tol
        if converged.all():
            it -= 1
            break
        h = None if use_chord else prob.hessian(n, x)  # only once the gradient says it is needed
        if use_chord:
            assert chord is not None
            step = g @ chord.T
        else:
            assert h is not None
            neg = -h
            neg[:, np.arange(prob.k), np.arange(prob.k)] += 1e-12 * np.abs(neg).max()
            step = np.asarray(np.linalg.solve(neg, g[..., None])[..., 0], dtype=np.float64)
        step[converged] = 0.0
        if use_chord:
            x = x + step
            continue
        if chord is not None and it == chord_iter + 1:
            ll = prob.loglik(n, x)
        slope = np.einsum("bk,bk->b", g, step)
        t = np.ones(x.shape[0])
        todo = ~converged
        ll_new = ll.copy()
        x_new = x.copy()
        for _ in range(60):
            cand = x[todo] + t[todo, None] * step[todo]
            ll_c = prob.loglik(n[:, todo] if prob.ties == "half" else n[todo], cand)
            ok = ll_c - ll[todo] >= 1e-4 * t[todo] * slope[todo] - 1e-12 * np.maximum(np.abs(ll[todo]), 1.0)
            idx = np.flatnonzero(todo)
            x_new[idx[ok]] = cand[ok]
            ll_new[idx[ok]] = ll_c[ok]
            todo[idx[ok]] = False
            t[idx[~ok]] *= 0.5
            if not todo.any():
                break
        x, ll = x_new, ll_new
    else:
        _, g, _ = prob.derivatives(n, x, hessian=False, need_ll=False)
        converged = np.max(np.abs(g), axis=1) / scale <= tol
    return x, ll, it, converged
