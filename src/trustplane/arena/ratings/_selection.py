"""Selection effects: what publishing only the best of N private variants does to a rating."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate, stats

from trustplane.arena.ratings._errors import RatingsError


@lru_cache(maxsize=4096)
def expected_max_normal(n: int) -> float:
    """E[max of ``n`` independent standard normals] (0 for n = 1), by quadrature of ``x·n·φ(x)·Φ(x)^(n-1)``."""
    if n < 1 or int(n) != n:
        raise RatingsError(f"the number of variants must be a positive integer, not {n!r}")
    if n == 1:
        return 0.0

    def integrand(x: float) -> float:
        return float(x * n * stats.norm.pdf(x) * math.exp((n - 1) * stats.norm.logcdf(x)))

    value, _ = integrate.quad(integrand, -12.0, 12.0, limit=200)
    return float(value)


def best_of_n_inflation(se: ArrayLike, n: ArrayLike) -> NDArray[np.float64]:
    """Expected upward bias of the best of ``n`` equally good variants' ratings: ``se · E[max of n N(0,1)]``."""
    se_arr = np.asarray(se, dtype=np.float64)
    n_arr = np.asarray(n)
    if np.any(se_arr < 0) or not np.all(np.isfinite(se_arr)):
        raise RatingsError("standard errors must be finite and non-negative")
    e = np.vectorize(lambda k: expected_max_normal(int(k)), otypes=[np.float64])(n_arr)
    return np.asarray(se_arr * e, dtype=np.float64)


def best_of_n_correction(rating: ArrayLike, se: ArrayLike, n: ArrayLike) -> NDArray[np.float64]:
    """Ratings corrected for best-of-N selection: ``rating − se · E[max of n N(0,1)]``.

    ``n`` is the number of private variants the provider tested before publishing this one (1: no correction).
    """
    return np.asarray(rating, dtype=np.float64) - best_of_n_inflation(se, n)
