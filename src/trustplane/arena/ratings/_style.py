"""Style control: a contextual Bradley–Terry model with style-feature coefficients.

P(a beats b) = σ(θ_a − θ_b + xᵀβ), with x the battle's style-feature differences (e.g. normalised length
difference, markdown-count differences). The θ are the style-controlled strengths, β the style effects.
Continuous features have no finite sufficient statistics, so this fit runs on battle rows (identical rows are
merged first); ties count as half a win.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit
from scipy.stats import norm

from trustplane.arena.ratings._counts import BOTH_BAD, TIE, _factorize, battle_weights, encode_outcomes
from trustplane.arena.ratings._errors import InvalidBattleError, NotFittedError, RatingsError
from trustplane.arena.ratings._estimator import elo_transform
from trustplane.arena.ratings._graph import check_connectivity
from trustplane.arena.ratings._results import StyleRatings

Array = NDArray[np.float64]


class StyleControlledBT:
    """Bradley–Terry ratings controlled for style features (FastChat's "style control").

    Args:
        both_bad, scale, base, init_rating, anchor, anchor_rating, confidence, tol, max_iter: as
            :class:`BradleyTerry`.

    Learned: ``models_``, ``theta_``, ``style_coef_`` (natural-log scale), ``covariance_`` (sandwich, on the
    parameter vector), ``result_`` (:class:`StyleRatings`), ``n_iter_``, ``converged_``.
    """

    def __init__(
        self,
        *,
        both_bad: str = "tie",
        scale: float = 400.0,
        base: float = 10.0,
        init_rating: float = 1000.0,
        anchor: str | None = None,
        anchor_rating: float | None = None,
        confidence: float = 0.95,
        tol: float = 1e-10,
        max_iter: int = 100,
    ) -> None:
        self.both_bad = both_bad
        self.scale = scale
        self.base = base
        self.init_rating = init_rating
        self.anchor = anchor
        self.anchor_rating = anchor_rating
        self.confidence = confidence
        self.tol = tol
        self.max_iter = max_iter

    def fit(
        self,
        model_a: ArrayLike,
        model_b: ArrayLike,
        outcome: ArrayLike,
        style: ArrayLike,
        *,
        style_names: Sequence[str] | None = None,
        weights: ArrayLike | None = None,
        sampling_prob: ArrayLike | None = None,
    ) -> StyleControlledBT:
        """Fit on battle arrays; ``style`` is (n_battles, n_features) of feature differences (a minus b)."""
        if self.both_bad not in ("tie", "drop"):
            raise RatingsError(f"both_bad must be 'tie' or 'drop', not {self.both_bad!r}")
        col = encode_outcomes(outcome)
        n = len(col)
        a, b = np.asarray(model_a), np.asarray(model_b)
        x = np.asarray(style, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        if a.shape != (n,) or b.shape != (n,) or x.shape[0] != n:
            raise InvalidBattleError("model_a, model_b, outcome and style must have one row per battle")
        if not np.all(np.isfinite(x)):
            raise InvalidBattleError("style features must be finite")
        w = battle_weights(n, weights, sampling_prob)
        w = np.ones(n) if w is None else w
        if self.both_bad == "drop":
            keep = col != BOTH_BAD
            a, b, col, x, w = a[keep], b[keep], col[keep], x[keep], w[keep]
        y = np.select([col == 0, col == 1], [1.0, 0.0], 0.5)
        codes, uniques = _factorize(np.concatenate([a, b]).astype(object))
        models = [str(u) for u in uniques]
        m, k = len(models), x.shape[1]
        ia, ib = codes[: len(y)], codes[len(y) :]
        if np.any(ia == ib):
            raise InvalidBattleError("a model cannot battle itself")
        names = tuple(style_names) if style_names is not None else tuple(f"style_{i}" for i in range(k))
        if len(names) != k:
            raise InvalidBattleError("style_names must name every style column")
        # connectivity on pair counts (i wins, j wins, ties)
        lo, hi = np.minimum(ia, ib), np.maximum(ia, ib)
        swap = ia > ib
        win_lo = np.where(swap, 1.0 - y, y)
        key = lo * m + hi
        pk, inv = np.unique(key, return_inverse=True)
        cnt: Array = np.column_stack(
            [
                np.bincount(inv, (win_lo == 1) * w, len(pk)),
                np.bincount(inv, (win_lo == 0) * w, len(pk)),
                np.bincount(inv, (col >= TIE) * w, len(pk)),
            ]
        )
        check_connectivity(pk // m, pk % m, cnt, models)
        ref = models.index(self.anchor) if self.anchor is not None else 0
        if self.anchor is not None and self.anchor not in models:
            raise RatingsError(f"anchor {self.anchor!r} has no battles")
        free = np.delete(np.arange(m), ref)
        nfree = m - 1 + k

        def unpack(p: Array) -> tuple[Array, Array]:
            theta = np.zeros(m)
            theta[free] = p[: m - 1]
            return theta, p[m - 1 :]

        def lin(p: Array) -> Array:
            theta, beta = unpack(p)
            return theta[ia] - theta[ib] + x @ beta

        def loglik(p: Array) -> float:
            z = lin(p)
            return float(np.sum(w * (y * -np.logaddexp(0, -z) + (1 - y) * -np.logaddexp(0, z))))

        def assemble(v: Array) -> Array:
            """Σ v_i u_i u_iᵀ with u_i = (e_a − e_b restricted to free, x_i)."""
            hm = np.bincount(ia * m + ia, v, m * m) + np.bincount(ib * m + ib, v, m * m)
            hm -= np.bincount(ia * m + ib, v, m * m) + np.bincount(ib * m + ia, v, m * m)
            hm = hm.reshape(m, m)[np.ix_(free, free)]
            vx = v[:, None] * x
            cross = np.stack([np.bincount(ia, vx[:, j], m) - np.bincount(ib, vx[:, j], m) for j in range(k)], 1)
            out = np.zeros((nfree, nfree))
            out[: m - 1, : m - 1] = hm
            out[: m - 1, m - 1 :] = cross[free]
            out[m - 1 :, : m - 1] = cross[free].T
            out[m - 1 :, m - 1 :] = x.T @ vx
            return out

        def grad(r: Array) -> Array:
            g = np.bincount(ia, r, m) - np.bincount(ib, r, m)
            return np.concatenate([g[free], x.T @ r])

        p = np.zeros(nfree)
        total = max(float(w.sum()), 1e-300)
        ll = loglik(p)
        it, converged = 0, False
        for it in range(1, self.max_iter + 1):
            s = expit(lin(p))
            g = grad(w * (y - s))
            if np.max(np.abs(g)) / total <= self.tol:
                converged, it = True, it - 1
                break
            info = assemble(w * s * (1 - s))
            step = np.linalg.solve(info + 1e-12 * np.abs(info).max() * np.eye(nfree), g)
            t, slope = 1.0, float(g @ step)
            for _ in range(60):
                cand = p + t * step
                ll_c = loglik(cand)
                if ll_c - ll >= 1e-4 * t * slope - 1e-12 * max(abs(ll), 1.0):
                    p, ll = cand, ll_c
                    break
                t *= 0.5
        if not converged:
            s = expit(lin(p))
            converged = bool(np.max(np.abs(grad(w * (y - s)))) / total <= self.tol)
        s = expit(lin(p))
        info = assemble(w * s * (1 - s))
        meat = assemble(w * w * (y - s) ** 2)
        cov = np.linalg.solve(info, np.linalg.solve(info, meat).T).T
        cov = 0.5 * (cov + cov.T)
        alpha = self.scale / math.log(self.base)
        theta, beta = unpack(p)
        t_elo = elo_transform(m, ref, alpha, self.anchor is None)
        offset = self.init_rating if self.anchor_rating is None or self.anchor is None else self.anchor_rating
        rating = t_elo @ theta + offset
        full = np.zeros((m, m))
        full[np.ix_(free, free)] = cov[: m - 1, : m - 1]
        rcov = t_elo @ full @ t_elo.T
        se = np.sqrt(np.clip(np.diag(rcov), 0, None))
        z = float(norm.ppf(0.5 + self.confidence / 2))
        bse = alpha * np.sqrt(np.clip(np.diag(cov)[m - 1 :], 0, None))
        self.models_ = tuple(models)
        self.theta_, self.style_coef_, self.covariance_ = theta, beta, cov
        self.n_iter_, self.converged_ = it, converged
        self.result_ = StyleRatings(
            models=self.models_,
            rating=rating,
            se=se,
            lower=rating - z * se,
            upper=rating + z * se,
            style_names=names,
            style_coef=alpha * beta,
            style_se=bse,
            anchor=self.anchor,
            n_battles=len(y),
            log_likelihood=ll,
            n_iter=it,
            converged=converged,
            confidence=self.confidence,
        )
        return self

    @property
    def ratings_(self) -> Array:
        """Style-controlled Elo ratings."""
        if not hasattr(self, "result_"):
            raise NotFittedError("call fit first")
        return self.result_.rating
