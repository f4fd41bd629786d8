"""What the three simulations share: fitting simulated battles, Monte Carlo summaries, repetitions as jobs."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from trustplane.arena.ratings import BradleyTerry
from trustplane.arena.simulate._battles import FloatArray, TrueRatings
from trustplane.arena.simulate._errors import SimulationInputError
from trustplane.core.config import Settings
from trustplane.core.jobs import job_seeds, run_jobs

P = TypeVar("P")
R = TypeVar("R")

#: Two-sided 95% normal quantile, for the intervals a leaderboard reader sees.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Illusion:
    """How big one illusion is without and with its safeguard, each with its Monte Carlo standard error.

    ``without`` and ``with_safeguard`` are means over repetitions of ``measure`` (in ``unit``); the truth is 0
    for every measure, so a value within a few ``*_mc_se`` of 0 means the illusion is gone.
    """

    name: str
    measure: str
    unit: str
    without: float
    without_mc_se: float
    safeguard: str
    with_safeguard: float
    with_mc_se: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mc_mean(values: ArrayLike, axis: int = 0) -> tuple[FloatArray, FloatArray]:
    """Mean over repetitions and its Monte Carlo standard error ``sd / √R`` (0 with one repetition)."""
    v = np.asarray(values, dtype=np.float64)
    n = v.shape[axis]
    mean = v.mean(axis=axis)
    se = v.std(axis=axis, ddof=1) / math.sqrt(n) if n > 1 else np.zeros_like(mean)
    return np.asarray(mean, dtype=np.float64), np.asarray(se, dtype=np.float64)


def floats(values: ArrayLike) -> tuple[float, ...]:
    """A 1-d array as a tuple of Python floats (for frozen, JSON-ready results)."""
    return tuple(float(x) for x in np.asarray(values, dtype=np.float64).ravel())


@dataclass(frozen=True, eq=False)
class Fit:
    """Elo ratings and their sandwich covariance, aligned with the true ratings' model indices (NaN where a
    model had no battles in the fit)."""

    rating: FloatArray
    covariance: FloatArray

    @property
    def se(self) -> FloatArray:
        out: FloatArray = np.sqrt(np.clip(np.diag(self.covariance), 0, None))
        return out

    def contrast_se(self, contrast: FloatArray) -> float:
        """Standard error of ``contrast · rating`` (the contrast is zero outside the fitted models)."""
        c = np.nan_to_num(contrast)
        cov = np.nan_to_num(self.covariance)
        return float(math.sqrt(max(float(c @ cov @ c), 0.0)))

    def difference_se(self) -> FloatArray:
        """Standard errors of all pairwise differences ``rating_i − rating_j``, shape ``(M, M)``."""
        d = np.diag(self.covariance)
        out: FloatArray = np.sqrt(np.clip(d[:, None] + d[None, :] - 2 * self.covariance, 0, None))
        return out


def fit_battles(
    truth: TrueRatings,
    model_a: NDArray[Any],
    model_b: NDArray[Any],
    outcome: NDArray[Any],
    *,
    weights: NDArray[np.float64] | None = None,
    sampling_prob: NDArray[np.float64] | None = None,
) -> Fit:
    """Fit the rating engine (the tie model matching the generator, sandwich covariance) on index arrays."""
    bt = BradleyTerry(ties=truth.ties, ci="sandwich", rank_intervals=False)
    bt.fit(model_a, model_b, outcome, weights=weights, sampling_prob=sampling_prob)
    idx = np.array([int(name) for name in bt.models_], dtype=np.int64)
    m = truth.n_models
    rating = np.full(m, np.nan)
    rating[idx] = bt.ratings_
    cov = np.full((m, m), np.nan)
    assert bt.covariance_ is not None
    cov[np.ix_(idx, idx)] = bt.covariance_
    return Fit(rating, cov)


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``, else :class:`SimulationInputError`."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise SimulationInputError(f"{name} must be an integer ≥ {low}, not {value!r}")
    if high is not None and value > high:
        raise SimulationInputError(f"{name} must be at most {high}, not {value!r}")
    return int(value)


def check_float(name: str, value: Any, low: float | None = None, high: float | None = None) -> float:
    """``value`` as a finite float in ``[low, high]``, else :class:`SimulationInputError`."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise SimulationInputError(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(x) or (low is not None and x < low) or (high is not None and x > high):
        bounds = f"in [{low if low is not None else '-∞'}, {high if high is not None else '∞'}]"
        raise SimulationInputError(f"{name} must be finite and {bounds}, not {value!r}")
    return x


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit BLAS to one thread while it runs: the fits solve small systems, where BLAS threads only contend
    (several times slower on a loaded machine). A no-op without ``threadpoolctl``."""
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped,unused-ignore]
    except ImportError:  # pragma: no cover - threadpoolctl is optional
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def run_repetitions(
    fn: Callable[[tuple[P, list[int]]], list[R]],
    setup: P,
    n_repetitions: int,
    random_state: int,
    *,
    workers: int | None,
    ray_address: str | None,
    settings: Settings | None,
    progress: bool,
    description: str,
) -> list[R]:
    """Run ``n_repetitions`` seeded repetitions of ``fn`` through :func:`trustplane.core.jobs.run_jobs`.

    Repetition ``r`` always gets the ``r``-th child seed of ``random_state``; repetitions are grouped in chunks
    only to amortise process start-up, so results do not depend on the number of workers or on Ray.
    """
    seeds = job_seeds(random_state, n_repetitions)
    n_workers = workers or (settings.jobs_workers if settings else None) or 1
    n_chunks = min(n_repetitions, max(20, 4 * n_workers))
    chunks = [list(c) for c in np.array_split(np.asarray(seeds, dtype=np.int64), n_chunks) if len(c)]
    items: Sequence[tuple[P, list[int]]] = [(setup, [int(s) for s in c]) for c in chunks]
    results = run_jobs(
        fn,
        items,
        settings=settings,
        workers=n_workers,
        ray_address=ray_address,
        description=description,
        progress=progress,
    )
    return [r for chunk in results for r in chunk]
