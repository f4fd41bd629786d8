"""The Bradley–Terry rating estimator (sklearn-style) on aggregated pair counts."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm

from trustplane.arena.ratings._counts import BattleCounts, battle_weights
from trustplane.arena.ratings._errors import InvalidBattleError, NotFittedError, RatingsError
from trustplane.arena.ratings._graph import check_connectivity, ford_holds
from trustplane.arena.ratings._newton import TIE_MODELS, PairProblem, log_odds_start, newton
from trustplane.arena.ratings._results import RankIntervals, Ratings

logger = logging.getLogger(__name__)

Array = NDArray[np.float64]


def elo_transform(m: int, ref: int, alpha: float, centred: bool) -> Array:
    """Linear map from log-strengths (reference at 0) to Elo offsets: ``alpha·θ``, mean-centred if no anchor."""
    t = alpha * np.eye(m)
    if centred:
        t -= alpha / m
    return t


def rank_of(rating: Array) -> NDArray[np.int64]:
    """1 + number of models with a strictly higher rating."""
    out: NDArray[np.int64] = (1 + (rating[None, :] > rating[:, None]).sum(axis=1)).astype(np.int64)
    return out


def rank_intervals(rating: Array, diff_se: Array, crit: float, method: str) -> RankIntervals:
    """Rank intervals from simultaneous intervals for all pairwise differences ``rating_k − rating_m``."""
    diff = rating[None, :] - rating[:, None]  # [m, k] = r_k - r_m
    half = crit * diff_se
    above = (diff - half > 0).sum(axis=1)
    below = (diff + half < 0).sum(axis=1)
    m = len(rating)
    return RankIntervals(
        lower=(1 + above).astype(np.int64), upper=(m - below).astype(np.int64), method=method, critical_value=crit
    )


def multinomial(g: np.random.Generator, total: int, p: Array, cdf: Array) -> Array:
    """An exact Multinomial(total, p) draw, about twice as fast as ``Generator.multinomial`` for many cells.

    Poisson-split then top up: with ``λ = total − 3√total``, ``X_i ~ Poisson(λ p_i)`` given ``ΣX = s`` is
    Multinomial(s, p); adding ``total − s`` independent categorical draws from ``p`` makes it
    Multinomial(total, p). A draw with ``s > total`` (probability ≈ 0.1%) is rejected, which conditions on
    ``ΣX ≤ total`` and so leaves the conditional law unchanged. ``cdf`` is ``cumsum(p)`` with its last entry
    raised to infinity.
    """
    lam = total - 3.0 * math.sqrt(total)
    if total < 1000 or lam <= 0:
        return np.asarray(g.multinomial(total, p), dtype=np.float64)
    while True:
        x = g.poisson(lam * p)
        s = int(x.sum())
        if s <= total:
            break
    if s < total:
        x += np.bincount(np.searchsorted(cdf, g.random(total - s), side="right"), minlength=len(p))
    return np.asarray(x, dtype=np.float64)


# Above this many models the dense solves are large enough for multi-threaded BLAS to pay off.
_SMALL_PROBLEM_MODELS = 1000


@cache
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return None
    return ThreadpoolController()


@contextmanager
def small_problem_blas(m: int) -> Iterator[None]:
    """One BLAS thread for problems of ``m ≤ 1000`` models: their solves are tiny, and a multi-threaded BLAS
    spinning on a busy machine made them up to 30× slower (measured: 14 ms vs 400 ms for M = 250)."""
    controller = _blas_controller()
    if controller is None or m > _SMALL_PROBLEM_MODELS:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


def resample_counts(
    raw: Array, b: int, random_state: int | np.random.Generator | None, method: str = "multinomial"
) -> Array:
    """``b`` bootstrap draws of the cell counts ``raw``: multinomial (resampling battles with replacement) or
    Poisson (each battle's multiplicity ~ Poisson(1)). Each replicate has its own child generator, so results
    depend only on ``random_state``; the draws run on a thread pool (numpy releases the GIL)."""
    children = np.random.default_rng(random_state).spawn(b)
    flat = raw.ravel()
    total = round(float(flat.sum()))
    p = flat / flat.sum()
    out = np.empty((b, flat.size))
    cdf = np.cumsum(p)
    cdf[-1] = np.inf  # rounding can leave the last cumulative probability just under 1

    def draw(k: int) -> None:
        g = children[k]
        out[k] = multinomial(g, total, p, cdf) if method == "multinomial" else g.poisson(flat)

    with ThreadPoolExecutor(max_workers=max(1, min(b, os.cpu_count() or 1))) as pool:
        list(pool.map(draw, range(b)))
    return out.reshape(b, *raw.shape)


class BradleyTerry:
    """Bradley–Terry maximum-likelihood ratings on the Elo scale, fitted by Newton's method on pair counts.

    Args:
        ties: ``"half"`` (a tie is half a win for each side, as FastChat), ``"davidson"`` or ``"rao_kupper"``
            (a tie parameter estimated by maximum likelihood).
        both_bad: ``"tie"`` (default, as FastChat's ``tie (bothbad)``) or ``"drop"``.
        scale, base: ratings are ``scale · log_base`` odds, i.e. ``scale / ln(base)`` times the natural-log
            strengths (400 and 10: Elo).
        init_rating: the mean rating when no anchor is given.
        anchor: a model whose rating is fixed at ``anchor_rating`` (default ``init_rating``); all intervals are
            then relative to it. Without an anchor, ratings are centred at ``init_rating``.
        ci: ``"sandwich"`` (robust), ``"bootstrap"`` (vectorised, ``n_bootstrap`` multinomial resamples of the
            battles) or ``None``.
        confidence: level of the intervals.
        rank_intervals: also compute simultaneous rank intervals (needs ``ci``).
        tol: convergence tolerance on ``max|∇ℓ| / total weight``.
        max_iter: Newton iteration cap.
        random_state: seed or ``np.random.Generator`` for the bootstrap.

    Learned attributes: ``counts_`` (:class:`BattleCounts`), ``models_``, ``theta_`` (natural-log strengths),
    ``tie_param_``, ``ratings_`` (Elo array), ``covariance_`` (sandwich, Elo²), ``bootstrap_`` (replicates),
    ``result_`` (:class:`Ratings`), ``n_iter_``, ``converged_``.
    """

    def __init__(
        self,
        *,
        ties: str = "half",
        both_bad: str = "tie",
        scale: float = 400.0,
        base: float = 10.0,
        init_rating: float = 1000.0,
        anchor: str | None = None,
        anchor_rating: float | None = None,
        ci: str | None = "sandwich",
        n_bootstrap: int = 100,
        resample: str = "multinomial",
        bootstrap_interval: str = "normal",
        confidence: float = 0.95,
        rank_intervals: bool = True,
        tol: float = 1e-10,
        max_iter: int = 100,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.ties = ties
        self.both_bad = both_bad
        self.scale = scale
        self.base = base
        self.init_rating = init_rating
        self.anchor = anchor
        self.anchor_rating = anchor_rating
        self.ci = ci
        self.n_bootstrap = n_bootstrap
        self.resample = resample
        self.bootstrap_interval = bootstrap_interval
        self.confidence = confidence
        self.rank_intervals = rank_intervals
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self._eta_: float = 0.0

    # -- parameters ------------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters, as in sklearn."""
        names = [
            "ties",
            "both_bad",
            "scale",
            "base",
            "init_rating",
            "anchor",
            "anchor_rating",
            "ci",
            "n_bootstrap",
            "confidence",
            "rank_intervals",
            "tol",
            "max_iter",
            "random_state",
        ]
        return {k: getattr(self, k) for k in names}

    def _validate(self) -> None:
        if self.ties not in TIE_MODELS:
            raise RatingsError(f"ties must be one of {TIE_MODELS}, not {self.ties!r}")
        if self.both_bad not in ("tie", "drop"):
            raise RatingsError(f"both_bad must be 'tie' or 'drop', not {self.both_bad!r}")
        if self.ci not in (None, "sandwich", "bootstrap"):
            raise RatingsError(f"ci must be None, 'sandwich' or 'bootstrap', not {self.ci!r}")
        if self.resample not in ("multinomial", "poisson"):
            raise RatingsError(f"resample must be 'multinomial' or 'poisson', not {self.resample!r}")
        if self.bootstrap_interval not in ("normal", "percentile"):
            raise RatingsError(f"bootstrap_interval must be 'normal' or 'percentile', not {self.bootstrap_interval!r}")
        if not 0 < self.confidence < 1:
            raise RatingsError("confidence must lie in (0, 1)")
        if self.base <= 1 or self.scale <= 0:
            raise RatingsError("base must exceed 1 and scale must be positive")

    @property
    def alpha_(self) -> float:
        """Elo points per unit of natural-log strength: ``scale / ln(base)``."""
        return self.scale / math.log(self.base)

    # -- fitting ---------------------------------------------------------------------------------
    def fit(
        self,
        model_a: ArrayLike,
        model_b: ArrayLike,
        outcome: ArrayLike,
        *,
        weights: ArrayLike | None = None,
        sampling_prob: ArrayLike | None = None,
    ) -> BradleyTerry:
        """Fit from scratch on battle arrays. ``sampling_prob`` gives inverse-propensity weights ``1/p``."""
        counts = BattleCounts()
        n = len(outcome)  # type: ignore[arg-type]
        counts.add_many(model_a, model_b, outcome, battle_weights(n, weights, sampling_prob))
        return self.fit_counts(counts, warm_start=False)

    def fit_counts(self, counts: BattleCounts, *, warm_start: bool = False) -> BradleyTerry:
        """Fit on already aggregated counts (the estimator keeps a reference to ``counts``)."""
        self._validate()
        self.counts_ = counts
        self._solve(warm_start)
        return self

    def add_battle(
        self, model_a: str, model_b: str, outcome: str | int, *, weight: float = 1.0, sampling_prob: float | None = None
    ) -> BradleyTerry:
        """Add one battle in O(1) without refitting; call :meth:`refit` (or :meth:`partial_fit`) to update."""
        if sampling_prob is not None:
            if not 0 < sampling_prob <= 1:
                raise InvalidBattleError("sampling probability must lie in (0, 1]")
            weight = weight / sampling_prob
        if not hasattr(self, "counts_"):
            self.counts_ = BattleCounts()
        self.counts_.add(model_a, model_b, outcome, weight)
        return self

    def partial_fit(
        self,
        model_a: ArrayLike,
        model_b: ArrayLike,
        outcome: ArrayLike,
        *,
        weights: ArrayLike | None = None,
        sampling_prob: ArrayLike | None = None,
    ) -> BradleyTerry:
        """Add a batch of battles to the counts and refit, warm-started from the previous solution."""
        if not hasattr(self, "counts_"):
            self.counts_ = BattleCounts()
        n = len(outcome)  # type: ignore[arg-type]
        self.counts_.add_many(model_a, model_b, outcome, battle_weights(n, weights, sampling_prob))
        return self.refit()

    def refit(self) -> BradleyTerry:
        """Refit on the current counts, warm-started; cost depends on the distinct pairs, not the battles."""
        if not hasattr(self, "counts_"):
            raise NotFittedError("no battles yet: call fit, add_battle or partial_fit first")
        return self.fit_counts(self.counts_, warm_start=True)

    # -- internals -------------------------------------------------------------------------------
    def _cells(self, table: Array, keep: NDArray[np.bool_] | None) -> Array:
        """(pairs, 4) outcome table → (kept pairs, 3): i wins, j wins, ties (both-bad added when they count)."""
        out = table[:, :3].copy() if keep is None else table[keep, :3]
        if self.both_bad == "tie":
            out[:, 2] += table[:, 3] if keep is None else table[keep, 3]
        return out

    def _pair_data(self) -> tuple[NDArray[np.int64], NDArray[np.int64], Array]:
        """Pairs with any weight and their (P, 3) weighted counts; the squared-weight sums and raw counts the
        intervals need are derived on first use (:attr:`_n2`, :attr:`_raw`)."""
        lo, hi, w, w2, c = self.counts_.arrays()
        n = self._cells(w, None)
        keep: NDArray[np.bool_] | None = n.sum(axis=1) > 0
        if keep is not None and keep.all():
            keep = None
        else:
            lo, hi, n = lo[keep], hi[keep], n[keep]
        self._pair_keep, self._pair_w2, self._pair_c = keep, w2, c
        self._n2_cache: Array | None = None
        self._raw_cache: Array | None = None
        return lo, hi, n

    @property
    def _n2(self) -> Array:
        if self._n2_cache is None:
            self._n2_cache = self._cells(self._pair_w2, self._pair_keep)
        return self._n2_cache

    @property
    def _raw(self) -> Array:
        if self._raw_cache is None:
            self._raw_cache = self._cells(self._pair_c, self._pair_keep)
        return self._raw_cache

    def _solve(self, warm_start: bool) -> None:
        with small_problem_blas(len(self.counts_.models)):
            self._solve_inner(warm_start)

    def _solve_inner(self, warm_start: bool) -> None:
        models = list(self.counts_.models)
        m = len(models)
        lo, hi, n = self._pair_data()
        check_connectivity(lo, hi, n, models)
        ref = self.counts_.index_of(self.anchor) if self.anchor is not None else 0
        prob = PairProblem(lo, hi, m, ref, self.ties)
        eta0 = 0.0
        if prob.has_eta:
            n_tie, n_all = n[:, 2].sum(), n.sum()
            if n_tie <= 0 or n_tie >= n_all:
                raise InvalidBattleError(
                    f"the {self.ties} tie model needs both ties and decisive battles",
                    hint="use ties='half' when there are no ties",
                )
            t = n_tie / n_all
            eta0 = math.log(2 * t / (1 - t)) if self.ties == "davidson" else math.log((1 + t) / (1 - t))
        theta0 = log_odds_start(lo, hi, n, m)[None]
        prev = getattr(self, "theta_", None)
        if warm_start and prev is not None and getattr(self, "_fit_ties", None) == self.ties:
            k = min(len(prev), m)
            theta0[0, :k] = prev[:k]
            if prob.has_eta and self.tie_param_ is not None:
                eta0 = self._eta_
        x0 = prob.join(theta0, np.array([[eta0]]))
        x, ll, n_iter, conv = newton(prob, n[None], x0, tol=self.tol, max_iter=self.max_iter)
        if not conv[0]:
            logger.warning("Bradley-Terry fit did not converge in %d iterations", n_iter)
        theta, eta = prob.split(x)
        self.models_ = tuple(models)
        self.theta_ = theta[0]
        self._eta_ = float(eta[0, 0])
        self._fit_ties = self.ties
        self.tie_param_: float | None = None
        if self.ties == "davidson":
            self.tie_param_ = math.exp(self._eta_)  # Davidson's ν
        elif self.ties == "rao_kupper":
            self.tie_param_ = math.exp(self._eta_)  # Rao–Kupper's θ > 1
        self.n_iter_, self.converged_ = n_iter, bool(conv[0])
        self._prob, self._x, self._n = prob, x, n
        self._transform = elo_transform(m, ref, self.alpha_, self.anchor is None)
        offset = (
            self.init_rating
            if self.anchor is None
            else (self.init_rating if self.anchor_rating is None else self.anchor_rating)
        )
        self._offset = offset
        self.ratings_ = self._transform @ self.theta_ + offset
        self.covariance_: Array | None = None
        self.bootstrap_: Array | None = None
        base = dict(
            models=self.models_,
            rating=self.ratings_,
            rank=rank_of(self.ratings_),
            anchor=self.anchor,
            ties=self.ties,
            tie_param=self.tie_param_,
            n_battles=self.counts_.n_battles,
            n_pairs=len(lo),
            log_likelihood=float(ll[0]),
            n_iter=n_iter,
            converged=self.converged_,
            confidence=self.confidence,
        )
        self._base = base
        self.result_ = self.intervals(self.ci) if self.ci is not None else Ratings(**base)  # type: ignore[arg-type]

    def _check_fitted(self) -> None:
        if not hasattr(self, "_prob"):
            raise NotFittedError("call fit first")

    def _theta_covariance(self, cov_x: Array) -> Array:
        """Covariance of the free parameters → covariance of the Elo ratings."""
        prob, m = self._prob, self._prob.m
        full = np.zeros((m, m))
        kt = m - 1
        full[np.ix_(prob.free, prob.free)] = cov_x[:kt, :kt]
        out: Array = self._transform @ full @ self._transform.T
        return out

    def sandwich_covariance(self) -> Array:
        """Robust (sandwich) covariance of the Elo ratings: ``H⁻¹ (Σ s sᵀ) H⁻¹`` with per-battle scores s."""
        self._check_fitted()
        with small_problem_blas(self._prob.m):
            return self._sandwich_covariance()

    def _sandwich_covariance(self) -> Array:
        prob, x = self._prob, self._x
        _, _, h = prob.derivatives(prob.prepare(self._n[None]), x)
        assert h is not None
        info = -h[0]
        meat = prob.meat(self._n2[None], x)[0]
        a = np.linalg.solve(info, meat)
        cov = np.linalg.solve(info, a.T).T
        cov = 0.5 * (cov + cov.T)
        return self._theta_covariance(cov)

    def bootstrap_ratings(self, n_bootstrap: int | None = None) -> tuple[Array, int]:
        """Elo ratings of ``n_bootstrap`` multinomial resamples of the battles, fitted together as one batch.

        Resampling battles with replacement (FastChat's bootstrap) is the same as drawing the pair-outcome cell
        counts from a multinomial with the observed proportions; a weighted cell keeps its mean weight. All
        replicates start at the full-data MLE and are solved by chord-Newton steps with the full-data Hessian,
        finishing with full Newton for stragglers. Returns ``(replicates (B, M), n_failed)``; replicates that
        fail to converge (the resample broke Ford's condition) are dropped.
        """
        self._check_fitted()
        with small_problem_blas(self._prob.m):
            return self._bootstrap_ratings(self.n_bootstrap if n_bootstrap is None else n_bootstrap)

    def _bootstrap_ratings(self, b: int) -> tuple[Array, int]:
        raw, n = self._raw, self._n
        with np.errstate(invalid="ignore", divide="ignore"):
            wbar = np.where(raw > 0, n / np.where(raw > 0, raw, 1.0), 0.0)
        nb = resample_counts(raw, b, self.random_state, self.resample) * wbar[None]
        prob, x = self._prob, self._x
        _, _, h = prob.derivatives(prob.prepare(n[None]), x)
        assert h is not None
        chord = np.linalg.inv(-h[0])
        # Ford's condition per replicate: only replicates that lost a win-or-tie edge need the graph check
        edges = np.concatenate([n[:, 0] + n[:, 2] > 0, n[:, 1] + n[:, 2] > 0])
        rep_edges = np.concatenate([nb[:, :, 0] + nb[:, :, 2] > 0, nb[:, :, 1] + nb[:, :, 2] > 0], axis=1)
        valid = np.ones(b, dtype=bool)
        for k in np.flatnonzero((edges[None, :] & ~rep_edges).any(axis=1)):
            valid[k] = ford_holds(prob.lo, prob.hi, nb[k], prob.m)
        nb = nb[valid]
        # Replicates are independent problems: solve them in row blocks on a thread pool (NumPy's arithmetic
        # releases the GIL). Blocking changes nothing in the result: each replicate's iterates are its own.
        blocks = np.array_split(np.arange(len(nb)), max(1, min(len(nb) // 8, os.cpu_count() or 1)))

        def solve(rows: NDArray[np.int64]) -> tuple[Array, NDArray[np.bool_]]:
            xr, _, _, cr = newton(
                prob, nb[rows], np.repeat(x, len(rows), axis=0), tol=self.tol, max_iter=self.max_iter, chord=chord
            )
            return xr, cr

        with ThreadPoolExecutor(max_workers=len(blocks)) as pool:
            solved = list(pool.map(solve, blocks))
        xb = np.concatenate([s[0] for s in solved]) if solved else np.empty((0, x.shape[1]))
        conv = np.concatenate([s[1] for s in solved]) if solved else np.zeros(0, dtype=bool)
        theta, _ = prob.split(xb[conv])
        reps = theta @ self._transform.T + self._offset
        return reps, int(b - conv.sum())

    def intervals(self, method: str | None = "sandwich", n_bootstrap: int | None = None) -> Ratings:
        """Ratings with per-model ``confidence`` intervals and simultaneous rank intervals.

        ``sandwich``: rating ± z·se from the robust covariance; rank intervals use Bonferroni over all pairs.
        ``bootstrap``: rating ± z·(bootstrap SE), or the replicates' percentiles with
        ``bootstrap_interval="percentile"``; rank intervals use the max-type bootstrap
        quantile of the studentised pairwise differences.
        """
        self._check_fitted()
        base: dict[str, Any] = dict(self._base)
        if method is None:
            return Ratings(**base)
        alpha = 1 - self.confidence
        r = self.ratings_
        m = len(r)
        iu = np.triu_indices(m, 1)
        if method == "sandwich":
            cov = self.sandwich_covariance()
            self.covariance_ = cov
            se = np.sqrt(np.clip(np.diag(cov), 0, None))
            z = float(norm.ppf(1 - alpha / 2))
            lower, upper = r - z * se, r + z * se
            dvar = np.diag(cov)[:, None] + np.diag(cov)[None, :] - 2 * cov
            diff_se = np.sqrt(np.clip(dvar, 0, None))
            crit = float(norm.ppf(1 - alpha / (2 * max(len(iu[0]), 1))))
            reps, failed = None, 0
        elif method == "bootstrap":
            reps, failed = self.bootstrap_ratings(n_bootstrap)
            self.bootstrap_ = reps
            se = reps.std(axis=0, ddof=1)
            if self.bootstrap_interval == "percentile":
                lower = np.quantile(reps, alpha / 2, axis=0)
                upper = np.quantile(reps, 1 - alpha / 2, axis=0)
            else:
                z = float(norm.ppf(1 - alpha / 2))
                lower, upper = r - z * se, r + z * se
            diff_se, crit = np.zeros((m, m)), math.inf
            if self.rank_intervals and len(reps) > 1:
                dev = (reps[:, iu[1]] - reps[:, iu[0]]) - (r[iu[1]] - r[iu[0]])
                dse = dev.std(axis=0, ddof=1)
                diff_se[iu] = dse
                diff_se = diff_se + diff_se.T
                # max studentised deviation per replicate, over the pairs whose difference varies at all
                tstat = np.abs(dev) / np.where(dse > 0, dse, 1.0)
                tmax = np.where(dse > 0, tstat, 0.0).max(axis=1) if dev.shape[1] else np.zeros(len(reps))
                crit = float(np.quantile(tmax, 1 - alpha))
        else:
            raise RatingsError(f"unknown interval method {method!r}")
        ranks = rank_intervals(r, diff_se, crit, method) if self.rank_intervals else None
        return Ratings(
            **base,
            ci_method=method,
            se=se,
            lower=lower,
            upper=upper,
            ranks=ranks,
            bootstrap=reps,
            bootstrap_failed=failed,
        )
